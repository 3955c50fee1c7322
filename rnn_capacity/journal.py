"""The results journal of a sweep: its output directory, read and written durably.

``space.json`` says what the experiment is (a resume must match it);
``evaluations.jsonl`` has one JSON line per finished configuration, appended and fsync'ed
as each batch finishes (:func:`rnn_capacity.files.append_records`), so a sweep killed at
any moment loses at most the batch in flight; ``summary.json`` is rewritten atomically
after every batch. :func:`prepare_output` checks a directory before a sweep starts or
resumes, :func:`read_evaluations` reads what is finished.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UsageError, check_directory, ensure_directory
from .files import write_atomic, write_json

if TYPE_CHECKING:  # the settings' class lives with the search
    from .sweep import SweepSettings

RUN_NAME = re.compile(r"call(\d+)_try\d+")


def read_evaluations(path: Path, dims: int) -> list[dict]:
    """The finished configurations; a half-written last line is dropped with a warning."""
    if not path.exists():
        return []
    text = path.read_bytes().decode(errors="replace")
    lines = text.splitlines()
    records = []
    for n, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
            ok = record["index"] == n - 1 and len(record["x"]) == dims
            ok = ok and isinstance(record["objective"], int | float)
        except (json.JSONDecodeError, TypeError, KeyError):
            ok = False
        if ok:
            records.append(record)
        elif n == len(lines):  # killed while writing it: that configuration never finished
            sys.stderr.write(f"warning: {path}: skipping the incomplete last line {n}\n")
        else:
            raise UsageError(f"{path}: line {n} is not a record of this sweep; fix or remove it")
    if len(records) < len(lines) or (text and not text.endswith("\n")):
        write_atomic(path, "".join(json.dumps(r) + "\n" for r in records).encode())
    return records


LOCK = ".lock"  # held (flock) by the process writing a sweep directory
OWNER = ".owner"  # in a TensorBoard group: the id of the sweep its runs belong to
SWEEP_ID = ".sweep-id"  # in a sweep directory: its id (random, made at its start)


def own_files(path: Path) -> list[Path]:
    """What a sweep directory holds besides its lock and temporary files of a killed write."""
    return [p for p in path.iterdir() if p.name != LOCK and not p.name.endswith(".tmp")]


def remove_stale_temporaries(out: Path) -> None:
    """``.<name>.tmp`` files a kill -9 left mid-write (the files they replace are intact)."""
    for tmp in out.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


class DirectoryLock:
    """One writer per sweep directory: an exclusive ``flock`` on ``<out>/.lock``.

    The kernel drops the lock when its process dies (kill -9, a crash, a lost node's
    driver), so a stale lock never blocks a resume; a live one refuses the second sweep
    with the holder's pid."""

    def __init__(self, out: Path) -> None:
        self.path = out / LOCK
        self.fd: int | None = None

    def acquire(self) -> None:
        import fcntl
        import os

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise UsageError(
                f"{self.path.parent} is in use by another sweep (pid {holder}): "
                "wait for it, or pass another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        import os

        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock
            self.fd = None


def sweep_id(out: Path) -> str | None:
    path = out / SWEEP_ID
    return path.read_text().strip() if path.is_file() else None


def check_log_group(group_dir: Path, out: Path, fresh: bool) -> None:
    """Refuse a TensorBoard group that holds another sweep's runs (a shared --out name in
    one --log-dir): a fresh sweep must not mix with them, a resume must not delete them.
    Runs belong to the sweep whose id the group's ``.owner`` names (a sweep moved with its
    log directory stays itself)."""
    runs = [p for p in group_dir.iterdir() if p.name != OWNER] if group_dir.is_dir() else []
    if not runs:
        return
    if fresh:
        raise UsageError(
            f"{group_dir} already holds TensorBoard runs of an earlier sweep: "
            "remove it, or pass another --out or --log-dir"
        )
    owner = group_dir / OWNER
    theirs = owner.read_text().strip() if owner.is_file() else None
    if theirs != sweep_id(out):  # (both None: a sweep from before ids; its own runs)
        raise UsageError(
            f"{group_dir} already holds TensorBoard runs of another sweep (id {theirs}): "
            "pass the --log-dir that sweep of yours used, or another --out name"
        )


def claim_log_group(group_dir: Path, out: Path) -> None:
    """Mark the group as this sweep's (making the sweep's id if it has none yet)."""
    import uuid

    if sweep_id(out) is None:
        write_atomic(out / SWEEP_ID, f"{uuid.uuid4().hex}\n".encode())
    group_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(group_dir / OWNER, f"{sweep_id(out)}\n".encode())


def prepare_output(settings: SweepSettings, expected: dict, lock: DirectoryLock) -> list[dict]:
    """Check the output and log directories (refusing anything that would mix two sweeps),
    take the directory's lock, write ``space.json`` and return the configurations
    already finished."""
    out, group_dir = settings.out, settings.log_dir / settings.group
    space_file = out / "space.json"
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a directory")
    if not settings.resume:
        if out.exists() and own_files(out):
            raise UsageError(f"{out} is not empty: pass --resume to continue it, or another --out")
        check_log_group(group_dir, out, fresh=True)
        # Both directories exist and are writable before the first file is written, so a
        # bad --log-dir leaves no space.json behind that would block the same command again.
        check_directory(out, "output directory")
        check_directory(settings.log_dir, "TensorBoard log directory")
        ensure_directory(out, "output directory")
        ensure_directory(settings.log_dir, "TensorBoard log directory")
        lock.acquire()
        if own_files(out):  # another sweep started here between the check and the lock
            raise UsageError(f"{out} is not empty: pass --resume to continue it, or another --out")
        remove_stale_temporaries(out)
        claim_log_group(group_dir, out)
        write_json(space_file, expected)
        return []
    if out.is_dir():
        lock.acquire()
        remove_stale_temporaries(out)
    if not space_file.is_file():
        raise UsageError(f"nothing to resume in {out} (no space.json): start without --resume")
    try:
        saved = json.loads(space_file.read_text())
    except json.JSONDecodeError:
        raise UsageError(f"{space_file} is not valid JSON") from None
    if saved != expected:
        keys = [k for k in sorted(set(saved) | set(expected)) if saved.get(k) != expected.get(k)]
        diff = "; ".join(
            f"{k}: {saved.get(k)!r} there, {expected.get(k)!r} here"
            if not isinstance(expected.get(k), dict | list)
            else f"{k} differ"
            for k in keys
        )
        raise UsageError(f"cannot resume {out}: it holds a sweep of another experiment ({diff})")
    check_log_group(group_dir, out, fresh=False)
    done = read_evaluations(out / "evaluations.jsonl", len(expected["dimensions"]))
    claim_log_group(group_dir, out)
    finished = {r["index"] for r in done}
    for run in group_dir.glob("call*_try*"):  # this sweep's runs in flight when it was killed
        m = RUN_NAME.fullmatch(run.name)
        if m and int(m.group(1)) not in finished:
            shutil.rmtree(run)
    return done


def summarise(records: list[dict], settings: SweepSettings, wall: float) -> dict:
    best = min(records, key=lambda r: r["objective"]) if records else None
    most = max(records, key=lambda r: r["mean_count"]) if records else None
    keep = ("index", "x", "p", "hparams", "counts", "mean_count", "objective")
    return {
        "model": settings.model,
        "hidden_size": settings.hidden_size,
        "calls_done": len(records),
        "calls_requested": settings.calls,
        "best": {k: best[k] for k in keep} if best else None,
        "best_objective": best["objective"] if best else None,
        "best_mean_count": most["mean_count"] if most else None,
        "best_mean_count_index": most["index"] if most else None,
        "wall_seconds": round(wall, 1),
    }


def summarised_wall(out: Path) -> float:
    """Wall time of the earlier sessions (0 if the sweep was killed before a summary)."""
    try:
        return float(json.loads((out / "summary.json").read_text())["wall_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0
