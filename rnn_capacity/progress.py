"""Progress bars: one home for how every command shows long work.

Every bar goes to stderr (stdout keeps results and ``--json`` lines). On a terminal it is
tqdm's bar with ETA; when stderr is not a terminal (a log file, a CI job, ``nohup``) it is
one plain line every :data:`PLAIN_INTERVAL` seconds instead of ``\\r`` frames, so a log
stays readable. ``--no-progress`` (every command) calls :func:`set_enabled` ``(False)``.

This module imports nothing of the package.
"""

from __future__ import annotations

import sys

from pytorch_lightning.callbacks import TQDMProgressBar
from pytorch_lightning.callbacks.progress.tqdm_progress import Tqdm
from tqdm.auto import tqdm

__all__ = [
    "PLAIN_INTERVAL",
    "LightningBar",
    "add_progress",
    "apply_progress",
    "bar",
    "enabled",
    "set_enabled",
    "write",
]

#: Seconds between the plain lines of a bar whose stderr is not a terminal.
PLAIN_INTERVAL = 30.0
_ENABLED = True


def set_enabled(on: bool) -> None:
    """Show (the default) or hide every progress bar of this process."""
    global _ENABLED
    _ENABLED = bool(on)


def enabled() -> bool:
    return _ENABLED


def add_progress(parser) -> None:
    """``--no-progress``, which every command has (:func:`apply_progress` acts on it)."""
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def apply_progress(args) -> None:
    """Turn this process's progress bars on or off as the command's ``--no-progress`` says."""
    set_enabled(not getattr(args, "no_progress", False))


class _Lines:
    """A stream for tqdm that turns its ``\\r``-redrawn frames into whole lines."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> None:
        text = text.replace("\r", "").rstrip("\n")
        if text.strip():
            self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()


def _style(kwargs: dict) -> dict:
    """tqdm arguments for stderr as it is: a terminal, or a file that wants lines."""
    if sys.stderr.isatty():
        return kwargs | {"file": sys.stderr}
    plain = {"file": _Lines(sys.stderr), "mininterval": PLAIN_INTERVAL, "ascii": True}
    return kwargs | plain | {"dynamic_ncols": False, "ncols": 100}


def bar(*, show: bool = True, **kwargs) -> tqdm:
    """A tqdm bar on stderr, hidden if ``show`` is false or bars are off (:func:`enabled`)."""
    return tqdm(**_style(kwargs), disable=not (show and _ENABLED))


def write(message: str) -> None:
    """A line on stderr that does not tear a bar (``tqdm.write``)."""
    tqdm.write(message, file=sys.stderr)


class LightningBar(TQDMProgressBar):
    """Lightning's training bar, on stderr like every other bar (Lightning's own writes
    to stdout), plain lines when stderr is not a terminal."""

    def init_train_tqdm(self):
        # Lightning's own arguments (TQDMProgressBar.init_train_tqdm), but on stderr.
        return Tqdm(
            **_style(
                {
                    "desc": self.train_description,
                    "position": 2 * self.process_position,
                    "disable": self.is_disabled,
                    "leave": True,
                    "dynamic_ncols": True,
                    "smoothing": 0,
                    "bar_format": self.BAR_FORMAT,
                }
            )
        )
