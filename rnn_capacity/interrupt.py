"""Stopping a long command cleanly: Ctrl-C and SIGTERM become one exception, raised only
where stopping loses nothing but the work in flight (shared by the sweep and train)."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM, raised only where stopping loses nothing but the work in flight.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` on the way
    (reading the data file, say) mistakes it for an error of its own; not a
    KeyboardInterrupt, which Lightning turns into ``sys.exit(1)``."""


class InterruptGuard:
    """Turns SIGINT and SIGTERM into :class:`Interrupted` inside :meth:`interruptible`
    blocks (asking for points, training) and defers them elsewhere, so no file is ever
    left half-written. (Lightning's own SIGTERM handler would end the process with
    status 0 and no word; ours runs too, and stops the sweep like Ctrl-C.)"""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = self.armed = False
        self.signum: int | None = None
        self.previous: dict = {}

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():  # signal's restriction
            self.previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self.previous.items():
            signal.signal(s, handler)

    def _handle(self, signum, frame) -> None:
        self.requested = True
        self.signum = signum
        if self.armed:
            raise Interrupted(signal_name(signum))

    @contextmanager
    def interruptible(self):
        self.check()
        self.armed = True
        try:
            yield
        finally:
            self.armed = False

    def check(self) -> None:
        if self.requested:
            raise Interrupted(signal_name(self.signum))


def signal_name(signum: int | None) -> str:
    return signal.Signals(signum).name if signum else "SIGINT"
