"""What the command lines share: their common options, defined once; ``--set`` values;
the quieting of Lightning's per-Trainer chatter.

Every command (``train``, ``sweep``, ``evaluate``, ``study``, ...) builds its parser
from :class:`~rnn_capacity.errors.ArgumentParser` and the ``add_*`` functions here, so
that an option such as ``--accelerator`` or ``--log-dir`` reads, checks and defaults the
same everywhere (defaults: :mod:`rnn_capacity.protocol`).
"""

from __future__ import annotations

import argparse
import logging
import warnings
from contextlib import contextmanager
from pathlib import Path

import yaml

from .errors import ArgumentParser, UsageError
from .models import BUILTIN_MODELS, SPACE_HELP, model_help
from .protocol import (
    CLI_ACCELERATORS,
    DEFAULT_ACCELERATOR,
    DEFAULT_EXECUTOR,
    EXECUTORS,
    LOG_DIR,
    PRUNE,
    THRESHOLD,
)

__all__ = [
    "add_accelerator",
    "add_data",
    "add_executor",
    "add_initial_state",
    "add_iterations",
    "add_prune",
    "add_log_dir",
    "add_model",
    "add_space",
    "add_threshold",
    "parse_assignments",
    "parse_value",
    "quiet_lightning",
]

DATA_HELP = "trajectory file (.npy, or the original .pk)"

# ---------------------------------------------------------------------------- options


def add_model(p: ArgumentParser, what: str = "the model", required: bool = True) -> None:
    p.add_argument("--model", required=required, help=model_help(what))


def add_space(p: ArgumentParser, extra: str = "") -> None:
    p.add_argument("--space", type=Path, metavar="FILE.yaml", help=SPACE_HELP + extra)


def add_iterations(
    p: ArgumentParser, default: int | None = None, help: str = "training steps per measurement"
) -> None:
    p.add_argument("--iterations", type=int, default=default, help=help)


def add_threshold(p: ArgumentParser, help: str = "learned if the mean error is below this") -> None:
    p.add_argument("--threshold", type=float, default=THRESHOLD, help=f"{help} ({THRESHOLD})")


def add_data(p: ArgumentParser, help: str = DATA_HELP) -> None:
    p.add_argument("--data", default=None, help=help)


def add_log_dir(
    p: ArgumentParser, default: Path | None = LOG_DIR, help: str = "TensorBoard root directory"
) -> None:
    p.add_argument("--log-dir", type=Path, default=default, help=help)


def add_accelerator(p: ArgumentParser) -> None:
    p.add_argument("--accelerator", default=DEFAULT_ACCELERATOR, choices=list(CLI_ACCELERATORS))


def add_initial_state(
    p: ArgumentParser,
    dest: str = "learn_initial_state",
    fixed: str = "keep the initial states at their random draw (the original protocol)",
    learn: str = "train the initial states with the weights",
) -> None:
    """``--fixed-initial-state`` / ``--learn-initial-state`` into ``dest`` (None: unset)."""
    init = p.add_mutually_exclusive_group()
    init.add_argument("--fixed-initial-state", dest=dest, action="store_false", help=fixed)
    init.add_argument("--learn-initial-state", dest=dest, action="store_true", help=learn)
    p.set_defaults(**{dest: None})


def add_executor(
    p: ArgumentParser,
    default: str | None = DEFAULT_EXECUTOR,
    help: str = "where batches train. auto (default): every core — one worker process of one "
    "thread per core when several configurations can be in flight (batches of more than "
    "one, or the quick preset), else this process; local: this process; process: "
    "--workers worker processes; ray: tasks on a Ray cluster",
) -> None:
    """``--executor``, ``--workers`` and ``--address``: where a sweep's batches train."""
    p.add_argument("--executor", choices=list(EXECUTORS), default=default, help=help)
    p.add_argument("--workers", type=int, default=None, help="batches in flight (process, ray)")
    p.add_argument(
        "--address",
        default=None,
        help="ray: the cluster to join (auto, HOST:PORT); default: start a local one",
    )


def add_prune(p: ArgumentParser) -> None:
    """``--prune`` / ``--no-prune``: a search's pruning (None when neither is given)."""
    refused = ", ".join(n for n, c in BUILTIN_MODELS.items() if not c.prune_validated)
    p.add_argument(
        "--prune",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"stop a try of p >= {PRUNE.min_p} whose training loss after {PRUNE.at} "
        f"iterations is still above {PRUNE.bound}, and count it 0: a departure from the "
        f"protocol, refused for the models it was not validated on ({refused}, plug-ins; "
        "docs/performance.md) (default: off, or as the resumed sweep was started)",
    )


# ------------------------------------------------------------------------- --set values


def parse_value(text: str):
    """A number as Python reads it (``1e-3`` included, which YAML 1.1 leaves a string),
    else a YAML value (``true``, ``null``, ``[1, 2]``, ...); text YAML cannot read is a
    :class:`UsageError`."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    try:
        return yaml.safe_load(text)
    except RecursionError:
        raise UsageError(f"cannot parse the value {text!r} (nested too deeply)") from None
    except Exception:  # YAMLError, and PyYAML's constructors (`!!bool x`: a KeyError, ...)
        raise UsageError(f"cannot parse the value {text!r}") from None


def parse_assignments(items: list[str]) -> dict:
    """``["lr=1e-2", "tau=5"]`` -> ``{"lr": 0.01, "tau": 5}``."""
    out = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--set {item!r}: expected NAME=VALUE, e.g. --set lr=0.01")
        try:
            out[name.strip()] = parse_value(text.strip())
        except UsageError:
            raise UsageError(f"--set {item!r}: cannot parse the value {text!r}") from None
    return out


# --------------------------------------------------------------------- Lightning's chatter

QUIET_PATTERNS = (
    ".*does not have many workers.*",
    ".*log_every_n_steps.*",
    ".*configure_optimizers` returned `None`.*",  # the ESN fits in closed form
    ".*isinstance\\(treespec, LeafSpec\\)` is deprecated.*",
    ".*GPU available but not used.*",
)


@contextmanager
def quiet_lightning():
    """Silence Lightning's per-Trainer banners and advice inside the package's own
    command-line tools (a sweep builds hundreds of Trainers). A context manager: the
    caller's warning filters and logger levels are restored on exit, and library calls
    (``measure_capacity``) never change them."""
    names = ("pytorch_lightning", "lightning.pytorch", "lightning.fabric")
    levels = {n: logging.getLogger(n).level for n in names}
    with warnings.catch_warnings():
        for pattern in QUIET_PATTERNS:
            warnings.filterwarnings("ignore", pattern)
        for n in names:
            logging.getLogger(n).setLevel(logging.WARNING)
        try:
            yield
        finally:
            for n, level in levels.items():
                logging.getLogger(n).setLevel(level)
