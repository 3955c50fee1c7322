"""measure_capacity and the train CLI: real (short) training, TensorBoard files, errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import HPARAMS, NAMES
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rnn_capacity.errors import UsageError
from rnn_capacity.measure import measure_capacity, validate_options
from rnn_capacity.models import SRNN
from rnn_capacity.train import main


def scalars(log_dir) -> dict[str, list[float]]:
    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return {tag: [e.value for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_a_short_real_training_learns_trajectories(tmp_path):
    result = measure_capacity(
        "pc_rnn_hc_a", 32, 2, iterations=400, seed=0, lr=0.01, tau=5.0, log_dir=tmp_path
    )
    assert result.count >= 1
    assert result.num_sequences == 2 and len(result.errors) == 2
    assert result.objective == 2 - 2 * result.count
    assert np.isfinite(result.final_loss) and result.seconds > 0
    logged = scalars(result.log_dir)
    assert len(logged["train/loss"]) == 400 // 50
    assert logged["train/loss"][-1] < logged["train/loss"][0]
    assert logged["capacity/count"] == [result.count]
    hparams = (tmp_path / "pc_rnn_hc_a_h32" / "version_0" / "hparams.yaml").read_text()
    assert "tau: 5.0" in hparams and "num_sequences: 2" in hparams


@pytest.mark.parametrize("name", NAMES)
def test_every_model_measures_through_lightning(name, tmp_path):
    hp = {k: v for k, v in HPARAMS[name].items()}
    result = measure_capacity(name, 10, 3, iterations=5, seed=1, log_dir=tmp_path, **hp)
    assert 0 <= result.count <= 3
    assert result.hparams == validate_options(name, hp)
    assert (tmp_path / f"{name}_h10" / "version_0").is_dir()


def test_every_effective_option_is_recorded_defaults_included(tmp_path):
    """Only lr is given: the GRU's teacher_forcing default is still in the result and in
    TensorBoard's HPARAMS (hparams.yaml), so a run says how it was trained."""
    result = measure_capacity("gru", 6, 2, iterations=3, seed=0, lr=0.02, log_dir=tmp_path)
    assert result.hparams == {"lr": 0.02}
    assert result.options == {"lr": 0.02, "teacher_forcing": "none"}
    hparams = (tmp_path / "gru_h6" / "version_0" / "hparams.yaml").read_text()
    assert "teacher_forcing: none" in hparams and "lr: 0.02" in hparams


def test_results_are_reproducible():
    a = measure_capacity("trnn", 8, 3, iterations=20, seed=3, log_dir=None, tau=2.0)
    b = measure_capacity("trnn", 8, 3, iterations=20, seed=3, log_dir=None, tau=2.0)
    assert a.errors == b.errors


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "nope"}, "unknown model 'nope'; known models: srnn, trnn"),
        ({"lr": 0.0}, "lr=0.0 out of range"),
        ({"tau": 0.5}, "tau=0.5 out of range"),
        ({"gamma": 0.1}, "unknown hyperparameter 'gamma' for model trnn; allowed: tau, lr"),
        ({"tau": "fast"}, "tau='fast' out of range"),
        ({"num_sequences": 0}, "num_sequences=0 out of range: 1..250"),
        ({"num_sequences": 251}, "num_sequences=251 out of range: 1..250"),
        ({"hidden_size": 0}, "hidden_size=0 out of range"),
        ({"iterations": 0}, "iterations=0 out of range"),
        ({"tau": float("inf")}, "tau=inf out of range for trnn: a float in [1.0, inf)"),
        ({"pad_to": 16}, "unknown hyperparameter 'pad_to'"),  # the base class's, not an option
        ({"threshold": 0.0}, "threshold=0.0 out of range"),
        ({"threshold": float("inf")}, "threshold=inf out of range"),
        ({"model": "pc_rnn_hc_m", "factors": 10**400}, "out of range for pc_rnn_hc_m: an int"),
        ({"lr": 10**400}, "out of range for trnn: a float in (0.0, inf)"),
    ],
)
def test_bad_input_is_a_usage_error(kwargs, message):
    args = {"model": "trnn", "hidden_size": 8, "num_sequences": 3, "iterations": 2} | kwargs
    with pytest.raises(UsageError, match=re.escape(message)):
        measure_capacity(log_dir=None, **args)


def run_cli(*argv):
    return subprocess.run(
        [sys.executable, "-m", "rnn_capacity.train", *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_json_and_errors_in_one_process_each(tmp_path):
    ok = run_cli(
        "--model", "pc_rnn_hc_a", "--hidden-size", "8", "--num-sequences", "2",
        "--iterations", "3", "--set", "lr=0.02", "--set", "tau=4.8", "--fixed-initial-state",
        "--json", "--log-dir", str(tmp_path),
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    summary = json.loads(ok.stdout.strip().splitlines()[-1])
    for key in ("model", "hidden_size", "num_sequences", "count", "objective", "final_loss"):
        assert key in summary
    assert summary["hparams"] == {"lr": 0.02, "tau": 4.8}
    bad = run_cli("--model", "pc_rnn_hc_x", "--hidden-size", "8", "--num-sequences", "2")
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("error: unknown model 'pc_rnn_hc_x'")


def test_train_progress_is_plain_lines_on_stderr_and_no_progress_hides_it(tmp_path):
    """stdout keeps the results; stderr, not a terminal here, gets whole lines, no \r."""
    argv = ["--model", "trnn", "--hidden-size", "4", "--num-sequences", "2", "--iterations", "5"]
    argv += ["--log-dir", str(tmp_path), "--no-checkpoint"]
    shown = run_cli(*argv)
    assert shown.returncode == 0, shown.stderr
    assert "Epoch 0" in shown.stderr and "\r" not in shown.stderr
    assert "Epoch" not in shown.stdout and "it/s" not in shown.stdout
    hidden = run_cli(*argv, "--no-progress")
    assert hidden.returncode == 0 and "Epoch" not in hidden.stderr + hidden.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "lstm", "--set", "tau=3"], "unknown hyperparameter 'tau' for model lstm"),
        (["--model", "trnn", "--set", "tau"], "expected NAME=VALUE"),
        (["--model", "trnn", "--set", "tau=-1"], "tau=-1.0 out of range"),
        (["--model", "trnn", "--num-sequences", "300"], "num_sequences=300 out of range"),
        (["--model", "trnn", "--hidden-size", "0"], "hidden_size=0 out of range"),
        (["--model", "trnn", "--iterations", "0"], "iterations=0 out of range"),
        (["--model", "trnn", "--data", "/nonexistent/x.npy"], "/nonexistent/x.npy: no such file"),
        (["--model", "trnn", "--data", "MALFORMED"], "cannot read trajectories"),
        (["--model", "trnn", "--hidden-size", "x"], "invalid int value"),
        (["--model", "trnn", "--set", "tau=.inf"], "tau=inf out of range"),
        (["--model", "trnn", "--set", "lr=-1e-3"], "lr=-0.001 out of range"),  # a number
        (["--model", "trnn", "--threshold", "-1"], "threshold=-1.0 out of range"),
    ],
)
def test_cli_error_paths(argv, message, capsys, tmp_path):
    if "MALFORMED" in argv:
        bad = tmp_path / "bad.npy"
        bad.write_bytes(b"not a numpy file")
        argv = [str(bad) if a == "MALFORMED" else a for a in argv]
    defaults = {"--hidden-size": "8", "--num-sequences": "2", "--iterations": "2"}
    for flag, value in defaults.items():
        if flag not in argv:
            argv = [*argv, flag, value]
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--log-dir", str(tmp_path / "logs")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "logs").exists()  # nothing was started


def test_cli_settings_reach_the_model_and_a_singular_esn_fit_is_one_line(tmp_path, capsys):
    """``ridge`` is a setting shared by an ensemble, not a per-replica list; ``1e-4`` is a
    number (YAML 1.1 alone would read it as a string)."""
    argv = ["--model", "esn", "--num-sequences", "1", "--iterations", "1", "--no-progress"]
    argv += ["--log-dir", str(tmp_path), "--json"]
    assert main([*argv, "--hidden-size", "20", "--set", "ridge=1e-4", "--set", "sigma=1e0"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["hparams"] == {"ridge": 1e-4, "sigma": 1.0}
    with pytest.raises(SystemExit) as exc:  # 60 rows, 201 unknowns, no ridge
        main([*argv, "--hidden-size", "200", "--set", "ridge=0"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ESN read-out fit is singular" in err


def test_a_diverged_run_prints_strict_json(tmp_path, capsys):
    argv = ["--model", "pc_rnn_gc", "--hidden-size", "8", "--num-sequences", "2"]
    argv += ["--iterations", "3", "--set", "alpha_h_prime=10", "--set", "tau=1"]
    assert main([*argv, "--no-progress", "--log-dir", str(tmp_path), "--json"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in {line}"))
    assert summary["count"] == 0 and summary["final_loss"] is None
    assert summary["errors"] == [None, None]


def test_an_unwritable_log_dir_is_one_line(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    argv = ["--model", "trnn", "--hidden-size", "4", "--num-sequences", "1", "--iterations", "1"]
    for log_dir, message in [(afile, "exists and is not a directory"), (afile / "x", "cannot")]:
        with pytest.raises(SystemExit) as exc:
            main([*argv, "--log-dir", str(log_dir)])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and "TensorBoard log directory" in err
    assert afile.read_text() == "keep me"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hidden_size": "8"}, "hidden_size must be an integer, got '8'"),
        ({"hidden_size": 8.5}, "hidden_size must be an integer"),
        ({"hidden_size": float("nan")}, "hidden_size must be an integer"),
        ({"hidden_size": True}, "hidden_size must be an integer, got True"),
        ({"hidden_size": 10**8}, "hidden_size=100000000 out of range"),
        ({"threshold": "0.1"}, "threshold must be a number"),
        ({"seed": 2**64}, "seed=18446744073709551616 out of range"),
        ({"seed": 1.5}, "seed must be an integer, got 1.5"),
        ({"iterations": float("inf")}, "iterations must be an integer, got inf"),
        ({"iterations": 2.5}, "iterations must be an integer, got 2.5"),
        ({"accelerator": "tpu"}, "accelerator='tpu' is not one of auto, cpu, gpu"),
        ({"num_sequences": 2.0}, "num_sequences must be an integer"),
    ],
)
def test_the_api_answers_bad_input_with_a_usage_error(kwargs, message):
    """One exception type for bad input (UsageError, a ValueError), one line naming it."""
    args = {"model": "trnn", "hidden_size": 4, "num_sequences": 2, "iterations": 1}
    with pytest.raises(ValueError) as exc:
        measure_capacity(**(args | kwargs), log_dir=None)
    assert isinstance(exc.value, UsageError)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_bad_trainer_kwargs_and_replica_lists_are_usage_errors():
    """Issue 18's minor defects: a plain ValueError/TypeError was raised before."""
    with pytest.raises(UsageError, match="trainer_kwargs must be a dict"):
        measure_capacity("srnn", 4, 2, iterations=2, trainer_kwargs="notadict", log_dir=None)
    with pytest.raises(UsageError, match="num_sequences has 3 values for 2 replicas"):
        SRNN(4, num_sequences=[2, 2, 2], seed=[0, 1])


@pytest.mark.parametrize(
    "module", ["train", "sweep.cli", "evaluate", "study", "report", "optimum", "data"]
)
def test_every_command_takes_no_progress(module, capsys):
    import importlib

    mod = importlib.import_module(f"rnn_capacity.{module}")
    if module == "data":  # its subcommands each take it
        with pytest.raises(SystemExit):
            mod.main(["info", "--help"])
        assert "--no-progress" in capsys.readouterr().out
        return
    options = {s for action in mod.build_parser()._actions for s in action.option_strings}
    assert "--no-progress" in options


@pytest.mark.parametrize(
    "module", ["train", "sweep.cli", "evaluate", "study", "report", "optimum", "data"]
)
def test_help_has_no_raw_rest(module, capsys):
    """Descriptions come from docstrings; --help shows them as plain text."""
    import importlib

    mod = importlib.import_module(f"rnn_capacity.{module}")
    with pytest.raises(SystemExit):
        mod.main(["--help"])
    text = capsys.readouterr().out
    assert "usage:" in text and "``" not in text and ":func:" not in text and ":class:" not in text


def test_the_library_prints_nothing_of_lightnings_unless_asked():
    """No 'GPU available' banner, no litlogger 'Tip', no 'fit stopped' from a library call;
    verbose=True gives them back. (In a process of its own: Lightning's handler holds the
    stderr it found at import, which pytest's capture does not see.)"""
    import subprocess
    import sys

    def run(verbose: bool) -> str:
        code = (
            "from rnn_capacity import measure_capacity\n"
            f"measure_capacity('srnn', 4, 2, iterations=3, log_dir=None, verbose={verbose})"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout + done.stderr

    quiet = run(False)
    assert "GPU available" not in quiet and "Tip" not in quiet and "stopped" not in quiet
    assert "GPU available" in run(True)
