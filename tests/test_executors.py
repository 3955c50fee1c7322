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
from rnn_capacity.sweep.cli import build_parser, resolve_args

REPO = Path(__file__).resolve().parents[1]
TINY = ["--model", "trnn", "--hidden-size", "8", "--initial-points", "1", "--batch-size", "1"]
TINY += ["--tries", "2"]


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
        main(args(tmp_path, "--calls", "2", "--workers", "2", "--executor", "local"))
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


@pytest.mark.slow  # about 40 s; the process executor's retry is in the default suite
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


def ray_env(root: Path) -> dict:
    """A Ray of its own: no auth token in the real HOME, no usage stats."""
    env = os.environ | {"RAY_AUTH_MODE": "disabled", "HOME": str(root / "home")}
    return env | {"RAY_USAGE_STATS_ENABLED": "0", "PYTHONUNBUFFERED": "1"}


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def descendants(pid: int) -> set[int]:
    """``pid``'s processes, children and theirs (a local Ray cluster's workers included)."""
    out, todo = set(), [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            try:
                children = {int(c) for c in (task / "children").read_text().split()}
            except OSError:
                continue
            todo += children - out
            out |= children
    return out


def wait_for_training(proc: subprocess.Popen, which, timeout: float = 240) -> int:
    """The first Ray worker training a batch for which ``which(pid)`` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        for pid in ray_workers_training():
            try:
                if which(pid):
                    return pid
            except OSError:  # it ended meanwhile
                pass
        time.sleep(0.2)
    err = proc.stderr.read() if proc.poll() is not None else "(still running)"
    raise AssertionError(f"no Ray worker started training: {err[-3000:]}")


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize(
    "signum, status",
    [(signal.SIGTERM, 143), pytest.param(signal.SIGINT, 130, marks=pytest.mark.slow)],
    ids=["SIGTERM", "SIGINT"],
)  # about 45 s each on the 2-core VM: SIGINT takes the same path, hence slow
def test_a_signal_stops_a_ray_sweep_with_one_line(tmp_path, signum, status):
    """ray.init replaces the SIGTERM handler (Ray's aborts with a stack dump, 134), and a
    handler that raises inside ray.wait gives a SystemError: the sweep's own policy holds
    on a local Ray cluster too (tasks cancelled, the cluster shut down)."""
    pytest.importorskip("ray")
    argv = args(tmp_path, "--calls", "6", "--iterations", "300", "--executor", "ray")
    cmd = [sys.executable, "-m", "rnn_capacity.sweep", *argv, "--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=ray_env(tmp_path), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    wait_for_training(proc, lambda pid: pid in descendants(proc.pid))
    cluster = descendants(proc.pid)
    time.sleep(1)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == status, err[-3000:]
    assert "Traceback" not in err and "received at time" not in err, err[-3000:]
    last = err.strip().splitlines()[-1]
    name = signal.Signals(signum).name
    assert last.startswith(f"interrupted: {name} received; "), last
    assert "configurations are recorded" in last and last.endswith("--resume"), last
    deadline = time.monotonic() + 30  # the local cluster goes with the sweep
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in cluster):
        time.sleep(0.5)
    alive = [p for p in cluster if Path(f"/proc/{p}/cmdline").exists()]
    alive = [p for p in alive if Path(f"/proc/{p}/cmdline").read_bytes()]  # not zombies
    assert not alive, f"Ray processes left: {alive}"


def ray_cluster_running() -> bool:
    """Whether ``--address auto`` could find a cluster: a GCS process or the address file
    of the last ``ray start`` (Ray's default temporary directory)."""
    if Path("/tmp/ray/ray_current_cluster").exists():
        return True
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and b"gcs_server" in (proc / "cmdline").read_bytes():
                return True
        except OSError:
            continue
    return False


@pytest.mark.parametrize(
    "address, message",
    [
        ("bogus", "expected auto, HOST:PORT or ray://HOST:PORT"),
        ("ray://host", "expected auto, HOST:PORT or ray://HOST:PORT"),
        ("host:99999", "expected auto, HOST:PORT or ray://HOST:PORT"),
        ("127.0.0.1:1", "no Ray cluster reachable at 127.0.0.1:1"),
        ("ray://127.0.0.1:1", "no Ray cluster reachable at 127.0.0.1:1"),
        ("auto", "Could not find any running Ray instance"),
    ],
)
def test_a_bad_ray_address_is_one_line_in_bounded_time_and_writes_nothing(
    tmp_path, capsys, monkeypatch, address, message
):
    ray = pytest.importorskip("ray")
    if address == "auto":
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
        if ray.is_initialized() or ray_cluster_running():  # "auto" would join it
            pytest.skip("a Ray cluster runs on this machine")
    start = time.monotonic()
    with pytest.raises(SystemExit) as exc:
        main(args(tmp_path, "--calls", "2", "--executor", "ray", "--address", address))
    assert time.monotonic() - start < 30
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: --address {address!r}: "), err
    assert message in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "logs").exists()


@pytest.mark.slow  # about 90 s on the 2-core VM: two Ray nodes, then their workers start
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_a_lost_ray_node_is_retried_and_every_configuration_recorded_once(tmp_path, monkeypatch):
    """A cluster of two nodes on this machine (head and worker, one CPU each); the worker
    node is killed while it trains a batch: the sweep completes, each index once."""
    pytest.importorskip("ray")
    for key, value in ray_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    from ray.cluster_utils import Cluster

    # The head notices a dead node in about 2 s (default: about 30 s).
    fast = {"health_check_period_ms": 500, "health_check_failure_threshold": 3}
    small = {"num_cpus": 1, "object_store_memory": 100 * 1024**2}
    cluster = Cluster(
        initialize_head=True,
        head_node_args=small | {"include_dashboard": False, "_system_config": fast},
    )
    try:
        node = cluster.add_node(**small)
        raylet = node.all_processes["raylet"][0].process.pid
        argv = args(tmp_path, "--calls", "4", "--iterations", "300", "--executor", "ray")
        argv[argv.index("trnn")] = "srnn"
        argv[argv.index("--hidden-size") + 1] = "4"
        cmd = [sys.executable, "-m", "rnn_capacity.sweep", *argv, "--workers", "2"]
        cmd += ["--address", cluster.address]
        proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        try:
            victim = wait_for_training(proc, lambda pid: parent_of(pid) == raylet)
            time.sleep(1)  # into training
            assert Path(f"/proc/{victim}/cmdline").read_bytes().startswith(b"ray::train_batch")
            cluster.remove_node(node, allow_graceful=False)  # kill -9 of its processes
            _, err = proc.communicate(timeout=300)
        finally:
            proc.kill()
        assert proc.returncode == 0, err[-3000:]
        assert indices(tmp_path) == [0, 1, 2, 3]
    finally:
        cluster.shutdown()


@pytest.mark.parametrize(
    "cores, batch, workers, expected",
    [
        (2, 4, None, ("process", 2, 1)),  # every core, one thread each
        (16, 4, None, ("process", 16, 1)),
        (2, 1, None, ("local", 1, None)),  # a batch of one: the original's sequential loop
        (1, 4, None, ("local", 1, None)),  # one core: nothing to share
        (8, 4, 2, ("process", 2, 4)),  # --workers 2 on 8 cores: 4 threads each
        (8, 1, 1, ("local", 1, None)),
    ],
)
def test_the_auto_executor_uses_every_core(monkeypatch, cores, batch, workers, expected):
    from rnn_capacity.study import every_cell
    from rnn_capacity.sweep.settings import every_core

    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert every_core(batch, workers, None) == expected
    assert every_cell(1) == {}  # one cell: the sweep's own choice
    if cores > 1:
        assert every_cell(3) == {
            "concurrent": min(cores, 3), "executor": "process", "workers": 1, "threads": 1
        }  # fmt: skip


def test_a_sweep_of_batches_takes_every_core_by_default(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    settings, _ = resolve_args(build_parser().parse_args(args(tmp_path, "--batch-size", "2")))
    assert (settings.executor, settings.workers, settings.threads) == ("process", 2, 1)
    one = args(tmp_path, "--batch-size", "1", "--preset", "paper")
    assert resolve_args(build_parser().parse_args(one))[0].executor == "local"  # sequential
    # The quick preset keeps a configuration in flight per core even with batches of one.
    quick, _ = resolve_args(build_parser().parse_args(args(tmp_path, "--batch-size", "1")))
    assert (quick.executor, quick.workers, quick.threads) == ("process", 2, 1)
