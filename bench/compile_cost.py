"""``--compile`` (the whole step as one graph) against the default, through the real
``measure_ensemble``, side by side in one process: steady state, compile time, graph reuse.

For each model, two configurations of one shape bucket are measured one after the other
(p = 45, lr = 0.01, then p = 40, lr = 0.02: both pad to 48 under ``--compile``), each
with the default (hand-written BPTT where it applies, else autograd's loop) and with
``compile=True``, K replicas (the ``paper`` preset's K = 2 by default), H = 60, fixed
initial states, ``--warmup`` + ``--iterations`` iterations. Reported per run: the first
iteration (for the first compiled configuration: the compile; for the second: the
re-trace that reuses the graph), steady state per iteration, and a 3000-iteration
configuration's projected time (start-up + 3000 × steady state). Inductor's on-disk
cache is used as torch leaves it (a second invocation of this script finds it warm).

    python bench/compile_cost.py [--models pc_rnn_hc_a lstm ...] [--ks 2] [--iterations 300]
        [--configs 45:0.01 40:0.02]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import HIDDEN, HPARAMS, IterationClock, machine, rounded  # noqa: E402

from rnn_capacity.cli import quiet_lightning  # noqa: E402
from rnn_capacity.measure import Replica, measure_ensemble  # noqa: E402

ITERATIONS = 3000
CONFIGS = [(45, 0.01), (40, 0.02)]  # one bucket of 16: both pad to 48 when compiled


def run(name: str, k: int, p: int, lr: float, compile: bool, args) -> dict:
    hp = {**HPARAMS[name], "lr": lr}
    replicas = [Replica(p, seed=s, hparams=hp) for s in range(k)]
    clock = IterationClock()
    t0 = time.perf_counter()
    measure_ensemble(
        name, HIDDEN, replicas, iterations=args.warmup + args.iterations, log_dir=None,
        learn_initial_state=False, compile=compile, accelerator="cpu",
        trainer_kwargs={"callbacks": [clock]},
    )  # fmt: skip
    wall = time.perf_counter() - t0
    c = clock.times
    steady = (c[-1] - c[args.warmup - 1]) / args.iterations
    startup = c[args.warmup - 1] - t0 - (args.warmup - 1) * steady  # build + first iteration
    return {
        "model": name, "K": k, "p": p, "lr": lr, "compile": compile, "wall_s": wall,
        "startup_s": startup, "ms_per_iteration": 1e3 * steady,
        "projected_config_s": startup + ITERATIONS * steady,
    }  # fmt: skip


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["pc_rnn_hc_a", "lstm", "gru", "pc_rnn_gc"])
    ap.add_argument("--ks", nargs="+", type=int, default=[2])
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--configs", nargs="+", default=[f"{p}:{lr}" for p, lr in CONFIGS], metavar="P:LR",
        help="configurations measured one after the other (default: two of one bucket)",
    )  # fmt: skip
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    try:
        configs = [(int(p), float(lr)) for p, lr in (c.split(":") for c in args.configs)]
    except ValueError:
        ap.error(f"--configs: each must be P:LR (an integer and a number), got {args.configs}")
    torch.set_num_threads(args.threads)
    report = {"machine": machine(), "load_average": os.getloadavg(), "rows": []}
    print(f"machine: {report['machine']}; load average {report['load_average']}", flush=True)
    with quiet_lightning():
        for name in args.models:
            for k in args.ks:
                for p, lr in configs:
                    pair = [run(name, k, p, lr, c, args) for c in (False, True)]
                    eager, comp = pair
                    report["rows"] += pair
                    e_ms, c_ms = eager["ms_per_iteration"], comp["ms_per_iteration"]
                    print(
                        f"{name:16s} K={k:2d} p={p} lr={lr}: default {e_ms:6.2f}"
                        f" ms/it (start-up {eager['startup_s']:.2f} s) | compiled "
                        f"{c_ms:6.2f} ms/it (start-up {comp['startup_s']:.1f} s)"
                        f" | steady x{eager['ms_per_iteration'] / comp['ms_per_iteration']:.2f},"
                        f" a 3000-iteration configuration {eager['projected_config_s']:.1f} s ->"
                        f" {comp['projected_config_s']:.1f} s"
                        f" (x{eager['projected_config_s'] / comp['projected_config_s']:.2f})",
                        flush=True,
                    )
    if args.json:
        print(json.dumps(rounded(report)))
    return report


if __name__ == "__main__":
    main()
