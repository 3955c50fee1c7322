"""Durable writes: the one atomic-write helper, and the journal's fsync'ed appends.

A reader (or a resume after ``kill -9``) sees a file's old content or its new one, never
half of it: :func:`atomic_file` writes beside the target (``.<name>.<pid>.tmp``),
flushes to disk and renames; every file the package writes goes through it (JSON
records, figures, checkpoints, the data set, the surrogate).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

TEMPORARY = ".tmp"  # the suffix of a file being written (a kill -9 may leave one behind)


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
