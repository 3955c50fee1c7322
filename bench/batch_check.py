"""Does a constant-liar batched sweep find what the sequential one finds?

Runs small sweeps of one model at one size with ``--batch-size 1`` (strictly sequential
search) and ``--batch-size K`` (K configurations asked together, trained as one
ensemble) for several sweep seeds, and compares the best mean count each reaches and
the counts of all evaluated configurations (Mann-Whitney U test).

    python bench/batch_check.py [--model pc_rnn_hc_a] [--hidden-size 60] [--calls 24]
        [--iterations 800] [--seeds 0 1 2] [--batch-size 4] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from scipy.stats import mannwhitneyu

from rnn_capacity.sweep.cli import main as sweep


def run(model, hidden, calls, iterations, seed, batch, root: Path) -> tuple[list[dict], float]:
    out = root / f"b{batch}_s{seed}"
    argv = ["--model", model, "--hidden-size", str(hidden), "--calls", str(calls)]
    argv += ["--iterations", str(iterations), "--seed", str(seed), "--batch-size", str(batch)]
    argv += ["--out", str(out), "--log-dir", str(root / "logs")]
    start = time.perf_counter()
    assert sweep(argv) == 0
    records = [json.loads(line) for line in (out / "evaluations.jsonl").open()]
    return records, time.perf_counter() - start


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="pc_rnn_hc_a")
    ap.add_argument("--hidden-size", type=int, default=60)
    ap.add_argument("--calls", type=int, default=24)
    ap.add_argument("--iterations", type=int, default=800)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    report = {"settings": vars(args).copy()}
    with tempfile.TemporaryDirectory() as tmp:
        for batch in (1, args.batch_size):
            best, counts, seconds = [], [], []
            for seed in args.seeds:
                records, wall = run(
                    args.model, args.hidden_size, args.calls, args.iterations, seed, batch,
                    Path(tmp),
                )  # fmt: skip
                best.append(max(r["mean_count"] for r in records))
                counts += [c for r in records for c in r["counts"]]
                seconds.append(wall)
            report[f"batch_{batch}"] = {
                "best_mean_count": best,
                "mean_best": statistics.mean(best),
                "mean_count": statistics.mean(counts),
                "counts": counts,
                "seconds": seconds,
            }
    a, b = report["batch_1"], report[f"batch_{args.batch_size}"]
    report["mannwhitney_p"] = float(mannwhitneyu(a["counts"], b["counts"]).pvalue)
    for batch, r in (("1", a), (str(args.batch_size), b)):
        print(
            f"batch size {batch}: best mean count per seed {r['best_mean_count']} "
            f"(mean {r['mean_best']:.2f}); mean count over all tries {r['mean_count']:.2f}; "
            f"wall {sum(r['seconds']):.0f} s"
        )
    print(f"Mann-Whitney U on all counts: p = {report['mannwhitney_p']:.3f}")
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if k != "settings"}))
    return report


if __name__ == "__main__":
    main()
