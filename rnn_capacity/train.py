"""``python -m rnn_capacity.train``: one capacity measurement from the command line.

Example::

    python -m rnn_capacity.train --model pc_rnn_hc_a --hidden-size 60 --num-sequences 20 \\
        --iterations 3000 --seed 0 --set lr=0.017 --set tau=4.8 --json

Bad input prints one line ``error: ...`` and exits with status 2.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import yaml

from .errors import ArgumentParser, UsageError, cli_main
from .models import model_help, model_slug


def parse_value(text: str):
    """A number as Python reads it (``1e-3`` included, which YAML 1.1 leaves a string),
    else a YAML scalar (``true``, ``null``, ...)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return yaml.safe_load(text)


def parse_assignments(items: list[str]) -> dict:
    """``["lr=1e-2", "tau=5"]`` -> ``{"lr": 0.01, "tau": 5}``."""
    out = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--set {item!r}: expected NAME=VALUE, e.g. --set lr=0.01")
        try:
            out[name.strip()] = parse_value(text.strip())
        except yaml.YAMLError:
            raise UsageError(f"--set {item!r}: cannot parse the value {text!r}") from None
    return out


def finite_or_none(x):
    """JSON has no NaN or infinity: a diverged run's losses and errors become null."""
    return x if not isinstance(x, float) or math.isfinite(x) else None


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="python -m rnn_capacity.train", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help=model_help())
    p.add_argument("--hidden-size", type=int, required=True, help="H, recurrent units")
    p.add_argument("--num-sequences", type=int, required=True, help="p, trajectories (1..250)")
    p.add_argument("--iterations", type=int, default=3000, help="training steps (default 3000)")
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
    p.add_argument("--threshold", type=float, default=0.1, help="learned if mean error < this")
    p.add_argument("--data", default=None, help="trajectory file (.npy, or the original .pk)")
    p.add_argument("--accelerator", default="auto", choices=["auto", "cpu", "gpu"])
    p.add_argument("--log-dir", default="lightning_logs", help="TensorBoard root directory")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--compile", action="store_true", help="torch.compile the time loop")
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


@cli_main
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    hparams = parse_assignments(args.set)
    from .measure import measure_capacity, quiet_lightning  # heavy imports after the checks

    if args.checkpoint is not None and args.checkpoint.exists() and not args.force:
        raise UsageError(f"--checkpoint {args.checkpoint} exists: pass --force or another path")
    from .interrupt import Interrupted, InterruptGuard

    try:
        with quiet_lightning(), InterruptGuard() as guard, guard.interruptible():
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
    except Interrupted as exc:  # Ctrl-C, or SIGTERM (which Lightning alone ends with 0)
        sys.stderr.write(f"interrupted: {exc} received; nothing was saved\n")
        return 143 if "SIGTERM" in str(exc) else 130
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
