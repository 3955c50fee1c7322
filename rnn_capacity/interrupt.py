"""Stopping a long command cleanly: the one interrupt policy of every command.

Ctrl-C (SIGINT) and SIGTERM become one exception, :class:`Interrupted`, raised only where
stopping loses nothing but the work in flight (training, asking for points); a signal
that arrives while a file is written waits for the write to end. Every command (train,
sweep, evaluate, study, report) then prints one line with :func:`report_interrupted` —
which signal, what is kept, the exact command that continues — and exits with
:func:`exit_status`: 130 for SIGINT, 143 for SIGTERM (128 + the signal, the shell's
convention), whatever the executor.
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM, raised only where stopping loses nothing but the work in flight.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` on the way
    (reading the data file, say) mistakes it for an error of its own; not a
    KeyboardInterrupt, which Lightning turns into ``sys.exit(1)``.

    ``signum`` is the signal that caused it; ``kept``, where the code that stopped knows
    it, says what is kept (``"3 of 8 configurations are recorded in results/x"``)."""

    def __init__(self, kept: str = "", signum: int = signal.SIGINT) -> None:
        super().__init__(kept or signal_name(signum))
        self.kept = kept or None
        self.signum = int(signum)


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

    def __exit__(self, exc_type, *exc) -> None:
        for s, handler in self.previous.items():
            signal.signal(s, handler)
        if self.previous and self.requested and exc_type is None:
            # A signal deferred here and never turned into Interrupted (it came during the
            # last write): pass it on to the handler outside, so that it is not lost.
            signal.raise_signal(self.signum)

    def _handle(self, signum, frame) -> None:
        self.requested = True
        self.signum = signum
        _STOP.signum = signum  # for the guards of other threads (a study's sweeps)
        _STOP.set()
        if self.armed:
            raise Interrupted(signum=signum)

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
            raise Interrupted(signum=self.signum)
        if _STOP.is_set() and threading.current_thread() is not threading.main_thread():
            # Signals reach the main thread only: a guard elsewhere stops at its next check
            # (the executors wait in short slices, each one a check).
            raise Interrupted(signum=_STOP.signum)


class _Stop(threading.Event):
    signum: int = signal.SIGINT


_STOP = _Stop()  # set by a signal this process handled; cleared as a command starts


def signal_name(signum: int | None) -> str:
    return signal.Signals(signum).name if signum else "SIGINT"


def exit_status(exc: BaseException) -> int:
    """The exit status for an interrupt: 128 + the signal (SIGINT 130, SIGTERM 143); a
    KeyboardInterrupt that escaped the guard counts as SIGINT."""
    return 128 + getattr(exc, "signum", signal.SIGINT)


def report_interrupted(exc: BaseException, kept: str, again: str | None = None) -> int:
    """The one line an interrupted command prints (stderr), and its exit status:
    ``interrupted: SIGTERM received; <kept>; continue with: <again>``."""
    name = signal_name(getattr(exc, "signum", signal.SIGINT))
    tail = f"; continue with: {again}" if again else ""
    sys.stderr.write(f"interrupted: {name} received; {kept}{tail}\n")
    return exit_status(exc)


@contextmanager
def interruptible_command():
    """The outermost guard of a command's ``main``: a signal anywhere in the block raises
    :class:`Interrupted` (library code inside, such as the sweep, holds its own guard over
    its writes and passes on a signal it deferred)."""
    _STOP.clear()  # a signal an earlier command (in this process) handled is spent
    with InterruptGuard() as guard, guard.interruptible():
        yield guard
