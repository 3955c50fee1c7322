"""The benchmark's data in Lightning: the data module, and the data command line.

:class:`TrajectoryDataModule` serves each replica's draw of p trajectories as one full
batch at every step. The trajectories themselves (generators and loader, numpy only)
are in :mod:`rnn_capacity.trajectories`, re-exported here.

Command line::

    python -m rnn_capacity.data generate [--out PATH] [--seed S] [--style polyline|spline] [--force]
    python -m rnn_capacity.data plot --out FILE.png [--path P] [--n 12]
    python -m rnn_capacity.data info [--path P]
"""

from __future__ import annotations

import inspect
import math
import operator
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, IterableDataset

from rnn_capacity import trajectories
from rnn_capacity.errors import DISK_ERRORS, ArgumentParser, UsageError, cli_main, one_line
from rnn_capacity.files import atomic_file
from rnn_capacity.layout import check_num_sequences, padding_mask
from rnn_capacity.plotting import pyplot
from rnn_capacity.progress import add_progress, apply_progress
from rnn_capacity.trajectories import *  # noqa: F403  (re-exported: the data's one home)
from rnn_capacity.trajectories import (
    DEFAULT_DATA,
    DEFAULT_STYLE,
    N_TRAJECTORIES,
    STYLES,
    SUBSAMPLE,
    character,
    load_trajectories,
    read_raw_trajectories,
    step_lengths,
)

__all__ = [*trajectories.__all__, "TrajectoryDataModule"]

# --------------------------------------------------------------------------------------
# Lightning data module
# --------------------------------------------------------------------------------------


def _as_int_list(value: int | Sequence[int], name: str) -> list[int]:
    """``value`` as a list of Python ints, or UsageError naming ``name``."""
    items = [value] if not isinstance(value, Sequence | np.ndarray) else list(value)
    out = []
    for v in items:
        if isinstance(v, bool):  # True would otherwise pass as 1
            raise UsageError(f"{name} must be an integer, got {v!r}")
        try:
            out.append(operator.index(v))
        except TypeError:
            raise UsageError(f"{name} must be an integer, got {v!r}") from None
    if not out:
        raise UsageError(f"{name} must not be empty")
    return out


class _RepeatBatch(IterableDataset):
    """Yields the same batch forever: one "epoch" lasts as long as Trainer(max_steps=...).

    A one-item map-style dataset would make every step a new epoch, with the loop's
    per-epoch work each time; this keeps 3000 steps to one epoch. The tensors are shared
    between steps, so training code must not modify them in place.
    """

    def __init__(self, batch: dict[str, torch.Tensor]) -> None:
        self.batch = batch

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        while True:
            yield dict(self.batch)  # a fresh dict, so a consumer can't swap our tensors


class TrajectoryDataModule(pl.LightningDataModule):
    """Full-batch training targets for K independent replicas (a batched model ensemble).

    Replica k draws ``num_sequences[k]`` distinct trajectories out of 250 with
    ``np.random.default_rng(seed[k]).choice(250, p_k, replace=False)`` — step 1 of the
    protocol. ``seed`` is an int (one replica) or a list of K ints; ``num_sequences`` an
    int (used for every replica) or a list of K ints, each in 1..250. ``pad_to`` pads
    the sequence axis to at least that size (shape bucketing for compiled models).

    After :meth:`setup` (which Lightning calls; calling it directly is fine, and again is
    a no-op):

    * ``targets``: float32 tensor (T=60, K, P_max, 2), zero past each replica's p_k;
    * ``mask``: bool tensor (K, P_max), True for real sequences;
    * ``indices``: list of K int arrays, the trajectories each replica drew.

    :meth:`train_dataloader` serves ``{"targets": targets, "mask": mask}`` at every step.

    Examples:
        >>> from rnn_capacity.data import TrajectoryDataModule
        >>> data = TrajectoryDataModule(num_sequences=[3, 5], seed=[0, 1])  # two replicas
        >>> data.setup()
        >>> data.targets.shape  # (T, K, P = the largest p, 2)
        torch.Size([60, 2, 5, 2])
        >>> data.mask.sum(dim=1).tolist()  # real sequences per replica
        [3, 5]
        >>> [len(set(i)) for i in data.indices]  # distinct trajectories of the 250
        [3, 5]
        >>> sorted(next(iter(data.train_dataloader())))  # the batch of every step
        ['mask', 'targets']
    """

    def __init__(
        self,
        num_sequences: int | Sequence[int],
        seed: int | Sequence[int] = 0,
        path: str | Path | None = None,
        pad_to: int | None = None,
    ) -> None:
        super().__init__()
        seeds = _as_int_list(seed, "seed")
        ps = _as_int_list(num_sequences, "num_sequences")
        if len(ps) == 1:
            ps = ps * len(seeds)
        elif len(ps) != len(seeds):
            raise UsageError(
                f"num_sequences has {len(ps)} entries but seed has {len(seeds)}; "
                "give one seed per replica"
            )
        ps = [check_num_sequences(p) for p in ps]
        for s in seeds:
            if s < 0:
                raise UsageError(f"seed must be a non-negative integer, got {s}")
        self.seeds: list[int] = seeds
        self.num_sequences: list[int] = ps
        self.num_replicas: int = len(seeds)
        self.path = path
        self.pad_to = pad_to or 0
        self.targets: torch.Tensor | None = None
        self.mask: torch.Tensor | None = None
        self.indices: list[np.ndarray] | None = None

    def setup(self, stage: str | None = None) -> None:
        """Load the data and draw each replica's trajectories (idempotent)."""
        if self.targets is not None:
            return
        data = load_trajectories(self.path)  # (T, N, 2)
        k, p_max = self.num_replicas, max(max(self.num_sequences), self.pad_to)
        targets = np.zeros((data.shape[0], k, p_max, 2), dtype=np.float32)
        indices = []
        for r, (seed, p) in enumerate(zip(self.seeds, self.num_sequences, strict=True)):
            idx = np.random.default_rng(seed).choice(N_TRAJECTORIES, p, replace=False)
            targets[:, r, :p] = data[:, idx]
            indices.append(idx)
        self.indices = indices
        self.mask = padding_mask(self.num_sequences, p_max)
        self.targets = torch.from_numpy(targets)

    def train_dataloader(self) -> DataLoader:
        """The whole batch at every step, for as many steps as the Trainer runs."""
        if self.targets is None:
            self.setup("fit")
        batch = {"targets": self.targets, "mask": self.mask}
        trainer = getattr(self, "trainer", None)
        if trainer is not None:  # on the device once: no host-to-device copy (a sync) per step
            batch = {k: v.to(trainer.strategy.root_device) for k, v in batch.items()}
        # batch_size=None: the dataset already yields whole batches; no collation.
        return DataLoader(_RepeatBatch(batch), batch_size=None)


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float's range
        return False


def generator_knobs(style: str, items: Sequence[str]) -> dict:
    """``["vertices=45,55", "slowing=0.5"]`` -> keyword arguments of the ``style``
    generator: a number, or a comma-separated (low, high) pair; names are checked
    against the generator's keyword-only arguments."""
    allowed = [
        name
        for name, par in inspect.signature(STYLES[style]).parameters.items()
        if par.kind is par.KEYWORD_ONLY
    ]
    knobs = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or name not in allowed:
            raise UsageError(
                f"--set {item!r}: expected NAME=VALUE with NAME one of {', '.join(allowed)}"
            )
        try:
            values = [
                int(v) if v.strip().lstrip("-").isdigit() else float(v) for v in text.split(",")
            ]
        except ValueError:
            raise UsageError(f"--set {item!r}: expected a number or LOW,HIGH") from None
        if len(values) > 2 or not all(_finite(v) for v in values):
            raise UsageError(f"--set {item!r}: expected a finite number or LOW,HIGH")
        knobs[name] = values[0] if len(values) == 1 else tuple(values)
    return knobs


def _generate(
    out: Path, seed: int, force: bool, style: str = DEFAULT_STYLE, knobs: dict | None = None
) -> None:
    if out.suffix.lower() != ".npy":
        raise UsageError(f"{out}: the output must be a .npy file")
    if out.is_dir():
        raise UsageError(f"{out}: is a directory")
    if out.exists() and not force:
        raise UsageError(f"{out}: file exists; pass --force to overwrite it")
    if seed < 0:
        raise UsageError(f"--seed must be a non-negative integer, got {seed}")
    try:
        arr = STYLES[style](seed=seed, **(knobs or {}))
    except (ValueError, TypeError) as exc:
        raise UsageError(f"--set: {one_line(exc)}") from None
    # Atomically: an interrupted run never leaves a partial file, and with --force the
    # old file is only replaced once the new one is complete.
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(out) as f:
            np.save(f, arr)
    except OSError as exc:
        if exc.errno in DISK_ERRORS:
            raise  # the machine's state, not bad input: cli_main's one line, exit 1
        raise UsageError(f"{out}: cannot write ({one_line(exc)})") from exc
    extra = "".join(f", {k}={v}" for k, v in (knobs or {}).items())
    print(f"wrote {out}: shape {arr.shape}, style {style}, seed {seed}{extra}")


def _info(path: str | None) -> None:
    raw = read_raw_trajectories(path)
    kept = load_trajectories(path)
    steps = step_lengths(kept)
    fine = step_lengths(raw.transpose(1, 0, 2).astype(np.float64))
    char = character(kept)
    name = path if path is not None else DEFAULT_DATA
    if path is None and not DEFAULT_DATA.is_file():
        name = f"{DEFAULT_DATA} (missing: regenerated in memory, seed 0)"
    print(f"file:                 {name}")
    print(f"recorded shape:       {raw.shape}")
    print(f"benchmark shape:      {kept.shape} (every {SUBSAMPLE}th point, time-major)")
    print(f"value range:          [{kept.min():.3f}, {kept.max():.3f}]")
    print(f"step (kept points):   mean {steps.mean():.3f}, median {np.median(steps):.3f}")
    print(f"path length (kept):   mean {steps.sum(axis=0).mean():.2f}")
    print(f"path length (fine):   mean {fine.sum(axis=0).mean():.2f}")
    print(f"straight (turn < 5°): {char['straight_fraction']:.0%} of kept points")
    print(f"corners (turn > 30°): {char['corners_per_path']:.1f} per path")
    print(f"mean turn:            {char['mean_turn_deg']:.1f}°")
    print(f"speed spread (CV):    {char['speed_cv']:.2f}")


def _plot(out: Path, path: str | None, n: int, force: bool = False) -> None:
    plt = pyplot()
    if not 1 <= n <= N_TRAJECTORIES:
        raise UsageError(f"--n must be in 1..{N_TRAJECTORIES}, got {n}")
    formats = plt.figure().canvas.get_supported_filetypes()
    plt.close("all")
    if out.suffix.lstrip(".").lower() not in formats:
        allowed = ", ".join(f".{f}" for f in sorted(formats))
        raise UsageError(f"--out {out}: unknown image format {out.suffix!r}; allowed: {allowed}")
    if out.exists() and not force:
        raise UsageError(f"{out} exists: pass --force to overwrite it, or choose another --out")
    raw = read_raw_trajectories(path)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.6 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.set_axis_off()
            continue
        ax.set_xticks([])  # keep the frame: it shows the [-1.4, 1.4] box
        ax.set_yticks([])
        fine, kept = raw[i], raw[i, ::SUBSAMPLE]
        ax.plot(fine[:, 0], fine[:, 1], lw=0.8, color="0.6")
        ax.plot(kept[:, 0], kept[:, 1], ".", ms=3, color="C0")
        ax.plot(kept[0, 0], kept[0, 1], "o", ms=5, color="C3")  # start
        ax.set_xlim(-1.4, 1.4)
        ax.set_ylim(-1.4, 1.4)
        ax.set_aspect("equal")
        ax.set_title(f"#{i}", fontsize=8)
    fig.suptitle(
        f"{path or DEFAULT_DATA.name}: fine path (grey), kept points (blue), start (red)",
        fontsize=9,
    )
    fig.tight_layout()
    try:
        fig.savefig(out, dpi=100)
    except (OSError, RuntimeError) as exc:  # RuntimeError: e.g. .pgf without LaTeX
        if getattr(exc, "errno", None) in DISK_ERRORS:
            raise
        raise UsageError(f"{out}: cannot write ({one_line(exc)})") from exc
    finally:
        plt.close(fig)
    print(f"wrote {out}: {n} trajectories")


def build_parser() -> ArgumentParser:
    """The parser of ``python -m rnn_capacity.data {generate,plot,info}``."""
    parser = ArgumentParser(
        prog="python -m rnn_capacity.data",
        description="Generate, inspect or plot the benchmark's trajectory data.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write the data set (.npy) with the generator")
    gen.add_argument("--out", type=Path, default=DEFAULT_DATA, help="default: %(default)s")
    gen.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    gen.add_argument("--force", action="store_true", help="overwrite an existing file")
    gen.add_argument(
        "--style",
        choices=list(STYLES),
        default=DEFAULT_STYLE,
        help="polyline: constant-speed runs between corners (the shipped data); "
        "spline: the earlier smooth B-spline scribbles (default: %(default)s)",
    )
    gen.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a generator knob (its keyword arguments, e.g. vertices=40,50 or slowing=0.5; "
        "see rnn_capacity.trajectories); default: the shipped data's",
    )
    plot = sub.add_parser("plot", help="draw example trajectories into a PNG")
    plot.add_argument("--out", type=Path, required=True, help="image file to write")
    plot.add_argument("--path", help="data file (.npy, .pk, .pkl); default: shipped data")
    plot.add_argument("--n", type=int, default=12, help="trajectories to draw (%(default)s)")
    plot.add_argument("--force", action="store_true", help="overwrite an existing file")
    info = sub.add_parser("info", help="print shape and statistics of a data file")
    info.add_argument("--path", help="data file (.npy, .pk, .pkl); default: shipped data")
    for command in (gen, plot, info):
        add_progress(command)
    return parser


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rnn_capacity.data {generate,plot,info}``."""
    args = build_parser().parse_args(argv)
    apply_progress(args)

    if args.command == "generate":
        knobs = generator_knobs(args.style, args.set)
        _generate(args.out, args.seed, args.force, args.style, knobs)
    elif args.command == "plot":
        _plot(args.out, args.path, args.n, args.force)
    else:
        _info(args.path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
