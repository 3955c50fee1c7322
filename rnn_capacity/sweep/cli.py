"""``python -m rnn_capacity.sweep``: Bayesian search of one model's capacity at one size.

The command line of :mod:`rnn_capacity.sweep` (see there): flags to typed settings
(:func:`~rnn_capacity.sweep.settings.resolve_settings`), the search
(:func:`~rnn_capacity.sweep.loop.run_sweep`), one line of result; Ctrl-C and a full disk
each end with one line that says how to resume.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import asdict
from pathlib import Path

from ..cli import (
    add_accelerator,
    add_data,
    add_executor,
    add_initial_state,
    add_iterations,
    add_log_dir,
    add_model,
    add_prune,
    add_space,
    add_threshold,
    quiet_lightning,
)
from ..config import SearchConfig
from ..errors import ArgumentParser, cli_main, write_failed
from ..interrupt import Interrupted, interruptible_command, report_interrupted
from ..progress import add_progress, apply_progress
from ..protocol import DEFAULT_PRESET
from ..records import SweepSummary
from ..reference import reference_result
from .loop import learned, run_sweep
from .settings import PRESETS, SweepSettings, reference_start, resolve_settings

__all__ = ["PROG", "build_parser", "main", "resolve_args", "result_line"]

PROG = "python -m rnn_capacity.sweep"


def build_parser() -> ArgumentParser:
    presets = "; ".join(
        f"{name}: "
        + ", ".join(f"{k}={'config' if v is None else v}" for k, v in asdict(preset).items())
        for name, preset in PRESETS.items()
    )
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n")[0], epilog=f"presets: {presets}")
    add_model(p)
    add_space(p)
    p.add_argument("--hidden-size", type=int, required=True, help="H, recurrent units")
    p.add_argument("--preset", choices=list(PRESETS), default=DEFAULT_PRESET, help="default: quick")
    # Unset flags stay None, so that the preset fills them in.
    for flag, text in [
        ("--calls", "configurations in all (paper: the config's calls)"),
        ("--tries", "measurements per configuration"),
        ("--batch-size", "configurations asked at once and trained as one ensemble"),
        ("--initial-points", "random configurations after x0 before the GP leads"),
    ]:
        p.add_argument(flag, type=int, help=text)
    add_iterations(p)
    add_initial_state(
        p,
        fixed="keep the initial states at their random draw (the original protocol; paper)",
        learn="train the initial states with the weights (quick)",
    )
    tries = p.add_mutually_exclusive_group()
    tries.add_argument(
        "--sequential-tries",
        dest="batch_tries",
        action="store_false",
        help="train each try on its own Trainer, as the original code did",
    )
    tries.add_argument(
        "--batched-tries",
        dest="batch_tries",
        action="store_true",
        help="train the tries of a batch as one ensemble (both presets)",
    )
    p.set_defaults(batch_tries=None)
    p.add_argument("--seed", type=int, default=0, help="seeds the search and every measurement")
    add_threshold(p)
    p.add_argument("--out", type=Path, help="output directory (default results/<model>_<H>)")
    p.add_argument("--resume", action="store_true", help="continue the sweep in --out")
    add_log_dir(p)
    add_data(p)
    add_accelerator(p)
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="torch.compile the whole training step (forward, backward, Adam) as one graph, "
        "p padded to multiples of 16 to reuse graphs (default: where it measured faster on "
        "a CPU, in runs of >= 3000 iterations: PC-RNN-GC, LSTM, GRU at small K·p)",
    )
    p.add_argument(
        "--native",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run the leaky time loops (sRNN, TRNN, MTRNN, PC-RNN-V, -HC-A, -GC-HC-A) in C++, "
        "built once per machine (about a minute; the Python loop where it cannot be built; "
        "default: the preset's, on for paper)",
    )
    add_prune(p)
    add_executor(p)
    add_progress(p)
    return p


def resolve_args(args) -> tuple[SweepSettings, SearchConfig]:
    """The settings the parsed flags ask for (:func:`resolve_settings`)."""
    return resolve_settings(
        args.model,
        args.hidden_size,
        preset=args.preset,
        space=args.space,
        calls=args.calls,
        tries=args.tries,
        iterations=args.iterations,
        batch_size=args.batch_size,
        initial_points=args.initial_points,
        learn_initial_state=args.learn_initial_state,
        batch_tries=args.batch_tries,
        seed=args.seed,
        threshold=args.threshold,
        out=args.out,
        resume=args.resume,
        log_dir=args.log_dir,
        data=args.data,
        accelerator=args.accelerator,
        compile=args.compile,
        native=args.native,
        prune=args.prune,
        executor=args.executor,
        workers=args.workers,
        address=args.address,
    )


@cli_main
def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    apply_progress(args)
    settings, config = resolve_args(args)
    start = reference_start(config, settings.hidden_size)
    announce = [start] if start is not None else []
    if args.executor == "auto" and settings.executor == "process":
        announce.append(
            f"every core: {settings.workers} worker processes of {settings.threads} thread "
            "each train the configurations, a batch on each (--executor local: all in this "
            "process instead)"
        )
    try:
        with quiet_lightning(), interruptible_command():
            summary = run_sweep(settings, config, tuple(announce))
    except Interrupted as exc:
        again = shlex.join([*PROG.split(), *argv, *([] if settings.resume else ["--resume"])])
        return report_interrupted(
            exc, exc.kept or f"what is finished is recorded in {settings.out}", again
        )
    except OSError as exc:  # a full disk, say: what is recorded stays readable
        kept = "the configurations finished before are recorded"
        return write_failed(exc, settings.out, kept, "resume with --resume")
    # The comparison a newcomer wants to see, where the search started at the original's.
    ref = reference_result(settings.model, settings.hidden_size) if start else None
    print(result_line(summary, settings.out, ref, config.x0["p"] if ref else None))
    return 0


def result_line(summary: SweepSummary, out, reference=None, reference_p=None) -> str:
    """The sweep's last line: what its best configuration learned first, then where it
    is, then the original study's count at its optimum (``reference``, at ``p =
    reference_p``) where the search started there."""
    best, head = summary.best, f"{summary.model} H={summary.hidden_size}"
    n = summary.calls_done
    if best is None:
        text = f"{head}: no configuration finished"
    elif best.mean_count <= 0:
        text = (
            f"{head}: nothing learned: every try of all {n} configurations counted 0 "
            "(the search could only prefer small p)"
        )
    else:
        hp = ", ".join(f"{k}={v:.4g}" for k, v in best.hparams.items())
        tries = ", ".join(map(str, best.counts))
        text = (
            f"{head}: {learned(best)} on average at p={best.p} ({hp}; configuration "
            f"{best.index}, tries {tries}), the best of {n} configurations "
            f"(objective p - 2 count = {best.objective:.4g})"
        )
        most = summary.best_mean_count
        if most is not None and most > best.mean_count:
            index = summary.best_mean_count_index
            text += f"; the most learned: {most:.3g} (configuration {index})"
    if reference is not None:
        seen = reference.best_observed_config
        text += (
            f"; the original study (on its own data) at this optimum: "
            f"{reference.surrogate_predicted_count:.1f} of {reference_p} predicted by its "
            f"surrogate; its best measured configuration learned "
            f"{reference.best_observed_count:g} of {seen['p']:g}"
        )
    return f"{text}; results in {out}"
