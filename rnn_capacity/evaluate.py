"""``python -m rnn_capacity.evaluate``: the count at one configuration, over several seeds.

The protocol's "evaluation at the optimum": train S seeds at one configuration — each
with a fresh draw of p trajectories and fresh weights — and report the mean and spread
of the count and the per-iteration training loss. The seeds train as one ensemble of
replicas (each replica equals the single run with its seed; tested), in groups of at
most ``--max-ensemble``.

Where the configuration comes from (one of):

* ``--from SWEEP_DIR``: the optimum of our sweep's surrogate (``rnn_capacity.optimum``),
  with that sweep's protocol (initial states, settings, iterations, threshold, data);
* ``--reference``: the original study's optimum for this model and size
  (``rnn_capacity.reference``), with the protocol variant that reproduces the original
  for this model (its config's ``paper:``);
* ``--set p=41 --set lr=0.0069 ...``: given by hand (protocol: the model's ``paper:``
  variant unless flags say otherwise).

Writes, in ``--out``: ``evaluation.json`` (per-seed counts, mean, std, hyperparameters,
protocol, per-iteration loss curves), ``loss.png``, ``trajectories.png`` (generated vs
target, seed 0) and ``samples.npz`` (those trajectories, for reports). Each seed is a
TensorBoard run ``<log-dir>/<log-group>/seed<s>``. An existing evaluation is never
overwritten (``--force`` replaces it).

For example::

    python -m rnn_capacity.evaluate --model gru --hidden-size 60 --reference --seeds 10
"""

from __future__ import annotations

import io
import json
import math
import shlex
import shutil
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cli import (
    add_accelerator,
    add_data,
    add_initial_state,
    add_iterations,
    add_log_dir,
    add_model,
    add_space,
    parse_assignments,
    quiet_lightning,
)
from .config import load_search_config
from .data import load_trajectories
from .errors import (
    ArgumentParser,
    UsageError,
    check_directory,
    cli_main,
    ensure_directory,
    one_line,
    path_exists,
    write_failed,
)
from .files import DirectoryLock, write_atomic
from .interrupt import Interrupted, InterruptGuard, interruptible_command, report_interrupted
from .measure import Replica, measure_ensemble, validate_options, validate_sizes
from .models import model_slug, resolve_model
from .models.options import MAX_SEED
from .optimum import find_optimum, read_space
from .plotting import SAMPLES, pyplot, save, trajectories_figure
from .progress import add_progress, apply_progress
from .progress import bar as progress_bar
from .protocol import (
    DEFAULT_ACCELERATOR,
    EVALUATION_SEEDS,
    ITERATIONS,
    LOG_DIR,
    MAX_ENSEMBLE,
    MAX_EVALUATION_SEEDS,
    RESOLUTION,
    RESULTS_DIR,
    THRESHOLD,
)
from .records import Evaluation, Optimum
from .reference import load_reference, reference_result

__all__ = ["EvaluationPlan", "evaluate", "main", "reference_plan", "sweep_plan"]

PROG = "python -m rnn_capacity.evaluate"


@dataclass
class EvaluationPlan:
    """One configuration and the protocol to train it with."""

    model: str
    hidden_size: int
    p: int
    hparams: dict
    learn_initial_state: bool
    settings: dict = field(default_factory=dict)  # e.g. teacher_forcing
    iterations: int = ITERATIONS
    threshold: float = THRESHOLD
    data: str | None = None
    source: dict = field(default_factory=dict)  # where the configuration came from


def reference_plan(model: str, hidden_size: int, space: Path | None = None) -> EvaluationPlan:
    """The original study's optimum, with the variant that reproduces it for ``model`` (its
    search space's ``paper:``; ``space``: another file for it)."""
    ref = reference_result(model, hidden_size)
    hp = dict(ref.surrogate_optimum)
    p = hp.pop("p")
    paper = load_search_config(model, space=space).paper
    source = {"kind": "reference", "p_unrounded": p}
    source |= {"predicted_count": ref.surrogate_predicted_count}
    source |= {"variant": paper.source, "reason": paper.reason}
    return EvaluationPlan(
        model, hidden_size, max(1, round(p)), hp, paper.learn_initial_state,
        dict(paper.settings), source=source,
    )  # fmt: skip


def sweep_plan(
    sweep_dir: Path,
    resolution: int = RESOLUTION,
    progress: bool = True,
    optimum: Optimum | None = None,
) -> EvaluationPlan:
    """The optimum of a sweep's surrogate (``optimum``: one found before), with that
    sweep's protocol."""
    if not path_exists(Path(sweep_dir) / "space.json", "--from", "file"):
        raise UsageError(f"--from {sweep_dir}: not a sweep directory (no space.json)")
    space = read_space(sweep_dir)
    if optimum is None:
        optimum = find_optimum(sweep_dir, resolution=resolution, progress=progress)
    source = {"kind": "sweep", "path": str(sweep_dir), "p_unrounded": optimum.p}
    source |= {"predicted_count": optimum.predicted_count, "resolution": resolution}
    if space.prune:  # found by a pruned search: a report keeps it apart from full ones
        source["prune"] = dict(space.prune)
    return EvaluationPlan(
        space.model, space.hidden_size, max(1, round(optimum.p)),
        dict(optimum.hparams) | space.fixed, space.learn_initial_state,
        dict(space.settings), space.iterations, space.threshold, space.data, source,
    )  # fmt: skip


def evaluate(
    plan: EvaluationPlan,
    seeds: list[int],
    out: Path,
    log_dir: Path | None = LOG_DIR,
    log_group: str | None = None,
    max_ensemble: int = MAX_ENSEMBLE,
    accelerator: str = DEFAULT_ACCELERATOR,
    progress: bool = True,
) -> Evaluation:
    """Train ``plan`` once per seed; write and return the evaluation (see the module doc)."""
    groups = [seeds[i : i + max_ensemble] for i in range(0, len(seeds), max_ensemble)]
    bar = progress_bar(total=len(seeds), unit="seed", show=progress, desc=f"{plan.model}")
    try:
        with InterruptGuard() as guard:  # Ctrl-C/SIGTERM stop the training, never a write
            return _evaluate(plan, seeds, groups, out, log_dir, log_group, accelerator, bar, guard)
    finally:
        bar.close()  # before any message of the caller's, on a line of its own


def _evaluate(plan, seeds, groups, out, log_dir, log_group, accelerator, bar, guard) -> Evaluation:
    options = plan.hparams | plan.settings
    results, seconds = [], 0.0
    for group in groups:
        with guard.interruptible():
            trained = measure_ensemble(
                plan.model,
                plan.hidden_size,
                [Replica(plan.p, s, options, name=f"seed{s}") for s in group],
                iterations=plan.iterations,
                learn_initial_state=plan.learn_initial_state,
                threshold=plan.threshold,
                accelerator=accelerator,
                log_dir=log_dir,
                log_group=log_group,
                data_path=plan.data,
                record_losses=True,
                keep_trajectories=True,
            )
        results += trained
        seconds += trained[0].seconds  # the ensemble's wall time, shared by its replicas
        bar.update(len(group))
    counts = [r.count for r in results]
    report = Evaluation(
        model=plan.model,
        hidden_size=plan.hidden_size,
        p=plan.p,
        hparams=plan.hparams,
        learn_initial_state=plan.learn_initial_state,
        settings=plan.settings,
        teacher_forced_count=plan.settings.get("teacher_forcing") == "always",
        iterations=plan.iterations,
        threshold=plan.threshold,
        data=plan.data,
        source=plan.source,
        seeds=seeds,
        counts=counts,
        mean_count=statistics.mean(counts),
        std_count=statistics.stdev(counts) if len(counts) > 1 else 0.0,
        final_losses=[finite(r.final_loss) for r in results],
        diverged=sum(not math.isfinite(r.final_loss) for r in results),
        seconds=round(seconds, 1),
        parameters=results[0].parameters,  # per seed: the same p, the same counts
        options=results[0].options,  # every seed trains the same options
        loss_curves=[[finite(round_sig(v)) for v in r.loss_curve] for r in results],
        original=original(plan.model, plan.hidden_size),
    )
    report.write(out / "evaluation.json")  # the result; what follows only illustrates it
    try:
        write_samples(out, results[0], plan.threshold)
        write_plots(out, report, results[0])
    except OSError as exc:  # e.g. a full disk: the evaluation is saved, its pictures not
        sys.stderr.write(f"warning: samples and plots not written in {out} ({one_line(exc)})\n")
    return report


def finite(x: float) -> float | None:
    """JSON has no NaN or infinity: a diverged run's loss becomes null."""
    return x if math.isfinite(x) else None


def round_sig(x: float, digits: int = 6) -> float:
    return float(f"{x:.{digits}g}")


def original(model: str, hidden_size: int) -> dict | None:
    """The original study's figures for this model and size, if it studied them."""
    for r in load_reference():
        if r.model == model and r.size == hidden_size:
            return {
                "predicted_count": r.surrogate_predicted_count,
                "best_observed_count": r.best_observed_count,
                "optimum": r.surrogate_optimum,
            }
    return None


def write_samples(out: Path, result, threshold: float) -> None:
    n = min(SAMPLES, result.num_sequences)
    buf = io.BytesIO()
    np.savez(
        buf,
        generated=result.generated[:, :n],
        targets=result.targets[:, :n],
        errors=np.asarray(result.errors[:n]),
        threshold=np.asarray(threshold),
    )
    write_atomic(out / "samples.npz", buf.getvalue())


def write_plots(out: Path, report: Evaluation, first) -> None:
    """``loss.png`` (every seed's loss curve) and ``trajectories.png`` (the first seed's)."""
    fig, ax = pyplot().subplots(figsize=(6, 4))
    for seed, curve in zip(report.seeds, report.loss_curves, strict=True):
        y = np.array([np.nan if v is None else v for v in curve])
        ax.plot(np.arange(1, len(y) + 1), y, lw=0.8, label=f"seed {seed}")
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("training loss (MSE)")
    title = f"{report.model} H={report.hidden_size} p={report.p}: "
    ax.set_title(title + f"count {report.count_label()}")
    if len(report.seeds) <= 10:
        ax.legend(fontsize=7)
    save(fig, out / "loss.png")

    mode = " (teacher-forced count)" if report.teacher_forced_count else ""
    title = f"{report.model} H={report.hidden_size}, seed {report.seeds[0]}: "
    fig = trajectories_figure(
        first.generated, first.targets, first.errors, report.threshold,
        title + f"generated vs target{mode}",
    )  # fmt: skip
    save(fig, out / "trajectories.png")


# --------------------------------------------------------------------------------- CLI


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    add_model(p, "the model (not with --from)", required=False)
    add_space(p, "; its paper: gives --reference's and --set's protocol")
    p.add_argument("--hidden-size", type=int, help="H (not with --from)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--from", dest="sweep", type=Path, help="a sweep directory: its optimum")
    src.add_argument(
        "--reference", action="store_true", help="the original study's optimum and variant"
    )
    src.add_argument(
        "--set", action="append", metavar="NAME=VALUE", help="p and hyperparameters by hand"
    )
    p.add_argument(
        "--seeds", type=int, default=EVALUATION_SEEDS,
        help=f"seeds to train (default {EVALUATION_SEEDS})",
    )  # fmt: skip
    p.add_argument(
        "--seed", "--seed-base", dest="seed_base", type=int, default=0,
        help="the first seed (default 0): seeds --seed .. --seed + --seeds - 1",
    )  # fmt: skip
    p.add_argument(
        "--num-sequences", type=int, metavar="P", help="p, with --set: the same as --set p=P"
    )
    add_iterations(p, help=f"default: the source's protocol ({ITERATIONS})")
    add_initial_state(p, dest="learn")
    p.add_argument("--resolution", type=int, default=RESOLUTION, help="grid of --from's optimum")
    add_data(p, "trajectory file (default: the source's)")
    p.add_argument("--out", type=Path, help="output directory")
    add_log_dir(p)
    p.add_argument("--log-group", help="TensorBoard group (default <model>_h<H>_evaluation)")
    p.add_argument("--max-ensemble", type=int, default=MAX_ENSEMBLE, help="seeds trained at once")
    add_accelerator(p)
    p.add_argument("--force", action="store_true", help="replace an existing evaluation")
    p.add_argument("--json", action="store_true", help="end with one JSON line (no curves)")
    add_progress(p)
    return p


def plan_from_args(args) -> EvaluationPlan:
    if args.num_sequences is not None and not args.set:
        raise UsageError("--num-sequences goes with --set (by hand), not --from or --reference")
    if args.sweep is not None:
        if args.model or args.hidden_size or args.space:
            raise UsageError("--from takes the model, size and space from the sweep: drop them")
        plan = sweep_plan(args.sweep, args.resolution, progress=not args.json)
    else:
        if not args.model or not args.hidden_size:
            raise UsageError("--model and --hidden-size are required with --reference or --set")
        model, _ = resolve_model(args.model)
        if args.reference:
            plan = reference_plan(model, args.hidden_size, args.space)
        else:
            hp = parse_assignments(args.set)
            if args.num_sequences is not None:
                if "p" in hp and hp["p"] != args.num_sequences:
                    raise UsageError("--num-sequences and --set p= disagree: give one")
                hp["p"] = args.num_sequences
            if "p" not in hp:
                raise UsageError("--set needs p=<number of sequences> (or --num-sequences)")
            p = hp.pop("p")
            if isinstance(p, bool) or not isinstance(p, int):
                raise UsageError(f"--set p={p!r}: p must be an integer")
            paper = load_search_config(model, space=args.space).paper
            settings = {k: hp.pop(k) for k in list(hp) if k in paper.settings}
            plan = EvaluationPlan(
                model, args.hidden_size, p, hp, paper.learn_initial_state,
                dict(paper.settings) | settings, source={"kind": "set"},
            )  # fmt: skip
    if args.iterations is not None:
        plan.iterations = args.iterations
    if args.learn is not None:
        plan.learn_initial_state = args.learn
    if args.data is not None:
        plan.data = args.data
    return plan


def check(plan: EvaluationPlan, args) -> list[int]:
    """Validate everything before anything is trained or written."""
    if not 1 <= args.seeds <= MAX_EVALUATION_SEEDS:
        raise UsageError(f"--seeds must be in 1..{MAX_EVALUATION_SEEDS}, got {args.seeds}")
    if not 0 <= args.seed_base <= MAX_SEED - args.seeds + 1:
        raise UsageError(
            f"--seed {args.seed_base}: the seeds --seed .. --seed + --seeds - 1 "
            f"must lie in 0..{MAX_SEED} (2**63 - 1)"
        )
    if args.max_ensemble < 1:
        raise UsageError(f"--max-ensemble must be at least 1, got {args.max_ensemble}")
    validate_sizes(plan.hidden_size, plan.p, plan.iterations, plan.threshold)
    validate_options(plan.model, plan.hparams | plan.settings)
    if plan.data is not None:
        load_trajectories(plan.data)
    return list(range(args.seed_base, args.seed_base + args.seeds))


def remove_runs(runs: list[Path]) -> None:
    """Half an evaluation's TensorBoard runs: gone, so that the same command starts over
    (and --force's new runs replace old ones rather than mix with them)."""
    for r in runs:
        shutil.rmtree(r, ignore_errors=True)


def stamp(path: Path) -> int | None:
    """When ``path`` was last written (None: it does not exist)."""
    return path.stat().st_mtime_ns if path.exists() else None


def default_out(plan: EvaluationPlan, args) -> Path:
    if args.sweep is not None:
        return args.sweep / "evaluation"
    kind = "reference" if args.reference else "evaluate"
    return RESULTS_DIR / kind / f"{model_slug(plan.model)}_{plan.hidden_size}"


@cli_main
def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    apply_progress(args)
    plan = plan_from_args(args)
    seeds = check(plan, args)
    out = args.out or default_out(plan, args)
    group = args.log_group or f"{model_slug(plan.model)}_h{plan.hidden_size}_evaluation"
    if (out / "evaluation.json").exists() and not args.force:
        raise UsageError(f"{out} already holds an evaluation: pass --force or another --out")
    runs = [args.log_dir / group / f"seed{s}" for s in seeds]
    if any(r.exists() for r in runs) and not args.force:
        raise UsageError(
            f"{args.log_dir / group} already holds runs of these seeds: "
            "pass --force, --log-group or --log-dir"
        )
    check_directory(out, "output directory")
    check_directory(args.log_dir, "TensorBoard log directory")
    ensure_directory(out, "output directory")
    ensure_directory(args.log_dir, "TensorBoard log directory")
    again = shlex.join([*PROG.split(), *argv])
    before = stamp(out / "evaluation.json")
    try:
        with DirectoryLock(out, "evaluation"), interruptible_command():
            if (out / "evaluation.json").exists() and not args.force:  # won the race to it
                raise UsageError(
                    f"{out} already holds an evaluation: pass --force or another --out"
                )
            remove_runs(runs)  # --force: the new runs replace the old ones
            with quiet_lightning():
                report = evaluate(
                    plan, seeds, out, args.log_dir, group, args.max_ensemble, args.accelerator,
                    progress=not args.json,
                )  # fmt: skip
    except Interrupted as exc:
        if stamp(out / "evaluation.json") != before:
            return report_interrupted(exc, f"the evaluation is saved in {out}")  # it was done
        remove_runs(runs)
        nothing = "nothing was saved (evaluation.json is written once every seed is trained)"
        return report_interrupted(exc, nothing, again)
    except OSError as exc:
        remove_runs(runs)
        where = f"{out} or {args.log_dir}"
        return write_failed(exc, where, "no evaluation was saved", f"run again: {again}")
    orig = report.original
    versus = f"; the original study predicts {orig['predicted_count']:.1f}" if orig else ""
    mode = " (teacher-forced count)" if report.teacher_forced_count else ""
    print(
        f"{plan.model} H={plan.hidden_size} p={plan.p}: count {report.count_label(2)} "
        f"over {len(seeds)} seeds {report.counts}{mode}"
        f"{versus}; {report.protocol_label()}; results in {out}"
    )
    if args.json:
        summary = {k: v for k, v in report.to_dict().items() if k != "loss_curves"}
        print(json.dumps(summary | {"out": str(out)}, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
