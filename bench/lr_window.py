"""The learning-rate window of a feedback model (LSTM, GRU) in each ``teacher_forcing`` mode.

The original study's GRU learned nothing at any learning rate of 0.018 or more, even with
p = 1 (its H = 30/40/60 surrogates, every configuration with p <= 10). That is a property
of its training, not of its data: one trajectory is not hard. This script measures where
our model learns, per mode, at one (H, p): a sweep of learning rates, ``--seeds`` runs
each, all trained together as one ensemble, with the count and the final loss of each run.
Besides the package's modes (``none``, ``train``, ``always``) it offers ``through``:
closed loop like ``none`` but with the gradient flowing through the fed-back prediction
(not detached): a candidate for what the original may have done, which models.md does
not describe, so it lives here and not in the package (a plug-in subclass).

Each run is a line of ``--out`` (JSON); a summary per learning rate goes to stdout.

    python bench/lr_window.py --model gru -H 30 -p 7 --modes always none --seeds 2
    python bench/lr_window.py --model gru -H 30 -p 20 --lrs 0.003 0.005 0.007 0.01 \\
        --modes none through --seeds 3
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from rnn_capacity.measure import Replica, measure_ensemble, quiet_lightning
from rnn_capacity.models import GRU, LSTM

LRS = [1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.018, 0.03, 0.05, 0.1, 0.3]


class ThroughFeedback:
    """Closed loop with the gradient through the fed-back prediction (autograd's loop)."""

    hand_written_bptt = False  # the hand-written loop detaches the feedback

    def fed_back(self, prediction):
        return prediction  # not detached


class GRUThrough(ThroughFeedback, GRU):
    pass


class LSTMThrough(ThroughFeedback, LSTM):
    pass


def run(
    model: str, hidden: int, p: int, mode: str, lrs: list[float], seeds: int, iterations: int = 3000
) -> list[dict]:
    name = f"{__name__}:{model.upper()}Through" if mode == "through" else model
    tf = "none" if mode == "through" else mode
    replicas = [
        Replica(p, s, {"lr": lr, "teacher_forcing": tf}) for lr in lrs for s in range(seeds)
    ]
    results = measure_ensemble(
        name, hidden, replicas, iterations, learn_initial_state=False, log_dir=None
    )
    return [
        {"model": model, "H": hidden, "p": p, "mode": mode, "lr": r.hparams["lr"],
         "seed": r.seed, "count": r.count, "final_loss": r.final_loss, "seconds": r.seconds}
        for r in results
    ]  # fmt: skip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=["gru", "lstm"], default="gru")
    ap.add_argument("-H", "--hidden", type=int, default=30)
    ap.add_argument("-p", type=int, default=7)
    ap.add_argument("--lrs", type=float, nargs="+", default=LRS)
    ap.add_argument("--modes", nargs="+", choices=["none", "train", "always", "through"],
                    default=["always", "none"])  # fmt: skip
    ap.add_argument("--seeds", type=int, default=2, help="runs per learning rate (seeds 0..)")
    ap.add_argument("--iterations", type=int, default=3000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("results/lr_window/runs.jsonl"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for mode in args.modes:
        rows = run(args.model, args.hidden, args.p, mode, args.lrs, args.seeds, args.iterations)
        with args.out.open("a") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
        print(f"{args.model} H = {args.hidden}, p = {args.p}, {mode}: counts per learning rate")
        for lr in args.lrs:
            counts = [r["count"] for r in rows if r["lr"] == lr]
            print(f"  lr {lr:<8g} {counts}  mean {sum(counts) / len(counts):.1f} of {args.p}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    with quiet_lightning():
        raise SystemExit(main())
