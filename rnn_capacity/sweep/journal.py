"""The results journal of a sweep: its output directory, read and written durably.

``space.json`` says what the experiment is (a resume must match it);
``evaluations.jsonl`` has one JSON line per finished configuration, appended and fsync'ed
as each batch finishes (:func:`rnn_capacity.files.append_lines`), so a sweep killed at
any moment loses at most the batch in flight; ``summary.json`` is rewritten atomically
after every batch. Each is a record of :mod:`rnn_capacity.records` (``SweepSpace``,
``Configuration``, ``SweepSummary``), checked where it is read. :func:`prepare_output`
checks a directory before a sweep starts or resumes, :func:`read_evaluations` reads what
is finished.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import sys
import uuid
from pathlib import Path

from ..config import SearchConfig
from ..errors import UsageError, check_directory, ensure_directory, one_line
from ..files import (
    LOCK,
    TEMPORARY,
    DirectoryLock,
    append_lines,
    read_record_bytes,
    write_atomic,
)
from ..protocol import PRUNE
from ..records import BestConfiguration, Configuration, SweepSpace, SweepSummary
from .settings import SweepSettings

RUN_NAME = re.compile(r"call(\d+)_try\d+")
JOURNAL = "evaluations.jsonl"


def experiment(settings: SweepSettings, config: SearchConfig) -> SweepSpace:
    """The content of ``space.json``: what a resumed sweep must share with the first run."""
    return SweepSpace(
        model=config.model,
        dimensions=list(config.space),
        x0=dict(config.x0),
        fixed=dict(config.fixed),
        hidden_size=settings.hidden_size,
        tries=settings.tries,
        iterations=settings.iterations,
        learn_initial_state=settings.learn_initial_state,
        threshold=settings.threshold,
        data=str(Path(settings.data).resolve()) if settings.data else None,
        settings=dict(settings.settings or {}),
        seed=settings.seed,  # a resume with another seed would mix two searches
        prune=dataclasses.asdict(PRUNE) if settings.prune else None,
    )


def read_evaluations(path: Path, dims: int) -> list[Configuration]:
    """The finished configurations; a half-written last line is dropped with a warning."""
    if not path.exists():
        return []
    text = read_record_bytes(path).decode(errors="replace")
    lines = text.splitlines()
    records = []
    for n, line in enumerate(lines, 1):
        try:
            records.append(journal_line(line, n, dims, path))
        except UsageError:
            if n < len(lines):
                raise
            # Killed while writing it: that configuration never finished.
            sys.stderr.write(f"warning: {path}: skipping the incomplete last line {n}\n")
    if len(records) < len(lines) or (text and not text.endswith("\n")):
        write_atomic(path, "".join(r.to_line() for r in records).encode())
    return records


def journal_line(line: str, n: int, dims: int, path: Path) -> Configuration:
    """Line ``n`` of the journal, the record of configuration ``n - 1`` in a space of
    ``dims`` dimensions (or a UsageError naming the line and the field)."""
    where = f"{path}: line {n}"
    try:
        raw = json.loads(line)
    except (ValueError, RecursionError) as exc:  # ValueError: also a 4301-digit integer
        raise UsageError(f"{where}: {bad_line(f'not JSON: {one_line(exc)}')}") from None
    record = Configuration.from_dict(raw, where)
    if record.index != n - 1:
        raise UsageError(f"{where}: {bad_line(f'index: {record.index}, expected {n - 1}')}")
    if len(record.x) != dims:
        problem = f"x: {len(record.x)} values for {dims} dimensions"
        raise UsageError(f"{where}: {bad_line(problem)}")
    return record


def bad_line(problem: str) -> str:
    return f"not a record of this sweep ({problem}); fix or remove it"


def append_evaluations(path: Path, records: list[Configuration]) -> None:
    """Append a finished batch to the journal, on disk before the sweep goes on."""
    append_lines(path, [r.to_line() for r in records])


OWNER = ".owner"  # in a TensorBoard group: the id of the sweep its runs belong to
SWEEP_ID = ".sweep-id"  # in a sweep directory: its id (random, made at its start)


def own_files(path: Path) -> list[Path]:
    """What a sweep directory holds besides its lock and temporary files of a killed write."""
    return [p for p in path.iterdir() if p.name != LOCK and not p.name.endswith(TEMPORARY)]


def remove_stale_temporaries(out: Path) -> None:
    """``.<name>.tmp`` files a kill -9 left mid-write (the files they replace are intact)."""
    for tmp in out.glob(f".*{TEMPORARY}"):
        tmp.unlink(missing_ok=True)


def sweep_id(out: Path) -> str | None:
    path = out / SWEEP_ID
    return read_record_bytes(path).decode(errors="replace").strip() if path.is_file() else None


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
    theirs = read_record_bytes(owner).decode(errors="replace").strip() if owner.is_file() else None
    if theirs != sweep_id(out):  # (both None: a sweep from before ids; its own runs)
        raise UsageError(
            f"{group_dir} already holds TensorBoard runs of another sweep (id {theirs}): "
            "pass the --log-dir that sweep of yours used, or another --out name"
        )


def claim_log_group(group_dir: Path, out: Path) -> None:
    """Mark the group as this sweep's (making the sweep's id if it has none yet)."""
    if sweep_id(out) is None:
        write_atomic(out / SWEEP_ID, f"{uuid.uuid4().hex}\n".encode())
    group_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(group_dir / OWNER, f"{sweep_id(out)}\n".encode())


def prepare_output(
    settings: SweepSettings, expected: SweepSpace, lock: DirectoryLock
) -> list[Configuration]:
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
        expected.write(space_file)
        return []
    if out.is_dir():
        lock.acquire()
        remove_stale_temporaries(out)
    if not space_file.is_file():
        raise UsageError(f"nothing to resume in {out} (no space.json): start without --resume")
    saved = comparable(SweepSpace.read(space_file))
    here = comparable(expected)
    if saved != here:
        keys = [k for k in sorted(set(saved) | set(here)) if saved.get(k) != here.get(k)]
        diff = "; ".join(
            f"{k}: {saved.get(k)!r} there, {here.get(k)!r} here"
            if not isinstance(here.get(k), dict | list)
            else f"{k} differ"
            for k in keys
        )
        raise UsageError(f"cannot resume {out}: it holds a sweep of another experiment ({diff})")
    check_log_group(group_dir, out, fresh=False)
    done = read_evaluations(out / JOURNAL, len(expected.dimensions))
    claim_log_group(group_dir, out)
    finished = {r.index for r in done}
    for run in group_dir.glob("call*_try*"):  # this sweep's runs in flight when it was killed
        m = RUN_NAME.fullmatch(run.name)
        if m and int(m.group(1)) not in finished:
            shutil.rmtree(run)
    return done


def comparable(space: SweepSpace) -> dict:
    """A space as it reads back from its file (tuples are lists, and so on)."""
    return json.loads(json.dumps(space.to_dict()))


def summarise(records: list[Configuration], settings: SweepSettings, wall: float) -> SweepSummary:
    best = min(records, key=lambda r: r.objective) if records else None
    most = max(records, key=lambda r: r.mean_count) if records else None
    return SweepSummary(
        model=settings.model,
        hidden_size=settings.hidden_size,
        calls_done=len(records),
        calls_requested=settings.calls,
        best=BestConfiguration.of(best) if best else None,
        best_objective=best.objective if best else None,
        best_mean_count=most.mean_count if most else None,
        best_mean_count_index=most.index if most else None,
        wall_seconds=round(wall, 1),
    )


def summarised_wall(out: Path) -> float:
    """Wall time of the earlier sessions (0 if the sweep was killed before a summary, or
    the summary is unreadable: it is rewritten after the next batch)."""
    try:
        return float(SweepSummary.read(out / "summary.json").wall_seconds)
    except UsageError:
        return 0.0
