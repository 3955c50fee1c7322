"""Durable writes shared by the sweep, the evaluation and the study.

A reader (or a resume after ``kill -9``) sees a file's old content or its new one, never
half of it: files are written beside their target, flushed to disk and renamed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` at once: a reader (or a resume after kill -9) sees old or new."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # no stray temporary file after a failed write
        raise


def write_json(path: Path, obj: dict) -> None:
    write_atomic(path, (json.dumps(obj, indent=2, allow_nan=False) + "\n").encode())


def append_records(path: Path, records: list[dict]) -> None:
    """Append JSON lines in one write, on disk before the caller goes on."""
    with path.open("a") as f:
        f.write("".join(json.dumps(r) + "\n" for r in records))
        f.flush()
        os.fsync(f.fileno())
