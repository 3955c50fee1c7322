"""Projected wall time of the whole `paper` study on this machine, method against method.

The `paper` study (``python -m rnn_capacity.study --preset paper``) runs, for every
(model, size) cell of configs/ (13 BPTT models × H ∈ {30, 40, 60}, the ESN × H ∈ {1000,
2000, 3000, 4000}: 43 cells; the original study published 37 of them, all but sRNN and
TRNN), a sweep of 300 configurations (ESN 500), each the 2 tries of 3000 iterations
trained as one ensemble of K = 2, the GP asking for one configuration at a time, then an
evaluation of 10 seeds (one ensemble) at the optimum. This script projects its wall time
from measurements on the machine it runs on:

* **configurations**: for each cell and each method (``--methods``: ``autograd``, the
  package as it was before the hand-written BPTT — autograd's loop, and the loss through
  ``self.log`` at every step; ``bptt``, the package's library defaults, the Python
  loop; ``native``, the ``paper`` preset's: the leaky loops in C++ where they apply,
  ``rnn_capacity.models.native``), one
  real ``measure_ensemble`` run of K = 2 (the cell's x0 hyperparameters and its
  ``paper:`` variant, no logging) at each p of ``--ps``: its wall time (start-up, the
  first iterations, the count) plus ``3000 − N`` times its steady-state time per iteration
  is a configuration's cost at that p; costs in between are interpolated linearly in p.
  A cell's training time is that cost summed over the p its search visits: the p of the
  original surrogate's 300 (500) training points where ``../shared/reference/`` has the
  cell's surrogate (``optimum.training_points``), else the pooled p of the original BPTT
  (or ESN) surrogates there — the original searches' own distribution of p, which the GP
  concentrates at small p (protocol.md's space alone, p uniform in 1..250, would give a
  mean p of 125: ``--uniform-p`` projects that, pessimistic, variant);
* **evaluation**: one ensemble of 10 seeds at the cell's optimum p (the original
  surrogate's optimum, published in reference_results.json; the median visited p where
  there is none), measured the same way;
* **the GP**: scikit-optimize's ``Optimizer`` as the sweep makes it (GP, EI, 11 initial
  points), told n configurations at once, then timed for one more ``tell`` (refit and
  acquisition; ``ask`` returns the point it computed) at each n of ``--gp-points``; the
  per-configuration cost is interpolated over n = 1..300 (500) and summed, per space.

Not counted: TensorBoard logging, the sweep's journal, plots and surrogate files, the
report. Methods are measured one after the other for each cell, alternating order, so
that other load on the machine slows both alike.

    python bench/study_cost.py [--models ...] [--methods autograd bptt] [--ps 1 60 250]
        [--threads 1] [--iterations 12] [--warmup 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import IterationClock, machine, rounded  # noqa: E402

from rnn_capacity.cli import quiet_lightning  # noqa: E402
from rnn_capacity.config import load_search_config  # noqa: E402
from rnn_capacity.measure import Replica, measure_ensemble  # noqa: E402
from rnn_capacity.models import BUILTIN_MODELS, native  # noqa: E402
from rnn_capacity.optimum import load_surrogate, training_points  # noqa: E402
from rnn_capacity.protocol import EVALUATION_SEEDS, ITERATIONS, TRIES  # noqa: E402
from rnn_capacity.reference import parse_surrogate_name, reference_result  # noqa: E402

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
METHODS = ("autograd", "bptt", "native")


# -- what the study runs --------------------------------------------------------------


def cells(models: list[str], sizes: list[int] | None) -> list[dict]:
    out = []
    for model in models:
        config = load_search_config(model)
        for h in sizes or config.sizes:
            if sizes and h not in config.sizes:
                continue
            try:
                ref = reference_result(model, h)
            except Exception:
                ref = None
            out.append({"model": model, "H": h, "calls": config.calls, "reference": ref})
    return out


def surrogate_points() -> dict[tuple[str, int], list]:
    """(model, H) -> every configuration the original search visited, in search order."""
    out = {}
    for path in sorted(REFERENCE.glob("*_model_*.pk")):
        parsed = parse_surrogate_name(path)
        if parsed is None:
            continue
        model, h = parsed
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            points = training_points(load_surrogate(path), load_search_config(model).space)
        out[model, h] = points
    return out


def visited_ps(cell: dict, known: dict, uniform: bool) -> tuple[list[int], str]:
    n = cell["calls"]
    if uniform:
        return list(np.linspace(1, 250, n).round().astype(int)), "uniform 1..250"
    key = (cell["model"], cell["H"])
    if key in known:
        return known[key][:n], f"its original surrogate ({len(known[key])} points)"
    esn = cell["model"] == "esn"
    pool = sorted(p for (m, _), ps in known.items() if (m == "esn") == esn for p in ps)
    if not pool:
        return list(np.linspace(1, 250, n).round().astype(int)), "uniform 1..250 (no surrogate)"
    quantiles = np.quantile(pool, (np.arange(n) + 0.5) / n)
    names = sorted(f"{m}_{h}" for (m, h) in known if (m == "esn") == esn)
    return [max(1, int(round(q))) for q in quantiles], f"pooled surrogates {', '.join(names)}"


# -- measurements ---------------------------------------------------------------------


def run_config(model, h, p, k, method, args) -> dict:
    """One real K-replica measurement; its cost as a 3000-iteration configuration."""
    config = load_search_config(model)
    hp = {n: v for n, v in config.x0.items() if n != "p"} | dict(config.fixed)
    hp |= dict(config.paper.settings)
    cls = BUILTIN_MODELS[model]
    previous = cls.__dict__.get("hand_written_bptt", None)
    if method == "autograd":
        cls.hand_written_bptt = False
    try:
        clock = IterationClock()
        closed = model == "esn"
        n = 1 if closed else args.warmup + args.iterations
        t0 = time.perf_counter()
        with native.enabled_as(method == "native"):
            measure_ensemble(
                model, h, [Replica(p, s, dict(hp)) for s in range(k)], iterations=n,
                learn_initial_state=config.paper.learn_initial_state, log_dir=None,
                accelerator="cpu", trainer_kwargs={"callbacks": [clock]},
                log_every_n_steps=1 if method == "autograd" else 50,
            )  # fmt: skip
        wall = time.perf_counter() - t0
    finally:
        if method == "autograd":
            if previous is None:
                del cls.hand_written_bptt
            else:
                cls.hand_written_bptt = previous
    if closed:
        return {"p": p, "wall_s": wall, "per_iteration_s": 0.0, "config_s": wall}
    ts = clock.times[args.warmup - 1 :]
    per_it = (ts[-1] - ts[0]) / (len(ts) - 1)
    return {
        "p": p,
        "wall_s": wall,
        "per_iteration_s": per_it,
        "config_s": wall + (ITERATIONS - n) * per_it,
    }


def interpolate(samples: list[dict], p: float) -> float:
    """A configuration's cost at ``p``: linear between the measured p (constant beyond)."""
    return float(np.interp(p, [s["p"] for s in samples], [s["config_s"] for s in samples]))


def gp_history(model: str, known_points: dict) -> tuple[list, list] | None:
    """An original search's configurations (in search order, in skopt's point form) and
    objectives, for a model whose surrogate is in ../shared/reference/."""
    for (m, _h), pts in known_points.items():
        if m == model:
            names = load_search_config(model).names
            xs = [[pt.p if n == "p" else pt.hparams[n] for n in names] for pt in pts]
            return xs, [pt.objective for pt in pts]
    return None


def gp_costs(label: str, space: list, history, points: list[int], repeats: int) -> list[dict]:
    """Seconds of one GP step (``tell``: refit and acquisition; ``ask`` then returns the
    point it computed) after ``n`` configurations, for each n of ``points``. ``history``:
    an original search's configurations and objectives of this space (else random ones)."""
    from skopt import Optimizer

    rows = []
    for n in points:
        times = []
        for r in range(repeats):
            opt = Optimizer(
                space, base_estimator="GP", acq_func="EI", n_initial_points=11,
                random_state=r, model_queue_size=1,
            )  # fmt: skip
            if history is not None and len(history[0]) > n:
                xs, ys = history[0][: n + 1], history[1][: n + 1]
            else:
                rng = np.random.default_rng(r)
                xs = opt.space.rvs(n + 1, random_state=r)
                ys = [float(rng.normal()) for _ in xs]
            xs = [[type(d.low)(v) if hasattr(d, "low") else v for d, v in zip(
                opt.space.dimensions, x, strict=True)] for x in xs]  # fmt: skip
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                opt.tell(xs[:n], ys[:n])
                t0 = time.perf_counter()
                opt.tell(xs[n], ys[n])
                opt.ask()
                times.append(time.perf_counter() - t0)
        rows.append({"n": n, "seconds": statistics.median(times)})
        print(f"  GP {label}: one step at n={n}: {rows[-1]['seconds']:.3f} s", flush=True)
    return rows


def gp_total(rows: list[dict], calls: int) -> float:
    """Σ over n = 1..calls − 1 of one step's cost: linear between the measured n, from 0
    at n = 0 (the first 11 points are x0 and random ones; their steps cost next to
    nothing, but are counted as the interpolation gives)."""
    ns = [0] + [r["n"] for r in rows]
    ss = [0.0] + [r["seconds"] for r in rows]
    return float(np.interp(np.arange(1, calls), ns, ss).sum())


# -- the projection ---------------------------------------------------------------------


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=list(BUILTIN_MODELS), choices=BUILTIN_MODELS)
    ap.add_argument("--sizes", nargs="+", type=int, default=None)
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--ps", nargs="+", type=int, default=[1, 60, 250])
    ap.add_argument("--esn-ps", nargs="+", type=int, default=[1, 60, 250])
    ap.add_argument("--iterations", type=int, default=12, help="timed iterations per run")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--gp-points", nargs="+", type=int, default=[20, 100, 200, 300])
    ap.add_argument("--gp-repeats", type=int, default=1)
    ap.add_argument("--no-gp", action="store_true", help="leave the GP's time out")
    ap.add_argument("--no-evaluation", action="store_true")
    ap.add_argument("--uniform-p", action="store_true", help="p uniform over 1..250")
    ap.add_argument("--calls", type=int, default=None, help="configurations per cell (tests)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.warmup < 2 or args.iterations < 2:
        ap.error("--warmup and --iterations must be at least 2")
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        with quiet_lightning():
            return project(args)
    finally:
        torch.set_num_threads(threads)


def project(args) -> dict:
    report: dict = {
        "machine": machine(),
        "threads": args.threads,
        "load_average_before": os.getloadavg(),
        "methods": args.methods,
        "cells": [],
    }
    print(f"machine: {report['machine']}; load average {report['load_average_before']}")
    known_points = surrogate_points()
    if args.calls is not None:
        known_points = {key: pts[: args.calls] for key, pts in known_points.items()}
    known = {key: [pt.p for pt in pts] for key, pts in known_points.items()}
    all_cells = cells(args.models, args.sizes)
    for cell in all_cells if args.calls is not None else []:
        cell["calls"] = args.calls
    spaces: dict[str, tuple] = {}  # the GP's cost depends on the space's dimensions
    for cell in all_cells:
        model = cell["model"]
        config = load_search_config(model)
        label = f"{len(config.space)}-D" + (" ESN" if model == "esn" else "")
        history = gp_history(model, known_points)
        if label not in spaces or (spaces[label][1] is None and history is not None):
            spaces[label] = (config.skopt_space(), history, model)
        cell["space"] = label
    gp = {}
    if not args.no_gp:
        for label, (space, history, model) in spaces.items():
            calls = max(c["calls"] for c in all_cells if c["space"] == label)
            pts = sorted({n for n in args.gp_points if n < calls} | {calls - 1})
            source = f"{model}'s original search" if history else "random points"
            steps = gp_costs(label, space, history, pts, args.gp_repeats)
            gp[label] = {"points_from": source, "steps": steps}
    report["gp"] = gp
    totals = {m: 0.0 for m in args.methods}
    original = {m: 0.0 for m in args.methods}
    for i, cell in enumerate(all_cells):
        model, h = cell["model"], cell["H"]
        ps, source = visited_ps(cell, known, args.uniform_p)
        esn = model == "esn"
        measured_ps = args.esn_ps if esn else args.ps
        ref = cell["reference"]
        p_opt = round(ref.surrogate_optimum["p"]) if ref else int(statistics.median(ps))
        p_opt = max(1, min(250, p_opt))
        methods = args.methods if i % 2 == 0 else args.methods[::-1]
        row = {
            "model": model, "H": h, "calls": cell["calls"], "p_source": source,
            "mean_p": statistics.fmean(ps), "optimum_p": p_opt, "original": bool(ref),
        }  # fmt: skip
        gp_s = 0.0 if args.no_gp else gp_total(gp[cell["space"]]["steps"], cell["calls"])
        row["gp_s"] = gp_s
        for method in methods:
            if esn and method != methods[0]:  # no BPTT: one measurement serves both
                row[method] = dict(row[methods[0]])
                continue
            samples = [run_config(model, h, p, TRIES, method, args) for p in measured_ps]
            train = sum(interpolate(samples, p) for p in ps)
            evaluation = 0.0
            if not args.no_evaluation:
                evaluation = run_config(model, h, p_opt, EVALUATION_SEEDS, method, args)
                evaluation = evaluation["config_s"]
            row[method] = {
                "samples": samples,
                "sweep_training_s": train,
                "evaluation_s": evaluation,
                "total_s": train + evaluation + gp_s,
            }
        for method in args.methods:
            totals[method] += row[method]["total_s"]
            if row["original"]:
                original[method] += row[method]["total_s"]
        report["cells"].append(row)
        line = " | ".join(f"{m} {row[m]['total_s'] / 3600:6.2f} h" for m in args.methods)
        print(f"{model:18s} H={h:4d} mean p {row['mean_p']:5.1f}: {line} (GP {gp_s / 60:.1f} min)",
              flush=True)  # fmt: skip
    report["total_hours"] = {m: s / 3600 for m, s in totals.items()}
    report["original_cells_hours"] = {m: s / 3600 for m, s in original.items()}
    report["load_average_after"] = os.getloadavg()
    n_cells, n_original = len(all_cells), sum(c["reference"] is not None for c in all_cells)
    for m in args.methods:
        print(
            f"projected study, {m}: {totals[m] / 3600:.1f} h for the {n_cells} cells "
            f"({original[m] / 3600:.1f} h for the original study's {n_original})"
        )
    if len(args.methods) == 2:
        a, b = args.methods
        print(f"speed-up {a} -> {b}: x{totals[a] / totals[b]:.2f}")
    if args.json:
        print(json.dumps(rounded(report)))
    return report


if __name__ == "__main__":
    main()
