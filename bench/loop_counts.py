"""Does the time loop change the counts? One model at its original optimum, many seeds,
trained with the hand-written BPTT (the default) and with autograd's loop.

Both loops give the same gradient to float rounding (the contract rule
``check_hand_written_bptt``), but over 3000 Adam iterations a rounding-level difference
grows until the two runs of one seed are different runs: a seed's count is then a draw,
and only the distribution over seeds can say whether the loop changed anything. This
script measures that distribution for both loops, seeds trained in ensembles of
``--chunk`` (each chunk once per loop, the same seeds), at the model's ``paper`` variant
and its original surrogate's optimum (as ``reproduce.py``), or with ``--index N`` at the
original search's N-th measured configuration (``replay.py``'s numbering: a point away
from the cap, where a count can move both ways). Each chunk's counts are
appended to ``--out`` (a rerun skips the chunks there), and a summary compares the two:
mean, median, runs below half the cap, Welch's t and Mann–Whitney's U.

``--grad-check N [N ...]`` also trains one ensemble with autograd's loop for N
iterations and compares, at that trained state, each loop's float32 gradient with the
float64 one (how far apart the two loops are, against how far each is from exact).

    python bench/loop_counts.py --model ugrnn --seeds 0 70 [--chunk 10] [--grad-check 1 1000]
    python bench/loop_counts.py --model gru --index 56 --seeds 0 56 --chunk 8
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replay import REFERENCE, decode  # noqa: E402
from reproduce import ROWS, at_optimum, paper_variant, variant_settings  # noqa: E402

from rnn_capacity.measure import Replica, measure_ensemble, model_class  # noqa: E402
from rnn_capacity.reference import parse_surrogate_name, reference_result  # noqa: E402

LOOPS = ("bptt", "autograd")


@contextlib.contextmanager
def time_loop(cls, loop: str):
    """Train ``cls`` with the hand-written BPTT (``"bptt"``) or autograd's loop."""
    before = cls.__dict__.get("hand_written_bptt")
    cls.hand_written_bptt = loop == "bptt"
    try:
        yield
    finally:
        if before is None:
            del cls.hand_written_bptt
        else:
            cls.hand_written_bptt = before


def optimum(model: str, index: int | None = None) -> tuple[int, int, dict, bool]:
    """(H, p, hyperparameters and settings, learn_initial_state) of the model's row: at
    the original surrogate's optimum, or at its search's ``index``-th measured point."""
    (hidden,) = [h for m, h in ROWS if m == model]
    if index is None:
        p, hp = at_optimum(reference_result(model, hidden))
    else:
        (path,) = [
            f for f in REFERENCE.glob("*_model_*.pk") if parse_surrogate_name(f) == (model, hidden)
        ]
        _, _, points = decode(path)
        (point,) = [t for t in points if t.index == index]
        p, hp = point.p, dict(point.hparams)
    variant = paper_variant(model)
    return hidden, p, hp | variant_settings(variant), variant["learn_initial_state"]


def train(model, loop, seeds, iterations, index=None, **kwargs):
    hidden, p, hp, learn = optimum(model, index)
    with time_loop(model_class(model), loop):
        return measure_ensemble(
            model, hidden, [Replica(p, s, hp) for s in seeds], iterations=iterations,
            learn_initial_state=learn, log_dir=None, accelerator="cpu", **kwargs,
        )  # fmt: skip


def gradient(module, targets, bptt: bool, dtype) -> dict[str, torch.Tensor]:
    m = copy.deepcopy(module).to(dtype).train()
    m.hand_written_bptt = bptt
    t = targets.to(dtype)
    m.replica_losses(m(t), t).sum().backward()
    return {n: q.grad.double() for n, q in m.named_parameters() if q.grad is not None}


def grad_check(model: str, seed: int, iterations: int) -> dict:
    (r,) = train(model, "autograd", [seed], iterations, keep_module=True, keep_trajectories=True)
    targets = torch.as_tensor(r.targets)[:, None]  # (T, K=1, P, 2)
    exact = gradient(r.module, targets, False, torch.float64)
    g = {loop: gradient(r.module, targets, loop == "bptt", torch.float32) for loop in LOOPS}

    def rel(a, b):  # the worst tensor's relative distance
        return max(float((a[n] - b[n]).norm() / exact[n].norm()) for n in exact)

    return {
        "seed": seed, "iterations": iterations,
        "autograd_vs_float64": rel(g["autograd"], exact),
        "bptt_vs_float64": rel(g["bptt"], exact),
        "bptt_vs_autograd": rel(g["bptt"], g["autograd"]),
    }  # fmt: skip


def summary(records: list[dict]) -> dict:
    counts = {loop: {} for loop in LOOPS}
    for r in records:
        counts[r["loop"]].update(zip(r["seeds"], r["counts"], strict=True))
    seeds = sorted(set(counts["bptt"]) & set(counts["autograd"]))
    cap = records[0]["p"]
    out = {"model": records[0]["model"], "p": cap, "seeds": len(seeds)}
    arrays = {loop: np.array([counts[loop][s] for s in seeds]) for loop in LOOPS}
    for loop, c in arrays.items():
        out[loop] = {
            "mean": float(c.mean()), "median": float(np.median(c)),
            "sd": float(c.std(ddof=1)) if len(c) > 1 else 0.0,
            "below_half_cap": int((c < cap / 2).sum()),
        }  # fmt: skip
    if len(seeds) > 1:
        a, b = arrays["autograd"], arrays["bptt"]
        out["welch_p"] = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
        out["mann_whitney_p"] = float(stats.mannwhitneyu(a, b).pvalue)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="ugrnn", choices=[m for m, _ in ROWS if m != "esn"])
    ap.add_argument("--seeds", type=int, nargs=2, default=[0, 30], metavar=("FIRST", "STOP"))
    ap.add_argument("--chunk", type=int, default=10, help="seeds per ensemble")
    ap.add_argument("--iterations", type=int, default=3000)
    ap.add_argument(
        "--index", type=int, default=None,
        help="the original search's measured configuration to train (default: its optimum)",
    )  # fmt: skip
    ap.add_argument("--grad-check", type=int, nargs="*", default=[], metavar="N")
    ap.add_argument("--out", type=Path, default=Path("results/loop_counts.jsonl"))
    ap.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cls = model_class(args.model)
    _, p, _, _ = optimum(args.model, args.index)
    limit = cls.bptt_max_sequences
    if limit is not None and args.chunk * p > limit:  # above it the "bptt" arm is autograd's
        ap.error(f"--chunk {args.chunk} × p = {p} exceeds {args.model}'s bptt_max_sequences")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    lines = args.out.read_text().splitlines() if args.out.exists() else []
    done = [json.loads(line) for line in lines]
    done = [
        r for r in done
        if r["model"] == args.model and r["iterations"] == args.iterations
        and r.get("index") == args.index
    ]  # fmt: skip
    seen = {(r["loop"], tuple(r["seeds"])) for r in done}
    seeds = list(range(*args.seeds))
    for i in range(0, len(seeds), args.chunk):
        chunk = seeds[i : i + args.chunk]
        for loop in LOOPS:
            if (loop, tuple(chunk)) in seen:
                continue
            results = train(args.model, loop, chunk, args.iterations, args.index)
            record = {
                "model": args.model, "index": args.index, "p": p, "loop": loop, "seeds": chunk,
                "iterations": args.iterations, "counts": [r.count for r in results],
                "final_losses": [r.final_loss for r in results],
                "seconds": round(results[0].seconds, 1),
            }  # fmt: skip
            with args.out.open("a") as f:
                f.write(json.dumps(record) + "\n")
                f.flush()
                os.fsync(f.fileno())
            done.append(record)
            print(f"{loop:8s} seeds {chunk[0]}–{chunk[-1]}: {record['counts']}", file=sys.stderr)
    wanted = set(seeds)
    out = summary([r for r in done if set(r["seeds"]) <= wanted])
    out["grad_check"] = [grad_check(args.model, 0, n) for n in args.grad_check]
    for loop in LOOPS:
        s = out[loop]
        print(
            f"{loop:8s} {out['seeds']} seeds: mean {s['mean']:.2f}  median {s['median']:.1f}"
            f"  sd {s['sd']:.1f}  below p/2: {s['below_half_cap']}"
        )
    if "welch_p" in out:
        print(f"Welch p = {out['welch_p']:.3f}, Mann–Whitney p = {out['mann_whitney_p']:.3f}")
    for g in out["grad_check"]:
        print(
            f"gradient after {g['iterations']} iterations: autograd/float64 "
            f"{g['autograd_vs_float64']:.1e}, BPTT/float64 {g['bptt_vs_float64']:.1e}, "
            f"BPTT/autograd {g['bptt_vs_autograd']:.1e}"
        )
    if args.json:
        print(json.dumps(out))
    return out


if __name__ == "__main__":
    from rnn_capacity.cli import quiet_lightning

    with quiet_lightning():
        main()
