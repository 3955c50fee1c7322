"""Every command under signals, concurrent runs and a full disk (issue 18): one interrupt
policy (SIGINT 130, SIGTERM 143, one line: what is kept and the command that continues),
one writer per output directory, and a disk that fills up mid-run losing nothing that
was finished."""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from rnn_capacity.evaluate import main as evaluate_main
from rnn_capacity.files import DirectoryLock
from rnn_capacity.report import main as report_main
from rnn_capacity.study import main as study_main
from rnn_capacity.sweep.cli import main as sweep_main
from rnn_capacity.train import main as train_main


def run(main, argv) -> int:
    """A command's exit status, whether it returns it or exits with it."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def last_line(capsys) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


def signal_during(monkeypatch, module, name: str, signum: int, call: int = 1) -> None:
    """Send ``signum`` to this process while the ``call``-th call of ``module.name`` runs
    (that is, inside training), as a user's kill would."""
    real, calls = getattr(module, name), []

    def then_signal(*a, **kw):
        calls.append(1)
        if len(calls) == call:
            os.kill(os.getpid(), signum)
            time.sleep(1)  # the handler raises here, as it would inside training
        return real(*a, **kw)

    monkeypatch.setattr(module, name, then_signal)


# ----------------------------------------------------------------------------- commands

SWEEP = ["--model", "srnn", "--hidden-size", "4", "--calls", "3", "--iterations", "5"]
SWEEP += ["--batch-size", "1", "--initial-points", "1"]


def sweep_args(tmp_path: Path, *extra: str) -> list[str]:
    return [*SWEEP, "--out", str(tmp_path / "sweep"), "--log-dir", str(tmp_path / "logs"), *extra]


def evaluate_args(tmp_path: Path, *extra: str) -> list[str]:
    argv = ["--model", "srnn", "--hidden-size", "4", "--set", "p=2", "--set", "lr=0.01"]
    argv += ["--seeds", "2", "--max-ensemble", "1", "--iterations", "5"]
    return [*argv, "--out", str(tmp_path / "eval"), "--log-dir", str(tmp_path / "logs"), *extra]


def study_args(tmp_path: Path, *extra: str) -> list[str]:
    argv = [
        "--models",
        "srnn",
        "--sizes",
        "4",
        "--calls",
        "2",
        "--iterations",
        "5",
        "--batch-size",
        "1",
        "--executor",  # the search in this process, where the test's signal is sent
        "local",
    ]
    return [*argv, "--seeds", "1", "--out", str(tmp_path / "study"), *extra]


def train_args(tmp_path: Path, *extra: str) -> list[str]:
    argv = ["--model", "srnn", "--hidden-size", "4", "--num-sequences", "2"]
    argv += ["--iterations", "5", "--no-progress"]
    return [*argv, "--log-dir", str(tmp_path / "logs"), *extra]


def journal(out: Path) -> list[int]:
    lines = (out / "evaluations.jsonl").read_text().splitlines()
    return [json.loads(x)["index"] for x in lines]


# ------------------------------------------------------------------------------ signals


def test_study_sigterm_in_a_sweep_exits_143_and_names_the_signal(tmp_path, capsys, monkeypatch):
    from rnn_capacity.sweep import batch

    signal_during(monkeypatch, batch, "measure_ensemble", signal.SIGTERM, call=2)
    argv = study_args(tmp_path)
    assert study_main(argv) == 143
    last = last_line(capsys)
    assert last.startswith("interrupted: SIGTERM received; finished stages are kept in ")
    assert "1 of 2 configurations are recorded" in last
    assert last.endswith("continue with: python -m rnn_capacity.study " + " ".join(argv))
    monkeypatch.undo()
    assert study_main(argv) == 0  # the same command continues
    assert journal(tmp_path / "study" / "sweeps" / "srnn_4") == [0, 1]


def test_study_sigterm_in_its_evaluation_stage(tmp_path, capsys, monkeypatch):
    from rnn_capacity import evaluate

    signal_during(monkeypatch, evaluate, "measure_ensemble", signal.SIGTERM)
    argv = study_args(tmp_path)
    assert study_main(argv) == 143
    assert last_line(capsys).startswith("interrupted: SIGTERM received; finished stages")
    cell = tmp_path / "study" / "evaluations" / "srnn_4"
    assert (cell / "optimum.json").is_file() and not (cell / "evaluation.json").exists()
    monkeypatch.undo()
    assert study_main(argv) == 0
    assert (cell / "evaluation.json").is_file()
    runs = tmp_path / "study" / "lightning_logs" / "srnn_4_evaluation" / "seed0"
    assert len(list(runs.rglob("events.out.tfevents.*"))) == 1  # replaced, not mixed


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_evaluate_interrupted_saves_nothing_and_says_how_to_continue(
    tmp_path, capsys, monkeypatch, signum, status
):
    from rnn_capacity import evaluate

    signal_during(monkeypatch, evaluate, "measure_ensemble", signum, call=2)
    argv = evaluate_args(tmp_path)
    assert evaluate_main(argv) == status
    name = signal.Signals(signum).name
    assert last_line(capsys) == (
        f"interrupted: {name} received; nothing was saved (evaluation.json is written once "
        f"every seed is trained); continue with: python -m rnn_capacity.evaluate {' '.join(argv)}"
    )
    assert not (tmp_path / "eval" / "evaluation.json").exists()
    assert not list((tmp_path / "logs").rglob("events.out.tfevents.*"))  # seed 0's run went
    monkeypatch.undo()
    assert evaluate_main(argv) == 0  # the very command it printed


def test_train_sigint_says_how_to_run_again(tmp_path, capsys, monkeypatch):
    from rnn_capacity import train

    signal_during(monkeypatch, train, "measure_capacity", signal.SIGINT)
    argv = train_args(tmp_path)
    assert train_main(argv) == 130
    assert last_line(capsys) == (
        "interrupted: SIGINT received; nothing was saved; continue with: "
        f"python -m rnn_capacity.train {' '.join(argv)}"
    )


def test_a_signal_deferred_during_a_write_is_not_lost():
    from rnn_capacity.interrupt import Interrupted, InterruptGuard, interruptible_command

    with pytest.raises(Interrupted) as exc:
        with interruptible_command():
            with InterruptGuard():  # not armed: a write in progress
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.2)  # deferred, not raised here
    assert exc.value.signum == signal.SIGTERM


# -------------------------------------------------------------------------------- locks


def test_a_second_study_on_a_running_studys_directory_is_refused(tmp_path, capsys):
    out = tmp_path / "study"
    out.mkdir()
    with DirectoryLock(out, "study"):  # the first study, still running
        assert run(study_main, study_args(tmp_path)) == 2
    assert "is in use by another study (pid" in last_line(capsys)
    assert sorted(p.name for p in out.iterdir()) == [".lock"]  # nothing written


def test_a_second_evaluation_into_a_running_ones_directory_is_refused(tmp_path, capsys):
    out = tmp_path / "eval"
    out.mkdir()
    with DirectoryLock(out, "evaluation"):
        assert run(evaluate_main, evaluate_args(tmp_path)) == 2
    assert "is in use by another evaluation" in last_line(capsys)
    assert not (tmp_path / "logs").exists() or not any((tmp_path / "logs").iterdir())


# ------------------------------------------------------------------- refusals (minor ones)


def test_a_refused_study_leaves_no_directory_and_names_its_own_flag(tmp_path, capsys):
    assert run(study_main, study_args(tmp_path, "--sizes", "50000")) == 2
    assert "--sizes: 50000 out of range: 1..20000" in last_line(capsys)
    assert not (tmp_path / "study").exists()
    argv = study_args(tmp_path, "--data", str(tmp_path / "missing.npy"))
    assert run(study_main, argv) == 2
    assert not (tmp_path / "study").exists()


def test_evaluate_seeds_beyond_the_largest_seed_are_refused_up_front(tmp_path, capsys):
    argv = evaluate_args(tmp_path, "--seed-base", str(2**63 - 1))
    assert run(evaluate_main, argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --seed 9223372036854775807")
    assert not (tmp_path / "eval").exists()


def test_report_does_not_overwrite_a_users_own_figure(tmp_path, capsys):
    from test_report import write_evaluation

    write_evaluation(tmp_path / "evals" / "a", "pc_rnn_hc_a", 60, 61, [44, 46])
    theirs = tmp_path / "mine" / "capacity.png"
    theirs.parent.mkdir()
    theirs.write_bytes(b"my own figure")
    assert run(report_main, [str(tmp_path / "evals"), "--out", str(theirs.parent)]) == 2
    assert "holds capacity.png but no report.md: pass --force" in last_line(capsys)
    assert theirs.read_bytes() == b"my own figure"
    assert run(report_main, [str(tmp_path / "nothing"), "--out", str(tmp_path / "new")]) == 2
    assert not (tmp_path / "new").exists()  # refused: no empty directory left


# ----------------------------------------------------------------------------- full disk


class FullDisk:
    """Files opened for writing below ``root`` take ``limit`` bytes in all, then fail
    with ENOSPC, as a full disk does (``limit=None``: count only). Patches ``open``
    (the builtin, ``io.open`` and so ``Path.open``); TensorBoard's event writer,
    Lightning's hparams.yaml, the journal and every atomic write go through it."""

    def __init__(self, root: Path, limit: int | None = None) -> None:
        self.root, self.limit, self.written = str(root), limit, 0
        self.real = builtins.open

    def open(self, file, mode="r", *args, **kwargs):
        f = self.real(file, mode, *args, **kwargs)
        writing = any(c in mode for c in "wax+")
        if writing and isinstance(file, str | bytes | os.PathLike):  # TensorBoard: bytes
            path = os.fsdecode(os.fspath(file))
            if os.path.abspath(path).startswith(self.root):
                return Counted(f, self, path)
        return f


class Counted:
    def __init__(self, f, disk: FullDisk, path: str) -> None:
        self._f, self._disk, self._path = f, disk, path

    def write(self, data):
        disk = self._disk
        n = len(data)
        if disk.limit is not None and disk.written + n > disk.limit:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self._path)
        disk.written += n
        return self._f.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()

    def __iter__(self):
        return iter(self._f)

    def __getattr__(self, name):
        return getattr(self._f, name)


@pytest.fixture
def full_disk(monkeypatch):
    """``full_disk(root, limit)``: from now on ``root``'s disk holds ``limit`` more bytes."""

    def make(root: Path, limit: int | None = None) -> FullDisk:
        disk = FullDisk(root, limit)
        monkeypatch.setattr(builtins, "open", disk.open)
        monkeypatch.setattr(io, "open", disk.open)
        return disk

    return make


def bytes_written(full_disk, tmp_path, main, argv) -> int:
    """What one whole run writes below ``tmp_path / "count"`` (then removed)."""
    disk = full_disk(tmp_path)
    assert main(argv) in (0, None)
    return disk.written


def fill_then_retry(full_disk, monkeypatch, tmp_path, capsys, main, argv, fraction=0.5):
    """Run ``argv`` on a disk that fills at ``fraction`` of what a whole run writes:
    one ``error:`` line, exit status 1; then run it again on a free disk."""
    total = bytes_written(full_disk, tmp_path / "count", main, argv(tmp_path / "count"))
    monkeypatch.undo()
    capsys.readouterr()
    full_disk(tmp_path / "run", int(total * fraction))
    assert run(main, argv(tmp_path / "run")) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: cannot write") and "No space left on device" in last, err
    monkeypatch.undo()
    return last


@pytest.mark.parametrize("fraction", [0.02, pytest.param(0.2, marks=pytest.mark.slow)])
def test_sweep_on_a_full_disk_resumes_to_every_configuration_once(
    tmp_path, capsys, monkeypatch, full_disk, fraction
):
    last = fill_then_retry(
        full_disk, monkeypatch, tmp_path, capsys, sweep_main, sweep_args, fraction
    )
    out = tmp_path / "run" / "sweep"
    if not (out / "space.json").exists():  # the disk was full before the sweep began
        assert sweep_main(sweep_args(tmp_path / "run")) == 0
    else:
        assert "resume with --resume" in last
        assert sweep_main(sweep_args(tmp_path / "run", "--resume")) == 0
    assert journal(out) == [0, 1, 2]
    assert (out / "best.ckpt").is_file() and (out / "best.json").is_file()
    best = json.loads((out / "best.json").read_text())["index"]
    objectives = [json.loads(x)["objective"] for x in (out / "evaluations.jsonl").open()]
    assert objectives[best] == min(objectives)


def test_a_missing_best_checkpoint_comes_back_on_resume(tmp_path, capsys):
    assert sweep_main(sweep_args(tmp_path)) == 0
    out = tmp_path / "sweep"
    which = json.loads((out / "best.json").read_text())
    (out / "best.ckpt").unlink()
    argv = sweep_args(tmp_path, "--resume", "--calls", "3")
    assert sweep_main(argv) == 0
    assert "best.ckpt is missing: training configuration" in capsys.readouterr().out
    assert json.loads((out / "best.json").read_text()) == which
    from rnn_capacity.models import MODELS

    model = MODELS["srnn"].load_from_checkpoint(out / "best.ckpt")
    assert model.num_sequences == [which["p"]]


def test_train_on_a_full_disk_is_one_line(tmp_path, capsys, monkeypatch, full_disk):
    def argv(root):
        return train_args(root, "--checkpoint", str(root / "m.ckpt"))

    fill_then_retry(full_disk, monkeypatch, tmp_path, capsys, train_main, argv, 0.9)
    assert not (tmp_path / "run" / "m.ckpt").exists()  # never half a checkpoint
    assert train_main([*argv(tmp_path / "run"), "--force"]) == 0


def test_evaluate_on_a_full_disk_then_again(tmp_path, capsys, monkeypatch, full_disk):
    last = fill_then_retry(
        full_disk, monkeypatch, tmp_path, capsys, evaluate_main, evaluate_args, 0.02
    )
    assert "run again: python -m rnn_capacity.evaluate" in last
    assert not (tmp_path / "run" / "eval" / "evaluation.json").exists()
    assert evaluate_main(evaluate_args(tmp_path / "run")) == 0  # the same command, as told


def test_evaluate_plots_on_a_full_disk_keep_the_evaluation(
    tmp_path, capsys, monkeypatch, full_disk
):
    from rnn_capacity import evaluate

    disk = full_disk(tmp_path)
    samples = evaluate.write_samples

    def fill_then_samples(*a, **kw):  # the disk fills just after evaluation.json
        disk.limit = disk.written
        return samples(*a, **kw)

    monkeypatch.setattr(evaluate, "write_samples", fill_then_samples)
    assert evaluate_main(evaluate_args(tmp_path)) == 0
    err = capsys.readouterr().err
    assert "warning: samples and plots not written" in err and "Traceback" not in err
    assert json.loads((tmp_path / "eval" / "evaluation.json").read_text())["counts"]


def test_study_on_a_full_disk_continues_with_the_same_command(
    tmp_path, capsys, monkeypatch, full_disk
):
    last = fill_then_retry(full_disk, monkeypatch, tmp_path, capsys, study_main, study_args)
    assert "free space" in last
    assert study_main(study_args(tmp_path / "run")) == 0
    assert (tmp_path / "run" / "study" / "report" / "report.md").is_file()
    assert journal(tmp_path / "run" / "study" / "sweeps" / "srnn_4") == [0, 1]


def test_report_on_a_full_disk_then_again(tmp_path, capsys, monkeypatch, full_disk):
    from test_report import write_evaluation

    write_evaluation(tmp_path / "evals" / "a", "pc_rnn_hc_a", 60, 61, [44, 46])

    def argv(root):
        return [str(tmp_path / "evals"), "--out", str(root / "report")]

    fill_then_retry(full_disk, monkeypatch, tmp_path, capsys, report_main, argv)
    assert not (tmp_path / "run" / "report" / "report.md").exists()
    assert report_main([*argv(tmp_path / "run"), "--force"]) == 0
    assert (tmp_path / "run" / "report" / "report.md").is_file()


def test_the_data_file_on_a_full_disk(tmp_path, capsys, monkeypatch, full_disk):
    from rnn_capacity.data import main as data_main

    full_disk(tmp_path, 1000)
    out = tmp_path / "d.npy"
    status = run(data_main, ["generate", "--out", str(out)])
    assert status == 1, capsys.readouterr()
    assert "No space left on device" in last_line(capsys)
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))
    np.testing.assert_equal(len(list(tmp_path.iterdir())), 0)


# ------------------------------------------------------------------------ non-UTF-8 paths


@pytest.mark.parametrize(
    "command, argv",
    [
        ("sweep", ["--model", "srnn", "--hidden-size", "4", "--out", "{bad}"]),
        ("sweep", ["--model", "srnn", "--hidden-size", "4", "--log-dir", "{bad}"]),
        ("train", ["--model", "srnn", "--hidden-size", "4", "--num-sequences", "2",
                   "--log-dir", "{bad}"]),
        ("evaluate", ["--model", "srnn", "--hidden-size", "4", "--set", "p=2", "--out", "{bad}"]),
        ("study", ["--models", "srnn", "--sizes", "4", "--out", "{bad}"]),
        ("report", ["{bad}"]),
        ("data", ["generate", "--out", "{bad}"]),
    ],
)  # fmt: skip
def test_a_path_that_is_not_utf8_is_one_line(tmp_path, capsys, command, argv):
    import importlib

    module = "rnn_capacity.sweep.cli" if command == "sweep" else f"rnn_capacity.{command}"
    main = importlib.import_module(module).main
    bad = os.fsdecode(os.fsencode(str(tmp_path)) + b"/r\xe9sultats")  # Latin-1, not UTF-8
    assert run(main, [a.replace("{bad}", bad) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not valid UTF-8" in err
    assert list(tmp_path.iterdir()) == []  # nothing made, nothing left behind


def test_sigterm_stops_a_study_of_concurrent_sweeps(tmp_path):
    """Two cells on two cores: by default two sweeps at once, each on its own worker
    process. The signal reaches the main thread only; the sweeps' threads stop at their
    next check (the executors wait in slices) and their workers are ended."""
    import subprocess
    import sys

    out = tmp_path / "study"
    argv = [sys.executable, "-m", "rnn_capacity.study", "--models", "srnn", "trnn"]
    argv += ["--sizes", "4", "--calls", "20", "--iterations", "400", "--out", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    journals = [out / "sweeps" / c / "evaluations.jsonl" for c in ("srnn_4", "trnn_4")]
    while not any(j.exists() for j in journals) and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    _, err = proc.communicate(timeout=120)
    err = err.decode()
    assert proc.returncode == 143, err[-2000:]
    assert time.monotonic() - t0 < 60
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("interrupted: SIGTERM received; finished")
