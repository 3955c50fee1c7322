"""Write ``rnn_capacity/data_bias.json``: the shipped data's bias against the original's.

Reads replay records (``bench/replay.py`` / ``bench/fit_data.py`` journals), keeps those
measured on the shipped data set (a data file is accepted only if its array equals the
shipped file's, so a candidate generated with the shipped knobs counts), and summarises
them per model with :func:`replay.summary`: Σ ours / Σ the original's smoothed counts and
Spearman's ρ, pooled over the sizes the generator is fitted to (H = 30 / 40 for the BPTT
models, the ESN at 2000–4000: :func:`replay.is_fitting`), and apart for each other size
measured (the H = 60 checks, the ESN at 1000) under ``checks``. Where a model has
full-replay records (the most tries), its screens (fewer tries, fewer configurations) are
left out: the screen's ratios differ from the full replay's by a median of 17 %.

    python bench/data_bias.py bench/results/fit_data/confirm/measurements.jsonl
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
        fitted = [r for r in rs if replay.is_fitting(model, r["hidden_size"])]
        if not fitted:  # only checks: no figure for the model's rows at the fitted sizes
            continue
        pooled = most_tries(fitted)
        others = sorted({r["hidden_size"] for r in rs} - {r["hidden_size"] for r in fitted})
        checks = {h: most_tries([r for r in rs if r["hidden_size"] == h]) for h in others}
        out[model] = entry(pooled) | {"checks": {str(h): entry(c) for h, c in checks.items()}}
    return out


def most_tries(records: list[dict]) -> list[dict]:
    """The records of the most tries: a full replay's where there is one, not the screen's."""
    most = max((r["tries"] for r in records), default=0)
    return [r for r in records if r["tries"] == most]


def entry(records: list[dict]) -> dict:
    s = replay.summary(records)
    return {
        "ratio": round(s["ratio"], 3),
        "spearman": round(s["spearman"], 3),
        "n": s["n"],
        "sizes": sorted({r["hidden_size"] for r in records}),
        "tries": sorted({r["tries"] for r in records}),
    }


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
        "Spearman's rho, pooled over the sizes the data is fitted to; 'checks': apart at "
        "each other size measured; written by bench/data_bias.py.",
        "journals": [p.as_posix() for p in args.journals],
        "models": models,
    }
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    for m, row in models.items():
        for size, r in [("/".join(map(str, row["sizes"])), row), *row["checks"].items()]:
            print(
                f"{m:20s} H {size:14s} ratio {r['ratio']:.2f}  rho {r['spearman']:.2f}  n {r['n']}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
