"""The protocol's constants and every run option's default: their one home.

``train``, ``sweep``, ``evaluate``, ``study`` and the library functions
(:func:`~rnn_capacity.measure.measure_capacity`, ...) take their defaults from here, and
the presets of the sweep and the study are data here (:data:`SWEEP_PRESETS`,
:data:`STUDY_PRESETS`). The protocol itself is ``docs/protocol.md``: p of the
250 trajectories, T = 60 steps each, 3000 Adam iterations, a sequence learned when its
mean error is below 0.1, two tries per configuration.

This module imports nothing of the package (every layer may read it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: T, the time steps of a trajectory (the data keep every 20th of 1200 points).
STEPS = 60
#: Training iterations of one measurement.
ITERATIONS = 3000
#: A sequence is learned when its mean Euclidean error over time is below this.
THRESHOLD = 0.1
#: Measurements per configuration in a search.
TRIES = 2
#: Seeds of an evaluation at an optimum.
EVALUATION_SEEDS = 10
MAX_EVALUATION_SEEDS = 10_000  # seeds one evaluation trains, at most


@dataclass(frozen=True)
class PruneRule:
    """``--prune``'s rule: a try of ``p >= min_p`` whose training loss after ``at``
    iterations is still above ``bound`` stops there and counts 0."""

    at: int
    bound: float
    min_p: int = 1

    def describe(self) -> str:
        """``loss > 0.19 at 200, p ≥ 2``."""
        tail = f", p ≥ {self.min_p}" if self.min_p > 1 else ""
        return f"loss > {self.bound:g} at {self.at}{tail}"


#: ``--prune`` (a departure from the protocol, off unless asked for). The bound is the
#: largest loss at iteration 200 of the 221 counting runs among 518 full runs of four
#: models (HC-A, PC-RNN-V, GC-HC-A, MTRNN at H = 30, the original searches' first 130
#: configurations), rounded up; leaving each model out, the rule pruned 169 runs, one of
#: which had counted 1. Tries of p = 1 are never pruned: the five counting runs with the
#: largest loss at 200 were all of p = 1, and so was the one false prune of a pruned
#: sweep (bench/prune_rule.py, bench/prune_sweep.py, docs/performance.md).
PRUNE = PruneRule(at=200, bound=0.19, min_p=2)
#: Grid points per dimension when the optimum is read off a surrogate.
RESOLUTION = 50
#: Seeds of an evaluation trained at once, as one ensemble.
MAX_ENSEMBLE = 16

#: TensorBoard's root directory (Lightning's own default).
LOG_DIR = Path("lightning_logs")
#: Where the commands write their results by default.
RESULTS_DIR = Path("results")

#: The ``--accelerator`` choices of the command lines; the library functions also take
#: Lightning's ``"cuda"`` and ``"mps"`` (:data:`ACCELERATORS`).
CLI_ACCELERATORS = ("auto", "cpu", "gpu")
ACCELERATORS = (*CLI_ACCELERATORS, "cuda", "mps")
DEFAULT_ACCELERATOR = "auto"
#: Where a sweep trains its batches (``rnn_capacity.sweep.executors``). ``auto``, the
#: default, uses every core: a sweep whose batches hold more than one configuration trains
#: them on one single-threaded worker process per core (small products do not split well
#: over threads: ``bench/cores.py``), any other sweep in its own process (``local``).
EXECUTORS = ("auto", "local", "process", "ray")
DEFAULT_EXECUTOR = "auto"
#: Which optimum a study evaluates: the surrogate's grid optimum, or the best observed.
OPTIMA = ("surrogate", "observed")


@dataclass(frozen=True)
class SweepPreset:
    """A sweep's run options, before explicit flags override them."""

    calls: int | None  # None: the search space's own count (300; the ESN 500)
    tries: int
    iterations: int
    batch_size: int  # configurations asked at once (constant liar), trained as one ensemble
    initial_points: int  # random configurations after x0 before the GP leads
    learn_initial_state: bool | None  # None: the model's reproducing variant (``paper:``)
    batch_tries: bool  # the tries of a batch trained as one ensemble
    variant: bool  # apply the search space's ``paper:`` variant (settings, initial states)
    # Start at the original study's optimum for this (model, size) where it has one and
    # the search space is the model's own: a short search then begins where something is
    # learned (from x0 and random points, 800 iterations rarely find that region).
    start_at_reference: bool = False
    # ``--executor auto`` keeps one configuration in flight per core even with batches of
    # one (a configuration's tries stay one ensemble, not padded to another's p); the
    # search is then no longer the original's strictly sequential one.
    concurrent_search: bool = False
    # The leaky time loops in C++ (models/native.py): built once per machine (about a
    # minute), so only where a search runs for hours.
    native_loop: bool = False


#: Tries of a configuration in the ``quick`` preset: single runs at one configuration are
#: chaotic (at the calibration point 1-2 of 56 seeds collapse to a count near 0), so a
#: short search averages more of them than the protocol's 2 before it reports a count.
QUICK_TRIES = 3

#: ``paper`` is protocol.md exactly. ``quick``, the default, is the protocol's measurement
#: (3000 iterations, each model's ``paper`` variant: PC-RNN-HC-A's fixed initial states)
#: at the original study's optimum where there is one (else the config's x0) and at one
#: random configuration beside it, the two in parallel: a real count in about 3 minutes
#: on 2 CPU cores (README, "Quick start"; 4 configurations took 5 min 49 s, since a
#: random one of p near 250 costs four times the optimum's). Shorter training learns
#: nothing on this data, so a search of it would only see p.
SWEEP_PRESETS: dict[str, SweepPreset] = {
    "paper": SweepPreset(
        calls=None, tries=TRIES, iterations=ITERATIONS, batch_size=1, initial_points=10,
        learn_initial_state=None, batch_tries=True, variant=True, native_loop=True,
    ),
    "quick": SweepPreset(
        calls=2, tries=QUICK_TRIES, iterations=ITERATIONS, batch_size=1, initial_points=1,
        learn_initial_state=None, batch_tries=True, variant=True, start_at_reference=True,
        concurrent_search=True,
    ),
}  # fmt: skip
DEFAULT_PRESET = "quick"


@dataclass(frozen=True)
class StudyOptions:
    """Everything a study runs with besides its cells: a preset, then explicit flags.

    ``calls``, ``iterations``, ``tries``, ``batch_size``, ``initial_points``: None takes
    the sweep preset's; ``executor``, ``workers``, ``address``: None the sweep's default.
    """

    sweep_preset: str
    calls: int | None
    iterations: int | None
    seeds: int  # evaluation seeds at the optimum
    resolution: int  # grid of the optimum
    optimum: str  # one of OPTIMA
    seed: int = 0
    tries: int | None = None
    batch_size: int | None = None
    initial_points: int | None = None
    executor: str | None = None
    workers: int | None = None
    address: str | None = None
    concurrent: int = 1  # sweeps at once
    threads: int | None = None  # torch threads of each process worker (None: the sweep's)
    prune: bool | None = None  # --prune (None: as each cell's sweep was started, else off)


#: ``paper`` is protocol.md (each model's ``paper`` sweep, 10 seeds, the res-50 grid);
#: ``quick`` a demonstration: each cell's ``quick`` sweep (2 calls of the protocol's
#: measurement, 3 tries), then 3 seeds at the best configuration it measured.
STUDY_PRESETS: dict[str, StudyOptions] = {
    "paper": StudyOptions(
        sweep_preset="paper", calls=None, iterations=None, seeds=EVALUATION_SEEDS,
        resolution=RESOLUTION, optimum="surrogate",
    ),
    "quick": StudyOptions(
        sweep_preset="quick", calls=None, iterations=None, seeds=3, resolution=25,
        optimum="observed",
    ),
}  # fmt: skip
