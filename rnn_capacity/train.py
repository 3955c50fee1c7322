"""``python -m rnn_capacity.train``: one capacity measurement from the command line.

Example::

    python -m rnn_capacity.train --model pc_rnn_hc_a --hidden-size 60 --num-sequences 20 \\
        --iterations 3000 --seed 0 --set lr=0.017 --set tau=4.8 --json

Bad input prints one line ``error: ...`` and exits with status 2.
"""

from __future__ import annotations

import json
import math
import shlex
import sys
from pathlib import Path

from .cli import (
    add_accelerator,
    add_data,
    add_iterations,
    add_log_dir,
    add_model,
    add_threshold,
    parse_assignments,
    quiet_lightning,
)
from .errors import ArgumentParser, UsageError, cli_main, path_exists
from .interrupt import Interrupted, interruptible_command, report_interrupted
from .measure import measure_capacity
from .models import model_slug
from .progress import add_progress, apply_progress
from .protocol import ITERATIONS

__all__ = ["build_parser", "main", "parse_assignments"]  # parse_assignments: cli.py's


PROG = "python -m rnn_capacity.train"


def finite_or_none(x):
    """JSON has no NaN or infinity: a diverged run's losses and errors become null."""
    return x if not isinstance(x, float) or math.isfinite(x) else None


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    add_model(p)
    p.add_argument("--hidden-size", type=int, required=True, help="H, recurrent units")
    p.add_argument(
        "--num-sequences", type=int, metavar="P", help="p, trajectories (1..250); or --set p=P"
    )
    add_iterations(p, ITERATIONS, help=f"training steps (default {ITERATIONS})")
    p.add_argument("--seed", type=int, default=0, help="seeds the draw of data and weights")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a hyperparameter or setting (lr, tau, tau_slow, tau_fast, gamma, "
        "connectivity, sigma, alpha_h_prime, factors, ...); repeatable",
    )
    p.add_argument(
        "--fixed-initial-state",
        action="store_true",
        help="keep the initial states at their random draw (the original protocol)",
    )
    add_threshold(p)
    add_data(p)
    add_accelerator(p)
    add_log_dir(p)
    add_progress(p)
    p.add_argument(
        "--compile", action="store_true", help="torch.compile the whole training step as one graph"
    )
    p.add_argument("--json", action="store_true", help="end with one JSON line of results")
    p.add_argument(
        "--checkpoint",
        type=Path,
        help="where to save the trained model (default: <run's log dir>/checkpoints/"
        "model.ckpt); reload it with <ModelClass>.load_from_checkpoint(path)",
    )
    p.add_argument("--no-checkpoint", action="store_true", help="do not save the model")
    p.add_argument("--force", action="store_true", help="overwrite an existing --checkpoint")
    return p


def parse(argv: list[str]) -> tuple:
    """The command line's checks before any training: its arguments and ``--set`` values;
    bad input raises :class:`~rnn_capacity.errors.UsageError`."""
    args = build_parser().parse_args(argv)
    apply_progress(args)
    hparams = parse_assignments(args.set)
    if "p" in hparams:  # the spelling of evaluate and the search spaces
        p = hparams.pop("p")
        if args.num_sequences is not None and args.num_sequences != p:
            raise UsageError("--num-sequences and --set p= disagree: give one")
        args.num_sequences = p
    if args.num_sequences is None:
        raise UsageError("give the number of sequences: --num-sequences P (or --set p=P)")
    exists = args.checkpoint is not None and path_exists(args.checkpoint, "--checkpoint")
    if exists and not args.force:
        raise UsageError(f"--checkpoint {args.checkpoint} exists: pass --force or another path")
    return args, hparams


@cli_main
def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, hparams = parse(argv)
    try:
        with quiet_lightning(), interruptible_command():
            return _train(args, hparams)
    except Interrupted as exc:  # Ctrl-C, or SIGTERM (which Lightning alone ends with 0)
        return report_interrupted(exc, "nothing was saved", shlex.join([*PROG.split(), *argv]))


def _train(args, hparams: dict) -> int:
    result = measure_capacity(
        args.model,
        args.hidden_size,
        args.num_sequences,
        iterations=args.iterations,
        seed=args.seed,
        learn_initial_state=not args.fixed_initial_state,
        threshold=args.threshold,
        accelerator=args.accelerator,
        log_dir=args.log_dir,
        progress_bar=not args.no_progress,
        data_path=args.data,
        compile=args.compile,
        keep_module=not args.no_checkpoint,
        **hparams,
    )
    checkpoint = None
    if not args.no_checkpoint:
        checkpoint = args.checkpoint or default_checkpoint(result)
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        result.module.save_checkpoint(checkpoint)
    saved = f"; model saved to {checkpoint}" if checkpoint else ""
    print(
        f"{result.model} H={result.hidden_size}: learned {result.count}/{result.num_sequences} "
        f"sequences (objective {result.objective:g}), final loss {result.final_loss:.4g}, "
        f"{result.seconds:.1f} s; logs in {result.log_dir}{saved}"
    )
    if args.json:
        summary = {k: finite_or_none(v) for k, v in result.to_dict().items() if k != "errors"}
        errors = [finite_or_none(round(e, 6)) for e in result.errors]
        extra = {"errors": errors, "checkpoint": str(checkpoint) if checkpoint else None}
        print(json.dumps(summary | extra, allow_nan=False))
    return 0


def default_checkpoint(result) -> Path:
    """Beside the run's TensorBoard files, or under checkpoints/ when nothing is logged."""
    if result.log_dir is not None:
        return Path(result.log_dir) / "checkpoints" / "model.ckpt"
    name = f"{model_slug(result.model)}_h{result.hidden_size}"
    name += f"_p{result.num_sequences}_seed{result.seed}"
    return Path("checkpoints") / f"{name}.ckpt"


if __name__ == "__main__":
    raise SystemExit(main())
