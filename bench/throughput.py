"""Throughput of the package's measurement path against the original study's per-run loop.

Side by side in one process, on the same workload (M models × I iterations at H = 60,
p = 60, T = 60, Adam at lr = 0.01, τ = 5, initial states fixed):

(a) baseline — the original study's style (bench/original_style.py): one model at a
    time, per-step 2-D tensor ops, Adam; M models trained one after the other;
(b) package — ``measure_ensemble``: the M models as replicas of one batched ensemble in
    one Lightning Trainer (what a sweep does with ``--batch-size M/2`` and 2 tries);
(c) bare — the same module and Adam in a plain Python loop (no Trainer), to measure
    Lightning's overhead: ``1 − bare time / Trainer.fit time``.

The sides alternate within each repetition; medians over the repetitions are quoted.
Throughput is model-iterations per second; the ratio is (b) / (a).

    python bench/throughput.py [--models 16] [--iterations 30] [--repeats 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from original_style import BASELINES, train_original  # noqa: E402

from rnn_capacity.data import TrajectoryDataModule  # noqa: E402
from rnn_capacity.measure import (  # noqa: E402
    Replica,
    make_trainer,
    measure_ensemble,
)
from rnn_capacity.models import MODELS  # noqa: E402


def hparams(name: str) -> dict:
    return {"lr": 0.01} if name == "gru" else {"lr": 0.01, "tau": 5.0}


def timed(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def baseline(name, data, hidden, iterations):
    for m in range(data.num_replicas):
        train_original(name, data.targets[:, m], hidden, iterations, seed=m)


def package(name, data, hidden, iterations, compile=False):
    pairs = zip(data.num_sequences, data.seeds, strict=True)
    replicas = [Replica(p, s, hparams(name)) for p, s in pairs]
    measure_ensemble(
        name,
        hidden,
        replicas,
        iterations=iterations,
        learn_initial_state=False,
        log_dir=None,
        accelerator="cpu",
        compile=compile,
    )


def bare(name, data, hidden, iterations):
    """The package's module and optimiser, without Lightning."""
    model = MODELS[name](
        hidden, data.num_sequences, seed=data.seeds, learn_initial_state=False, **hparams(name)
    )
    opt = model.configure_optimizers()
    for _ in range(iterations):
        opt.zero_grad()
        model.replica_losses(model(), data.targets).sum().backward()
        opt.step()


def lightning_fit(name, data, hidden, iterations):
    """Only ``Trainer.fit`` of the same module (what ``bare`` does, through Lightning)."""
    model = MODELS[name](
        hidden, data.num_sequences, seed=data.seeds, learn_initial_state=False, **hparams(name)
    )
    return timed(make_trainer(iterations, "cpu").fit, model, datamodule=data)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", type=int, default=16, help="M, models per side")
    ap.add_argument("--iterations", type=int, default=30, help="I, iterations per model")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--hidden-size", type=int, default=60)
    ap.add_argument("--num-sequences", type=int, default=60)
    ap.add_argument("--only", nargs="*", default=list(BASELINES), choices=list(BASELINES))
    ap.add_argument("--compile", action="store_true", help="also time --compile (slow)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (both sides)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    M, I, H = args.models, args.iterations, args.hidden_size
    work = M * I
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads",
        "workload": f"{M} models x {I} iterations, H={H}, p={args.num_sequences}, T=60",
    }
    print(report["machine"], "|", report["workload"], flush=True)
    for name in args.only:
        data = TrajectoryDataModule([args.num_sequences] * M, seed=list(range(M)))
        data.setup()
        package(name, data, H, 2)  # warm-up: first-call costs are not throughput
        times = {"baseline": [], "package": [], "bare": [], "fit": []}
        for _ in range(args.repeats):
            times["baseline"].append(timed(baseline, name, data, H, I))
            times["package"].append(timed(package, name, data, H, I))
            times["bare"].append(timed(bare, name, data, H, I))
            times["fit"].append(lightning_fit(name, data, H, I))
        med = {k: statistics.median(v) for k, v in times.items()}
        row = {
            "baseline_its": work / med["baseline"],
            "package_its": work / med["package"],
            "baseline_ms_per_iteration": 1e3 * med["baseline"] / work,
            "package_ms_per_model_iteration": 1e3 * med["package"] / work,
            "lightning_overhead": 1 - med["bare"] / med["fit"],
        }
        row["ratio"] = row["package_its"] / row["baseline_its"]
        if args.compile:
            first = timed(package, name, data, H, I, compile=True)
            steady = statistics.median(
                timed(package, name, data, H, I, compile=True) for _ in range(args.repeats)
            )
            row["compile_seconds"] = first - steady
            row["compiled_its"] = work / steady
            row["compile_gain"] = row["compiled_its"] / row["package_its"]
        report[name] = row
        report[f"ratio_{name}"] = row["ratio"]
        extra = ""
        if args.compile:
            extra = (
                f", compiled {row['compiled_its']:.0f} it/s (x{row['compile_gain']:.2f}, "
                f"compile {row['compile_seconds']:.0f} s)"
            )
        print(
            f"{name:16s} baseline {row['baseline_its']:7.1f} it/s "
            f"({row['baseline_ms_per_iteration']:.1f} ms/it) | "
            f"package {row['package_its']:7.1f} it/s | ratio {row['ratio']:5.2f} | "
            f"Lightning overhead {100 * row['lightning_overhead']:.1f}%{extra}",
            flush=True,
        )
    if args.json:
        print(json.dumps(report))
    return report


if __name__ == "__main__":
    from rnn_capacity.measure import quiet_lightning

    with quiet_lightning():
        main()
