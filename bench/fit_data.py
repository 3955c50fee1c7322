"""Fit the data generator's knobs to the original study's own measurements.

A candidate data set is ``generate_polylines(seed 0, **knobs)``. It is scored by
replaying a fixed screening subset of the original's measured configurations on it
(:func:`replay.choose`, ``-n`` per surrogate, ``--tries`` each, a model's configurations
trained together as ensembles) and comparing our counts with the surrogate's smoothed
counts, per model with its H = 30 and H = 40 surrogates pooled (the H = 30 LSTM and
MTRNN surrogates are near zero on their own):

    objective = Σ_models |log(Σ ours / Σ smoothed)| + PENALTY · Σ_models max(0, ρ_min − ρ)

with ρ Spearman's rank correlation of ours against the smoothed counts. The knobs are
searched with scikit-optimize's ``gp_minimize``-style ask/tell loop (``Optimizer``),
starting from the shipped data's knobs. Every measurement is appended to
``<out>/measurements.jsonl`` (the replay's record format) and every scored candidate to
``<out>/candidates.jsonl`` (both fsync'ed): a rerun re-tells the optimiser the candidates
there and re-trains only what is missing. The ensembles of one candidate run on
``--workers`` processes (one torch thread each: every core).

The winner and the runners-up are then confirmed with the full replay (``--confirm K``:
12 configurations × 2 tries, the same seeds for every candidate) on the fitting
surrogates and on the four H = 60 ones the fit did not see, on the same workers, one
candidate after another and model by model (a run stopped early leaves whole models);
``<out>/confirm/``: the records (resumable) and ``table.md``, rewritten as they arrive.

    python bench/fit_data.py --calls 20 --workers 2                 # the fit
    python bench/fit_data.py --calls 0 --confirm 3                  # confirm the best 3
    python bench/fit_data.py --probe tremor=0.01 --probe vertices_mid=55   # local probes
    python bench/fit_data.py --models pc_rnn_hc_a --n 2 --iterations 50 --calls 2  # smoke
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import replay  # noqa: E402

from rnn_capacity.trajectories import generate_polylines  # noqa: E402

#: Fitting surrogates: H = 30 and 40 of every BPTT model, the ESN at 2000-4000.
BPTT = [
    "pc_rnn_hc_a", "pc_rnn_gc_hc_a", "pc_rnn_hc_m", "pc_rnn_gc_hc_m", "pc_rnn_gc", "pc_rnn_v",
    "mtrnn", "ugrnn", "lstm", "gru", "antisymmetric_rnn",
]  # fmt: skip
NAMES = {
    "pc_rnn_hc_a": "PC_RNN_HC_A", "pc_rnn_gc_hc_a": "PC_RNN_GC_HC_A",
    "pc_rnn_hc_m": "PC_RNN_HC_M", "pc_rnn_gc_hc_m": "PC_RNN_GC_HC_M", "pc_rnn_gc": "PC_RNN_GC",
    "pc_rnn_v": "PC_RNN_V", "mtrnn": "MTRNN", "ugrnn": "UGRNN", "lstm": "LSTM", "gru": "GRU",
    "antisymmetric_rnn": "AntisymetricRNN", "esn": "ESN",
}  # fmt: skip
PENALTY = 2.0  # per unit of Spearman below replay.MIN_SPEARMAN
#: The knobs searched, (low, high), and the shipped data's values (the first candidate).
SPACE = {
    "vertices_mid": (30, 65),  # vertices = (mid - 5, mid + 5)
    "run_high": (0.5, 1.2),  # run = (0.1, run_high): segment lengths
    "turn": (-1.0, 3.0),
    "arc": (0.0, 1.0),
    "accel": (0.0, 1.0),
    "slowing": (0.0, 1.0),
    "pause": (0.0, 1.5),
    "speed_jitter": (0.0, 0.8),
    "tremor": (0.0, 0.05),
}
SHIPPED = {"vertices_mid": 45, "run_high": 0.8, "turn": 0.0, "arc": 0.0, "accel": 0.0,
           "slowing": 0.0, "pause": 0.0, "speed_jitter": 0.0, "tremor": 0.0}  # fmt: skip


def knobs_of(x) -> dict:
    """A candidate's knobs from a point of ``SPACE`` (a list in its order, or a dict)."""
    values = x.values() if isinstance(x, dict) else x
    return {
        k: (int(v) if k == "vertices_mid" else float(v)) for k, v in zip(SPACE, values, strict=True)
    }


def parse_probe(items: list[str]) -> dict:
    """``["knob=value", ...]`` applied to the shipped knobs; ValueError names the bad one."""
    knobs = dict(SHIPPED)
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in SPACE:
            raise ValueError(f"--probe {item!r}: expected KNOB=VALUE, KNOB one of {list(SPACE)}")
        low, high = SPACE[name]
        try:
            v = float(value)
        except ValueError:
            raise ValueError(f"--probe {item!r}: {value!r} is not a number") from None
        if not low <= v <= high:
            raise ValueError(f"--probe {item!r}: {name} must lie in [{low}, {high}]")
        knobs[name] = v
    return knobs_of(knobs)


def surrogate_files(models: list[str], sizes: list[int]) -> list[Path]:
    """The surrogates present in ``replay.REFERENCE`` for these models and sizes."""
    out = []
    for m in models:
        for h in [2000, 3000, 4000] if m == "esn" else sizes:
            path = replay.REFERENCE / f"{NAMES[m]}_model_{h}.pk"
            if path.is_file():
                out.append(path)
    return out


def generator_kwargs(knobs: dict) -> dict:
    kw = {k: float(v) for k, v in knobs.items() if k not in ("vertices_mid", "run_high")}
    mid = int(knobs["vertices_mid"])
    return kw | {"vertices": (mid - 5, mid + 5), "run": (0.1, float(knobs["run_high"]))}


def candidate_file(out: Path, knobs: dict) -> Path:
    """Write (once) and return the candidate's data file, named by its knobs' hash."""
    text = json.dumps(generator_kwargs(knobs), sort_keys=True)
    path = out / "data" / f"{hashlib.sha256(text.encode()).hexdigest()[:12]}.npy"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, generate_polylines(**generator_kwargs(knobs)))
        os.replace(tmp, path)
    return path


def _job(args) -> list[dict]:
    import torch

    from rnn_capacity.measure import quiet_lightning

    torch.set_num_threads(1)
    model, hidden, group, variant, tries, iterations, data = args
    with quiet_lightning():
        return replay.train(model, hidden, group, variant, tries, iterations, data)


def score(records: list[dict]) -> tuple[float, dict]:
    """The objective and per-model summaries (H pooled) of one candidate's records."""
    by_model: dict[str, list[dict]] = {}
    for r in records:
        by_model.setdefault(r["model"], []).append(r)
    per, total = {}, 0.0
    for model, rs in sorted(by_model.items()):
        s = replay.summary(rs)
        ratio = max(s["ratio"], 1e-3) if math.isfinite(s["ratio"]) else 1e-3
        rho = s["spearman"] if math.isfinite(s["spearman"]) else 0.0
        term = abs(math.log(ratio)) + PENALTY * max(0.0, replay.MIN_SPEARMAN - rho)
        per[model] = {"ratio": s["ratio"], "spearman": s["spearman"], "n": s["n"], "term": term}
        total += term
    return total, per


def distinct(done: list[dict]) -> list[dict]:
    """The scored candidates, each set of knobs once (the first scoring of a repeat)."""
    out: list[dict] = []
    for c in done:
        if knobs_of(c["knobs"]) not in [knobs_of(o["knobs"]) for o in out]:
            out.append(c)
    return out


def table(done: list[dict]) -> str:
    """Markdown: one row per model, one column per distinct candidate (ratio / ρ), the
    candidates' knobs that differ from the shipped ones, and models in the band. A repeat
    is shown once, under its first number."""
    cands = distinct(done)
    models = sorted({m for c in cands for m in c["models"]})

    def label(c):
        diff = {k: v for k, v in knobs_of(c["knobs"]).items() if v != SHIPPED[k]}
        tag = "probe: " if c.get("probe") else ""
        return tag + (", ".join(f"{k} {v:.3g}" for k, v in diff.items()) or "shipped")

    # Numbered as the fit's log numbers them: by place in ``done``, repeats included.
    number = [next(i for i, o in enumerate(done) if o is c) + 1 for c in cands]
    head = "| model | " + " | ".join(map(str, number)) + " |"
    lines = [head, "|---" * (len(cands) + 1) + "|"]
    for m in models:
        cells = []
        for c in cands:
            s = c["models"].get(m)
            cells.append("–" if s is None else f"{s['ratio']:.2f} / {s['spearman']:.2f}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    band = [
        sum(replay.in_band(s["ratio"], s["spearman"]) for s in c["models"].values()) for c in cands
    ]
    lines.append("| in band (ratio and ρ) | " + " | ".join(map(str, band)) + " |")
    lines.append("| objective | " + " | ".join(f"{c['objective']:.2f}" for c in cands) + " |")
    lines += ["", *(f"{n}. {label(c)}" for n, c in zip(number, cands, strict=True))]
    return "\n".join(lines)


def pulls(done: list[dict]) -> dict:
    """Which models pull against which, from the scored candidates.

    ``move[c, m]`` is how far candidate ``c`` moved model ``m``'s log ratio from the
    shipped data's, ``need[m] = -log ratio`` how far it has to move. The first principal
    component of the moves is the family's common difficulty axis (as far as the
    candidates sample it); ``share`` the fraction of the moves' variance along it,
    ``loading`` each model's weight on it. Two models *pull against each other* where
    their moves correlate (r > 0.5) but their needs have opposite signs, each beyond the
    band: whatever moves one toward its band moves the other away from its own.
    """
    cands = distinct(done)
    base = next(c for c in cands if knobs_of(c["knobs"]) == knobs_of(SHIPPED))
    models = sorted(base["models"])
    logr = np.log(
        [[max(c["models"][m]["ratio"], 1e-3) for m in models] for c in cands]
    )  # candidates × models
    moves = logr - np.log([max(base["models"][m]["ratio"], 1e-3) for m in models])
    need = -logr[cands.index(base)]
    centred = moves - moves.mean(axis=0)
    _, sv, vt = np.linalg.svd(centred, full_matrices=False)
    axis = vt[0] * np.sign(vt[0].sum() or 1.0)  # harder data: most models' ratios fall
    corr = np.corrcoef(moves[[i for i, c in enumerate(cands) if c is not base]].T)
    lo, hi = (math.log(1 / b) for b in replay.RATIO_BAND[::-1])  # need beyond the band
    pairs = []
    for i, a in enumerate(models):
        for j in range(i + 1, len(models)):
            b = models[j]
            opposed = (need[i] > hi and need[j] < lo) or (need[i] < lo and need[j] > hi)
            if opposed and corr[i, j] > 0.5:
                pairs.append((a, b, float(corr[i, j])))
    return {
        "models": models,
        "need": dict(zip(models, need.tolist(), strict=True)),
        "share": float(sv[0] ** 2 / (sv**2).sum()) if sv.sum() > 0 else float("nan"),
        "loading": dict(zip(models, axis.tolist(), strict=True)),
        "against": sorted(pairs, key=lambda t: -t[2]),
        "candidates": len(cands),
    }


def measure(knobs, screens, tries, iterations, ensemble, workers, out, log, seen, bar,
            in_order=False, after=None):  # fmt: skip
    """Replay the screening subsets ``screens`` ((model, H, points) per surrogate) on the
    candidate ``knobs``; its records. ``in_order``: the models one after another, in the
    order of ``screens`` (a long run stopped early leaves whole models measured);
    ``after()`` is called after each ensemble's records are written."""
    data = str(candidate_file(out, knobs).resolve())
    mine, jobs = [], []
    for model, hidden, sample in screens:
        variant = replay.variant_of(model, None, {})
        todo = []
        for t in sample:
            k = replay.key(model, hidden, t.index, variant, tries, data, iterations)
            if k in seen:
                mine.append(seen[k])
            else:
                todo.append(t)
        for group in replay.ensembles(todo, tries, ensemble):
            jobs.append((model, hidden, group, variant, tries, iterations, data))
    # Dearest first (within a model if in order), so the workers finish together.
    rank: dict[str, int] = {}
    for model, _, _ in screens:
        rank.setdefault(model, len(rank))
    jobs.sort(key=lambda j: (
        rank[j[0]] if in_order else 0, -sum(t.p for t in j[2]) * (1 + j[1] / 100)
    ))  # fmt: skip
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        for records in pool.map(_job, jobs):
            with log.open("a") as f:
                for r in records:
                    f.write(json.dumps(r) + "\n")
                f.flush()
                os.fsync(f.fileno())
            for r in records:
                seen[replay.record_key(r)] = r
            mine += records
            bar.update(1)
            bar.set_postfix_str(f"{records[0]['model']} H={records[0]['hidden_size']}")
            if after is not None:
                after()
    return mine, data


#: The issue's band for the four H = 60 surrogates the fit does not use.
CHECK_BAND = (0.75, 1.33)


def confirm_screens(paths: list[Path]) -> list[tuple[str, int, list]]:
    """The full replay's configurations (``replay.STAGES["confirm"]``) of each surrogate,
    grouped by model in the order the models first appear in ``paths``."""
    n = replay.STAGES["confirm"]["n"]
    screens = []
    for path in paths:
        model, hidden, points = replay.decode(path)
        screens.append((model, hidden, replay.choose(points, n)))
    order = list(dict.fromkeys(m for m, _, _ in screens))
    return sorted(screens, key=lambda s: order.index(s[0]))


def confirm_table(records: list[dict], cands: list[tuple[str, dict]], expected: dict,
                  sizes=(30, 40), draws: int = 1000) -> str:  # fmt: skip
    """Markdown of the full replay: per model (its fitting surrogates pooled) and per check
    surrogate, ratio / ρ of each candidate (``(label, candidate)``). ``expected[(model,
    fitting)]`` is the number of configurations a complete replay has; a model not yet
    complete shows how many it has and does not count toward the bands. Below the bands:
    each candidate's objective over its complete models, and the first against each other
    (:func:`paired_difference`, ``draws`` resamples; 0: the difference only)."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        fit = replay.is_fitting(r["model"], r["hidden_size"], sizes)
        name = r["model"] if fit else f"{r['model']} (H = {r['hidden_size']}, check)"
        groups.setdefault((r["data"], name, fit), []).append(r)
    rows = sorted({(name, fit) for _, name, fit in groups}, key=lambda t: (not t[1], t[0]))
    head = "| model | " + " | ".join(label for label, _ in cands) + " |"
    lines = [head, "|---" * (len(cands) + 1) + "|"]
    band = {fit: [0] * len(cands) for fit in (True, False)}
    for name, fit in rows:
        cells = []
        for i, (_, c) in enumerate(cands):
            rs = groups.get((c["data"], name, fit), [])
            if not rs:
                cells.append("–")
                continue
            s = replay.summary(rs)
            need = expected.get((rs[0]["model"], fit), s["n"])
            cell = f"{s['ratio']:.2f} / {s['spearman']:.2f}"
            if s["n"] < need:
                cell += f" ({s['n']} of {need})"
            elif fit and replay.in_band(s["ratio"], s["spearman"]):
                band[True][i] += 1
            elif not fit and CHECK_BAND[0] <= s["ratio"] <= CHECK_BAND[1]:
                band[False][i] += 1
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lo, hi = replay.RATIO_BAND
    lines.append(f"| fitting models in [{lo}, {hi}] with ρ ≥ {replay.MIN_SPEARMAN} | "
                 + " | ".join(map(str, band[True])) + " |")  # fmt: skip
    lines.append(f"| checks in [{CHECK_BAND[0]}, {CHECK_BAND[1]}] | "
                 + " | ".join(map(str, band[False])) + " |")  # fmt: skip
    # Each candidate's objective over its complete models, and each against the first over
    # the models complete for both, paired (same configurations, same seeds).
    fitting = [r for r in records if replay.is_fitting(r["model"], r["hidden_size"], sizes)]

    def complete(c) -> set[str]:
        return {
            m for m in {r["model"] for r in fitting}
            if len(groups.get((c["data"], m, True), [])) >= expected.get((m, True), 1)
        }  # fmt: skip

    done = [complete(c) for _, c in cands]
    cells = []
    for (_, c), ms in zip(cands, done, strict=True):
        rs = [r for r in fitting if r["data"] == c["data"] and r["model"] in ms]
        cells.append(f"{score(rs)[0]:.2f} ({len(ms)} models)" if ms else "–")
    lines.append("| objective over the complete models | " + " | ".join(cells) + " |")
    for (label, c), ms in zip(cands[1:], done[1:], strict=True):
        both = done[0] & ms
        if not both:
            continue
        a, b = ([r for r in fitting if r["data"] == x["data"] and r["model"] in both]
                for x in (cands[0][1], c))  # fmt: skip
        d, lo, hi = paired_difference(a, b, draws)
        interval = (f", 95 % interval [{lo:+.2f}, {hi:+.2f}] (paired bootstrap over the "
                    "configurations)" if draws else "")  # fmt: skip
        lines.append(f"\nobjective of {cands[0][0]} − objective of {label} over the "
                     f"{len(both)} models complete for both: {d:+.2f}{interval}")  # fmt: skip
    return "\n".join(lines)


def paired_difference(a: list[dict], b: list[dict], draws: int = 1000, seed: int = 0):
    """``score(a) − score(b)`` and a 95 % bootstrap interval, for two candidates' records
    of the same configurations: each draw resamples the configurations of every surrogate
    with replacement, the same ones for both (the seeds are shared, so the pairing takes
    the configurations' own difficulty out of the difference)."""
    index = {(r["model"], r["hidden_size"], r["index"]): r for r in b}
    pairs = [(r, index[k]) for r in a if (k := (r["model"], r["hidden_size"], r["index"])) in index]
    by: dict[tuple, list] = {}
    for ra, rb in pairs:
        by.setdefault((ra["model"], ra["hidden_size"]), []).append((ra, rb))
    d = score([ra for ra, _ in pairs])[0] - score([rb for _, rb in pairs])[0]
    if draws == 0:
        return d, math.nan, math.nan
    rng = np.random.default_rng(seed)
    diffs = []
    with warnings.catch_warnings():  # a draw may repeat one configuration: ρ undefined
        warnings.simplefilter("ignore")
        for _ in range(draws):
            da, db = [], []
            for group in by.values():
                for j in rng.integers(len(group), size=len(group)):
                    da.append(group[j][0])
                    db.append(group[j][1])
            diffs.append(score(da)[0] - score(db)[0])
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return d, float(lo), float(hi)


def main(argv=None) -> int:
    from skopt import Optimizer
    from skopt.space import Integer, Real
    from tqdm.auto import tqdm

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=BPTT + ["esn"], choices=BPTT + ["esn"])
    ap.add_argument("--sizes", type=int, nargs="+", default=[30, 40], help="BPTT H to fit")
    ap.add_argument("--n", type=int, default=6, help="screening configurations per surrogate")
    ap.add_argument("--tries", type=int, default=1)
    ap.add_argument("--iterations", type=int, default=3000)
    ap.add_argument("--ensemble", type=int, default=8, help="replicas trained together")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--calls", type=int, default=20, help="candidates to score in all")
    ap.add_argument("--initial", type=int, default=6, help="random candidates before the GP")
    ap.add_argument("--probe", nargs="+", action="append", default=[], metavar="KNOB=VALUE",
                    help="score the shipped knobs with these changed (repeatable: one probe "
                    "each), before the search's own candidates")  # fmt: skip
    ap.add_argument("--confirm", type=int, default=0, metavar="K",
                    help="run the full replay on the best K candidates")  # fmt: skip
    ap.add_argument("--table-only", action="store_true",
                    help="with --confirm: write its table from the records there, train "
                    "nothing")  # fmt: skip
    ap.add_argument("--out", type=Path, default=Path("bench/results/fit_data"))
    args = ap.parse_args(argv)
    try:
        probes = [parse_probe(items) for items in args.probe]
    except ValueError as e:
        ap.error(str(e))
    paths = surrogate_files(args.models, args.sizes)
    if not paths:
        ap.error(f"no surrogates of {args.models} in {replay.REFERENCE}")
    args.out.mkdir(parents=True, exist_ok=True)
    log, cands = args.out / "measurements.jsonl", args.out / "candidates.jsonl"
    seen = {}
    if log.exists():
        seen = {replay.record_key(r): r for r in map(json.loads, log.read_text().splitlines())}
    done = [json.loads(line) for line in cands.read_text().splitlines()] if cands.exists() else []
    # A candidate scored under other variants (a model's paper: changed) is not reused.
    variants = {m: replay.variant_of(m, None, {}) for m in sorted(args.models)}
    setting = {"surrogates": [p.name for p in paths], "n": args.n, "tries": args.tries,
               "iterations": args.iterations, "variants": variants}  # fmt: skip
    done = [c for c in done if c["setting"] == setting]

    names = list(SPACE)
    dims = [Integer(*SPACE[k], name=k) if k == "vertices_mid" else Real(*SPACE[k], name=k)
            for k in names]  # fmt: skip
    opt = Optimizer(dims, base_estimator="GP", n_initial_points=args.initial, random_state=0)
    # Resume replays the search: every candidate but the first (the shipped data, x0) and
    # the probes was asked, so ask again before telling it, or the optimiser's random state
    # restarts and hands out its first random candidates a second time.
    told = set()
    for j, c in enumerate(done):
        if j > 0 and not c.get("probe"):
            opt.ask()
        x = [c["knobs"][k] for k in names]
        if tuple(x) not in told:  # a repeat (an older resume's) adds nothing to the GP
            opt.tell(x, c["objective"])
            told.add(tuple(x))
    # Each surrogate decoded and its screening subset chosen once, for every candidate.
    screens = []
    for path in paths:
        model, hidden, points = replay.decode(path)
        screens.append((model, hidden, replay.choose(points, args.n)))
    jobs_per = sum(len(replay.ensembles(t, args.tries, args.ensemble)) for _, _, t in screens)
    # The shipped data is the first candidate of a new fit, then the probes, then the asks.
    scored, pending = [knobs_of(c["knobs"]) for c in done], []
    for k in ([] if done else [knobs_of(SHIPPED)]) + probes:
        if k not in scored and k not in pending:
            pending.append(k)
    todo = len(pending) + max(0, args.calls - len(done) - len(pending))
    print(f"{len(done)} candidates in {cands}; {todo} to score, {jobs_per} ensembles each, "
          f"{args.workers} workers", file=sys.stderr)  # fmt: skip
    bar = tqdm(total=todo * jobs_per, unit="ensemble")
    for i in range(todo):
        local = i < len(pending)  # the shipped data or a probe: not the optimiser's ask
        x = list(pending[i].values()) if local else opt.ask()
        probe = local and pending[i] in probes  # the shipped first candidate is no probe
        knobs = knobs_of(x)
        tqdm.write(f"candidate {len(done) + 1}: scoring {knobs}")
        records, data = measure(knobs, screens, args.tries, args.iterations,
                                args.ensemble, args.workers, args.out, log, seen, bar)  # fmt: skip
        objective, per = score(records)
        opt.tell(x, objective)
        c = {"knobs": knobs, "data": data, "objective": objective, "models": per,
             "setting": setting} | ({"probe": True} if probe else {})  # fmt: skip
        with cands.open("a") as f:
            f.write(json.dumps(c) + "\n")
            f.flush()
            os.fsync(f.fileno())
        done.append(c)
        worst = max(per.items(), key=lambda kv: kv[1]["term"])
        tqdm.write(f"candidate {len(done)}: objective {objective:.3f} (worst {worst[0]} "
                   f"ratio {worst[1]['ratio']:.2f}) {knobs}")  # fmt: skip
    bar.close()

    ranked = sorted(done, key=lambda c: c["objective"])
    for rank, c in enumerate(ranked[:5], 1):
        ratios = ", ".join(
            f"{m} {s['ratio']:.2f}/{s['spearman']:.2f}" for m, s in c["models"].items()
        )
        print(f"#{rank} objective {c['objective']:.3f} {c['knobs']}\n    ratio/ρ: {ratios}")
    if done:
        (args.out / "table.md").write_text(table(done) + "\n")
        print(f"per-model ratio / ρ of every candidate: {args.out / 'table.md'}")
    if len(distinct(done)) >= 3:
        pl = pulls(done)
        print(
            f"common axis: {pl['share']:.0%} of the moves of {pl['candidates']} candidates; "
            "loading " + ", ".join(f"{m} {v:+.2f}" for m, v in pl["loading"].items())
        )
        for a, b, r in pl["against"]:
            print(
                f"  {a} (needs {pl['need'][a]:+.2f}) pulls against {b} "
                f"(needs {pl['need'][b]:+.2f}): moves correlate r = {r:.2f}"
            )
    if args.confirm:
        best = sorted(distinct(done), key=lambda c: c["objective"])
        confirm(best[: args.confirm], done, paths, args)
    return 0


def confirm(chosen: list[dict], done: list[dict], paths: list[Path], args) -> None:
    """The full replay of the ``chosen`` candidates, one after another, model by model, on
    the fitting surrogates and the four H = 60 ones (``<out>/confirm/``: the replay's
    records, resumable, and ``table.md`` rewritten after each ensemble)."""
    from tqdm.auto import tqdm

    check = [replay.REFERENCE / name for name in replay.SURROGATES]
    screens = confirm_screens(paths + [p for p in check if p.is_file()])
    tries = replay.STAGES["confirm"]["tries"]
    expected: dict[tuple, int] = {}
    for model, hidden, sample in screens:
        k = (model, replay.is_fitting(model, hidden, args.sizes))
        expected[k] = expected.get(k, 0) + len(sample)
    out = args.out / "confirm"
    out.mkdir(parents=True, exist_ok=True)
    log = out / "measurements.jsonl"
    seen = {}
    if log.exists():
        seen = {replay.record_key(r): r for r in map(json.loads, log.read_text().splitlines())}
    number = {id(c): i + 1 for i, c in enumerate(done)}
    labels = [(str(number[id(c)]), c) for c in chosen]  # numbered as in table.md

    # Each model's paper variant, read once (not per record at every rewrite).
    variants = {m: replay.variant_of(m, None, {}) for m, _, _ in screens}

    def write(draws=0):  # the bootstrap (seconds of a core) once per candidate
        rs = [
            r for r in seen.values()
            if (r["tries"], r["iterations"]) == (tries, args.iterations)
            and r["variant"] == variants.get(r["model"])
        ]  # fmt: skip
        text = confirm_table(rs, labels, expected, args.sizes, draws)
        (out / "table.md").write_text(text + "\n")

    jobs = sum(len(replay.ensembles(t, tries, args.ensemble)) for _, _, t in screens)
    bar = tqdm(total=jobs * len(chosen), unit="ensemble")
    for c in chosen:
        if args.table_only:
            break
        tqdm.write(f"full replay of candidate {number[id(c)]}: {knobs_of(c['knobs'])}")
        measure(knobs_of(c["knobs"]), screens, tries, args.iterations, args.ensemble,
                args.workers, args.out, log, seen, bar, in_order=True, after=write)  # fmt: skip
        write(1000)
    bar.close()
    if args.table_only or not chosen:
        write(1000)
    print((out / "table.md").read_text())


if __name__ == "__main__":
    raise SystemExit(main())
