"""Every core: N single-threaded trainings at once against one N-threaded training.

A CPU machine with N cores can train one configuration with N torch threads, or N
configurations at once with one thread each. This script measures which gives more
model-iterations per second, for the `paper` preset's unit of work (one configuration:
its K = 2 tries as one ensemble, H = 60, the model's x0 hyperparameters and ``paper:``
variant) at the p the original searches visited on average (45):

* **threads**: one worker process, ``torch.set_num_threads(N)``;
* **processes**: N worker processes at once, one thread each (what ``--executor
  process`` and the study's default do: ``cores // workers`` threads per worker).

Both sides run in spawned worker processes (alike start-up), alternating, ``--rounds``
times; each worker times its steady state from inside its ``Trainer.fit`` (after
``--warmup`` iterations). Throughput = Σ over the workers running at once of K / (s per
iteration). Ratio = processes over threads.

    python bench/cores.py [--model pc_rnn_hc_a] [--workers N] [--p 45] [--k 2]
        [--iterations 300] [--warmup 20] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import IterationClock, machine  # noqa: E402

HIDDEN = 60


def train(model: str, p: int, k: int, threads: int, warmup: int, iterations: int) -> float:
    """Seconds per iteration, steady state, of one K-replica configuration."""
    import torch

    from rnn_capacity.cli import quiet_lightning
    from rnn_capacity.config import load_search_config
    from rnn_capacity.measure import Replica, measure_ensemble

    torch.set_num_threads(threads)
    config = load_search_config(model)
    hp = {n: v for n, v in config.x0.items() if n != "p"} | dict(config.fixed)
    hp |= dict(config.paper.settings)
    clock = IterationClock()
    with quiet_lightning():
        measure_ensemble(
            model, HIDDEN, [Replica(p, s, dict(hp)) for s in range(k)],
            iterations=warmup + iterations, learn_initial_state=config.paper.learn_initial_state,
            log_dir=None, accelerator="cpu", trainer_kwargs={"callbacks": [clock]},
        )  # fmt: skip
    ts = clock.times[warmup - 1 :]
    return (ts[-1] - ts[0]) / (len(ts) - 1)


def side(pool_size: int, threads: int, args) -> dict:
    """``pool_size`` workers of ``threads`` threads each, all at once."""
    ctx = get_context("spawn")
    job = (args.model, args.p, args.k, threads, args.warmup, args.iterations)
    with ctx.Pool(pool_size) as pool:
        t0 = time.perf_counter()
        per_it = pool.starmap(train, [job] * pool_size)
        wall = time.perf_counter() - t0
    return {
        "per_iteration_ms": [round(1000 * s, 3) for s in per_it],
        "model_its_per_s": sum(args.k / s for s in per_it),
        "wall_s": round(wall, 1),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="pc_rnn_hc_a")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="N (the cores)")
    ap.add_argument("--p", type=int, default=45)
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    n = args.workers
    rows: dict[str, list[dict]] = {"threads": [], "processes": []}
    for r in range(args.rounds):
        order = ["threads", "processes"] if r % 2 == 0 else ["processes", "threads"]
        for name in order:
            res = side(1, n, args) if name == "threads" else side(n, 1, args)
            rows[name].append(res)
            print(f"round {r} {name}: {res}", file=sys.stderr)
    med = {k: statistics.median(x["model_its_per_s"] for x in v) for k, v in rows.items()}
    ratio = med["processes"] / med["threads"]
    print(f"{machine()}; {args.model} H={HIDDEN} K={args.k} p={args.p}, N={n}")
    print(f"1 process x {n} threads: {med['threads']:.1f} model-iterations/s (median)")
    print(f"{n} processes x 1 thread: {med['processes']:.1f} model-iterations/s (median)")
    print(f"ratio (processes / threads): {ratio:.2f}")
    if args.json:
        print(json.dumps({"rows": rows, "median": med, "ratio": ratio, "workers": n}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
