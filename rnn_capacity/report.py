"""``python -m rnn_capacity.report``: the study's headline figure and a report, from evaluations.

Collects every ``evaluation.json`` (written by ``python -m rnn_capacity.evaluate``) below
the given directories and writes, in ``--out``:

* ``capacity.png`` / ``.svg``: the mean count at the optimum against the model size H, one
  solid line per model with the seeds' standard deviation as error bars, and the original
  study's surrogate-predicted count as a dashed line in the same colour;
* ``trajectories_<model>.png`` / ``.svg``: generated against target trajectories of each
  model's best evaluation (the one with the largest mean count), from its ``samples.npz``;
* ``report.md``: a table model × size of our counts, their configuration and the original
  study's numbers beside them, with the figures embedded.

If two evaluations share a (model, size), the one with more seeds is kept (a warning says
which). An existing report is never overwritten (``--force`` replaces it).

For example::

    python -m rnn_capacity.report results/ --out report/
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import shlex
import sys
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .config import load_search_config
from .errors import (
    ArgumentParser,
    UsageError,
    check_directory,
    cli_main,
    ensure_directory,
    one_line,
    write_failed,
)
from .files import LOCK, DirectoryLock, open_record, write_atomic
from .interrupt import Interrupted, interruptible_command, report_interrupted
from .measure import count_parameters
from .models import BUILTIN_MODELS, MODELS, model_label, model_slug
from .plotting import FORMATS, SAMPLES, pyplot, save_figure, trajectories_figure, unclash_ticks
from .progress import add_progress, apply_progress
from .records import Evaluation
from .reference import load_data_bias, load_reference

__all__ = [
    "best_per_model",
    "build_report",
    "collect",
    "deduplicate",
    "load_evaluation",
    "model_colour",
    "model_marker",
    "model_order",
    "ratio",
    "reference_rows",
    "table_rows",
    "use_log_x",
]

PROG = "python -m rnn_capacity.report"
# The sizes span more than this factor -> log x axis (the ESN's 1000-4000 beside H = 30-60).
LOG_SPAN = 10.0
# One colour and marker per model, in MODELS order: a model looks the same in every report,
# whichever other models it holds. Fourteen models outnumber tab10, so the marker tells
# apart colours that are close. No grey: grey draws the legend's line-style key.
PALETTE = ["C0", "C1", "C2", "C3", "C4", "C5", "C6", "C8", "C9"]
PALETTE += ["#000080", "#111111", "#008080", "#b8860b", "#d500f9"]
MARKERS = ["o", "s", "^", "v", "D", "P", "X", "*", "h", "p", "o", "s", "^", "D"]
# A plug-in model's colour and marker come from its name (a hash), out of these: markers
# no built-in model uses; 5 × 4 coprime lengths give 20 distinct pairs.
PLUGIN_PALETTE = ["#e6007e", "#7cb342", "#00acc1", "#8b0000", "#ff8f00"]
PLUGIN_MARKERS = ["<", ">", "d", "8"]
STYLE_KEY = "0.45"
TEACHER_FORCED_NOTE = (
    "A teacher-forced count measures one-step prediction from the true previous point, "
    "not free generation: it cannot be compared with the other models' counts."
)


# ------------------------------------------------------------------------ collecting


def model_order() -> list[str]:
    """The registry's model names, in its order."""
    return list(MODELS)


def model_rank(model: str) -> tuple[int, str]:
    """Where ``model`` sorts: in the registry's order, then models known by their import
    path (plug-ins not installed), by name."""
    order = model_order()
    return (order.index(model) if model in order else len(order), model)


def collect(dirs: Iterable[Path]) -> list[Evaluation]:
    """Every evaluation below ``dirs``, each knowing its ``directory``."""
    found: dict[Path, Path] = {}  # resolved -> as found: a file below two given dirs counts once
    for d in map(Path, dirs):
        if not d.is_dir():
            raise UsageError(f"{d}: no such directory")
        files = sorted(d.rglob("evaluation.json"))
        if not files:
            raise UsageError(f"{d}: no evaluation.json found below it")
        for f in files:
            found.setdefault(f.resolve(), f)
    return [load_evaluation(f) for f in found.values()]


def load_evaluation(path: Path) -> Evaluation:
    """One ``evaluation.json``, checked (:class:`~rnn_capacity.records.Evaluation`): bad
    files name themselves and their field. A model is a registered name or an import
    path (``module:Class``): the report runs no model code."""
    return Evaluation.read(path)


def n_seeds(ev: Evaluation) -> int:
    return ev.n_seeds


def deduplicate(evaluations: list[Evaluation]) -> tuple[list[Evaluation], list[str]]:
    """One evaluation per (model, size): the one with more seeds (the first found on a tie).

    Returns the kept evaluations and one warning per dropped one."""
    kept: dict[tuple[str, int], Evaluation] = {}
    warnings = []
    for ev in evaluations:
        key = (ev.model, ev.hidden_size)
        old = kept.get(key)
        if old is not None:
            keep, drop = (ev, old) if n_seeds(ev) > n_seeds(old) else (old, ev)
            warnings.append(
                f"{key[0]} H={key[1]} is evaluated twice: keeping {keep.directory} "
                f"({n_seeds(keep)} seeds), ignoring {drop.directory} ({n_seeds(drop)} seeds)"
            )
            ev = keep
        kept[key] = ev
    return sort_evaluations(list(kept.values())), warnings


def sort_evaluations(evaluations: list[Evaluation]) -> list[Evaluation]:
    return sorted(evaluations, key=lambda e: (model_rank(e.model), e.hidden_size))


def best_per_model(evaluations: list[Evaluation]) -> dict[str, Evaluation]:
    """Each model's evaluation with the largest mean count (the smaller H on a tie)."""
    best: dict[str, Evaluation] = {}
    for ev in sort_evaluations(evaluations):
        if ev.model not in best or ev.mean_count > best[ev.model].mean_count:
            best[ev.model] = ev
    return best


def reference_rows(models: Iterable[str]) -> dict[str, list]:
    """The original study's rows of ``models``, by model, in order of size."""
    wanted = set(models)
    rows: dict[str, list] = {}
    for r in sorted(load_reference(), key=lambda r: r.size):
        if r.model in wanted:
            rows.setdefault(r.model, []).append(r)
    return rows


# ------------------------------------------------------------------------- the table


def ratio(mean_count: float, predicted: float | None, p: int) -> float | None:
    """Our count over what the original predicts is reachable here: its predicted count,
    capped at our p (no more than p sequences can be learned when p are asked for)."""
    if predicted is None:
        return None
    reachable = min(predicted, p)
    return mean_count / reachable if reachable > 0 else None


def mixed_protocols(evaluations: list[Evaluation]) -> str | None:
    """One line naming what differs between the evaluations' protocols, or None."""
    protocols = [ev.protocol() for ev in sort_evaluations(evaluations)]
    differ = []
    for key in protocols[0] if protocols else []:
        counts: dict = {}
        for p in protocols:
            counts[p[key]] = counts.get(p[key], 0) + 1
        if len(counts) > 1:
            values = ", ".join(
                f"{'not recorded' if v is None else v} ({n} row{'s' * (n > 1)})"
                for v, n in counts.items()
            )
            differ.append(f"{key} {values}")
    if not differ:
        return None
    return "rows of different protocols side by side, not comparable: " + "; ".join(differ)


def format_number(x: float) -> str:
    return f"{x:.4g}"


def format_hparams(hparams: dict) -> str:
    if not hparams:
        return "—"
    return ", ".join(
        f"{k}={format_number(v) if isinstance(v, float) else v}" for k, v in hparams.items()
    )


def format_source(source: dict | None) -> str:
    kind = (source or {}).get("kind")
    return {"reference": "original optimum", "sweep": "our sweep", "set": "by hand"}.get(
        kind, kind or "—"
    )


def table_rows(
    evaluations: list[Evaluation], reference: dict[str, list] | None = None
) -> list[dict]:
    """One row per evaluation: our numbers, and the original study's at that (model, size)
    when ``reference`` (from :func:`reference_rows`) has them."""
    rows = []
    for ev in sort_evaluations(evaluations):
        ref = next(
            (r for r in (reference or {}).get(ev.model, []) if r.size == ev.hidden_size), None
        )
        predicted = ref.surrogate_predicted_count if ref else None
        params = evaluation_parameters(ev)["trainable"]
        # Measured for the shipped data and each model's paper variant only: a user's own
        # data set, or another variant (the GRU's free generation counts 30× below its
        # teacher-forced count), has no such number.
        variant = ev.variant()
        bias = load_data_bias().get(ev.model) if ev.data is None and variant == "paper" else None
        rows.append(
            {
                "model": ev.model,
                "hidden_size": ev.hidden_size,
                "mean_count": ev.mean_count,
                "std_count": ev.std_count,
                "count": ev.count_label(),
                "diverged": ev.n_diverged,
                "n_seeds": n_seeds(ev),
                "p": ev.p,
                "hparams": ev.hparams,
                "initial_states": "learned" if ev.learn_initial_state else "fixed",
                "iterations": ev.iterations,
                "variant": variant,
                "settings": ev.settings,
                "teacher_forced_count": ev.teacher_forced_count,
                "source": format_source(ev.source),
                "original_predicted": predicted,
                "original_best_observed": ref.best_observed_count if ref else None,
                "ratio": ratio(ev.mean_count, predicted, ev.p),
                "data_bias": bias.label(ev.hidden_size) if bias else None,
                "parameters": params,
                "per_1000": per_1000(ev.mean_count, params),
                "original_per_1000": (
                    per_1000(predicted, reference_parameters(ref)["trainable"]) if ref else None
                ),
                "data": ev.data,
                "directory": ev.directory,
            }
        )
    return rows


def per_1000(count: float | None, parameters: int) -> float | None:
    """Sequences learned per 1,000 trainable parameters."""
    return None if count is None or parameters <= 0 else 1000.0 * count / parameters


def evaluation_parameters(ev: Evaluation) -> dict[str, int]:
    """The trainable parameters of an evaluation's model: as recorded in its
    evaluation.json, or (files written before they were recorded) counted from its
    model, size, p, initial states and settings."""
    if ev.parameters is not None:
        return ev.parameters
    learn = True if ev.learn_initial_state is None else ev.learn_initial_state
    return count_parameters(ev.model, ev.hidden_size, ev.p, learn, **ev.settings)


def reference_parameters(ref) -> dict[str, int]:
    """Trainable parameters of the original study's model at its optimum: its size, the
    optimum's p (rounded) and the ``paper`` variant of the model's config."""
    return _paper_parameters(ref.model, ref.size, max(1, round(ref.surrogate_optimum["p"])))


@functools.cache  # an ESN of 4000 units takes ~1 s to build
def _paper_parameters(model: str, size: int, p: int) -> dict[str, int]:
    paper = load_search_config(model).paper
    return count_parameters(model, size, p, paper.learn_initial_state, **paper.settings)


def markdown_table(rows: list[dict], reference: bool) -> list[str]:
    head = ["model", "H", "count (mean ± std)", "seeds", "p", "hyperparameters"]
    head += ["iterations", "initial states", "settings", "variant", "configuration"]
    head += ["trainable parameters", "sequences per 1,000 parameters"]
    if reference:
        head += ["original predicted", "original best observed", "ours / min(orig. pred., p)"]
        head += ["original per 1,000 parameters", "data bias vs the original"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def maybe(x, fmt="{:.1f}"):
        return "—" if x is None else fmt.format(x)

    for r in rows:
        mark = " †" if r["teacher_forced_count"] else ""
        cells = [
            f"`{r['model']}`",
            str(r["hidden_size"]),
            f"{r['count']}{mark}",
            str(r["n_seeds"]),
            str(r["p"]),
            format_hparams(r["hparams"]),
            maybe(r["iterations"], "{}"),
            r["initial_states"],
            format_hparams(r["settings"]),
            r["variant"],
            r["source"],
            str(r["parameters"]),
            maybe(r["per_1000"], "{:.2f}"),
        ]
        if reference:
            cells += [maybe(r["original_predicted"]), maybe(r["original_best_observed"])]
            cells += [maybe(r["ratio"], "{:.2f}"), maybe(r["original_per_1000"], "{:.2f}")]
            cells.append(r["data_bias"] or "—")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def relative(path: Path, start: Path) -> str:
    """``path`` as seen from ``start`` with '/' separators (links in markdown)."""
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def markdown(
    rows: list[dict],
    out: Path,
    reference: bool,
    trajectories: dict[str, Evaluation],
    warnings: list[str],
) -> str:
    lines = ["# Sequence-generation capacity: count at the optimum", ""]
    lines += ["![count at the optimum against model size](capacity.png)", ""]
    overlay = ", dashed: the original study's surrogate prediction" if reference else ""
    lines += [
        f"Solid: this package (mean ± std over the evaluation seeds){overlay}. Models are "
        "set a little apart around each size, so that points that coincide (two counts of "
        "0, say) are all seen ([SVG](capacity.svg)).",
        "",
    ]
    lines += markdown_table(rows, reference)
    lines.append("")
    for w in warnings:
        if w.startswith("rows of different"):
            lines += [f"**Warning: {w}**", ""]
    lines += [
        "*variant*: `paper` is the model's reproducing protocol variant (its initial states "
        "and teacher forcing, `configs/<model>.yaml`), `own` anything else.",
        "",
    ]
    lines += [
        "![count against trainable parameters](capacity_per_parameter.png)",
        "",
        "Count against trainable parameters (log-log; below one sequence the axis is "
        "linear, so that 0 is drawn): the parameters are per model at its p — learned "
        "initial states and hidden causes grow with p "
        "([SVG](capacity_per_parameter.svg)).",
        "",
    ]
    if any(r["teacher_forced_count"] for r in rows):
        lines += [f"† teacher-forced count. {TEACHER_FORCED_NOTE}", ""]
    if reference:
        lines += [
            "The original study's numbers were measured on its own data set; on other data "
            "they differ, so the ratio is a comparison, not a test. Our count cannot exceed p, "
            "hence the ratio's min(original predicted, p). *Data bias vs the original* is how "
            "much easier (above 1) or harder the shipped data set is than the original's for "
            "that model: our counts over the original's at the original's own "
            "configurations (replayed, `docs/reproduction.md`); — for a user's data set or a model "
            "without an original surrogate.",
            "",
        ]
    if trajectories:
        lines += ["## Generated vs target trajectories", ""]
        lines += ["Each model's best evaluation (largest mean count), its first seed.", ""]
        for model, ev in trajectories.items():
            mode = " (teacher-forced count)" if ev.teacher_forced_count else ""
            title = f"`{model}` H={ev.hidden_size}, p={ev.p}: count "
            title += f"{ev.count_label()}{mode}"
            name = trajectories_stem(model)
            lines += [f"### {title}", "", f"![{model}]({name}.png)", f"([SVG]({name}.svg))", ""]
    lines += ["## Evaluations", ""]
    for r in rows:
        where = relative(r["directory"], out)
        lines.append(
            f"- `{r['model']}` H={r['hidden_size']}: [{where}]({where}/evaluation.json), "
            f"data: {r['data'] or 'built-in'}"
        )
    lines += [f"- warning: {w}" for w in warnings]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- figures


def builtin_index(model: str) -> int | None:
    names = list(BUILTIN_MODELS)
    return names.index(model) if model in names else None


def model_colour(model: str) -> str:
    """A stable colour per model, whatever else is plotted: a built-in model's place in
    the registry; a plug-in's from its name."""
    i = builtin_index(model)
    if i is None:
        return PLUGIN_PALETTE[zlib.crc32(model.encode()) % len(PLUGIN_PALETTE)]
    return PALETTE[i % len(PALETTE)]


def model_marker(model: str) -> str:
    i = builtin_index(model)
    if i is None:
        return PLUGIN_MARKERS[zlib.crc32(model.encode()) % len(PLUGIN_MARKERS)]
    return MARKERS[i % len(MARKERS)]


def trajectories_stem(model: str) -> str:
    """``trajectories_<model>``, an import path's ``:`` and ``.`` made ``-`` (a file name)."""
    return f"trajectories_{model_slug(model)}"


def use_log_x(sizes: Iterable[float]) -> bool:
    sizes = [s for s in sizes if s > 0]
    return bool(sizes) and max(sizes) / min(sizes) > LOG_SPAN


def teacher_forced_label(evs: list[Evaluation]) -> str:
    forced = [e.hidden_size for e in evs if e.teacher_forced_count]
    if not forced:
        return ""
    if len(forced) == len(evs):
        return " (teacher-forced count)"
    return f" (teacher-forced count at H={', '.join(map(str, forced))})"


def capacity_figure(evaluations: list[Evaluation], reference: dict[str, list] | None):
    by_model: dict[str, list[Evaluation]] = {}
    for ev in sort_evaluations(evaluations):
        by_model.setdefault(ev.model, []).append(ev)
    fig, ax = pyplot().subplots(figsize=(10, 5.5))
    sizes = {e.hidden_size for e in evaluations}
    sizes |= {r.size for m in by_model for r in (reference or {}).get(m, [])}
    log_x = use_log_x(sizes)
    for i, (model, evs) in enumerate(by_model.items()):
        shift = dodge(i, len(by_model), log_x, sorted(sizes))
        plot_model(ax, model, evs, (reference or {}).get(model, []), shift)
    set_size_axis(ax, sorted(sizes))
    ax.set_xlabel("hidden units H")
    ax.set_ylabel("sequences learned (mean count at the optimum)")
    # From 0, with a sliver below it so that a point at count 0 is not cut in half.
    ax.set_ylim(-0.015 * ax.get_ylim()[1], ax.get_ylim()[1])
    ax.grid(True, alpha=0.3)
    ax.set_title("Sequence-generation capacity against model size")
    # Outside the axes: a legend inside would hide some model's points.
    ax.legend(handles=legend_handles(ax, reference), loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


def parameter_figure(evaluations: list[Evaluation], reference: dict[str, list] | None):
    """Count at the optimum against trainable parameters (per model, log-log): ours solid,
    the original study's dashed, at the parameter count of its model at its optimum."""
    by_model: dict[str, list[Evaluation]] = {}
    for ev in sort_evaluations(evaluations):
        by_model.setdefault(ev.model, []).append(ev)
    fig, ax = pyplot().subplots(figsize=(10, 5.5))
    # Each model's parameter counts once (an old evaluation's are counted by building its
    # model): ours, then the original's at its optima.
    lines = []
    for model, evs in by_model.items():
        refs = (reference or {}).get(model, [])
        ours = [evaluation_parameters(e)["trainable"] for e in evs]
        lines.append((model, evs, ours, refs, [reference_parameters(r)["trainable"] for r in refs]))
    xs = [x for *_, ours, _, theirs in lines for x in ours + theirs]
    ys = [1.0] + [e.mean_count + e.std_count for evs in by_model.values() for e in evs]
    ys += [r.surrogate_predicted_count for *_, refs, _ in lines for r in refs]
    for i, (model, evs, ours, refs, theirs) in enumerate(lines):
        shift = dodge(i, len(lines), True, xs)
        colour, marker = model_colour(model), model_marker(model)
        ax.errorbar(
            [shift(x) for x in ours], [e.mean_count for e in evs],
            yerr=[e.std_count for e in evs], fmt="-", marker=marker, color=colour, ms=6, lw=1.8,
            capsize=4, elinewidth=1.2, zorder=3, label=legend_name(model, evs), **EDGE,
        )  # fmt: skip
        if refs:
            ax.plot(
                [shift(x) for x in theirs], [r.surrogate_predicted_count for r in refs], "--",
                marker=marker, mfc="white", color=colour, ms=5, lw=1.4, zorder=2,
            )  # fmt: skip
    ax.set_xscale("log")
    if xs:  # a margin of a fifth of a decade: no marker is cut at either end
        ax.set_xlim(min(xs) / 10**0.2, max(xs) * 10**0.2)
    # symlog: log above 1 sequence, linear below, so that a count of 0 is still drawn;
    # a sliver below 0 and room above the largest count, so that no marker is cut.
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_ylim(-0.12, max(ys) * 1.6)
    ax.set_xlabel("trainable parameters (per model, at its p)")
    ax.set_ylabel("sequences learned (mean count at the optimum)")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title("Capacity against trainable parameters")
    ax.legend(handles=legend_handles(ax, reference), loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


def plot_model(ax, model: str, evs: list[Evaluation], refs: list, shift=None) -> None:
    """Our counts (solid, error bars) and the original's prediction (dashed), each x
    moved by ``shift`` (:func:`dodge`)."""
    shift = shift or (lambda x: x)
    colour, marker = model_colour(model), model_marker(model)
    ax.errorbar(
        [shift(e.hidden_size) for e in evs], [e.mean_count for e in evs],
        yerr=[e.std_count for e in evs], fmt="-", marker=marker, color=colour, ms=6, lw=1.8,
        capsize=4, elinewidth=1.2, zorder=3, label=legend_name(model, evs), **EDGE,
    )  # fmt: skip
    if refs:
        ax.plot(
            [shift(r.size) for r in refs], [r.surrogate_predicted_count for r in refs], "--",
            marker=marker, mfc="white", color=colour, ms=5, lw=1.4, zorder=2,
        )  # fmt: skip


#: A thin white edge around our markers: one drawn over another stays visible.
EDGE = {"mec": "white", "mew": 0.6}
#: How far apart :func:`dodge` sets the models at one x, as a fraction of the axis.
DODGE = 0.006


def dodge(i: int, n: int, log_x: bool, xs: list[float]):
    """The x shift of model ``i`` of ``n``: models side by side around each x, a small
    fraction of the axis apart, so that two models with the same count at one size (both
    at 0, say) are both seen. Multiplicative on a log axis, additive on a linear one."""
    offset = (i - (n - 1) / 2) * DODGE
    if log_x:
        span = math.log10(max(xs) / min(xs)) if xs and min(xs) > 0 else 1.0
        return lambda x: x * 10 ** (offset * span)
    span = (max(xs) - min(xs)) if xs else 1.0
    return lambda x: x + offset * (span or 1.0)


def legend_name(model: str, evs: list[Evaluation]) -> str:
    """The model's short name (``PC-RNN-HC-A``, a plug-in's class name), and how it counts."""
    return model_label(model) + teacher_forced_label(evs)


def legend_handles(ax, reference) -> list:
    """One entry per model, then the line styles once (not a second entry per model)."""
    Line2D = pyplot().Line2D  # noqa: N806  (matplotlib's class)
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color=STYLE_KEY, lw=1.8, label="solid: this package (± std)"))
    if reference:
        label = "dashed: original study\n(surrogate-predicted count)"
        handles.append(Line2D([], [], color=STYLE_KEY, lw=1.4, ls="--", label=label))
    return handles


def set_size_axis(ax, sizes: list[int]) -> None:
    """Ticks at the sizes plotted; log scale when they span more than :data:`LOG_SPAN`."""
    plt = pyplot()
    if use_log_x(sizes):
        ax.set_xscale("log")
        ax.xaxis.set_minor_locator(plt.NullLocator())
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.set_xticks(sizes)
    ax.xaxis.set_major_formatter(plt.ScalarFormatter())
    ax.tick_params(axis="x", labelsize=8)
    unclash_ticks(ax)  # 3000 and 4000 sit close on a log axis


def evaluation_trajectories(ev: Evaluation, samples: dict):
    """The figure of an evaluation's samples: generated against target, its first seed."""
    mode = " (teacher-forced count)" if ev.teacher_forced_count else ""
    seed = f", seed {ev.seeds[0]}" if ev.seeds else ""
    title = (
        f"{model_label(ev.model)} H={ev.hidden_size} p={ev.p}{seed}: generated vs target{mode}\n"
    )
    title += f"count {ev.count_label()} over {n_seeds(ev)} seeds"
    return trajectories_figure(
        samples["generated"], samples["targets"], samples["errors"],
        float(samples["threshold"]), title,
    )  # fmt: skip


def load_samples(ev: Evaluation) -> dict | None:
    """The evaluation's ``samples.npz``, or None if it has none (a warning says so)."""
    path = ev.directory / "samples.npz"
    if not os.path.lexists(path):  # (a link to a device or a FIFO: refused below)
        return None
    try:
        with open_record(path) as f, np.load(f) as npz:
            samples = {k: npz[k] for k in ("generated", "targets", "errors", "threshold")}
    # A .npy (no context manager), a torn zip, pickled data or a missing array.
    except (OSError, ValueError, KeyError, TypeError, AttributeError, zipfile.BadZipFile) as exc:
        raise UsageError(f"{path}: not readable samples ({one_line(exc)})") from None
    g, t, e = samples["generated"], samples["targets"], samples["errors"]
    n = min(SAMPLES, g.shape[1]) if g.ndim == 3 else 0
    if n < 1 or g.shape[-1] != 2 or g.shape != t.shape or e.ndim != 1 or len(e) < n:
        raise UsageError(
            f"{path}: expected generated and targets of shape (T, n, 2) and n errors, got "
            f"{g.shape}, {t.shape} and {e.shape}"
        )
    return samples


# -------------------------------------------------------------------------- building


def build_report(dirs: list[Path], out: Path, reference: bool = True, force: bool = False) -> dict:
    """Write the report of the evaluations below ``dirs`` into ``out`` (see the module doc).

    Everything is read and checked before anything is written. Returns ``{"files": [...]
    written, "warnings": [...], "evaluations": [...] kept, "trajectories": {model:
    evaluation}}``. ``force`` replaces an existing report."""
    out = Path(out)
    evaluations, warnings = deduplicate(collect(dirs))
    if (mixed := mixed_protocols(evaluations)) is not None:
        warnings.append(mixed)
    if (out / "report.md").exists() and not force:
        raise UsageError(f"{out} already holds a report.md: pass --force or another --out")
    if not force and out.is_dir():  # figures of the report's names, but not a report's
        theirs = sorted(p.name for p in out.iterdir() if is_report_figure(p.name))
        if theirs:
            raise UsageError(
                f"{out} holds {', '.join(theirs[:3])}{' ...' if len(theirs) > 3 else ''} but "
                "no report.md: pass --force to replace them, or another --out"
            )
    check_directory(out, "output directory")
    refs = reference_rows(e.model for e in evaluations) if reference else None
    best = {}
    samples = {}
    for model, ev in best_per_model(evaluations).items():
        s = load_samples(ev)
        if s is None:
            warnings.append(f"{ev.directory} has no samples.npz: no trajectory plot of {model}")
            continue
        best[model], samples[model] = ev, s
    ensure_directory(out, "output directory")
    files = save_figure(capacity_figure(evaluations, refs), out / "capacity")
    files += save_figure(parameter_figure(evaluations, refs), out / "capacity_per_parameter")
    for model, ev in best.items():
        figure = evaluation_trajectories(ev, samples[model])
        files += save_figure(figure, out / trajectories_stem(model))
    remove_stale_trajectories(out, best)
    # report.md last: it links the figures, and its presence marks a finished report.
    rows = table_rows(evaluations, refs)
    text = markdown(rows, out, reference, best, warnings)
    write_atomic(out / "report.md", text.encode("utf-8"))
    files.append(out / "report.md")
    return {"files": files, "warnings": warnings, "evaluations": evaluations, "trajectories": best}


def is_report_figure(name: str) -> bool:
    """Whether a file name is one a report writes (its figures; report.md aside)."""
    stem, _, fmt = name.rpartition(".")
    ours = stem in ("capacity", "capacity_per_parameter") or stem.startswith("trajectories_")
    return ours and fmt in FORMATS


def remove_stale_trajectories(out: Path, best: dict) -> None:
    """After --force: plots of models no longer in the report would be mistaken for its own."""
    keep = {f"{trajectories_stem(m)}.{fmt}" for m in best for fmt in FORMATS}
    for path in out.glob("trajectories_*"):
        if path.suffix.lstrip(".") in FORMATS and path.name not in keep:
            path.unlink()


# ------------------------------------------------------------------------------- CLI


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("dirs", nargs="+", type=Path, metavar="RESULTS_DIR",
                   help="directories searched recursively for evaluation.json")  # fmt: skip
    p.add_argument("--out", type=Path, default=Path("report"), help="default: report/")
    p.add_argument("--force", action="store_true", help="replace an existing report")
    p.add_argument(
        "--no-reference", dest="reference", action="store_false",
        help="leave out the original study's numbers",
    )  # fmt: skip
    add_progress(p)
    return p


@cli_main
def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    apply_progress(args)
    again = shlex.join([*PROG.split(), *argv, *([] if args.force else ["--force"])])
    made = not args.out.exists()
    ensure_directory(args.out, "output directory")  # for its lock
    try:
        with interruptible_command(), DirectoryLock(args.out, "report"):
            result = build_report(args.dirs, args.out, reference=args.reference, force=args.force)
    except UsageError:
        if made:  # refused: leave no empty directory behind
            (args.out / LOCK).unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # not empty after all: keep it
                args.out.rmdir()
        raise
    except Interrupted as exc:  # report.md is written last: a report without it is unfinished
        return report_interrupted(exc, f"the report in {args.out} is unfinished", again)
    except OSError as exc:  # a full disk, say: the evaluations are only read
        return write_failed(exc, args.out, "the report is unfinished", f"run again: {again}")
    for w in result["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    for path in result["files"]:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
