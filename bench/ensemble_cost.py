"""Where does an ensemble's step time go: the fixed cost of the time loop, or the padding?

Fits the per-step time (a short run's wall time over its iterations) of one ensemble of K
replicas padded to p sequences, ``t = a + b·K·p + c·K``, on a grid of (K, p), and reports
``a / b``: the fixed per-step cost (Python time loop, op dispatch, optimiser) in units of
padded sequences. When it is large, padding a small p to a batch's largest is cheap next to
training it apart.

    python bench/ensemble_cost.py [--model pc_rnn_hc_a] [--hidden-size 60] [--iterations 100]
        [--threads 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from rnn_capacity.config import load_search_config
from rnn_capacity.measure import Replica, measure_ensemble

GRID = [(1, 1), (1, 60), (2, 5), (2, 60), (2, 250), (8, 5), (8, 60), (8, 250), (16, 60)]


def train(model, hidden, replicas, iterations) -> float:
    start = time.perf_counter()
    measure_ensemble(model, hidden, replicas, iterations=iterations, log_dir=None)
    return time.perf_counter() - start


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="pc_rnn_hc_a")
    ap.add_argument("--hidden-size", type=int, default=60)
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, hidden, its = args.model, args.hidden_size, args.iterations
    x0 = load_search_config(model).x0
    hp = {k: v for k, v in x0.items() if k != "p"} | load_search_config(model).fixed

    def replicas(ps):
        return [Replica(p, seed, dict(hp)) for seed, p in enumerate(ps)]

    train(model, hidden, replicas([5]), 20)  # warm-up
    rows = []
    for k, p in GRID:
        ms = 1000 * train(model, hidden, replicas([p] * k), its) / its
        rows.append((k, p, ms))
        print(f"K={k:2d} p={p:3d}: {ms:6.1f} ms per step", flush=True)
    design = np.array([[1, k * p, k] for k, p, _ in rows], float)
    (a, b, c), *_ = np.linalg.lstsq(design, np.array([ms for *_, ms in rows]), rcond=None)
    print(f"fit: {a:.2f} ms + {b:.4f} ms * K*p + {c:.2f} ms * K;  a/b = {a / b:.0f} sequences")

    report = {
        "model": model,
        "grid_ms": [[k, p, round(ms, 3)] for k, p, ms in rows],
        "fit_ms": {"a": a, "b": b, "c": c},
        "overhead_sequences": a / b,
    }
    if args.json:
        print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
