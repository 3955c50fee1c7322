"""Sweeps on worker processes: complete journals, and a killed worker's batch retried."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rnn_capacity.sweep import main

REPO = Path(__file__).resolve().parents[1]
TINY = ["--model", "trnn", "--hidden-size", "8", "--initial-points", "1", "--batch-size", "1"]


def args(root: Path, *extra: str) -> list[str]:
    return [*TINY, "--out", str(root / "out"), "--log-dir", str(root / "logs"), *extra]


def indices(root: Path) -> list[int]:
    lines = (root / "out" / "evaluations.jsonl").read_text().splitlines()
    return [json.loads(line)["index"] for line in lines]


def test_a_two_worker_process_sweep_records_every_configuration_once(tmp_path):
    argv = args(tmp_path, "--calls", "5", "--iterations", "20", "--executor", "process")
    assert main([*argv, "--workers", "2"]) == 0
    assert indices(tmp_path) == [0, 1, 2, 3, 4]
    records = [json.loads(x) for x in (tmp_path / "out" / "evaluations.jsonl").open()]
    assert len({tuple(r["x"]) for r in records}) == 5  # pending points were lied about
    runs = sorted(p.name for p in (tmp_path / "logs" / "out").glob("call*"))
    assert runs == [f"call{i:04d}_try{t}" for i in range(5) for t in range(2)]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["calls_done"] == 5 and (tmp_path / "out" / "best.ckpt").is_file()


def test_workers_need_the_process_executor(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args(tmp_path, "--calls", "2", "--workers", "2"))
    assert exc.value.code == 2
    assert "--workers needs --executor process or ray" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def workers_of(pid: int) -> list[int]:
    """The pool's worker processes among ``pid``'s children (not its resource tracker)."""
    out = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        if b"spawn_main" in cmdline:
            out.append(int(child))
    return out


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_a_killed_worker_is_retried_and_every_configuration_recorded_once(tmp_path):
    argv = args(tmp_path, "--calls", "6", "--iterations", "400", "--executor", "process")
    cmd = [sys.executable, "-m", "rnn_capacity.sweep", *argv, "--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    victims = []
    while time.monotonic() < deadline and proc.poll() is None and not victims:
        victims = workers_of(proc.pid)
        time.sleep(0.2)
    assert victims, "no worker started"
    time.sleep(3)  # into training
    os.kill(victims[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert indices(tmp_path) == list(range(6))


def test_a_ray_sweep_on_a_local_cluster(tmp_path):
    """Ray Core tasks fed by the sweep's ask/tell loop (a local 2-CPU cluster)."""
    pytest.importorskip("ray")
    env = os.environ | {"RAY_AUTH_MODE": "disabled", "HOME": str(tmp_path / "home")}
    env |= {"RAY_USAGE_STATS_ENABLED": "0", "PYTHONUNBUFFERED": "1"}
    argv = args(tmp_path, "--calls", "4", "--iterations", "20", "--executor", "ray")
    cmd = [sys.executable, "-m", "rnn_capacity.sweep", *argv, "--workers", "2"]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert indices(tmp_path) == [0, 1, 2, 3]
    runs = sorted(p.name for p in (tmp_path / "logs" / "out").glob("call*"))
    assert runs == [f"call{i:04d}_try{t}" for i in range(4) for t in range(2)]


def test_ray_missing_is_a_one_line_hint(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(SystemExit) as exc:
        main(args(tmp_path, "--calls", "2", "--executor", "ray"))
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install "rnn_capacity[ray]"' in err
    assert not (tmp_path / "out").exists()


def ray_workers_training() -> list[int]:
    """Ray worker processes running a sweep batch (their title is ``ray::train_batch``)."""
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(b"ray::train_batch"):
                out.append(int(proc.name))
    return out


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_a_killed_ray_worker_is_retried(tmp_path):
    pytest.importorskip("ray")
    env = os.environ | {"RAY_AUTH_MODE": "disabled", "HOME": str(tmp_path / "home")}
    env |= {"RAY_USAGE_STATS_ENABLED": "0"}
    argv = args(tmp_path, "--calls", "4", "--iterations", "400", "--executor", "ray")
    cmd = [sys.executable, "-m", "rnn_capacity.sweep", *argv, "--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 180
    victims = []
    while time.monotonic() < deadline and proc.poll() is None and not victims:
        victims = ray_workers_training()
        time.sleep(0.2)
    assert victims, "no Ray worker started training"
    time.sleep(2)
    os.kill(victims[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-3000:]
    assert indices(tmp_path) == [0, 1, 2, 3]
