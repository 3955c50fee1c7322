"""The benchmark's trajectories: a reproducible generator, a loader and a Lightning data module.

The original study used 250 hand-drawn 2-D trajectories of 1200 points each
(``hard_trajectories_250.pk``, not distributed). This package ships its own data set of
the same form, ``data/trajectories_250.npy``, made by :func:`generate_trajectories`;
users who own the original pickle can load it with :func:`load_trajectories`.

The benchmark keeps every 20th point, giving time-major arrays of shape (T=60, N=250, 2).

Command line::

    python -m rnn_capacity.data generate [--out PATH] [--seed S] [--force]
    python -m rnn_capacity.data plot --out FILE.png [--path P] [--n 12]
    python -m rnn_capacity.data info [--path P]
"""

from __future__ import annotations

import math
import operator
import os
import pickle
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, IterableDataset

from rnn_capacity.errors import ArgumentParser, UsageError, cli_main, one_line
from rnn_capacity.paths import shipped

__all__ = [
    "DEFAULT_DATA",
    "N_TRAJECTORIES",
    "POINTS",
    "RAW_SHAPE",
    "SUBSAMPLE",
    "TrajectoryDataModule",
    "generate_trajectories",
    "load_trajectories",
    "read_raw_trajectories",
]

#: The data set shipped with the package (repository root / data /).
DEFAULT_DATA = shipped("data") / "trajectories_250.npy"

N_TRAJECTORIES = 250  # trajectories in a data set
POINTS = 1200  # recorded points per trajectory
SUBSAMPLE = 20  # the benchmark keeps every 20th point ...
STEPS = POINTS // SUBSAMPLE  # ... so T = 60 time steps
RAW_SHAPE = (N_TRAJECTORIES, POINTS, 2)

_PICKLE_SUFFIXES = (".pk", ".pkl")


# --------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------
#
# Bit-for-bit reproducibility: the shipped file must be regenerated exactly on any
# machine, so the generator uses only operations IEEE-754 rounds exactly (+ - * /,
# sqrt, comparisons, integer arithmetic, element-wise numpy ops, cumsum) and uniform
# draws from numpy's PCG64 generator. No sin/cos/exp/log, no normal draws, no BLAS, no
# numpy reductions (their summation order may depend on the CPU's SIMD width).


def _bspline(control: np.ndarray, points: int) -> np.ndarray:
    """Sample a uniform cubic B-spline with control points ``control`` (m, 2) at ``points``
    equally spaced parameter values covering its m - 3 segments.

    A B-spline stays inside the convex hull of its control points (the basis weights are
    non-negative and sum to one), which is what keeps the paths inside the box.
    """
    segments = len(control) - 3
    # Integer arithmetic for the segment index and fraction, so no rounding decides which
    # segment a sample falls in.
    num = np.arange(points, dtype=np.int64) * segments
    seg = num // points
    t = (num - seg * points).astype(np.float64) / points
    t = t[:, None]
    t2 = t * t
    t3 = t2 * t
    s = 1.0 - t
    # Uniform cubic B-spline basis; written as explicit products so the order of the
    # floating-point operations is fixed.
    b0 = s * s * s / 6.0
    b1 = (3.0 * t3 - 6.0 * t2 + 4.0) / 6.0
    b2 = (-3.0 * t3 + 3.0 * t2 + 3.0 * t + 1.0) / 6.0
    b3 = t3 / 6.0
    return b0 * control[seg] + b1 * control[seg + 1] + b2 * control[seg + 2] + b3 * control[seg + 3]


def _control_walk(
    rng: np.random.Generator,
    count: int,
    box: float,
    hop: tuple[float, float],
    persistence: float,
    pull: float,
) -> np.ndarray:
    """A random walk of ``count`` control points in the square [-box, box]^2.

    Hop lengths are uniform in [hop[0], hop[1]]. A hop's direction is the sum of
    ``persistence`` times the previous hop's unit direction (a pen's momentum: larger =
    gentler turns), a random vector uniform in the unit disc, and ``-pull * x / box``, a
    pull towards the centre that makes the pen curve back before it reaches the edge
    (the paths loop around and cross themselves instead of running along the walls).
    A point that still leaves the box is reflected back in at the wall.

    Directions are normalised with sqrt (exactly rounded); the disc is sampled by
    rejection from its enclosing square, so no sin/cos is needed.
    """
    pts = np.empty((count, 2))
    pts[0] = box * (2.0 * rng.random(2) - 1.0)
    heading = np.zeros(2)  # unit direction of the previous hop (none yet)
    for i in range(1, count):
        while True:
            u = 2.0 * rng.random(2) - 1.0
            v = persistence * heading + u - (pull / box) * pts[i - 1]
            r2 = v[0] * v[0] + v[1] * v[1]
            if u[0] * u[0] + u[1] * u[1] <= 1.0 and r2 > 1e-12:
                break
        length = hop[0] + (hop[1] - hop[0]) * rng.random()
        p = pts[i - 1] + (length / np.sqrt(r2)) * v
        for j in range(2):  # reflect at the walls until inside
            while p[j] > box or p[j] < -box:
                p[j] = 2.0 * box - p[j] if p[j] > box else -2.0 * box - p[j]
        pts[i] = p
        d = p - pts[i - 1]
        norm = np.sqrt(d[0] * d[0] + d[1] * d[1])
        heading = d / norm if norm > 0.0 else np.zeros(2)
    return pts


def generate_trajectories(
    seed: int = 0,
    n: int = N_TRAJECTORIES,
    points: int = POINTS,
    *,
    n_control: int | tuple[int, int] = (75, 85),
    box: float = 1.2,
    hop: tuple[float, float] = (0.25, 0.6),
    persistence: float = 0.3,
    pull: float = 1.0,
    tremor: float = 0.05,
    tremor_control: int = 48,
) -> np.ndarray:
    """Generate ``n`` smooth, hand-drawn-looking 2-D scribbles, float32 (n, points, 2).

    Each path is a uniform cubic B-spline through a random walk of control points in
    the square [-box, box]^2 (see :func:`_control_walk`), plus a small low-frequency
    "tremor": a second B-spline through ``tremor_control`` control points drawn uniformly
    in [-tremor, tremor]^2. Values therefore stay within ±(box + tremor).

    Path i uses its own random stream, ``default_rng([seed, i])``, so the first k paths
    do not depend on ``n``. The result is bit-for-bit identical on every machine (only
    exactly rounded operations are used); :data:`DEFAULT_DATA` is this function's output
    for the default arguments. (NumPy does not formally promise the same random streams
    across its versions; tests/test_data.py compares against the shipped file, so a
    change would show up there.)

    With the defaults, the kept points (every 20th) lie in about [-1.2, 1.2], are on
    average ~0.37 apart (10th-90th percentile 0.18-0.54), and each path wanders and
    crosses itself many times. The defaults were tuned (bench/calibrate.py) so that the
    benchmark finds these data about as hard as the original hand-drawn ones.

    Difficulty knobs (keyword-only):
        n_control: control points per path (an int, or an inclusive (low, high) range
            drawn per path). The path has n_control - 3 spline segments, roughly one
            turn each: more control points, more turns and a longer, faster path.
        box: half-width of the square holding the control points.
        hop: (min, max) distance between consecutive control points; with n_control
            sets how far the pen travels, hence the step length between kept points.
        persistence: how much each hop keeps the previous hop's direction (0 = random
            turns, 1 = moderate, >= 2 = smooth, nearly periodic loops).
        pull: strength of the pull towards the centre (0 = none: only the walls turn
            the pen).
        tremor: amplitude of the low-frequency wobble added to every path (0 = none).
        tremor_control: control points of the wobble; more = higher frequency.
    """
    if n < 1 or points < 2:
        raise ValueError(f"need n >= 1 and points >= 2, got n={n}, points={points}")
    lo, hi = (n_control, n_control) if np.ndim(n_control) == 0 else n_control
    if not 4 <= lo <= hi:
        raise ValueError(f"n_control must be >= 4 (and low <= high), got {n_control!r}")
    if not 0.0 <= hop[0] <= hop[1] or hop[1] <= 0.0:
        raise ValueError(f"hop must satisfy 0 <= min <= max, max > 0; got {hop!r}")
    if box <= 0.0 or persistence < 0.0 or pull < 0.0 or tremor < 0.0:
        raise ValueError("box must be > 0 and persistence, pull, tremor >= 0")
    if tremor_control < 4:
        raise ValueError(f"tremor_control must be >= 4, got {tremor_control}")

    out = np.empty((n, points, 2))
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        count = int(rng.integers(lo, hi + 1))
        path = _bspline(_control_walk(rng, count, box, hop, persistence, pull), points)
        wobble = tremor * (2.0 * rng.random((tremor_control, 2)) - 1.0)
        out[i] = path + _bspline(wobble, points)
    # Explicit little-endian float32 so np.save writes the same bytes everywhere.
    return out.astype("<f4")


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------


def read_raw_trajectories(path: str | Path | None = None) -> np.ndarray:
    """Read a full-resolution data set, float32 (250, 1200, 2), checking shape and values.

    ``path=None`` reads :data:`DEFAULT_DATA`, or — if that file is absent, e.g. in a
    non-editable install, which does not ship ``data/`` — regenerates the same data in
    memory with :func:`generate_trajectories` (default seed; bit-for-bit the same).

    ``.npy`` files are read without pickle support. ``.pk``/``.pkl`` files (the original
    study's format: a pickled numpy array) are unpickled, and unpickling runs code stored
    in the file: only a file the user named explicitly is ever unpickled, never one found
    by searching. Problems raise :class:`UsageError` with one line naming the file.
    """
    if path is None:
        if not DEFAULT_DATA.is_file():
            return generate_trajectories()
        path = DEFAULT_DATA
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix != ".npy" and suffix not in _PICKLE_SUFFIXES:
        raise UsageError(
            f"{path}: unknown file type {path.suffix or '(no extension)'!r}; "
            "expected .npy or a pickle (.pk, .pkl)"
        )
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if not path.is_file():
        raise UsageError(f"{path}: not a regular file")
    try:
        if suffix == ".npy":
            obj = np.load(path, allow_pickle=False)
        else:
            with path.open("rb") as f:
                # latin1 lets Python 3 read numpy arrays pickled by Python 2.
                obj = pickle.load(f, encoding="latin1")  # the user named this file
        arr = np.asarray(obj, dtype=np.float64)
    except Exception as exc:  # any failure to decode is the file's fault, not a bug
        raise UsageError(
            f"{path}: cannot read trajectories ({type(exc).__name__}: {one_line(exc)})"
        ) from exc
    if arr.shape != RAW_SHAPE:
        raise UsageError(f"{path}: expected an array of shape {RAW_SHAPE}, found {arr.shape}")
    if not np.isfinite(arr).all():
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise UsageError(f"{path}: contains {bad} non-finite value(s) (NaN or inf)")
    return arr.astype(np.float32)


def load_trajectories(path: str | Path | None = None) -> np.ndarray:
    """Load the benchmark's targets: float32 (T=60, N=250, 2), time-major.

    Keeps every 20th of the 1200 recorded points, as the original study did. ``path`` is
    a ``.npy`` file or the original study's pickle (``.pk``/``.pkl``); ``None`` means the
    shipped data set, regenerated in memory if the file is missing. Pickles execute code
    when loaded, so only pass one you trust; a pickle is only read when named here.
    See :func:`read_raw_trajectories` for the checks (all raise :class:`UsageError`).
    """
    raw = read_raw_trajectories(path)
    return np.ascontiguousarray(raw[:, ::SUBSAMPLE].transpose(1, 0, 2))


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
        for p in ps:
            if not 1 <= p <= N_TRAJECTORIES:
                raise UsageError(
                    f"num_sequences must be in 1..{N_TRAJECTORIES} (the number of "
                    f"trajectories), got {p}"
                )
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
        mask = np.zeros((k, p_max), dtype=bool)
        indices = []
        for r, (seed, p) in enumerate(zip(self.seeds, self.num_sequences, strict=True)):
            idx = np.random.default_rng(seed).choice(N_TRAJECTORIES, p, replace=False)
            targets[:, r, :p] = data[:, idx]
            mask[r, :p] = True
            indices.append(idx)
        self.indices = indices
        self.mask = torch.from_numpy(mask)
        self.targets = torch.from_numpy(targets)

    def train_dataloader(self) -> DataLoader:
        """The whole batch at every step, for as many steps as the Trainer runs."""
        if self.targets is None:
            self.setup("fit")
        batch = {"targets": self.targets, "mask": self.mask}
        # batch_size=None: the dataset already yields whole batches; no collation.
        return DataLoader(_RepeatBatch(batch), batch_size=None)


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def _generate(out: Path, seed: int, force: bool) -> None:
    if out.suffix.lower() != ".npy":
        raise UsageError(f"{out}: the output must be a .npy file")
    if out.is_dir():
        raise UsageError(f"{out}: is a directory")
    if out.exists() and not force:
        raise UsageError(f"{out}: file exists; pass --force to overwrite it")
    if seed < 0:
        raise UsageError(f"--seed must be a non-negative integer, got {seed}")
    arr = generate_trajectories(seed=seed)
    # Write beside the target and rename: an interrupted run never leaves a partial file,
    # and with --force the old file is only replaced once the new one is complete.
    # (open(..., "xb") rather than mkstemp: the file gets the usual umask permissions.)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("xb") as f:
            np.save(f, arr)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"{out}: cannot write ({one_line(exc)})") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    print(f"wrote {out}: shape {arr.shape}, seed {seed}")


def _step_lengths(data: np.ndarray) -> np.ndarray:
    """Euclidean distances between consecutive points along axis 0, shape (T-1, N)."""
    return np.linalg.norm(np.diff(data, axis=0), axis=-1)


def _info(path: str | None) -> None:
    raw = read_raw_trajectories(path)
    kept = load_trajectories(path)
    steps = _step_lengths(kept)
    fine = _step_lengths(raw.transpose(1, 0, 2).astype(np.float64))
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


def _plot(out: Path, path: str | None, n: int, force: bool = False) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

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
        raise UsageError(f"{out}: cannot write ({one_line(exc)})") from exc
    finally:
        plt.close(fig)
    print(f"wrote {out}: {n} trajectories")


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rnn_capacity.data {generate,plot,info}``."""
    parser = ArgumentParser(
        prog="python -m rnn_capacity.data",
        description="Generate, inspect or plot the benchmark's trajectory data.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write the data set (.npy) with the generator")
    gen.add_argument("--out", type=Path, default=DEFAULT_DATA, help="default: %(default)s")
    gen.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    gen.add_argument("--force", action="store_true", help="overwrite an existing file")
    plot = sub.add_parser("plot", help="draw example trajectories into a PNG")
    plot.add_argument("--out", type=Path, required=True, help="image file to write")
    plot.add_argument("--path", help="data file (.npy, .pk, .pkl); default: shipped data")
    plot.add_argument("--n", type=int, default=12, help="trajectories to draw (%(default)s)")
    plot.add_argument("--force", action="store_true", help="overwrite an existing file")
    info = sub.add_parser("info", help="print shape and statistics of a data file")
    info.add_argument("--path", help="data file (.npy, .pk, .pkl); default: shipped data")
    args = parser.parse_args(argv)

    if args.command == "generate":
        _generate(args.out, args.seed, args.force)
    elif args.command == "plot":
        _plot(args.out, args.path, args.n, args.force)
    else:
        _info(args.path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
