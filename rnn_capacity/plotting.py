"""Figures shared by the evaluation, the report, the sweep and the data command: the
trajectory panels, and saving a figure atomically.

matplotlib is imported by :func:`pyplot` when a figure is first drawn, never on import:
it is slow to load, and its Agg backend (files only, also without a display) is chosen
only by a command that draws.
"""

from __future__ import annotations

import io
import itertools
from pathlib import Path

from .files import write_atomic

SAMPLES = 6  # sequences drawn in a trajectories figure (and kept in samples.npz)
FORMATS = ("png", "svg")  # a report's figures, each in both
DPI = 100


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend."""
    import matplotlib  # heavy, and the backend is chosen here only (module doc)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after the backend: see above

    return plt


def unclash_ticks(ax) -> None:
    """Turn the x tick labels 45° where two of them overlap (3000 and 4000 on a log axis)."""
    fig = ax.figure
    fig.canvas.draw()  # the labels' extents exist once drawn
    boxes = [t.get_window_extent() for t in ax.get_xticklabels() if t.get_text()]
    boxes.sort(key=lambda b: b.x0)
    gap = 3.0  # pixels: labels closer than this read as one number ("30004000")
    if any(a.x1 + gap > b.x0 for a, b in itertools.pairwise(boxes)):
        for t in ax.get_xticklabels():
            t.set_rotation(45)
            t.set_horizontalalignment("right")
            t.set_rotation_mode("anchor")


def save(fig, path: Path) -> None:
    """Write a figure atomically (a crash leaves the old file or none), then close it;
    the format is the file's suffix."""
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip("."), dpi=DPI, bbox_inches="tight")
    pyplot().close(fig)
    write_atomic(path, buf.getvalue())


def save_figure(fig, stem: Path) -> list[Path]:
    """The figure as PNG and SVG (:data:`FORMATS`), each written atomically."""
    paths = [stem.with_suffix(f".{fmt}") for fmt in FORMATS]
    for path in paths:
        buf = io.BytesIO()
        fig.savefig(buf, format=path.suffix.lstrip("."), dpi=DPI, bbox_inches="tight")
        write_atomic(path, buf.getvalue())
    pyplot().close(fig)
    return paths


def plot_trajectories(axes, generated, targets, errors, threshold) -> None:
    """Generated (solid) against target (dashed) trajectories, one per axis."""
    for i, ax in enumerate(axes):
        if i >= generated.shape[1]:
            ax.set_axis_off()
            continue
        ax.plot(targets[:, i, 0], targets[:, i, 1], "--", color="0.5", lw=1, label="target")
        ax.plot(generated[:, i, 0], generated[:, i, 1], "-", color="C0", lw=1.2, label="generated")
        ax.plot(*targets[0, i], "o", color="C3", ms=3)
        learned = "learned" if errors[i] < threshold else "not learned"
        ax.set_title(f"error {errors[i]:.3f} ({learned})", fontsize=8)
        ax.set_aspect("equal")
        ax.set_xlabel("x", fontsize=7)
        ax.set_ylabel("y", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0].legend(fontsize=6, loc="best")


def trajectories_figure(generated, targets, errors, threshold: float, title: str):
    """The first :data:`SAMPLES` sequences, generated against target, on a 2 × 3 grid."""
    n = min(SAMPLES, generated.shape[1])
    fig, axes = pyplot().subplots(2, 3, figsize=(9, 6))
    plot_trajectories(axes.flat, generated[:, :n], targets[:, :n], errors[:n], threshold)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
