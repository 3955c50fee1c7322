"""Lightning-native reuse: a plain ``pl.Trainer`` trains, logs, counts, checkpoints and
reloads any model; the README's snippet runs as written. The checkpoint round trip and
``replica(k)`` export of every model are contract checks (``rnn_capacity.testing``,
tests/test_contract.py)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rnn_capacity.capacity import CapacityCallback
from rnn_capacity.data import TrajectoryDataModule
from rnn_capacity.measure import Replica, measure_capacity, measure_ensemble
from rnn_capacity.models import MODELS

REPO = Path(__file__).resolve().parents[1]


def scalars(run_dir: Path) -> dict[str, list[float]]:
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return {tag: [e.value for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_plain_trainer_logs_counts_and_checkpoints(tmp_path, monkeypatch):
    """No package helper: a plain Trainer with its default TensorBoard logger."""
    monkeypatch.chdir(tmp_path)
    data = TrajectoryDataModule(num_sequences=4, seed=1)
    model = MODELS["trnn"](hidden_size=10, num_sequences=4, seed=1, tau=2.0, lr=0.02)
    trainer = pl.Trainer(
        max_steps=20, callbacks=[CapacityCallback(threshold=0.5)], log_every_n_steps=5,
        enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(model, datamodule=data)
    metrics = trainer.callback_metrics
    for key in ("capacity/count", "capacity/fraction", "capacity/objective", "train/loss"):
        assert key in metrics
    count = int(metrics["capacity/count"])
    assert metrics["capacity/objective"] == 4 - 2 * count
    run = Path(trainer.logger.log_dir)
    logged = scalars(run)
    assert logged["capacity/count"] == [count]
    assert len(logged["train/loss"]) == 4  # every 5 of 20 steps
    assert any(run.glob("checkpoints/*.ckpt"))  # Lightning's own ModelCheckpoint
    reloaded = MODELS["trnn"].load_from_checkpoint(next(run.glob("checkpoints/*.ckpt")))
    torch.testing.assert_close(reloaded.generate(), model.generate())


def test_measure_logs_one_run_per_replica_through_the_trainers_loggers(tmp_path):
    results = measure_ensemble(
        "pc_rnn_hc_a", 8,
        [Replica(3, 0, {"lr": 0.01, "tau": 2.0}), Replica(2, 1, {"lr": 0.05, "tau": 3.0})],
        iterations=10, log_dir=tmp_path, log_group="g", log_every_n_steps=5,
    )  # fmt: skip
    for r in results:
        logged = scalars(Path(r.log_dir))
        assert logged["capacity/count"] == [r.count]
        assert len(logged["train/loss"]) == 2
        hparams = (Path(r.log_dir) / "hparams.yaml").read_text()
        assert f"seed: {r.seed}" in hparams and "model: pc_rnn_hc_a" in hparams
    # Different learning rates: each run has its own loss curve.
    curves = [scalars(Path(r.log_dir))["train/loss"] for r in results]
    assert curves[0] != curves[1]


def test_trainer_options_pass_through(tmp_path):
    seen = []

    class Spy(pl.Callback):
        def on_train_start(self, trainer, pl_module):
            seen.append((trainer.precision, len(trainer.callbacks)))

    r = measure_capacity(
        "srnn", 6, 2, iterations=2, log_dir=None,
        trainer_kwargs={"precision": "64-true", "callbacks": [Spy()]},
    )  # fmt: skip
    assert seen and seen[0][0] == "64-true"
    assert 0 <= r.count <= 2


def test_importing_the_package_leaves_warning_filters_alone():
    """Nothing beyond what Lightning, torch and skopt do themselves on import: the package
    changes no warning filter or logger level, on import or in ``measure_capacity``."""
    code = (
        "import warnings, logging, pytorch_lightning, torch, skopt, matplotlib; "
        "before = list(warnings.filters); "
        "level = logging.getLogger('pytorch_lightning').level; "
        "import rnn_capacity, rnn_capacity.measure, rnn_capacity.sweep, rnn_capacity.models; "
        "import rnn_capacity.study, rnn_capacity.evaluate, rnn_capacity.report; "
        "from rnn_capacity import measure_capacity; "
        "measure_capacity('srnn', 4, 2, iterations=1, log_dir=None); "
        "print(warnings.filters == before, logging.getLogger('pytorch_lightning').level == level)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.split()[-2:] == ["True", "True"], out.stderr[-2000:]


def readme_snippet() -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(r"<!-- reuse-snippet -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README has no reuse snippet"
    return match.group(1)


def test_readme_reuse_snippet_runs(tmp_path):
    """The snippet a Lightning user copies: plain Trainer, data module, callback,
    checkpoint, reload, plot."""
    code = readme_snippet().replace("max_steps=3000", "max_steps=30")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "generated.png").stat().st_size > 0
    assert list(tmp_path.glob("lightning_logs/version_0/events.out.tfevents.*"))


def test_train_saves_a_checkpoint_that_reloads(tmp_path, capsys):
    from rnn_capacity.train import main as train

    ckpt = tmp_path / "m.ckpt"
    argv = ["--model", "pc_rnn_gc_hc_m", "--hidden-size", "8", "--num-sequences", "3"]
    argv += ["--iterations", "5", "--log-dir", str(tmp_path / "logs"), "--no-progress"]
    assert train([*argv, "--checkpoint", str(ckpt), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["checkpoint"] == str(ckpt)
    model = MODELS["pc_rnn_gc_hc_m"].load_from_checkpoint(ckpt)
    assert model.num_sequences == [3] and model.generate().shape == (60, 3, 2)
    with pytest.raises(SystemExit):  # an existing checkpoint is not overwritten
        train([*argv, "--checkpoint", str(ckpt)])
    assert "exists: pass --force" in capsys.readouterr().err
    assert train([*argv, "--no-checkpoint"]) == 0
    assert "model saved" not in capsys.readouterr().out


def test_sigterm_during_train_is_not_a_silent_success(tmp_path):
    argv = [sys.executable, "-m", "rnn_capacity.train", "--model", "trnn", "--hidden-size"]
    argv += ["30", "--num-sequences", "50", "--iterations", "100000", "--no-progress"]
    argv += ["--log-dir", str(tmp_path / "logs")]
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Into training: the run's TensorBoard directory exists once the Trainer has started
    # (a fixed sleep failed on a loaded machine, where the imports alone took over 8 s).
    deadline = time.monotonic() + 120
    while not any((tmp_path / "logs").rglob("*")) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err.decode()[-2000:]
    assert (
        err.decode()
        .strip()
        .splitlines()[-1]
        .startswith(
            "interrupted: SIGTERM received; nothing was saved; continue with: "
            "python -m rnn_capacity.train --model trnn"
        )
    )
