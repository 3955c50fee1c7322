"""Training throughput of the package against the original study's code path, in steady state.

Workload: every BPTT model at H = 60, p = 60, T = 60, Adam at lr = 0.01, initial states
fixed, τ = 5, τ_s = 10, τ_f = 2, γ = 0.1, α_h' = 0.1 (HC-M variants: F = H). The ESN is
listed but not timed: it is fitted in closed form (one least-squares solve on the
reservoir states), so it has no training iterations to compare.

Sides (alternating within each repetition; medians over ``--repeats`` are quoted):

* **baseline** — the original study's code path (bench/original_style.py): one model at a
  time, per-step 2-D ops, Adam. It trains one model at a time, so its time per
  model-iteration is measured once per model, whatever K.
* **package** — ``K`` independent models as the replicas of one ensemble (seeds 0..K-1,
  ``TrajectoryDataModule(num_sequences=[60]*K, seed=range(K))``) in one real Lightning
  ``Trainer.fit`` (``rnn_capacity.measure.make_trainer``). K = 1 is one run as the
  ``paper`` preset used to train; K = 2 the two tries of one configuration (the ``paper``
  preset trains them as one ensemble); K = 16 a batched sweep.

Every run is timed in two parts: **start-up** (from before building the model, optimiser,
data and Trainer to the end of the ``--warmup`` W-th iteration) and **steady state** (the
next ``--iterations`` N iterations, per iteration). The package's per-iteration times are
taken inside one ``trainer.fit`` by a callback that reads ``time.perf_counter()`` at every
``on_train_batch_end``. ``ratio(K) = baseline s per model-iteration / (package s per
iteration / K)``: how many times more model-iterations per second the package trains.

Also measured:

* **faithfulness** (when pc_rnn_hc_a is timed): a transcription of the original study's own
  training loop for PC-RNN-HC-A (``notebook_training``: ``torch.Tensor(trajs[:, l])`` rebuilt
  from numpy at every iteration, ``h_init`` a Parameter outside the optimiser), timed beside
  the original-style HC-A baseline; ``notebook / baseline`` near 1 means the baseline is the
  original code path, above 1 that the baseline is faster than the original (conservative).
* **Lightning overhead** (pc_rnn_hc_a): the same module and Adam in a bare Python loop,
  ``1 − bare / Trainer.fit`` per iteration in steady state.
* ``--compile``: the package with the whole training step compiled into one graph
  (``rnn_capacity.models.compiled``), timed beside its default; the compile lands in the
  start-up, not in the steady state.
* ``--native``: the package with its leaky time loop in C++ (``rnn_capacity.models.native``,
  the ``paper`` preset's default where it builds), timed beside the Python loop.
* ``--project``: the wall time of one full ``paper`` sweep of PC-RNN-HC-A at H = 60
  (300 configurations × 2 tries × 3000 iterations), from K = 2 runs at a sample of p.

    python bench/throughput.py [--models M ...] [--ks 1 2 16] [--iterations 300]
        [--warmup 20] [--repeats 3] [--threads T] [--compile] [--native] [--project] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from original_style import (  # noqa: E402
    BASELINES,
    notebook_training,
    original_trajs,
    train_original,
)

from rnn_capacity.cli import quiet_lightning  # noqa: E402
from rnn_capacity.data import TrajectoryDataModule, read_raw_trajectories  # noqa: E402
from rnn_capacity.measure import make_trainer  # noqa: E402
from rnn_capacity.models import MODELS, native  # noqa: E402
from rnn_capacity.models.compiled import compile_training_step  # noqa: E402

HIDDEN = 60
NUM_SEQUENCES = 60
LR = 0.01
#: The models' own hyperparameters for this benchmark (lr is added for the package side).
HPARAMS: dict[str, dict] = {
    "srnn": {},
    "trnn": {"tau": 5.0},
    "mtrnn": {"tau_slow": 10.0, "tau_fast": 2.0},
    "lstm": {},
    "gru": {},
    "ugrnn": {},
    "antisymmetric_rnn": {"tau": 5.0, "gamma": 0.1},
    "pc_rnn_v": {"tau": 5.0},
    "pc_rnn_gc": {"tau": 5.0, "alpha_h_prime": 0.1},
    "pc_rnn_hc_a": {"tau": 5.0},
    "pc_rnn_hc_m": {"tau": 5.0},
    "pc_rnn_gc_hc_a": {"tau": 5.0},
    "pc_rnn_gc_hc_m": {"tau": 5.0},
}
NOT_COMPARABLE = {
    "esn": "closed form, not comparable: the ESN's read-out is one ridge least-squares "
    "solve on the reservoir states (one Trainer step); it has no BPTT loop and no "
    "training iterations to time"
}

# The full `paper` sweep of PC-RNN-HC-A at H = 60 (protocol.md).
SWEEP_MODEL = "pc_rnn_hc_a"
SWEEP_CONFIGS, SWEEP_TRIES, SWEEP_ITERATIONS = 300, 2, 3000
SWEEP_SURROGATE = Path(__file__).resolve().parents[2] / "shared/reference/PC_RNN_HC_A_model_60.pk"
FALLBACK_PS = [5, 61, 125, 250]


# -- timing ---------------------------------------------------------------------------


def split(t0: float, clock: list[float], warmup: int, iterations: int) -> dict:
    """Start-up (``t0`` to the end of iteration ``warmup``) and steady state per iteration."""
    if len(clock) != warmup + iterations:
        raise RuntimeError(f"expected {warmup + iterations} iterations, timed {len(clock)}")
    end_of_warmup = clock[warmup - 1]
    return {
        "startup_s": end_of_warmup - t0,
        "per_iteration_s": (clock[-1] - end_of_warmup) / iterations,
    }


class IterationClock(pl.Callback):
    """Reads ``time.perf_counter()`` at the end of every training batch (after the
    optimiser step)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.times.append(time.perf_counter())


def package_hparams(name: str) -> dict:
    return {"lr": LR, **HPARAMS[name]}


def run_package(
    name: str,
    k: int,
    p: int,
    warmup: int,
    iterations: int,
    bptt: bool | None = None,
    compile: bool = False,
    native_loop: bool = False,
) -> dict:
    """K replicas of ``name`` in one ``Trainer.fit``: start-up includes the data module, the
    module, the Trainer and the first ``warmup`` iterations. ``bptt=False`` trains through
    autograd's time loop instead of the model's hand-written BPTT (None: its default);
    ``compile=True`` with the whole step compiled (``--compile``; start-up includes the
    compile, or Inductor's cache lookup); ``native_loop=True`` with the leaky time loop in
    C++ (models/native.py, built before the timing starts)."""
    with native.enabled_as(native_loop):
        t0 = time.perf_counter()
        seeds = list(range(k))
        data = TrajectoryDataModule(num_sequences=[p] * k, seed=seeds)
        module = MODELS[name](
            HIDDEN, [p] * k, seed=seeds, learn_initial_state=False, **package_hparams(name)
        )
        if bptt is not None:
            module.hand_written_bptt = bptt
        if compile:
            compile_training_step(module)
        clock = IterationClock()
        trainer = make_trainer(warmup + iterations, accelerator="cpu", callbacks=[clock])
        trainer.fit(module, datamodule=data)
    return split(t0, clock.times, warmup, iterations)


def run_bare(name: str, k: int, p: int, warmup: int, iterations: int) -> dict:
    """The package's module and its optimiser in a plain Python loop (no Trainer)."""
    t0 = time.perf_counter()
    seeds = list(range(k))
    data = TrajectoryDataModule(num_sequences=[p] * k, seed=seeds)
    data.setup()
    module = MODELS[name](
        HIDDEN, [p] * k, seed=seeds, learn_initial_state=False, **package_hparams(name)
    )
    opt = module.configure_optimizers()
    clock = []
    for _ in range(warmup + iterations):
        opt.zero_grad()
        module.replica_losses(module(data.targets), data.targets).sum().backward()
        opt.step()
        clock.append(time.perf_counter())
    return split(t0, clock, warmup, iterations)


def run_baseline(name: str, targets: torch.Tensor, warmup: int, iterations: int) -> dict:
    """One original-style model on ``targets`` (T, p, 2), already a tensor (the original
    loaded its data once per search, not per run)."""
    t0 = time.perf_counter()
    clock: list[float] = []
    train_original(name, targets, HIDDEN, warmup + iterations, 0, LR, clock, **HPARAMS[name])
    return split(t0, clock, warmup, iterations)


def run_notebook(trajs: np.ndarray, p: int, warmup: int, iterations: int) -> dict:
    """The original study's own training loop for PC-RNN-HC-A, transcribed."""
    t0 = time.perf_counter()
    clock: list[float] = []
    tau = HPARAMS["pc_rnn_hc_a"]["tau"]
    notebook_training(trajs, p, HIDDEN, LR, tau, warmup + iterations, 0, clock)
    return split(t0, clock, warmup, iterations)


def median_of(runs: list[dict]) -> dict:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def targets_for(p: int) -> torch.Tensor:
    """Replica 0's draw of ``p`` trajectories, (T, p, 2): what the baseline trains on."""
    data = TrajectoryDataModule(num_sequences=p, seed=0)
    data.setup()
    return data.targets[:, 0, :p].contiguous()


# -- the benchmark --------------------------------------------------------------------


def machine() -> str:
    uname = platform.uname()
    cpu = platform.processor() or uname.machine
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu} ({uname.system} {uname.release}, {uname.machine}), {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads"
    )


def time_model(name: str, ks: list[int], args, notes: dict) -> list[dict]:
    """All sides for one model, alternating over the repetitions; one row per K."""
    W, N = args.warmup, args.iterations
    targets = targets_for(NUM_SEQUENCES)
    is_hca = name == SWEEP_MODEL
    trajs = original_trajs(read_raw_trajectories()) if is_hca else None
    sides = [("baseline", None)] + [("package", k) for k in ks]
    if args.autograd:
        sides += [("autograd", k) for k in ks]
    if args.compile:
        sides += [("compiled", k) for k in ks]
    if args.native:
        sides += [("native", k) for k in ks]
    if is_hca:
        sides.insert(1, ("notebook", None))
        sides += [("bare", k) for k in ks]
    runs: dict = {side: [] for side in sides}
    for r in range(args.repeats):
        for side, k in sides if r % 2 == 0 else reversed(sides):
            if side == "baseline":
                runs[side, k].append(run_baseline(name, targets, W, N))
            elif side == "notebook":
                runs[side, k].append(run_notebook(trajs, NUM_SEQUENCES, W, N))
            elif side == "package":
                runs[side, k].append(run_package(name, k, NUM_SEQUENCES, W, N))
            elif side == "autograd":
                runs[side, k].append(run_package(name, k, NUM_SEQUENCES, W, N, bptt=False))
            elif side == "compiled":
                runs[side, k].append(run_package(name, k, NUM_SEQUENCES, W, N, compile=True))
            elif side == "native":
                runs[side, k].append(run_package(name, k, NUM_SEQUENCES, W, N, native_loop=True))
            else:
                runs[side, k].append(run_bare(name, k, NUM_SEQUENCES, W, N))
    base = median_of(runs["baseline", None])
    rows = []
    for k in ks:
        pkg = median_of(runs["package", k])
        row = {
            "model": name,
            "K": k,
            "baseline_ms_per_iteration": 1e3 * base["per_iteration_s"],
            "package_ms_per_iteration": 1e3 * pkg["per_iteration_s"],
            "package_ms_per_model_iteration": 1e3 * pkg["per_iteration_s"] / k,
            "ratio": base["per_iteration_s"] / (pkg["per_iteration_s"] / k),
            "baseline_startup_s": base["startup_s"],
            "package_startup_s": pkg["startup_s"],
        }
        if args.autograd:
            eager = median_of(runs["autograd", k])
            row["autograd_ms_per_iteration"] = 1e3 * eager["per_iteration_s"]
            row["autograd_ratio"] = base["per_iteration_s"] / (eager["per_iteration_s"] / k)
            row["bptt_speedup"] = eager["per_iteration_s"] / pkg["per_iteration_s"]
        if args.compile:
            comp = median_of(runs["compiled", k])
            row["compiled_ms_per_iteration"] = 1e3 * comp["per_iteration_s"]
            row["compiled_ratio"] = base["per_iteration_s"] / (comp["per_iteration_s"] / k)
            row["compile_speedup"] = pkg["per_iteration_s"] / comp["per_iteration_s"]
            row["compiled_startup_s"] = comp["startup_s"]
        if args.native:
            nat = median_of(runs["native", k])
            row["native_ms_per_iteration"] = 1e3 * nat["per_iteration_s"]
            row["native_ratio"] = base["per_iteration_s"] / (nat["per_iteration_s"] / k)
            row["native_speedup"] = pkg["per_iteration_s"] / nat["per_iteration_s"]
        if is_hca:
            bare = median_of(runs["bare", k])
            row["bare_ms_per_iteration"] = 1e3 * bare["per_iteration_s"]
            row["lightning_overhead"] = 1 - bare["per_iteration_s"] / pkg["per_iteration_s"]
        rows.append(row)
    if is_hca:
        nb = median_of(runs["notebook", None])
        notes["faithfulness"] = {
            "model": name,
            "notebook_ms_per_iteration": 1e3 * nb["per_iteration_s"],
            "baseline_ms_per_iteration": 1e3 * base["per_iteration_s"],
            "notebook_over_baseline": nb["per_iteration_s"] / base["per_iteration_s"],
            "notebook_startup_s": nb["startup_s"],
            "baseline_startup_s": base["startup_s"],
        }
    return rows


def sweep_ps() -> tuple[list[int], str]:
    """The p values to sample for the projection, and where they come from.

    With the original HC-A H = 60 surrogate at hand: its 300 training points are the
    configurations the original search visited; sorted by p and cut into 4 groups of 75,
    each group contributes its mean p. The per-iteration cost is close to linear in p
    (bench/ensemble_cost.py), so the mean over these 4 matches the mean over the 300.
    Without it: p ∈ {5, 61, 125, 250} (the default point, the optimum, the middle and the
    top of the range) — a coarser stand-in whose mean p (110) is above the search's."""
    try:
        from rnn_capacity.optimum import load_surrogate

        gp = load_surrogate(SWEEP_SURROGATE)
        p = np.sort(np.rint(1 + 249 * np.asarray(gp.X_train_)[:, 0]))
        groups = np.array_split(p, 4)
        ps = [int(round(float(g.mean()))) for g in groups]
        source = (
            f"the mean p of each quarter of the {len(p)} configurations the original "
            f"search visited (surrogate {SWEEP_SURROGATE.name}; their mean p is "
            f"{p.mean():.1f})"
        )
        return ps, source
    except Exception as exc:  # no surrogate here, or it cannot be read
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return list(FALLBACK_PS), (
            f"fixed values (surrogate unavailable: {reason}); their mean p (110) is above "
            "the original search's, so the projection is pessimistic"
        )


def project(args, ps: list[int], source: str) -> dict:
    """Project one full `paper` sweep of PC-RNN-HC-A (300 configurations × 2 tries ×
    3000 iterations) from K = 2 runs at the sampled ``ps``; the baseline trains its tries
    one after the other."""
    W, N = args.warmup, args.iterations
    samples = []
    for p in ps:
        targets = targets_for(p)
        pkg_runs, base_runs = [], []
        for r in range(args.repeats):
            order = ("package", "baseline") if r % 2 == 0 else ("baseline", "package")
            for side in order:
                if side == "package":
                    pkg_runs.append(run_package(SWEEP_MODEL, 2, p, W, N))
                else:
                    base_runs.append(run_baseline(SWEEP_MODEL, targets, W, N))
        pkg, base = median_of(pkg_runs), median_of(base_runs)
        # One configuration: start-up (with its W iterations), then the other 3000 − W.
        rest = SWEEP_ITERATIONS - W
        samples.append(
            {
                "p": p,
                "package_ms_per_iteration_k2": 1e3 * pkg["per_iteration_s"],
                "package_startup_s": pkg["startup_s"],
                "baseline_ms_per_iteration": 1e3 * base["per_iteration_s"],
                "baseline_startup_s": base["startup_s"],
                "package_config_s": pkg["startup_s"] + rest * pkg["per_iteration_s"],
                "baseline_config_s": SWEEP_TRIES
                * (base["startup_s"] + rest * base["per_iteration_s"]),
            }
        )
        s = samples[-1]
        print(
            f"  projection sample p={p:3d}: package K=2 {s['package_ms_per_iteration_k2']:.2f}"
            f" ms/it (start-up {s['package_startup_s']:.2f} s) | baseline "
            f"{s['baseline_ms_per_iteration']:.2f} ms/it",
            flush=True,
        )
    package_s = SWEEP_CONFIGS * statistics.fmean(s["package_config_s"] for s in samples)
    baseline_s = SWEEP_CONFIGS * statistics.fmean(s["baseline_config_s"] for s in samples)
    return {
        "model": SWEEP_MODEL,
        "hidden_size": HIDDEN,
        "configurations": SWEEP_CONFIGS,
        "tries": SWEEP_TRIES,
        "iterations": SWEEP_ITERATIONS,
        "sampled_p": ps,
        "p_source": source,
        "assumption": "p uniform over the sampled values; a configuration costs its "
        "measured start-up (including the W warm-up iterations) plus 3000 − W "
        "steady-state iterations; the GP's own time (fitting, acquisition), the count "
        "after training and logging are not included",
        "samples": samples,
        "package_hours": package_s / 3600,
        "baseline_hours": baseline_s / 3600,
        "speedup": baseline_s / package_s,
    }


# -- output ---------------------------------------------------------------------------

HEADER = (
    f"{'model':18s} {'K':>3s} {'baseline':>9s} {'package':>9s} {'pkg/model':>9s} "
    f"{'ratio':>6s} {'start-up (s)':>14s}"
)
UNITS = (
    f"{'':18s} {'':>3s} {'ms/it':>9s} {'ms/it':>9s} {'ms/it':>9s} {'':>6s} {'base':>6s} {'pkg':>7s}"
)


def format_row(row: dict) -> str:
    line = (
        f"{row['model']:18s} {row['K']:3d} {row['baseline_ms_per_iteration']:9.2f} "
        f"{row['package_ms_per_iteration']:9.2f} {row['package_ms_per_model_iteration']:9.2f} "
        f"{row['ratio']:6.2f} {row['baseline_startup_s']:6.2f} {row['package_startup_s']:7.2f}"
    )
    if "autograd_ms_per_iteration" in row:
        line += (
            f"   autograd {row['autograd_ms_per_iteration']:8.2f} ms/it, ratio "
            f"{row['autograd_ratio']:5.2f} (bptt x{row['bptt_speedup']:.2f})"
        )
    if "compiled_ms_per_iteration" in row:
        line += (
            f"   compiled {row['compiled_ms_per_iteration']:8.2f} ms/it, ratio "
            f"{row['compiled_ratio']:5.2f} (x{row['compile_speedup']:.2f} over the default;"
            f" start-up {row['compiled_startup_s']:.1f} s)"
        )
    if "native_ms_per_iteration" in row:
        line += (
            f"   native {row['native_ms_per_iteration']:8.2f} ms/it, ratio "
            f"{row['native_ratio']:5.2f} (x{row['native_speedup']:.2f} over the default)"
        )
    return line


def rounded(obj):
    """Floats to 6 significant digits, for a readable JSON line."""
    if isinstance(obj, float):
        return float(f"{obj:.6g}") if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: rounded(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [rounded(v) for v in obj]
    return obj


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--models", nargs="+", default=list(MODELS), choices=list(MODELS), metavar="MODEL"
    )
    ap.add_argument("--ks", nargs="+", type=int, default=[1, 2, 16], help="ensemble sizes K")
    ap.add_argument("--iterations", type=int, default=300, help="N timed iterations")
    ap.add_argument("--warmup", type=int, default=20, help="W warm-up iterations (≥ 1)")
    ap.add_argument("--repeats", type=int, default=3, help="repetitions (medians quoted)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (both sides)")
    ap.add_argument(
        "--project", action="store_true", help="project a full paper sweep of PC-RNN-HC-A"
    )
    ap.add_argument("--project-ps", nargs="+", type=int, default=None, help="p values to sample")
    ap.add_argument(
        "--autograd",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time the package through autograd's time loop (hand_written_bptt=False)",
    )
    ap.add_argument(
        "--compile",
        action="store_true",
        help="also time the package with the whole step compiled (--compile; cold compiles "
        "take 30-170 s per model and K)",
    )
    ap.add_argument(
        "--native",
        action="store_true",
        help="also time the package with the leaky time loop in C++ (models/native.py; the "
        "paper preset's default for sRNN, TRNN, MTRNN, PC-RNN-V, -HC-A, -GC-HC-A)",
    )
    ap.add_argument("--json", action="store_true", help="print one JSON line at the end")
    return ap


def main(argv=None) -> dict:
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.warmup < 1 or args.iterations < 1 or args.repeats < 1:
        ap.error("--warmup, --iterations and --repeats must be at least 1")
    if any(k < 1 for k in args.ks):
        ap.error("--ks: every K must be at least 1")
    if args.project_ps is not None and not all(1 <= p <= 250 for p in args.project_ps):
        ap.error("--project-ps: every p must be in 1..250")
    if args.threads is not None and args.threads < 1:
        ap.error("--threads must be at least 1")
    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return run(args)
    finally:
        torch.set_num_threads(threads)  # main() may be called from a test: leave it as it was


def run(args) -> dict:
    W, N = args.warmup, args.iterations
    report: dict = {
        "machine": machine(),
        "threads": torch.get_num_threads(),
        "workload": {
            "hidden_size": HIDDEN,
            "num_sequences": NUM_SEQUENCES,
            "steps": 60,
            "lr": LR,
            "warmup": W,
            "iterations": N,
            "repeats": args.repeats,
            "ks": args.ks,
            "initial_states": "fixed",
        },
    }
    print(f"machine: {report['machine']}")
    print(
        f"workload: H={HIDDEN}, p={NUM_SEQUENCES}, T=60, Adam lr={LR}, fixed initial states; "
        f"W={W} warm-up + N={N} timed iterations per run, median of {args.repeats} "
        "(sides alternating)",
        flush=True,
    )
    rows: list[dict] = []
    notes: dict = {}
    skipped = {}
    with quiet_lightning():
        print(HEADER)
        print(UNITS, flush=True)
        for name in args.models:
            if name in NOT_COMPARABLE:
                skipped[name] = NOT_COMPARABLE[name]
                print(f"{name:18s} -- {NOT_COMPARABLE[name]}", flush=True)
                continue
            if name not in BASELINES:
                raise SystemExit(f"{name}: no original-style baseline in original_style.py")
            for row in time_model(name, args.ks, args, notes):
                rows.append(row)
                print(format_row(row), flush=True)
        if args.project:
            ps, source = (args.project_ps, "given with --project-ps")
            if args.project_ps is None:
                ps, source = sweep_ps()
            print(f"projection of a full paper sweep of {SWEEP_MODEL}, p sampled: {source}")
            report["projection"] = project(args, ps, source)
    report["rows"] = rows
    report["skipped"] = skipped
    for row in rows:
        if "lightning_overhead" in row:
            print(
                f"Lightning overhead ({row['model']}, K={row['K']}): bare loop "
                f"{row['bare_ms_per_iteration']:.2f} ms/it vs Trainer.fit "
                f"{row['package_ms_per_iteration']:.2f} ms/it = "
                f"{100 * row['lightning_overhead']:.1f}%"
            )
    if "faithfulness" in notes:
        f = notes["faithfulness"]
        report["faithfulness"] = f
        print(
            f"faithfulness ({f['model']}): the original notebook's training loop "
            f"{f['notebook_ms_per_iteration']:.2f} ms/it vs the original-style baseline "
            f"{f['baseline_ms_per_iteration']:.2f} ms/it: notebook/baseline = "
            f"{f['notebook_over_baseline']:.3f}"
        )
    if "projection" in report:
        pr = report["projection"]
        print(
            f"projected full paper sweep ({pr['configurations']} configurations x "
            f"{pr['tries']} tries x {pr['iterations']} iterations, H={HIDDEN}, p uniform over "
            f"{pr['sampled_p']}): package {pr['package_hours']:.2f} h, baseline "
            f"{pr['baseline_hours']:.2f} h (x{pr['speedup']:.2f}); not counted: "
            "GP time, the counts, logging"
        )
    if args.json:
        print(json.dumps(rounded(report), allow_nan=False))
    return report


if __name__ == "__main__":
    main()
