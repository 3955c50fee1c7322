"""``python -m rnn_capacity.optimum SOURCE``: read the optimum off a fitted GP surrogate.

SOURCE is a sweep directory of ours (``space.json`` + ``surrogate.pk``) or a surrogate
pickle: ours, or one of the original study's ``<MODEL>_model_<H>.pk``, whose file name
gives model and size (``--model`` / ``--hidden-size`` override it) and whose search space
is then ``configs/<model>.yaml``. The surrogate predicts the objective ``p − 2·count`` on
normalised coordinates; following protocol.md ("Reading the optimum off the surrogate"):

1. its mean is evaluated on the grid ``k/res`` (k = 0 … res−1) of every dimension, in
   chunks built lazily from flat indices, so a 4-D space at res 50 (6.25 M points) runs
   in bounded memory;
2. the grid point of lowest predicted objective is mapped back to values
   (:meth:`~rnn_capacity.config.Dimension.denormalise`: linear, or through log10); p is
   reported unrounded, with the predicted count ``(p − objective)/2``;
3. with ``--refine R`` each axis is then searched alone (coordinate descent) on
   ``R`` points spanning the whole of [0, 1] (ends included), the others held fixed,
   repeating the pass over the axes until it no longer improves (at most
   :data:`REFINE_PASSES` passes); the refined point is reported beside the grid one.

scikit-optimize's ``expected_minimum`` (L-BFGS from the best observed point and 20 random
ones, seed 0) is reported too, as it comes. It rounds integer dimensions before
predicting, so L-BFGS sees the surrogate flat in p and does not move p off its starting
integer (on the original surrogates: often the best observed p, not the grid's).

**Security:** unpickling runs code. Only the one file named on the command line is ever
unpickled (nothing is searched for); load only surrogates you trust.

Bad input prints one line ``error: ...`` and exits 2.
"""

from __future__ import annotations

import json
import math
import numbers
import pickle
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import Dimension, load_search_config
from .errors import ArgumentParser, UsageError, cli_main, one_line
from .progress import add_progress, apply_progress
from .progress import bar as progress_bar
from .protocol import RESOLUTION as DEFAULT_RESOLUTION
from .records import Optimum, SweepSpace, SweepSummary
from .reference import parse_surrogate_name

__all__ = [
    "Optimum",
    "TrainingPoint",
    "decode",
    "find_optimum",
    "grid_argmin",
    "load_surrogate",
    "main",
    "observed_optimum",
    "training_points",
]

PROG = "python -m rnn_capacity.optimum"
# The kernel matrix of a chunk is (chunk × training points) and the Matérn kernel makes a
# few temporaries of that size. Measured on the 500-point ESN surrogate, res-25 grid (peak
# RSS without torch): 8 k points per chunk 7.1 s wall, 5.3 s CPU, 320 MB; 13 k 6.6 s, 4.0 s,
# 440 MB; 33 k 7.4 s, 3.3 s, 910 MB (bigger arrays spend their time in page faults).
KERNEL_ENTRIES = 6_000_000
MAX_CHUNK = 200_000
REFINE_PASSES = 3
# Bounds checked before any work: a grid is predicted at ~70,000 points per second here
# (6.25 M points of the 500-point ESN surrogate in 91 s), so 1e9 points is ~4 hours; a
# refinement predicts its R points at once, (R × training points) kernel entries times a
# few temporaries.
MAX_GRID_POINTS = 10**9
GRID_POINTS_PER_SECOND = 70_000
MAX_REFINE_BYTES = 4 * 2**30
REFINE_TEMPORARIES = 4
EXPECTED_MINIMUM_STARTS = 20


# ------------------------------------------------------------------------------ grid


def grid_points(flat: np.ndarray, dims: int, resolution: int) -> np.ndarray:
    """The normalised grid points of the flat indices ``flat`` (C order): ``k/resolution``."""
    ks = np.unravel_index(flat, (resolution,) * dims)
    return np.stack(ks, axis=1).astype(float) / resolution


def grid_argmin(
    predict: Callable[[np.ndarray], np.ndarray],
    dims: int,
    resolution: int,
    chunk: int = MAX_CHUNK,
    progress: bool = False,
) -> tuple[np.ndarray, float]:
    """The point of the grid ``{k/resolution}^dims`` (k = 0 … resolution−1) where
    ``predict`` (an (n, dims) array -> n values) is lowest, and that value.

    Chunks of ``chunk`` points are built from flat indices, never the whole grid; ties go
    to the first point in C order.
    """
    if resolution < 2 or dims < 1 or chunk < 1:
        raise ValueError("need resolution >= 2, dims >= 1 and chunk >= 1")
    total = resolution**dims
    best_index, best_value = -1, math.inf
    with progress_bar(
        total=total, unit="pt", unit_scale=True, desc="grid", show=progress, leave=False
    ) as bar:
        for start in range(0, total, chunk):
            flat = np.arange(start, min(start + chunk, total))
            values = np.asarray(predict(grid_points(flat, dims, resolution)), float).ravel()
            i = int(np.argmin(values))
            if values[i] < best_value:
                best_index, best_value = start + i, float(values[i])
            bar.update(len(flat))
    if best_index < 0:  # every prediction NaN (or +inf)
        raise ValueError("the surrogate predicts no finite value on the grid")
    return grid_points(np.array([best_index]), dims, resolution)[0], best_value


def refine_point(
    predict: Callable[[np.ndarray], np.ndarray],
    point: np.ndarray,
    resolution: int,
    passes: int = REFINE_PASSES,
) -> tuple[np.ndarray, float]:
    """Coordinate descent from ``point``: each axis alone on ``resolution`` points over
    the whole of [0, 1] (ends included, which the grid lacks), the other coordinates fixed;
    passes over the axes repeat until one changes nothing (at most ``passes``)."""
    point = np.array(point, float)
    best = float(np.asarray(predict(point[None]), float).ravel()[0])
    line = np.linspace(0.0, 1.0, resolution)
    for _ in range(passes):
        moved = False
        for axis in range(len(point)):
            candidates = np.repeat(point[None], resolution, axis=0)
            candidates[:, axis] = line
            values = np.asarray(predict(candidates), float).ravel()
            i = int(np.argmin(values))
            if values[i] < best:  # strictly lower: never worse than the start
                point, best, moved = candidates[i], float(values[i]), True
        if not moved:
            break
    return point, best


def decode(dims: Sequence[Dimension], point: Sequence[float]) -> dict[str, float]:
    """Normalised coordinates -> values by dimension name (unrounded, also integers)."""
    return {d.name: float(d.denormalise(float(x))) for d, x in zip(dims, point, strict=True)}


# --------------------------------------------------------------------------- sources


def load_surrogate(path: str | Path):
    """Unpickle the GP surrogate at ``path`` (this file only: unpickling runs code).

    The original study's pickles were written by older scikit-learn / scikit-optimize
    and warn about it on load; those warnings are silenced here only, not globally.
    """
    # scikit-learn (with scipy) is slow to load; only a surrogate needs it.
    from sklearn.gaussian_process import GaussianProcessRegressor

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    try:
        with path.open("rb") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gp = pickle.load(f)
    except Exception as exc:  # any failure of a foreign pickle is bad input, not a bug
        raise UsageError(f"{path}: cannot unpickle ({type(exc).__name__}: {exc})") from None
    # skopt's regressor subclasses scikit-learn's; X_train_ is set by fit.
    if not isinstance(gp, GaussianProcessRegressor) or not hasattr(gp, "X_train_"):
        raise UsageError(f"{path}: not a fitted GP surrogate (got {type(gp).__name__})")
    return gp


def read_space(directory: Path) -> SweepSpace:
    """``space.json`` of a sweep directory, checked."""
    space_file = directory / "space.json"
    if not space_file.is_file():
        raise UsageError(f"{directory}: not a sweep directory (no space.json)")
    return SweepSpace.read(space_file)


def config_dimensions(model: str) -> list[Dimension]:
    """The dimensions of the model's search space (``configs/<model>.yaml``, or a
    plug-in's ``SEARCH_SPACE``; the model resolved as everywhere), in protocol order."""
    return load_search_config(model).space


def resolve_source(
    source: str | Path, model: str | None, hidden_size: int | None
) -> tuple[Path, str, int | None, list[Dimension]]:
    """(pickle to load, model, size, dimensions) for a sweep directory or a pickle."""
    source = Path(source)
    if hidden_size is not None:
        if isinstance(hidden_size, bool) or not isinstance(hidden_size, numbers.Integral):
            raise UsageError(f"--hidden-size must be an integer, got {hidden_size!r}")
        if hidden_size < 1:
            raise UsageError(f"--hidden-size must be at least 1, got {hidden_size}")
    if source.is_dir() or (
        source.name == "surrogate.pk" and (source.parent / "space.json").is_file()
    ):
        directory = source if source.is_dir() else source.parent
        space = read_space(directory)
        for name, given, saved in (
            ("--model", model, space.model),
            ("--hidden-size", hidden_size, space.hidden_size),
        ):
            if given is not None and saved is not None and given != saved:
                raise UsageError(f"{name} {given} contradicts {directory}/space.json ({saved})")
        surrogate = directory / "surrogate.pk"
        if not surrogate.is_file():
            raise UsageError(f"{directory}: no surrogate.pk yet (the sweep has fitted no GP)")
        return surrogate, model or space.model, hidden_size or space.hidden_size, space.dimensions
    if not source.is_file():
        raise UsageError(f"{source}: no such file or directory")
    parsed = parse_surrogate_name(source) or (None, None)
    model = model or parsed[0]
    if model is None:
        raise UsageError(
            f"{source.name}: cannot tell the model from the file name "
            "(expected <MODEL>_model_<H>.pk): pass --model"
        )
    return source, model, hidden_size or parsed[1], config_dimensions(model)


# ---------------------------------------------------------------------------- result


def describe_point(values: dict[str, float], objective: float) -> dict:
    """hparams (without p), p, objective and predicted count ``(p − objective)/2``."""
    p = values["p"]
    hparams = {k: v for k, v in values.items() if k != "p"}
    return {
        "hparams": hparams,
        "p": p,
        "objective": objective,
        "predicted_count": (p - objective) / 2,
    }


def observed_targets(gp) -> np.ndarray:
    """The objective values the GP was fitted on, undoing ``normalize_y``."""
    y = np.asarray(gp.y_train_, float).ravel()
    if getattr(gp, "normalize_y", False):
        # scikit-learn renamed these (y_train_mean_ -> _y_train_mean); pickles hold either.
        mean = getattr(gp, "_y_train_mean", getattr(gp, "y_train_mean_", 0.0))
        std = getattr(gp, "_y_train_std", getattr(gp, "y_train_std_", 1.0))
        y = y * np.asarray(std, float).ravel() + np.asarray(mean, float).ravel()
    return y


@dataclass
class TrainingPoint:
    """One configuration a search measured, decoded from its surrogate's training data.

    ``count`` is the mean count the search observed there, ``(p − objective)/2`` (the
    mean of its tries); ``smoothed_count`` is what the surrogate predicts at the same
    point, ``(p − mean)/2`` clipped to [0, p]: less noisy than a mean of two tries.
    """

    index: int  # position in the search (0 = its x0)
    p: int
    hparams: dict[str, float]  # without p
    objective: float
    count: float
    smoothed_count: float


def training_points(gp, dims: Sequence[Dimension]) -> list[TrainingPoint]:
    """The configurations a fitted surrogate was trained on, in search order.

    ``gp.X_train_`` holds them in normalised coordinates (decoded with ``dims``, the
    search space in its order), ``gp.y_train_`` their objectives, scaled when the GP
    normalises its targets (undone by :func:`observed_targets`).
    """
    X = np.asarray(gp.X_train_, float)
    if X.ndim != 2 or X.shape[1] != len(dims):
        raise UsageError(
            f"the surrogate has {X.shape[-1]}-D training points; the space has {len(dims)} "
            "dimensions"
        )
    y = observed_targets(gp)
    mean = np.asarray(gp.predict(X), float).ravel()
    points = []
    for i, (x, objective, predicted) in enumerate(zip(X, y, mean, strict=True)):
        values = decode(dims, x)
        p = round(values.pop("p"))
        smoothed = min(max((p - float(predicted)) / 2, 0.0), float(p))
        count = (p - float(objective)) / 2
        points.append(TrainingPoint(i, p, values, float(objective), count, smoothed))
    return points


def skopt_expected_minimum(gp, dims: Sequence[Dimension]) -> dict | None:
    """scikit-optimize's ``expected_minimum`` for ``gp``; None (with a warning line on
    stderr) if it fails, e.g. on a pickle too old for the installed scikit-optimize."""
    # scikit-optimize is slow to load (scikit-learn, scipy): imported when it is asked.
    from skopt.space import Space
    from skopt.utils import create_result, expected_minimum

    try:
        space = Space([d.to_skopt() for d in dims])
        space.set_transformer("normalize")  # the GP's coordinates, as in skopt's Optimizer
        x_iters = space.inverse_transform(np.asarray(gp.X_train_, float))
        result = create_result(x_iters, observed_targets(gp), space=space, models=[gp])
        x, fun = expected_minimum(result, n_random_starts=EXPECTED_MINIMUM_STARTS, random_state=0)
    except Exception as exc:  # an optional extra must not sink the report
        sys.stderr.write(f"warning: expected_minimum failed: {one_line(exc)}\n")
        return None
    values = {d.name: float(v) for d, v in zip(dims, x, strict=True)}
    return describe_point(values, float(fun))


def chunk_size(gp) -> int:
    """Points per prediction chunk for ``gp`` (see :data:`KERNEL_ENTRIES`)."""
    return max(1000, min(MAX_CHUNK, KERNEL_ENTRIES // max(1, len(gp.X_train_))))


def check_points(value, name: str) -> None:
    """``--resolution`` / ``--refine``: an integer (not a bool, a string or a float) >= 2."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UsageError(f"--{name} must be an integer, got {value!r}")
    if value < 2:
        raise UsageError(f"--{name} must be at least 2, got {value}")


def _amount(n: float, exact: bool = False) -> str:
    """A number for a message (``1e+10``, or ``exact``: every digit), also an integer
    beyond float's range (``10**400``)."""
    if n >= 10**300:
        return f"10**{int(math.log10(n))}"
    return str(n) if exact else f"{n:.3g}"


def _ratio(n: int, d: int) -> float:
    """``n / d``, or ``n // d`` where ``n`` is beyond float's range (an OverflowError)."""
    return n / d if n < 10**300 else n // d


def check_grid(resolution: int, dims: int) -> None:
    """Refuse a grid of ``resolution ** dims`` points that would not end in reasonable
    time (``UsageError`` with the estimate); the study checks it before its sweeps."""
    check_points(resolution, "resolution")
    # Integers all along: a resolution such as 10**200 is refused, not an OverflowError.
    grid = int(resolution) ** dims
    if grid > MAX_GRID_POINTS:
        hours = _ratio(grid, GRID_POINTS_PER_SECOND * 3600)
        raise UsageError(
            f"--resolution {_amount(resolution, True)} in {dims}-D is {_amount(grid)} grid "
            f"points (about {_amount(hours)} hours at ~{GRID_POINTS_PER_SECOND:,} points/s); "
            f"at most {MAX_GRID_POINTS:.0e}: use a lower --resolution and --refine"
        )


def find_optimum(
    source: str | Path,
    model: str | None = None,
    hidden_size: int | None = None,
    resolution: int = DEFAULT_RESOLUTION,
    refine: int | None = None,
    progress: bool = True,
) -> Optimum:
    """The optimum of the surrogate of ``source`` (a sweep directory or a pickle).

    Loads the one pickle ``source`` names (unpickling runs code: trusted files only).
    Bad input raises :class:`~rnn_capacity.errors.UsageError`.
    """
    check_points(resolution, "resolution")
    if refine is not None:
        check_points(refine, "refine")
    path, model, hidden_size, dims = resolve_source(source, model, hidden_size)
    check_grid(resolution, len(dims))
    if "p" not in [d.name for d in dims]:
        raise UsageError(f"the search space of {model} has no dimension p")
    gp = load_surrogate(path)
    n_features = np.shape(gp.X_train_)[1]
    if n_features != len(dims):
        names = ", ".join(d.name for d in dims)
        raise UsageError(
            f"{path}: the surrogate has {n_features} dimensions, the space of {model} "
            f"has {len(dims)} ({names})"
        )

    if refine is not None:
        need = int(refine) * len(gp.X_train_) * 8 * REFINE_TEMPORARIES
        if need > MAX_REFINE_BYTES:
            raise UsageError(
                f"--refine {_amount(refine, True)} needs about {_amount(_ratio(need, 2**30))} GiB "
                f"({_amount(refine, True)} points × {len(gp.X_train_)} training points); at most "
                f"{MAX_REFINE_BYTES / 2**30:g} GiB"
            )
    predict = gp.predict  # the mean only: the objective p − 2·count, de-normalised
    point, value = grid_argmin(predict, len(dims), resolution, chunk_size(gp), progress)
    best = describe_point(decode(dims, point), value)
    refined = None
    if refine is not None:
        r_point, r_value = refine_point(predict, point, refine)
        refined = {"resolution": refine, **describe_point(decode(dims, r_point), r_value)}
        refined["grid_point"] = r_point.tolist()
    return Optimum(
        model=model,
        hidden_size=hidden_size,
        source=str(source),
        resolution=resolution,
        grid_point=point.tolist(),
        refined=refined,
        expected_minimum=skopt_expected_minimum(gp, dims),
        **best,
    )


def observed_optimum(sweep_dir: Path) -> Optimum:
    """The best configuration a sweep measured, as an :class:`Optimum` without a grid: for
    short searches, whose surrogate is too rough to read an optimum off."""
    space = read_space(sweep_dir)
    best = SweepSummary.read(sweep_dir / "summary.json").best
    if best is None:
        raise UsageError(f"{sweep_dir}: its summary holds no configuration yet")
    return Optimum(
        model=space.model,
        hidden_size=space.hidden_size,
        source=f"{sweep_dir} (best observed configuration {best.index})",
        hparams={k: v for k, v in best.hparams.items() if k in space.names},
        p=float(best.p),
        objective=float(best.objective),
        predicted_count=float(best.mean_count),
    )


# ------------------------------------------------------------------------------- CLI


def format_point(label: str, point: dict) -> str:
    values = "  ".join(f"{k}={v:.6g}" for k, v in {"p": point["p"], **point["hparams"]}.items())
    return (
        f"{label}: {values}  objective {point['objective']:.4f}  "
        f"predicted count {point['predicted_count']:.2f}"
    )


def report_lines(opt: Optimum) -> list[str]:
    size = f" H={opt.hidden_size}" if opt.hidden_size is not None else ""
    lines = [f"{opt.model}{size}: surrogate {opt.source}"]
    lines.append(format_point(f"grid optimum (res {opt.resolution})", opt.to_dict()))
    if opt.refined is not None:
        lines.append(format_point(f"refined (res {opt.refined['resolution']})", opt.refined))
    if opt.expected_minimum is not None:
        lines.append(format_point("skopt expected_minimum", opt.expected_minimum))
    return lines


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog=PROG,
        description=(
            "Read the optimum off a GP surrogate: grid search of its predicted objective "
            "(p - 2 count), as protocol.md. Unpickling runs code: only the file named "
            "(SOURCE, or SOURCE/surrogate.pk) is loaded; load only surrogates you trust."
        ),
    )
    p.add_argument(
        "source",
        metavar="SOURCE",
        type=Path,
        help="a sweep directory (space.json + surrogate.pk) or a surrogate "
        "pickle, e.g. PC_RNN_HC_A_model_60.pk",
    )
    p.add_argument("--model", help="model name (default: from space.json or the file name)")
    p.add_argument(
        "--hidden-size", type=int, help="model size (default: from space.json or the file name)"
    )
    p.add_argument(
        "--resolution",
        type=int,
        default=DEFAULT_RESOLUTION,
        help="grid points per dimension (default %(default)s)",
    )
    p.add_argument(
        "--refine",
        type=int,
        metavar="R",
        help="then search each axis alone on R points over [0, 1]",
    )
    p.add_argument(
        "--json", action="store_true", help="print the result as one JSON object on the last line"
    )
    add_progress(p)
    return p


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    apply_progress(args)
    opt = find_optimum(
        args.source, args.model, args.hidden_size, args.resolution, args.refine, progress=True
    )
    print("\n".join(report_lines(opt)))
    if args.json:
        print(json.dumps(opt.to_dict(), allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
