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


def prepare_output(settings: SweepSettings, expected: dict) -> list[dict]:
    """Check the output and log directories (refusing anything that would mix two sweeps),
    write ``space.json`` and return the configurations already finished."""
    out, group_dir = settings.out, settings.log_dir / settings.group
    space_file = out / "space.json"
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a directory")
    if not settings.resume:
        if out.exists() and any(out.iterdir()):
            raise UsageError(f"{out} is not empty: pass --resume to continue it, or another --out")
        if group_dir.exists() and any(group_dir.iterdir()):
            raise UsageError(
                f"{group_dir} already holds TensorBoard runs of an earlier sweep: "
                "remove it, or pass another --out or --log-dir"
            )
        # Both directories exist and are writable before the first file is written, so a
        # bad --log-dir leaves no space.json behind that would block the same command again.
        check_directory(out, "output directory")
        check_directory(settings.log_dir, "TensorBoard log directory")
        ensure_directory(out, "output directory")
        ensure_directory(settings.log_dir, "TensorBoard log directory")
        write_json(space_file, expected)
        return []
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
    done = read_evaluations(out / "evaluations.jsonl", len(expected["dimensions"]))
    finished = {r["index"] for r in done}
    for run in group_dir.glob("call*_try*"):  # runs in flight when the sweep was killed
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
