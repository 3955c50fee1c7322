"""What the exact early exit saves on the original's own searches.

A configuration's tries stop training once every one of them has diverged
(:class:`rnn_capacity.capacity.DivergenceExit`). How often that happens depends on
where a search goes, so this trains the configurations an original search measured
(its surrogate's training points, :func:`replay.decode`; one try each, seed 2·index,
the model's ``paper`` variant) for the first ``--iterations`` steps with the exit on,
in ensembles of similar p, and records each one's ``diverged_at``. A run that has not
diverged by then counts as not diverged (``bench/results/exit/late_divergence.txt``:
none of 66 runs at the searches' largest learning rates diverged later in 3000
iterations, except PC-RNN-GC's, which all diverged at step 1), so the saving below is a
lower bound for a full run:

    saved = Σ over diverged runs of (3000 − diverged_at) · p  /  Σ over all runs of 3000 · p

(the cost of an iteration grows about linearly with p). Each ensemble's records are
appended to ``--out`` (a rerun skips the configurations there).

    python bench/exit_savings.py --surrogates PC_RNN_HC_A_model_30.pk GRU_model_30.pk ...
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import replay  # noqa: E402

from rnn_capacity.measure import Replica, measure_ensemble, quiet_lightning  # noqa: E402

PROTOCOL_ITERATIONS = 3000


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--surrogates", nargs="+", required=True, help="names in the reference")
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--ensemble", type=int, default=16)
    ap.add_argument("--out", type=Path, default=Path("bench/results/exit/exit_savings.jsonl"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = {}
    if args.out.exists():
        for line in args.out.read_text().splitlines():
            r = json.loads(line)
            done[(r["model"], r["hidden_size"], r["index"])] = r
    for name in args.surrogates:
        model, hidden, points = replay.decode(replay.REFERENCE / name)
        variant = replay.variant_of(model, None, {})
        settings = {k: v for k, v in variant.items() if k != "learn_initial_state"}
        todo = [t for t in points if (model, hidden, t.index) not in done]
        for group in replay.ensembles(todo, 1, args.ensemble):
            replicas = [Replica(t.p, 2 * t.index, t.hparams | settings) for t in group]
            with quiet_lightning():
                results = measure_ensemble(
                    model, hidden, replicas, iterations=args.iterations,
                    learn_initial_state=variant["learn_initial_state"], log_dir=None,
                    compile=False,
                )  # fmt: skip
            with args.out.open("a") as f:
                for t, r in zip(group, results, strict=True):
                    rec = {"model": model, "hidden_size": hidden, "index": t.index, "p": t.p,
                           "hparams": t.hparams, "diverged_at": r.diverged_at,
                           "original_count": t.count, "iterations": args.iterations}  # fmt: skip
                    done[(model, hidden, t.index)] = rec
                    f.write(json.dumps(rec) + "\n")
                f.flush()
                os.fsync(f.fileno())
        rows = [r for (m, h, _), r in done.items() if (m, h) == (model, hidden)]
        diverged = [r for r in rows if r["diverged_at"] is not None]
        total = sum(PROTOCOL_ITERATIONS * r["p"] for r in rows)
        saved = sum((PROTOCOL_ITERATIONS - r["diverged_at"]) * r["p"] for r in diverged)
        steps = sorted({r["diverged_at"] for r in diverged})
        print(
            f"{model} H={hidden}: {len(diverged)} of {len(rows)} configurations diverged "
            f"within {args.iterations} iterations (at steps {steps}); "
            f"iterations saved (p-weighted): {saved / total:.1%}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
