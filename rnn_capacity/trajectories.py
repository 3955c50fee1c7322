"""The benchmark's trajectories: reproducible generators and a loader (numpy only).

The original study used 250 hand-drawn 2-D trajectories of 1200 points each
(``hard_trajectories_250.pk``, not distributed). This package ships its own data set of
the same form, ``data/trajectories_250.npy``, made by :func:`generate_polylines`
(constant-speed polylines, the look of the original's published example; see the
docs/reproduction.md); :func:`generate_trajectories` makes the earlier smooth spline
scribbles. Users who own the original pickle can load it with :func:`load_trajectories`.

The benchmark keeps every 20th point, giving time-major arrays of shape (T=60, N=250, 2).
This module imports numpy only; the Lightning data module is in :mod:`rnn_capacity.data`.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from rnn_capacity.errors import UsageError, one_line
from rnn_capacity.paths import shipped
from rnn_capacity.protocol import STEPS

__all__ = [
    "DEFAULT_DATA",
    "DEFAULT_STYLE",
    "N_TRAJECTORIES",
    "POINTS",
    "RAW_SHAPE",
    "STYLES",
    "SUBSAMPLE",
    "character",
    "generate_polylines",
    "generate_trajectories",
    "load_trajectories",
    "read_raw_trajectories",
    "step_lengths",
    "turning_angles",
]

#: The data set shipped with the package (repository root / data /).
DEFAULT_DATA = shipped("data") / "trajectories_250.npy"

N_TRAJECTORIES = 250  # trajectories in a data set
SUBSAMPLE = 20  # the benchmark keeps every 20th point of a recorded trajectory ...
POINTS = STEPS * SUBSAMPLE  # ... of 1200 points, so T = 60 time steps (protocol.STEPS)
RAW_SHAPE = (N_TRAJECTORIES, POINTS, 2)

_PICKLE_SUFFIXES = (".pk", ".pkl")
TURN_TRIES = 50  # biased draws of a vertex before its direction is drawn uniform
ARC_SAMPLES = 16  # pieces a curved segment is sampled with (generate_polylines' arc)
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
    The keyword-only arguments are the difficulty knobs.

    Keyword Args:
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
    _check_size(n, points)
    counts = _count_range(n_control, 4, "n_control")
    if not 0.0 <= hop[0] <= hop[1] or hop[1] <= 0.0:
        raise ValueError(f"hop must satisfy 0 <= min <= max, max > 0; got {hop!r}")
    if box <= 0.0 or persistence < 0.0 or pull < 0.0 or tremor < 0.0:
        raise ValueError("box must be > 0 and persistence, pull, tremor >= 0")
    if tremor_control < 4:
        raise ValueError(f"tremor_control must be >= 4, got {tremor_control}")

    def path(rng: np.random.Generator, count: int) -> np.ndarray:
        walk = _bspline(_control_walk(rng, count, box, hop, persistence, pull), points)
        wobble = tremor * (2.0 * rng.random((tremor_control, 2)) - 1.0)
        return walk + _bspline(wobble, points)

    return _paths(seed, n, points, counts, path)


def _check_size(n: int, points: int) -> None:
    if n < 1 or points < 2:
        raise ValueError(f"need n >= 1 and points >= 2, got n={n}, points={points}")


def _count_range(value: int | tuple[int, int], minimum: int, name: str) -> tuple[int, int]:
    """An int or an inclusive (low, high) range, as (low, high), each at least ``minimum``."""
    lo, hi = (value, value) if np.ndim(value) == 0 else value
    if not minimum <= lo <= hi:
        raise ValueError(f"{name} must be >= {minimum} (and low <= high), got {value!r}")
    return lo, hi


def _paths(seed: int, n: int, points: int, counts: tuple[int, int], make) -> np.ndarray:
    """``n`` paths, float32 (n, points, 2): path i is ``make(rng, count)`` with its own
    stream ``rng = default_rng([seed, i])`` and ``count`` drawn from it in ``counts``
    (inclusive) first, so the first k paths do not depend on ``n``."""
    out = np.empty((n, points, 2))
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        out[i] = make(rng, int(rng.integers(counts[0], counts[1] + 1)))
    # Explicit little-endian float32 so np.save writes the same bytes everywhere.
    return out.astype("<f4")


def _unit_direction(rng: np.random.Generator) -> np.ndarray:
    """A direction uniform on the circle: a point uniform in the unit disc (rejection
    from its square), normalised with sqrt — no sin/cos, so exactly rounded."""
    while True:
        u = 2.0 * rng.random(2) - 1.0
        r2 = u[0] * u[0] + u[1] * u[1]
        if 1e-12 < r2 <= 1.0:
            return u / np.sqrt(r2)


def _polyline_vertices(
    rng: np.random.Generator,
    count: int,
    start: float,
    box: float,
    run: tuple[float, float],
    turn: float = 0.0,
) -> np.ndarray:
    """``count`` vertices: the first uniform in [-start, start]^2, each next one at a
    distance uniform in ``run`` from the previous one, redrawn (distance and direction)
    until the vertex falls inside [-box, box]^2.

    The direction is uniform on the circle for ``turn = 0``; otherwise it is the unit
    vector along ``turn · heading + u`` with ``heading`` the previous segment's unit
    direction and ``u`` uniform on the circle: ``turn > 0`` favours small turns (runs that
    keep their direction), ``turn < 0`` reversals (hairpins); after ``TURN_TRIES`` draws
    that leave the box the direction is drawn uniform. Exactly rounded (sqrt).
    """
    pts = np.empty((count, 2))
    pts[0] = start * (2.0 * rng.random(2) - 1.0)
    heading = np.zeros(2)
    for i in range(1, count):
        tries = 0
        while True:
            length = run[0] + (run[1] - run[0]) * rng.random()
            u = _unit_direction(rng)
            tries += 1
            # A pen heading into a corner of the box may have no biased direction that
            # stays inside: after TURN_TRIES misses the turn is drawn uniform.
            if turn != 0.0 and i > 1 and tries <= TURN_TRIES:
                v = turn * heading + u
                r2 = v[0] * v[0] + v[1] * v[1]
                if r2 <= 1e-12:  # the two cancel: no direction, draw again
                    continue
                u = v / np.sqrt(r2)
            p = pts[i - 1] + length * u
            if -box <= p[0] <= box and -box <= p[1] <= box:
                break
        pts[i] = p
        heading = u
    return pts


def _bends(rng: np.random.Generator, vertices: np.ndarray, arc: float, samples: int) -> np.ndarray:
    """Each straight segment of ``vertices`` (V, 2) bent into a quadratic Bézier arc and
    sampled at ``samples`` + 1 parameter values: (V - 1, samples + 1, 2), first and last
    sample the segment's end points.

    The Bézier's middle control point sits at the chord's midpoint, moved along the
    chord's normal by ``arc · c · L`` (L the chord's length, c uniform in [-1, 1] per
    segment): the arc bulges to either side by up to ``arc / 2 · L`` (``arc = 1``: a
    bulge of half the chord, about a half circle's sagitta for the largest c).
    Polynomials only: exactly rounded.
    """
    a, b = vertices[:-1], vertices[1:]
    d = b - a
    c = arc * (2.0 * rng.random(len(d)) - 1.0)
    normal = np.stack([-d[:, 1], d[:, 0]], axis=1)  # |normal| = L
    mid = 0.5 * (a + b) + c[:, None] * normal
    t = (np.arange(samples + 1, dtype=np.float64) / samples)[None, :, None]
    s = 1.0 - t
    return s * s * a[:, None] + 2.0 * s * t * mid[:, None] + t * t * b[:, None]


def _profile(u: np.ndarray, slowing: float, accel: float) -> np.ndarray:
    """The fraction of a segment's length the pen has covered after the fraction ``u``
    of the segment's time: a speed profile along one run between two corners.

    ``accel`` in [0, 1] first warps time by ``u − accel · u (1 − u)``: the pen leaves a
    corner at ``1 − accel`` times the segment's mean speed and accelerates to
    ``1 + accel`` times it at the next corner. ``slowing`` in [0, 1] then blends in the
    minimum-jerk profile of a reaching movement, ``10u³ − 15u⁴ + 6u⁵``, which stops at
    both corners and runs 1.875× the mean speed mid-segment. Polynomials: exactly rounded.
    """
    if accel > 0.0:
        u = u - accel * u * (1.0 - u)
    if slowing > 0.0:
        jerk = u * u * u * (10.0 + u * (-15.0 + 6.0 * u))
        u = (1.0 - slowing) * u + slowing * jerk
    return u


def _lengths(d: np.ndarray) -> np.ndarray:
    return np.sqrt(d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1])


def _along(
    vertices: np.ndarray,
    points: int,
    slowing: float = 0.0,
    *,
    accel: float = 0.0,
    durations: np.ndarray | None = None,
    pause: float = 0.0,
    curves: np.ndarray | None = None,
) -> np.ndarray:
    """``points`` points at equal time steps along the path through ``vertices`` (V, 2).

    Each segment takes a time proportional to its length (one mean speed for the path),
    times ``durations`` (V − 1 factors, default 1: a per-segment speed); the pen rests
    ``pause`` times the mean segment time at each interior vertex. Within a segment the
    fraction ``u`` of its time puts the pen at the fraction :func:`_profile` ``(u)`` of
    its length (``slowing = accel = 0``: constant speed, so equal arc length). The
    segments are straight, or the sampled curves ``curves`` (V − 1, S + 1, 2) of
    :func:`_bends`, followed at the same profile along their arc length.
    Cumulative sums are sequential (np.cumsum): exactly reproducible.
    """
    d = np.diff(vertices, axis=0)
    if curves is None:
        seg = _lengths(d)  # (V-1,)
    else:
        pieces = _lengths(np.diff(curves, axis=1))  # (V-1, S)
        within = np.concatenate([np.zeros((len(d), 1)), np.cumsum(pieces, axis=1)], axis=1)
        seg = within[:, -1]
    time = seg if durations is None else seg * durations
    if pause > 0.0:  # rest intervals at the V - 2 interior vertices, interleaved
        rest = pause * (np.cumsum(time)[-1] / len(time))
        intervals = np.empty(2 * len(time) - 1)
        intervals[0::2], intervals[1::2] = time, rest
    else:
        intervals = time
    cum = np.concatenate([[0.0], np.cumsum(intervals)])  # sequential sums
    s = np.arange(points, dtype=np.float64) * cum[-1] / (points - 1)
    k = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(intervals) - 1)
    frac = np.where(
        intervals[k] > 0.0, (s - cum[k]) / np.where(intervals[k] > 0.0, intervals[k], 1.0), 0.0
    )
    if pause > 0.0:  # k odd: resting at vertex (k + 1) / 2, the end of segment k // 2
        moving = k % 2 == 0
        i = k // 2
        frac = np.where(moving, frac, 1.0)
    else:
        i = k
    frac = _profile(frac, slowing, accel)
    if curves is None:
        return vertices[i] + frac[:, None] * d[i]
    # Arc length along the sampled curve: which piece, and how far into it.
    target = frac * seg[i]
    # The piece: how many of the curve's interior breakpoints lie at or before the target
    # (searchsorted per row, as an integer count: exact, and one vectorised step).
    j = (within[i, 1:-1] <= target[:, None]).sum(axis=1)
    piece = pieces[i, j]
    f = np.where(piece > 0.0, (target - within[i, j]) / np.where(piece > 0.0, piece, 1.0), 0.0)
    f = np.clip(f, 0.0, 1.0)
    p0, p1 = curves[i, j], curves[i, j + 1]
    return p0 + f[:, None] * (p1 - p0)


def generate_polylines(
    seed: int = 0,
    n: int = N_TRAJECTORIES,
    points: int = POINTS,
    *,
    vertices: int | tuple[int, int] = (40, 50),
    run: tuple[float, float] = (0.1, 0.8),
    start: float = 0.5,
    box: float = 1.1,
    tremor: float = 0.0,
    tremor_control: int = 48,
    slowing: float = 0.0,
    accel: float = 0.0,
    turn: float = 0.0,
    arc: float = 0.0,
    pause: float = 0.0,
    speed_jitter: float = 0.0,
) -> np.ndarray:
    """Generate ``n`` polylines, float32 (n, points, 2): the look of the
    original study's published example (long straight runs, sharp corners).

    Each path has V vertices (V uniform in the inclusive range ``vertices``, per path):
    the first uniform in [-start, start]^2, each next one at a uniform direction and a
    distance uniform in ``run`` from the previous one, redrawn until it lies inside
    [-box, box]^2. The ``points`` samples are spaced evenly along the path (constant
    speed), so the benchmark's kept points (every 20th) lie on straight runs between
    about V corners. An optional ``tremor`` adds the smooth wobble of
    :func:`generate_trajectories` (a B-spline through ``tremor_control`` points uniform
    in [-tremor, tremor]^2). ``slowing`` in [0, 1] makes the pen slow down into the
    corners, as a hand does (see :func:`_along`; 0 = constant speed).

    The defaults (40–50 vertices, runs 0.1–0.8) make :data:`DEFAULT_DATA`. They were
    chosen (bench/reproduce.py, docs/reproduction.md) so that, at the original study's
    optima, 11 of its 12 saved surrogates' counts are reproduced within [0.7×, 1.3×] and
    PC-RNN-HC-A stays in its calibration band; 35–45 vertices were too easy (PC-RNN-HC-A
    60 of 61, several models at their cap).

    Knobs beyond the vertices and runs (all off by default, so the defaults make the
    shipped file; their effect on ``data info``'s statistics is in docs/data.md):

    * ``turn`` — the distribution of turn angles at the corners: the next segment's
      direction is the unit vector along ``turn · heading + u`` (``u`` uniform on the
      circle). 0 = uniform turns; > 0 favours gentle turns, < 0 hairpins.
    * ``arc`` >= 0 — segments curve: each becomes a quadratic Bézier arc whose middle
      control point is moved off the chord's midpoint by up to ``arc`` chord lengths, to
      either side (:func:`_bends`); the pen follows the arc at the same speed profile.
      An arc may bulge up to ``arc / 2`` chord lengths beyond the box.
    * ``accel`` in [0, 1] — acceleration out of the corners: the pen leaves each corner
      at ``1 − accel`` times its mean speed and reaches the next at ``1 + accel`` times.
    * ``slowing`` in [0, 1] — the pen slows down into the corners and stops at them for
      ``slowing = 1`` (the minimum-jerk profile; see :func:`_profile`).
    * ``pause`` >= 0 — the pen rests at every interior vertex for ``pause`` times the
      mean time of a segment (repeated points: a pen that stops and goes on).
    * ``speed_jitter`` in [0, 1) — each segment's own speed, uniform in
      ``[1 − speed_jitter, 1 + speed_jitter]`` times the path's mean speed.
    * ``tremor``, ``tremor_control`` — the smooth wobble above; ``vertices`` — the
      number of corners.

    Path i uses its own stream ``default_rng([seed, i])``, drawn in a fixed order
    (vertex count, vertices, arcs, segment speeds, tremor; a knob that is off draws
    nothing); the output is bit-for-bit the same on every machine (exactly rounded
    operations only, as for the spline generator).
    """
    _check_size(n, points)
    counts = _count_range(vertices, 2, "vertices")
    if not 0.0 < run[0] <= run[1]:
        raise ValueError(f"run must satisfy 0 < min <= max, got {run!r}")
    if not 0.0 <= start <= box or box <= 0.0 or run[0] > 2.0 * box or tremor < 0.0:
        raise ValueError("need 0 <= start <= box, box > 0, run min <= 2 box, tremor >= 0")
    for name, value, low, high in (
        ("slowing", slowing, 0.0, 1.0),
        ("accel", accel, 0.0, 1.0),
        ("speed_jitter", speed_jitter, 0.0, 0.99),
        ("arc", arc, 0.0, 4.0),
        ("pause", pause, 0.0, 10.0),
        ("turn", turn, -10.0, 10.0),
    ):
        if not low <= value <= high:
            raise ValueError(f"{name} must lie in [{low:g}, {high:g}], got {value!r}")

    def path(rng: np.random.Generator, count: int) -> np.ndarray:
        corners = _polyline_vertices(rng, count, start, box, run, turn)
        curves = _bends(rng, corners, arc, ARC_SAMPLES) if arc > 0.0 else None
        durations = None
        if speed_jitter > 0.0:
            durations = 1.0 / (1.0 + speed_jitter * (2.0 * rng.random(count - 1) - 1.0))
        line = _along(
            corners, points, slowing, accel=accel, durations=durations, pause=pause,
            curves=curves,
        )  # fmt: skip
        if tremor > 0.0:
            line = line + _bspline(tremor * (2.0 * rng.random((tremor_control, 2)) - 1.0), points)
        return line

    return _paths(seed, n, points, counts, path)


#: Generators by name (``python -m rnn_capacity.data generate --style``).
STYLES = {"polyline": generate_polylines, "spline": generate_trajectories}
#: The style (with its default arguments) that made :data:`DEFAULT_DATA`.
DEFAULT_STYLE = "polyline"


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
            return STYLES[DEFAULT_STYLE]()
        path = DEFAULT_DATA
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix != ".npy" and suffix not in _PICKLE_SUFFIXES:
        raise UsageError(
            f"{path}: unknown file type {path.suffix or '(no extension)'!r}; "
            "expected .npy or a pickle (.pk, .pkl)"
        )
    try:
        exists, regular = path.exists(), path.is_file()
    except OSError as exc:  # e.g. a name longer than a file name may be
        raise UsageError(f"{path}: cannot read ({one_line(exc.strerror or exc)})") from None
    if not exists:
        raise UsageError(f"{path}: no such file")
    if not regular:
        raise UsageError(f"{path}: not a regular file")
    try:
        if suffix == ".npy":
            obj = np.load(path, allow_pickle=False)
        else:
            with path.open("rb") as f:
                # latin1 lets Python 3 read numpy arrays pickled by Python 2.
                obj = pickle.load(f, encoding="latin1")  # the user named this file
        raw = np.asarray(obj)
        if raw.dtype.kind not in "fiu":  # no complex, bool, string or object arrays
            raise UsageError(f"{path}: expected real coordinates, found dtype {raw.dtype}")
        arr = raw.astype(np.float64)
    except UsageError:
        raise
    except Exception as exc:  # any failure to decode is the file's fault, not a bug
        raise UsageError(
            f"{path}: cannot read trajectories ({type(exc).__name__}: {one_line(exc)})"
        ) from exc
    if arr.shape != RAW_SHAPE:
        raise UsageError(f"{path}: expected an array of shape {RAW_SHAPE}, found {arr.shape}")
    if not np.isfinite(arr).all():
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise UsageError(f"{path}: contains {bad} non-finite value(s) (NaN or inf)")
    with np.errstate(over="ignore"):
        single = arr.astype(np.float32)  # what the models see
    if not np.isfinite(single).all():  # finite in float64, beyond float32's range
        bad = int(np.count_nonzero(~np.isfinite(single)))
        raise UsageError(
            f"{path}: {bad} value(s) beyond float32's range (|x| > 3.4e38); "
            "coordinates must be finite in float32"
        )
    return single


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
# Character of a data set
# --------------------------------------------------------------------------------------


def step_lengths(data: np.ndarray) -> np.ndarray:
    """Euclidean distances between consecutive points along axis 0, shape (T-1, N)."""
    return np.linalg.norm(np.diff(data, axis=0), axis=-1)


def turning_angles(data: np.ndarray) -> np.ndarray:
    """Angle in degrees between consecutive steps at each interior point: (T-2, N) for
    time-major data (T, N, 2). 0 on a straight run, 180 for a reversal."""
    d = np.diff(data.astype(np.float64), axis=0)
    a, b = d[:-1], d[1:]
    dot = (a * b).sum(-1)
    cross = a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    return np.degrees(np.abs(np.arctan2(cross, dot)))


def character(kept: np.ndarray) -> dict[str, float]:
    """Statistics that tell a polyline from a smooth scribble, on the kept points (T, N, 2):
    the share of interior points on a straight run (turn < 5°), corners per path
    (turn > 30°), the mean turn, and the spread of the speed (coefficient of variation of
    the step lengths within a path, averaged over paths)."""
    turns = turning_angles(kept)
    steps = step_lengths(kept)
    return {
        "straight_fraction": float((turns < 5.0).mean()),
        "corners_per_path": float((turns > 30.0).sum(axis=0).mean()),
        "mean_turn_deg": float(turns.mean()),
        "speed_cv": float((steps.std(axis=0) / steps.mean(axis=0)).mean()),
    }
