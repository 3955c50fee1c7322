"""Durable writes: the one atomic-write helper, the journal's fsync'ed appends, and the
one-writer lock of an output directory, and the one guarded read of a record.

A reader (or a resume after ``kill -9``) sees a file's old content or its new one, never
half of it: :func:`atomic_file` writes beside the target (``.<name>.<pid>.tmp``),
flushes to disk and renames; every file the package writes goes through it (JSON
records, figures, checkpoints, the data set, the surrogate).
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .errors import UsageError, one_line

TEMPORARY = ".tmp"  # the suffix of a file being written (a kill -9 may leave one behind)
LOCK = ".lock"  # held (flock) by the process writing an output directory
#: The largest record file read (a JSON record, a journal, samples): far above what the
#: package writes (a 10,000-configuration journal is ~5 MiB), far below what a link to
#: /dev/zero would have a reader swallow.
MAX_RECORD_BYTES = 256 * 2**20

_KINDS = {
    stat.S_ISDIR: "a directory",
    stat.S_ISFIFO: "a FIFO",
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
    stat.S_ISSOCK: "a socket",
}


@contextmanager
def open_record(path: str | os.PathLike, limit: int = MAX_RECORD_BYTES) -> Iterator[BinaryIO]:
    """``path`` opened for reading if it is a regular file (links followed) of at most
    ``limit`` bytes; otherwise a one-line :class:`UsageError` saying what it is. Opening
    never blocks: a FIFO is refused, not waited on."""
    try:
        # O_NONBLOCK: open() on a FIFO with no writer would wait forever.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({one_line(exc.strerror or exc)})") from None
    try:
        mode, size = (st := os.fstat(fd)).st_mode, st.st_size
        if not stat.S_ISREG(mode):
            kind = next((k for test, k in _KINDS.items() if test(mode)), "not a file")
            raise UsageError(f"{path}: not a regular file ({kind}): a record must be one")
        if size > limit:
            raise UsageError(
                f"{path}: {size / 2**20:.0f} MiB, larger than a record can be "
                f"({limit / 2**20:.0f} MiB)"
            )
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        yield f


def read_record_bytes(path: str | os.PathLike, limit: int = MAX_RECORD_BYTES) -> bytes:
    """The content of a record file, checked by :func:`open_record`; a file that grows
    past ``limit`` while read is refused too."""
    with open_record(path, limit) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise UsageError(f"{path}: larger than a record can be ({limit / 2**20:.0f} MiB)")
    return data


@contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file to write ``path``'s new content into; ``path`` is replaced by it
    when the block ends without an error, and left as it was otherwise (no temporary
    file stays behind). The file gets the usual umask permissions."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TEMPORARY}")
    try:
        with tmp.open("wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Replace ``path`` at once: a reader (or a resume after kill -9) sees old or new."""
    with atomic_file(path) as f:
        f.write(data)


def write_json(path: str | os.PathLike, obj: dict) -> None:
    """``obj`` as indented strict JSON (no NaN or infinity), atomically."""
    write_atomic(path, (json.dumps(obj, indent=2, allow_nan=False) + "\n").encode())


def append_lines(path: str | os.PathLike, lines: list[str]) -> None:
    """Append ``lines`` (each ending in a newline) in one write, on disk before the caller
    goes on."""
    with Path(path).open("a") as f:
        f.write("".join(lines))
        f.flush()
        os.fsync(f.fileno())


class DirectoryLock:
    """One writer per output directory (a sweep's, an evaluation's, a study's, a
    report's): an exclusive ``flock`` on ``<out>/.lock``, taken before the first write.

    The kernel drops the lock when its process dies (kill -9, a crash, a lost node's
    driver), so a stale lock never blocks a resume; a live one refuses the second
    command with the holder's pid. ``what`` names the holder in that error. A context
    manager too (``with DirectoryLock(out, "study"):``)."""

    def __init__(self, out: Path, what: str = "sweep") -> None:
        self.path = Path(out) / LOCK
        self.what = what
        self.fd: int | None = None

    def __enter__(self) -> DirectoryLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise UsageError(
                f"{self.path.parent} is in use by another {self.what} (pid {holder}): "
                "wait for it, or pass another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock
            self.fd = None
