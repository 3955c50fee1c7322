"""Replay the original study's own measured configurations on our data.

At the original optima most counts sit at the cap (p), so a data set that is too easy
still "reproduces" there. A saved surrogate of the original study holds every
configuration its search measured (300; the ESN 500) with the objective
``p − 2·mean_count`` over 2 tries on the original data
(:func:`rnn_capacity.optimum.training_points` decodes them; the point of largest count
is ``best_observed_count`` of ``paper_results.json``). Away from the optimum — large p,
low learning rates, other τ — those counts are far from the cap and say how hard the
original data was.

This script chooses a sample of those configurations spread over the original's counts
and over p (:func:`choose`), trains each with the model's ``paper`` variant (or the one
given) and 2 tries — the configurations of one model trained together as ensembles of
similar p — and writes, per configuration, the original count, the surrogate's smoothed
count there, and ours; per model, the ratio of sums (ours / smoothed) and Spearman's rank
correlation of ours against the smoothed count (the raw count is a mean of 2 tries only).

Each measurement is appended to ``<out>/measurements.jsonl`` (fsync'ed; a rerun skips
what is there) and ``<out>/table.md`` is rewritten after each ensemble.

    python bench/replay.py                                  # the four shipped surrogates
    python bench/replay.py --stage screen --data cand.npy   # 8 configurations, 1 try
    python bench/replay.py --surrogates ../shared/reference/GRU_model_60.pk \\
        --set teacher_forcing=none                          # another variant
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr
from tqdm.auto import tqdm

from rnn_capacity.config import load_search_config
from rnn_capacity.measure import Replica, measure_ensemble, quiet_lightning
from rnn_capacity.optimum import TrainingPoint, load_surrogate, training_points
from rnn_capacity.reference import parse_surrogate_name, reference_result
from rnn_capacity.train import parse_assignments

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
SURROGATES = [
    "PC_RNN_HC_A_model_60.pk",
    "GRU_model_60.pk",
    "MTRNN_model_60.pk",
    "ESN_model_1000.pk",
]
RATIO_BAND = (0.8, 1.25)
MIN_SPEARMAN = 0.7
STAGES = {"screen": {"n": 8, "tries": 1}, "confirm": {"n": 12, "tries": 2}}


def is_fitting(model: str, hidden: int, sizes=(30, 40)) -> bool:
    """Whether a surrogate is one ``fit_data.py`` fits the data to (the BPTT models at
    ``sizes``, the ESN at 2000–4000); the others (:data:`SURROGATES`, at H = 60 and the
    ESN at 1000) check what the fit did not see."""
    return hidden in (2000, 3000, 4000) if model == "esn" else hidden in sizes


def decode(path: Path) -> tuple[str, int, list[TrainingPoint]]:
    """(model, H, training points) of an original surrogate, checked against the
    published table: the point of largest mean count is its ``best_observed_count``."""
    model, hidden = parse_surrogate_name(path)
    points = training_points(load_surrogate(path), load_search_config(model).space)
    best = max(points, key=lambda t: t.count)
    published = reference_result(model, hidden).best_observed_count
    if not math.isclose(best.count, published, abs_tol=1e-6):
        raise SystemExit(f"{path.name}: decoded best count {best.count} != published {published}")
    return model, hidden, points


def choose(points: list[TrainingPoint], n: int, min_p: int = 4) -> list[TrainingPoint]:
    """``n`` configurations spread over the original's (smoothed) counts and over p.

    Targets are ``n`` counts evenly spaced from 0 to the largest smoothed count; for each
    target, of the 5 unchosen points nearest to it in smoothed count, the one whose
    log p is farthest from the p already chosen is taken. ``p < min_p`` is left out (a
    count of 0, 1 or 2 out of 1 or 2 says little about the data). Deterministic.
    """
    pool = [t for t in points if t.p >= min_p]
    top = max(t.smoothed_count for t in pool)
    chosen: list[TrainingPoint] = []
    for j in range(n):
        target = top * j / max(n - 1, 1)
        left = [t for t in pool if t not in chosen]
        near = sorted(left, key=lambda t: (abs(t.smoothed_count - target), t.index))[:5]

        def spread(t):
            if not chosen:
                return -abs(math.log(t.p) - math.log(60)), -t.index
            return min(abs(math.log(t.p) - math.log(c.p)) for c in chosen), -t.index

        chosen.append(max(near, key=spread))
    return sorted(chosen, key=lambda t: t.p)


def variant_of(model: str, learn: bool | None, sets: dict) -> dict:
    paper = load_search_config(model).paper
    learn = paper.learn_initial_state if learn is None else learn
    return {"learn_initial_state": learn} | paper.settings | sets


def key(model, hidden, index, variant, tries, data, iterations) -> str:
    return json.dumps([model, hidden, index, variant, tries, data, iterations], sort_keys=True)


def record_key(r: dict) -> str:
    return key(
        r["model"], r["hidden_size"], r["index"], r["variant"], r["tries"], r["data"],
        r["iterations"],
    )  # fmt: skip


def seeds_of(point: TrainingPoint, tries: int) -> list[int]:
    """Each configuration gets its own draws: seeds 2·index, 2·index + 1."""
    return [2 * point.index + t for t in range(tries)]


#: Iterations at which each try's training loss is kept (``loss_at``): what a rule that
#: stops hopeless runs early could read (bench/prune_rule.py validates one on them).
LOSS_CHECKPOINTS = (1, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 2500, 3000)


def loss_at(curve: list[float]) -> dict[str, float]:
    """The losses of ``curve`` after each of :data:`LOSS_CHECKPOINTS` it reached."""
    return {str(i): curve[i - 1] for i in LOSS_CHECKPOINTS if i <= len(curve)}


def train(model, hidden, points, variant, tries, iterations, data) -> list[dict]:
    """Train ``points`` (all tries of all of them) as one ensemble."""
    settings = {k: v for k, v in variant.items() if k != "learn_initial_state"}
    replicas = [Replica(t.p, s, t.hparams | settings) for t in points for s in seeds_of(t, tries)]
    results = measure_ensemble(
        model,
        hidden,
        replicas,
        iterations=iterations,
        learn_initial_state=variant["learn_initial_state"],
        log_dir=None,
        data_path=data,
        record_losses=True,
    )
    out = []
    for i, t in enumerate(points):
        mine = results[i * tries : (i + 1) * tries]
        out.append(
            {
                "model": model,
                "hidden_size": hidden,
                "index": t.index,
                "p": t.p,
                "hparams": t.hparams,
                "variant": variant,
                "tries": tries,
                "seeds": seeds_of(t, tries),
                "counts": [r.count for r in mine],
                "mean": statistics.mean(r.count for r in mine),
                "original_count": t.count,
                "smoothed_count": t.smoothed_count,
                "final_losses": [r.final_loss for r in mine],
                # Per try, the training loss after the checkpoint iterations (a run that
                # stopped early, diverged, has fewer).
                "loss_at": [loss_at(r.loss_curve) for r in mine],
                "seconds": round(mine[0].seconds, 1),
                "ensemble": len(replicas),
                "iterations": iterations,
                "data": data,
            }
        )
    return out


def ensembles(points: list[TrainingPoint], tries: int, size: int) -> list[list[TrainingPoint]]:
    """Consecutive groups (points sorted by p) of at most ``size`` replicas: similar p
    together, so little is padded."""
    per = max(1, size // tries)
    points = sorted(points, key=lambda t: t.p)
    return [points[i : i + per] for i in range(0, len(points), per)]


def in_band(ratio: float, rho: float) -> bool:
    """The replay's target for one model: ratio of sums in the band, ρ high enough."""
    return bool(RATIO_BAND[0] <= ratio <= RATIO_BAND[1] and rho >= MIN_SPEARMAN)


def summary(records: list[dict]) -> dict:
    """Ratio of sums (ours / smoothed) and rank correlations for one model's records."""
    ours = np.array([r["mean"] for r in records])
    smooth = np.array([r["smoothed_count"] for r in records])
    raw = np.array([r["original_count"] for r in records])
    rho = spearmanr(ours, smooth).statistic if len(records) > 2 else float("nan")
    rho_raw = spearmanr(ours, raw).statistic if len(records) > 2 else float("nan")
    ratio = ours.sum() / smooth.sum() if smooth.sum() > 0 else float("nan")
    return {
        "n": len(records),
        "ours": float(ours.sum()),
        "smoothed": float(smooth.sum()),
        "original": float(raw.sum()),
        "ratio": float(ratio),
        "spearman": float(rho),
        "spearman_raw": float(rho_raw),
        "meets": in_band(ratio, rho) and len(records) >= 12,
    }


def variant_name(v: dict) -> str:
    name = "learned" if v["learn_initial_state"] else "fixed"
    return name + "".join(f", {k}={v[k]}" for k in sorted(v) if k != "learn_initial_state")


def fmt_hparams(hp: dict) -> str:
    return ", ".join(f"{k} {v:.3g}" for k, v in hp.items())


def table(records: list[dict]) -> str:
    lines = []
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        data = Path(r["data"]).name if r["data"] else "built-in data"
        key = (r["model"], r["hidden_size"], variant_name(r["variant"]), r["tries"], data)
        groups.setdefault(key, []).append(r)
    for (model, hidden, variant, tries, data), rs in groups.items():
        s = summary(rs)
        lines += [
            f"### {model} (H = {hidden}), {variant}, {tries} tries, {data}",
            "",
            "| # | p | hyperparameters | original count | smoothed | ours (tries) |",
            "|---|---|---|---|---|---|",
        ]
        for r in sorted(rs, key=lambda r: r["smoothed_count"]):
            lines.append(
                f"| {r['index']} | {r['p']} | {fmt_hparams(r['hparams'])} | "
                f"{r['original_count']:g} | {r['smoothed_count']:.1f} | "
                f"{r['mean']:g} ({', '.join(map(str, r['counts']))}) |"
            )
        lines += [
            "",
            f"sum ours {s['ours']:g} / smoothed {s['smoothed']:.1f} (raw {s['original']:g}): "
            f"**ratio {s['ratio']:.2f}**, Spearman vs smoothed **{s['spearman']:.2f}** "
            f"(vs raw {s['spearman_raw']:.2f}), n = {s['n']}; target ratio in "
            f"[{RATIO_BAND[0]}, {RATIO_BAND[1]}], Spearman >= {MIN_SPEARMAN}: "
            f"{'met' if s['meets'] else 'not met'}",
            "",
        ]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stage", choices=sorted(STAGES), default="confirm")
    ap.add_argument("--surrogates", nargs="+", type=Path, help="default: the four shipped")
    ap.add_argument("-n", "--configurations", type=int, help="per model (default: the stage's)")
    ap.add_argument("--tries", type=int, help="per configuration (default: the stage's)")
    ap.add_argument("--iterations", type=int, default=3000)
    ap.add_argument("--data", default=None, help="trajectory file (default: the built-in one)")
    ap.add_argument("--learn-initial-state", choices=["true", "false"], default=None,
                    help="override the paper variant's initial states")  # fmt: skip
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override a paper-variant setting, e.g. teacher_forcing=none")  # fmt: skip
    ap.add_argument("--ensemble", type=int, default=8, help="replicas trained together")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--out", type=Path, default=Path("results/replay"))
    ap.add_argument("--indices", type=int, nargs="+", help="these training points instead")
    ap.add_argument(
        "--first",
        type=int,
        metavar="N",
        help="the search's first N training points instead (in the order it "
        "measured them: what a sweep visits, for bench/prune_rule.py)",
    )
    ap.add_argument("--list", action="store_true", help="print the sample and exit")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    stage = STAGES[args.stage]
    n = args.configurations or stage["n"]
    tries = args.tries or stage["tries"]
    learn = None if args.learn_initial_state is None else args.learn_initial_state == "true"
    sets = parse_assignments(args.set)
    data = str(Path(args.data).resolve()) if args.data else None
    paths = args.surrogates or [REFERENCE / name for name in SURROGATES]

    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "measurements.jsonl"
    done = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    seen = {record_key(r): r for r in done}
    jobs, mine = [], []
    for path in paths:
        model, hidden, points = decode(path)
        if args.indices:
            sample = [points[i] for i in args.indices]
        elif args.first:
            sample = sorted(points, key=lambda t: t.index)[: args.first]
        else:
            sample = choose(points, n)
        variant = variant_of(model, learn, sets)
        if args.list:
            for t in sample:
                print(f"{model} {hidden} #{t.index} p={t.p} {fmt_hparams(t.hparams)} "
                      f"count {t.count:g} smoothed {t.smoothed_count:.1f}")  # fmt: skip
            continue
        for t in sample:
            k = key(model, hidden, t.index, variant, tries, data, args.iterations)
            if k in seen:
                mine.append(seen[k])
        todo = [
            t for t in sample
            if key(model, hidden, t.index, variant, tries, data, args.iterations) not in seen
        ]  # fmt: skip
        jobs += [(model, hidden, group, variant) for group in ensembles(todo, tries, args.ensemble)]
    if args.list:
        return 0
    print(f"{len(mine)} configurations already in {log}; {len(jobs)} ensembles to train",
          file=sys.stderr)  # fmt: skip
    for model, hidden, group, variant in tqdm(jobs, unit="ensemble"):
        records = train(model, hidden, group, variant, tries, args.iterations, data)
        with log.open("a") as f:
            for record in records:
                f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
        mine += records
        for r in records:
            tqdm.write(
                f"{model} #{r['index']} p={r['p']}: original {r['original_count']:g} "
                f"(smoothed {r['smoothed_count']:.1f}), ours {r['mean']:g} [{r['seconds']} s]"
            )
        (args.out / "table.md").write_text(table(mine))
    (args.out / "table.md").write_text(table(mine))
    print(table(mine))
    return 0


if __name__ == "__main__":
    with quiet_lightning():
        raise SystemExit(main())
