"""Reproduce the original study model by model, at its own optima.

Every model is trained at the optimum its original surrogate predicts
(``rnn_capacity.reference``: H = 60; ESN H = 1000; PC-RNN-V H = 40, since its H = 60
surrogate duplicates the H = 40 one), with the paper protocol (3000 Adam iterations,
threshold 0.1), under one or more *protocol variants* — initial states fixed or learned,
and for LSTM/GRU the teacher-forcing mode — and compared with the count the original
surrogate predicts there (capped at p). A model reproduces when the mean count over the
seeds lies within [0.7×, 1.3×] of that.

Two stages:

* ``--stage screen`` (cheap): every plausible variant of every model, one seed each;
* ``--stage confirm`` (the protocol): the variant recorded in each model's config
  (``paper:`` in ``configs/<model>.yaml``), three seeds trained as one ensemble.

Each measurement is appended to ``<out>/measurements.jsonl`` (flushed and fsync'ed as it
finishes; a rerun skips what is there), and ``<out>/table.md`` is rewritten after each.

    python bench/reproduce.py --stage confirm [--data PATH] [--models gru lstm] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

from tqdm.auto import tqdm

from rnn_capacity.config import load_search_config
from rnn_capacity.measure import Replica, measure_ensemble
from rnn_capacity.reference import reference_result

#: (model, H): the rows of the reproduction table.
ROWS = [
    ("pc_rnn_hc_a", 60),
    ("pc_rnn_gc_hc_a", 60),
    ("pc_rnn_hc_m", 60),
    ("pc_rnn_gc_hc_m", 60),
    ("mtrnn", 60),
    ("ugrnn", 60),
    ("lstm", 60),
    ("gru", 60),
    ("antisymmetric_rnn", 60),
    ("pc_rnn_gc", 60),
    ("esn", 1000),
    ("pc_rnn_v", 40),
]
BAND = (0.7, 1.3)


def variants(model: str) -> list[dict]:
    """The protocol variants that are plausible for ``model`` (screen stage)."""
    if model == "esn":  # a fixed reservoir: nothing else is trained
        return [{"learn_initial_state": False}]
    out = [{"learn_initial_state": False}, {"learn_initial_state": True}]
    if model in ("lstm", "gru"):
        # Closed loop with either initial states; teacher forcing with fixed ones.
        out = [v | {"teacher_forcing": "none"} for v in out] + [
            {"learn_initial_state": False, "teacher_forcing": tf} for tf in ("train", "always")
        ]
    return out


def paper_variant(model: str) -> dict:
    """The variant recorded in the model's config (what the ``paper`` preset uses)."""
    paper = load_search_config(model).paper
    return {"learn_initial_state": paper.learn_initial_state} | paper.settings


def variant_name(v: dict) -> str:
    name = "learned" if v["learn_initial_state"] else "fixed"
    return name + (f", tf={v['teacher_forcing']}" if "teacher_forcing" in v else "")


def key(model: str, hidden: int, variant: dict, seeds: list[int], data: str | None) -> str:
    return json.dumps([model, hidden, variant, seeds, data], sort_keys=True)


def record_key(r: dict) -> str:
    return key(r["model"], r["hidden_size"], r["variant"], r["seeds"], r["data"])


def at_optimum(ref) -> tuple[int, dict]:
    """``p`` and the hyperparameters at the original surrogate's optimum (``ref``: a
    :func:`~rnn_capacity.reference.reference_result`)."""
    hp = dict(ref.surrogate_optimum)
    return round(hp.pop("p")), hp


def variant_settings(variant: dict) -> dict:
    """The model options a variant sets (all but ``learn_initial_state``)."""
    return {k: v for k, v in variant.items() if k != "learn_initial_state"}


def measure(model, hidden, variant, seeds, iterations, data) -> dict:
    ref = reference_result(model, hidden)
    p, hp = at_optimum(ref)
    settings = variant_settings(variant)
    results = measure_ensemble(
        model,
        hidden,
        [Replica(p, s, hp | settings) for s in seeds],
        iterations=iterations,
        learn_initial_state=variant["learn_initial_state"],
        log_dir=None,
        data_path=data,
    )
    predicted = min(ref.surrogate_predicted_count, p)
    mean = statistics.mean(r.count for r in results)
    return {
        "model": model,
        "hidden_size": hidden,
        "p": p,
        "hparams": hp,
        "variant": variant,
        "seeds": seeds,
        "counts": [r.count for r in results],
        "mean": mean,
        "original_predicted": ref.surrogate_predicted_count,
        "ratio": mean / predicted if predicted > 0 else None,
        "final_losses": [r.final_loss for r in results],
        "seconds": round(results[0].seconds, 1),
        "iterations": iterations,
        "data": data,
    }


def table(records: list[dict]) -> str:
    lines = [
        "| model (H) | p | variant | counts | mean | original predicts | ratio | reproduces |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        ratio = r["ratio"]
        ok = ratio is not None and BAND[0] <= ratio <= BAND[1]
        lines.append(
            f"| {r['model']} ({r['hidden_size']}) | {r['p']} | {variant_name(r['variant'])} | "
            f"{', '.join(map(str, r['counts']))} | {r['mean']:.1f} | "
            f"{r['original_predicted']:.1f} | {ratio:.2f} | {'yes' if ok else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stage", choices=["screen", "confirm"], default="confirm")
    ap.add_argument("--models", nargs="+", help="rows to run (default: all twelve)")
    ap.add_argument("--seeds", type=int, nargs="+", help="default: 0 (screen), 0 1 2 (confirm)")
    ap.add_argument("--iterations", type=int, default=3000)
    ap.add_argument("--data", default=None, help="trajectory file (default: the built-in one)")
    ap.add_argument("--out", type=Path, default=Path("results/reproduce"))
    args = ap.parse_args(argv)
    seeds = args.seeds or ([0] if args.stage == "screen" else [0, 1, 2])
    data = str(Path(args.data).resolve()) if args.data else None
    rows = [r for r in ROWS if not args.models or r[0] in args.models]
    jobs = [
        (m, h, v)
        for m, h in rows
        for v in (variants(m) if args.stage == "screen" else [paper_variant(m)])
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "measurements.jsonl"
    done = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    wanted = {key(*j, seeds, data) for j in jobs}
    seen = {record_key(r) for r in done}
    todo = [j for j in jobs if key(*j, seeds, data) not in seen]
    print(f"{len(jobs) - len(todo)} of {len(jobs)} measurements already in {log}", file=sys.stderr)
    mine = [r for r in done if record_key(r) in wanted]
    for m, h, v in tqdm(todo, unit="run"):
        record = measure(m, h, v, seeds, args.iterations, data)
        with log.open("a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
        mine.append(record)
        tqdm.write(table([record]).splitlines()[-1])
        (args.out / "table.md").write_text(table(mine))
    (args.out / "table.md").write_text(table(mine))
    print(table(mine))
    return 0


if __name__ == "__main__":
    from rnn_capacity.cli import quiet_lightning

    with quiet_lightning():
        raise SystemExit(main())
