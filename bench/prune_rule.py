"""Can a rule on the loss curve stop hopeless runs early without losing a count?

A pruning rule reads a run's training loss at one checkpoint iteration N and stops the
run when it is still above a bound B: the run is then scored 0, as if it had learned
nothing. A **false prune** is a stopped run that, trained to the end, counted more than 0.
This script validates such rules on full runs: records written by ``bench/replay.py``
(each try's loss at the checkpoint iterations, ``loss_at``, and its final count) over the
original study's own measured configurations, for example the first N a search visited
(``replay.py --first N --tries 1``).

For each checkpoint N the bound is **calibrated on the other models** (leave one model
out): B is the ``--quantile`` of the losses at N of the other models' runs that counted
more than 0, divided by ``--margin``; the held-out model's runs are then pruned with it.
So every false prune reported is out of sample. Reported per N: runs pruned, false prunes
(and their counts), and the compute saved — the iterations after N of the pruned runs,
weighted by p (a run's cost grows with p), as a fraction of all iterations.

    python bench/prune_rule.py bench/results/prune/run_a bench/results/prune/run_b
        [--quantile 0.0] [--margin 2] [--json]

``--shipped`` checks instead the rule the package ships (``--prune``: the loss after
``protocol.PRUNE.at`` iterations above ``PRUNE.bound``, tries of p >= ``PRUNE.min_p``)
per model, on any directories of such records: ``bench/results/fit_data`` holds the
screening runs of all twelve replayable models on the data candidates (the gated ones
included).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ITERATIONS = 3000
CHECKPOINTS = (50, 100, 200, 300, 500, 750, 1000, 1500, 2000)


def runs(dirs: list[Path]) -> list[dict]:
    """One row per try: model, p, count, and its losses by checkpoint."""
    out = []
    for d in dirs:
        for line in (d / "measurements.jsonl").read_text().splitlines():
            r = json.loads(line)
            if r.get("iterations") != ITERATIONS or "loss_at" not in r:
                continue
            for count, losses in zip(r["counts"], r["loss_at"], strict=True):
                out.append({"model": r["model"], "H": r["hidden_size"], "p": r["p"],
                            "count": count, "loss": losses})  # fmt: skip
    return out


def loss(run: dict, n: int) -> float:
    """The loss at checkpoint n; a run that diverged before it is +inf (prunable)."""
    value = run["loss"].get(str(n))
    return float("inf") if value is None or not np.isfinite(value) else float(value)


def bound(train: list[dict], n: int, quantile: float, margin: float) -> float:
    """The largest loss at ``n`` the rule lets through: the ``quantile`` of the losses of
    the runs that counted, divided by ``margin`` (below 1: more careful)."""
    kept = [loss(r, n) for r in train if r["count"] > 0]
    kept = [v for v in kept if np.isfinite(v)]
    if not kept:
        return float("inf")
    return float(np.quantile(kept, 1 - quantile)) * margin


def evaluate(rows: list[dict], n: int, quantile: float, margin: float) -> dict:
    models = sorted({r["model"] for r in rows})
    pruned, false, false_counts, saved = 0, 0, [], 0.0
    total = sum(r["p"] * ITERATIONS for r in rows)
    bounds = {}
    for m in models:
        b = bound([r for r in rows if r["model"] != m], n, quantile, margin)
        bounds[m] = b
        for r in (r for r in rows if r["model"] == m):
            if loss(r, n) > b:
                pruned += 1
                saved += r["p"] * (ITERATIONS - n)
                if r["count"] > 0:
                    false += 1
                    false_counts.append(r["count"])
    return {
        "N": n, "runs": len(rows), "pruned": pruned, "false_prunes": false,
        "false_prune_rate": false / len(rows), "false_prune_counts": false_counts,
        "learned_runs": sum(r["count"] > 0 for r in rows),
        "saved": saved / total, "bounds": bounds,
    }  # fmt: skip


def shipped(rows: list[dict]) -> list[dict]:
    """The shipped rule per model: runs, runs that counted, pruned, false prunes (their
    counts), iterations saved (p-weighted), and the largest loss at N of a counting run.
    A run without a loss at N (the ESN: a closed-form fit, one step) is never pruned."""
    from rnn_capacity.protocol import PRUNE

    at, bound = PRUNE.at, PRUNE.bound
    out = []
    for m in sorted({r["model"] for r in rows}):
        mine = [r for r in rows if r["model"] == m]
        trained = [r for r in mine if str(at) in r["loss"]]
        pruned = [r for r in trained if r["p"] >= PRUNE.min_p and loss(r, at) > bound]
        counting = [loss(r, at) for r in trained if r["count"] > 0]
        total = sum(r["p"] * ITERATIONS for r in mine)
        out.append({
            "model": m, "runs": len(mine), "counted": sum(r["count"] > 0 for r in mine),
            "pruned": len(pruned), "false_prune_counts": [r["count"] for r in pruned if r["count"]],
            "saved": sum(r["p"] * (ITERATIONS - at) for r in pruned) / total,
            "max_counting_loss": max(counting, default=None),
        })  # fmt: skip
    print(f"shipped rule: prune if {PRUNE.describe()}")
    for e in out:
        top = e["max_counting_loss"]
        print(f"  {e['model']:18s} runs {e['runs']:4d}  counted {e['counted']:4d}  pruned "
              f"{e['pruned']:4d}  false prunes {len(e['false_prune_counts'])} "
              f"{e['false_prune_counts'][:8]}  saved {e['saved']:.1%}  largest loss at "
              f"{at} of a counting run {'-' if top is None else f'{top:.3f}'}")  # fmt: skip
    return out


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dirs", nargs="+", type=Path, help="replay.py output directories")
    ap.add_argument(
        "--quantile",
        type=float,
        default=0.0,
        help="fraction of the other models' counting runs above the bound",
    )
    ap.add_argument("--margin", type=float, default=2.0, help="bound × margin")
    ap.add_argument("--shipped", action="store_true", help="check the shipped rule per model")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows = runs(args.dirs)
    if args.shipped:
        out = shipped(rows)
        if args.json:
            print(json.dumps(out))
        return out
    models = sorted({r["model"] for r in rows})
    print(f"{len(rows)} full runs of {len(models)} models ({', '.join(models)}); "
          f"{sum(r['count'] > 0 for r in rows)} counted more than 0")  # fmt: skip
    for m in models:
        mine = [r for r in rows if r["model"] == m]
        print(f"  {m}: {len(mine)} runs, {sum(r['count'] > 0 for r in mine)} counted")
    print(
        f"rule: prune at N if loss(N) > the other models' counting runs' "
        f"{1 - args.quantile:.0%} quantile × {args.margin:g} (leave one model out)"
    )
    out = []
    for n in CHECKPOINTS:
        e = evaluate(rows, n, args.quantile, args.margin)
        out.append(e)
        print(f"N={n:5d}: pruned {e['pruned']:4d} of {e['runs']}, false prunes "
              f"{e['false_prunes']} ({e['false_prune_rate']:.1%}; counts "
              f"{e['false_prune_counts'][:8]}), iterations saved (p-weighted) "
              f"{e['saved']:.1%}")  # fmt: skip
    if args.json:
        print(json.dumps({"quantile": args.quantile, "margin": args.margin, "rules": out}))
    return out


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
