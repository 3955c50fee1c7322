"""Does a pruned sweep find the same optimum as the unpruned one? Two sweeps of one cell,
same seed, one with ``--prune``, compared configuration by configuration.

While no try is falsely pruned (stopped, though trained to the end it would have counted
more than 0), the two searches see the same objectives, so scikit-optimize asks the same
configurations and the two journals agree line by line: the pruned one differs only in
``pruned_at`` and the wall time. The first line where they part is where a false prune
(or float rounding) changed what the search saw; from there on the comparison is of two
searches, and only their optima can be compared, against the search's own noise.

Reported: how many configurations agree from the start, every pruned try with its
unpruned twin's count (false prunes), the iterations and wall time saved, the best
measured configuration and the surrogate's optimum (``rnn_capacity.optimum``) of each.

``--full-logs DIR`` (the unpruned sweep's TensorBoard group, ``<log-dir>/<out name>``)
also applies the shipped rule (``protocol.PRUNE``) to every try of the unpruned sweep,
from the training loss its TensorBoard run logged at iteration ``PRUNE.at``: which tries
it would have stopped, over the whole search and not only where the two agree, and how
many of those had counted more than 0.

``--calls N`` compares the two searches after their first N configurations (sweeps
stopped at different lengths): each side's surrogate is then refitted to its first N
records, as the sweep fits it (a GP on the same space), and its optimum read off that.

    python bench/prune_sweep.py FULL_SWEEP_DIR PRUNED_SWEEP_DIR [--calls N]
        [--full-logs DIR] [--resolution 50] [--json]
"""

from __future__ import annotations

import argparse
import json
import pickle
import shutil
import sys
import tempfile
from pathlib import Path

from skopt import Optimizer

from rnn_capacity.optimum import find_optimum, read_space
from rnn_capacity.sweep.journal import JOURNAL, read_evaluations


def journal(directory: Path) -> list:
    space = read_space(directory)
    return sorted(
        read_evaluations(directory / JOURNAL, len(space.dimensions)), key=lambda r: r.index
    )


def trained_iterations(record, iterations: int) -> int:
    """Iterations the configuration's ensemble trained, times p: it stops when every try
    is finished (pruned or diverged), else runs to the end."""
    ends = []
    for t in range(len(record.counts)):
        stops = [s[t] for s in (record.pruned_at, record.diverged_at) if s and s[t] is not None]
        ends.append(min(stops) if stops else iterations)
    return record.p * max(ends)


def loss_at(run_dir: Path, step: int) -> float | None:
    """The training loss a TensorBoard run logged at ``step`` (None if it did not)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    if "train/loss" not in events.Tags()["scalars"]:
        return None
    return next((e.value for e in events.Scalars("train/loss") if e.step == step), None)


def rule_on_full(records: list, logs: Path, iterations: int) -> dict:
    """The shipped rule applied to every try of an unpruned sweep (its TensorBoard runs)."""
    from rnn_capacity.protocol import PRUNE

    stopped, false, saved, total = [], [], 0, 0
    for r in records:
        total += r.p * len(r.counts)
        hit = []
        for t, count in enumerate(r.counts):
            loss = loss_at(logs / f"call{r.index:04d}_try{t}", PRUNE.at)
            prune = r.p >= PRUNE.min_p and loss is not None and not loss <= PRUNE.bound
            hit.append(prune)
            if prune:
                stopped.append((r.index, t))
                if count > 0:
                    false.append({"index": r.index, "p": r.p, "try": t, "count": count,
                                  "loss": loss, "hparams": r.hparams})  # fmt: skip
        if all(hit):  # the ensemble stops: its tries save the iterations after PRUNE.at
            saved += r.p * len(r.counts)
    return {
        "rule": PRUNE.describe(), "configurations": len(records), "tries": len(stopped),
        "false_prunes": false,
        "iterations_saved": saved / total * (1 - PRUNE.at / iterations) if total else 0.0,
    }  # fmt: skip


def optimum_of(directory: Path, records: list, resolution: int) -> dict:
    """The surrogate optimum of ``directory``'s search, refitted to ``records``."""
    space = read_space(directory)
    opt = Optimizer([d.to_skopt() for d in space.dimensions], base_estimator="GP",
                    acq_func="EI", n_initial_points=1, random_state=0)  # fmt: skip
    opt.tell([r.x for r in records], [r.objective for r in records])
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(directory / "space.json", tmp)
        (Path(tmp) / "surrogate.pk").write_bytes(pickle.dumps(opt.models[-1]))
        o = find_optimum(Path(tmp), resolution=resolution, progress=False)
    return {"p": o.p, "hparams": o.hparams, "predicted_count": o.predicted_count}


def compare(
    full_dir: Path,
    pruned_dir: Path,
    resolution: int,
    calls: int | None = None,
    full_logs: Path | None = None,
) -> dict:
    space = read_space(pruned_dir)
    if space.prune is None or read_space(full_dir).prune is not None:
        raise SystemExit("the first directory must be the unpruned sweep, the second the pruned")
    full, pruned = journal(full_dir), journal(pruned_dir)
    if calls is not None:
        if min(len(full), len(pruned)) < calls:
            raise SystemExit(f"--calls {calls}: the sweeps have {len(full)} and {len(pruned)}")
        full, pruned = full[:calls], pruned[:calls]
    n = min(len(full), len(pruned))
    agree = next((i for i in range(n) if full[i].x != pruned[i].x), n)
    tries = []  # every pruned try of the common part, with its twin's count
    for a, b in zip(full[:agree], pruned[:agree], strict=True):
        for t, at in enumerate(b.pruned_at or []):
            if at is not None:
                tries.append({"index": b.index, "p": b.p, "try": t, "full_count": a.counts[t]})
    same_counts = all(
        a.counts == b.counts for a, b in zip(full[:agree], pruned[:agree], strict=True)
    )
    its = space.iterations
    work = {
        "full": sum(r.p * its for r in pruned[:agree]),
        "pruned": sum(trained_iterations(r, its) for r in pruned[:agree]),
    }
    seconds = {
        "full": sum(r.seconds * len(r.counts) for r in full[:agree]),
        "pruned": sum(r.seconds * len(r.counts) for r in pruned[:agree]),
    }

    def best(records):
        r = min(records, key=lambda r: r.objective)
        return {
            "index": r.index,
            "p": r.p,
            "hparams": r.hparams,
            "counts": r.counts,
            "objective": r.objective,
        }

    optima = {}
    for name, d, records in (("full", full_dir, full), ("pruned", pruned_dir, pruned)):
        if calls is not None:
            optima[name] = optimum_of(d, records, resolution)
            continue
        o = find_optimum(d, resolution=resolution, progress=False)
        optima[name] = {"p": o.p, "hparams": o.hparams, "predicted_count": o.predicted_count}
    return {
        "model": space.model,
        "hidden_size": space.hidden_size,
        "prune": space.prune,
        "configurations": {"full": len(full), "pruned": len(pruned)},
        "agree_from_start": agree,
        "same_counts_where_agreeing": same_counts,
        "pruned_tries": tries,
        "false_prunes": [t for t in tries if t["full_count"] > 0],
        "iterations_saved": 1 - work["pruned"] / work["full"] if work["full"] else 0.0,
        "seconds": seconds,
        "best_measured": {"full": best(full), "pruned": best(pruned)},
        "optimum": optima,
        "rule_on_full": rule_on_full(full, full_logs, its) if full_logs else None,
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("full", type=Path, help="the unpruned sweep's directory")
    ap.add_argument("pruned", type=Path, help="the pruned sweep's directory (same seed)")
    ap.add_argument("--calls", type=int, help="compare the first N configurations of each")
    ap.add_argument("--full-logs", type=Path, help="the unpruned sweep's TensorBoard group")
    ap.add_argument("--resolution", type=int, default=50)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    c = compare(args.full, args.pruned, args.resolution, args.calls, args.full_logs)
    print(
        f"{c['model']} H = {c['hidden_size']}, rule {c['prune']}: "
        f"{c['configurations']['full']} / {c['configurations']['pruned']} configurations"
    )
    print(
        f"the same configurations from the start: {c['agree_from_start']}; "
        f"their counts identical: {c['same_counts_where_agreeing']}"
    )
    print(
        f"pruned tries there: {len(c['pruned_tries'])}, false prunes: "
        f"{len(c['false_prunes'])} {[t['full_count'] for t in c['false_prunes']]}"
    )
    s = c["seconds"]
    print(
        f"p-weighted iterations saved: {c['iterations_saved']:.1%}; wall (s, tries summed): "
        f"full {s['full']:.0f}, pruned {s['pruned']:.0f} ({s['pruned'] / s['full']:.2f}×)"
    )
    for name in ("full", "pruned"):
        b, o = c["best_measured"][name], c["optimum"][name]
        hp = ", ".join(f"{k} {v:.4g}" for k, v in o["hparams"].items())
        print(
            f"{name:6s}: best measured #{b['index']} p = {b['p']} counts {b['counts']}; "
            f"surrogate optimum p = {o['p']:.1f}, {hp}, predicted {o['predicted_count']:.1f}"
        )
    if (f := c["rule_on_full"]) is not None:
        print(f"the rule ({f['rule']}) on the unpruned sweep's {f['configurations']} "
              f"configurations: {f['tries']} tries stopped, {len(f['false_prunes'])} of them "
              f"had counted ({[x['count'] for x in f['false_prunes']]}); p-weighted iterations "
              f"saved {f['iterations_saved']:.1%}")  # fmt: skip
    if args.json:
        print(json.dumps(c))
    return c


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
