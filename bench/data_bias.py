"""Write ``rnn_capacity/data_bias.json``: the shipped data's bias against the original's.

Reads replay records (``bench/replay.py`` / ``bench/fit_data.py`` journals), keeps those
measured on the shipped data set (a data file is accepted only if its array equals the
shipped file's, so a candidate generated with the shipped knobs counts), and summarises
them per model with :func:`replay.summary`: Σ ours / Σ the original's smoothed counts and
Spearman's ρ, over every size measured (H = 30 / 40 pooled for the BPTT models; the H = 60
replays where a journal has them).

    python bench/data_bias.py bench/results/fit_data/measurements.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import replay  # noqa: E402

from rnn_capacity.trajectories import DEFAULT_DATA  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "rnn_capacity" / "data_bias.json"


def is_shipped(data: str | None, cache: dict) -> bool:
    """Whether a record's data file holds the shipped data set (None: the default)."""
    if data is None:
        return True
    if data not in cache:
        path = Path(data)
        reference = np.load(DEFAULT_DATA)
        cache[data] = path.is_file() and np.array_equal(np.load(path), reference)
    return cache[data]


def bias(records: list[dict]) -> dict:
    cache: dict = {}
    by_model: dict[str, list[dict]] = {}
    variants: dict[str, dict] = {}
    for r in records:
        # Only each model's paper variant as it is now (a changed variant is another
        # measurement), on the shipped data.
        if r["model"] not in variants:
            variants[r["model"]] = replay.variant_of(r["model"], None, {})
        if r.get("variant") == variants[r["model"]] and is_shipped(r["data"], cache):
            by_model.setdefault(r["model"], []).append(r)
    out = {}
    for model, rs in sorted(by_model.items()):
        s = replay.summary(rs)
        out[model] = {
            "ratio": round(s["ratio"], 3),
            "spearman": round(s["spearman"], 3),
            "n": s["n"],
            "sizes": sorted({r["hidden_size"] for r in rs}),
            "tries": sorted({r["tries"] for r in rs}),
        }
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("journals", type=Path, nargs="+", help="replay records (.jsonl)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    records = []
    for path in args.journals:
        records += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    models = bias(records)
    doc = {
        "about": "Shipped data vs the original's: sum of our counts / sum of the original "
        "surrogate's smoothed counts at the original's own configurations (each model's "
        "paper variant, 3000 iterations; n configurations at 'tries' tries each), and "
        "Spearman's rho; written by bench/data_bias.py.",
        "journals": [p.as_posix() for p in args.journals],
        "models": models,
    }
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    for m, row in models.items():
        print(f"{m:20s} ratio {row['ratio']:.2f}  rho {row['spearman']:.2f}  n {row['n']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
