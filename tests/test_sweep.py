"""The sweep: a tiny real search end to end, resume after Ctrl-C / kill -9 / a torn line,
the refusals, the surrogate file, reproducibility and the ensemble (batch) path."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from skopt.learning import GaussianProcessRegressor
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rnn_capacity.config import load_search_config
from rnn_capacity.sweep import batch, journal, loop
from rnn_capacity.sweep.batch import derive_seed
from rnn_capacity.sweep.cli import build_parser, main, resolve_args

# trnn at H=8 for 3 iterations: a configuration costs ~0.1 s, the GP proposals ~0.3 s.
TINY = ["--model", "trnn", "--hidden-size", "8", "--iterations", "3", "--initial-points", "1"]
TINY += ["--batch-size", "1", "--tries", "2", "--executor", "local"]


def args(root, *extra) -> list[str]:
    return [*TINY, "--out", str(root / "out"), "--log-dir", str(root / "logs"), *extra]


def records(root) -> list[dict]:
    return [json.loads(line) for line in (root / "out" / "evaluations.jsonl").open()]


def runs(root) -> list[str]:
    return sorted(p.name for p in (root / "logs" / "out").glob("call*"))


def assert_each_once(root, calls: int, tries: int = 2) -> None:
    """Configurations 0..calls-1 recorded once each, all different; one run per try."""
    recs = records(root)
    assert [r["index"] for r in recs] == list(range(calls))
    assert len({tuple(r["x"]) for r in recs}) == calls
    assert runs(root) == [f"call{i:04d}_try{t}" for i in range(calls) for t in range(tries)]


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished 4-configuration sweep; tests that change it work on a copy."""
    root = tmp_path_factory.mktemp("finished")
    assert main(args(root, "--calls", "4")) == 0
    return root


def copy_of(finished, tmp_path):
    shutil.copytree(finished, tmp_path / "copy")
    return tmp_path / "copy"


def test_a_tiny_sweep_writes_every_file(finished):
    assert_each_once(finished, 4)
    first = records(finished)[0]
    assert first["x"] == [5, 0.01, 10.0]  # x0 comes first
    assert first["p"] == 5 and first["hparams"] == {"lr": 0.01, "tau": 10.0}
    assert first["options"] == {"lr": 0.01, "tau": 10.0}  # every option's effective value
    assert len(first["counts"]) == len(first["seeds"]) == len(first["final_losses"]) == 2
    assert first["objective"] == 5 - 2 * np.mean(first["counts"])
    out = finished / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["calls_done"] == 4
    assert summary["best_objective"] == min(r["objective"] for r in records(finished))
    space = json.loads((out / "space.json").read_text())
    assert [d["name"] for d in space["dimensions"]] == ["p", "lr", "tau"]
    assert space["hidden_size"] == 8 and space["tries"] == 2 and space["iterations"] == 3
    # The quick preset measures with the model's paper variant (trnn: fixed states).
    paper = load_search_config("trnn").paper.learn_initial_state
    assert space["learn_initial_state"] is paper and space["threshold"] == 0.1
    for png in ("convergence.png", "objective.png"):
        assert (out / png).read_bytes().startswith(b"\x89PNG")
    assert not list(out.glob(".*.tmp"))  # no temporary file left behind
    assert (out / "best.ckpt").is_file() and json.loads((out / "best.json").read_text())

    run = EventAccumulator(str(finished / "logs" / "out" / "call0000_try1"))
    run.Reload()
    assert run.PluginTagToContent("hparams")  # the HPARAMS tab
    assert "capacity/count" in run.Tags()["scalars"]
    assert "tau: 10.0" in (finished / "logs" / "out" / "call0000_try1" / "hparams.yaml").read_text()
    search = EventAccumulator(str(finished / "logs" / "out" / "sweep"))
    search.Reload()
    for tag in ("sweep/objective", "sweep/best_objective", "sweep/best_mean_count"):
        assert [e.step for e in search.Scalars(tag)] == [0, 1, 2, 3]


def test_the_surrogate_reloads_and_predicts_on_normalised_points(finished):
    with (finished / "out" / "surrogate.pk").open("rb") as f:
        gp = pickle.load(f)
    assert isinstance(gp, GaussianProcessRegressor)  # the form of <MODEL>_model_<H>.pk
    config = load_search_config("trnn")
    x0 = config.normalise(config.x0)
    assert np.allclose(gp.X_train_[0], x0) and len(gp.X_train_) == 4
    assert ((gp.X_train_ >= 0) & (gp.X_train_ <= 1)).all()
    assert np.isfinite(gp.predict(np.random.default_rng(0).random((7, 3)))).all()


def test_a_sweep_is_reproducible(finished, tmp_path):
    assert derive_seed(0, 3, 1) == derive_seed(0, 3, 1) != derive_seed(0, 3, 0)
    assert main(args(tmp_path, "--calls", "4")) == 0
    keys = ("x", "seeds", "counts", "final_losses")
    assert [[r[k] for k in keys] for r in records(tmp_path)] == [
        [r[k] for k in keys] for r in records(finished)
    ]
    assert records(finished)[2]["seeds"] == [derive_seed(0, 2, 0), derive_seed(0, 2, 1)]


def test_an_interrupted_sweep_resumes_to_the_requested_total(tmp_path, capsys):
    assert main(args(tmp_path, "--calls", "3")) == 0
    first = records(tmp_path)
    assert main(args(tmp_path, "--calls", "5", "--resume")) == 0
    assert records(tmp_path)[:3] == first
    assert_each_once(tmp_path, 5)
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["calls_done"] == 5

    capsys.readouterr()
    before = (tmp_path / "out" / "evaluations.jsonl").read_bytes()
    assert main(args(tmp_path, "--calls", "5", "--resume")) == 0
    assert "already holds 5 configurations" in capsys.readouterr().out
    assert (tmp_path / "out" / "evaluations.jsonl").read_bytes() == before


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path, capsys, monkeypatch):
    real, calls = batch.measure_ensemble, []

    def measure_then_ctrl_c(*a, **kw):  # Ctrl-C while the second configuration trains
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # the handler raises here, as it would inside training
        return real(*a, **kw)

    monkeypatch.setattr(batch, "measure_ensemble", measure_then_ctrl_c)
    assert main(args(tmp_path, "--calls", "4")) == 130
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("interrupted: SIGINT received; 1 of 4 configurations are recorded")
    assert err.endswith("--calls 4 --resume")
    assert len(records(tmp_path)) == 1
    monkeypatch.setattr(batch, "measure_ensemble", real)
    assert main(args(tmp_path, "--calls", "4", "--resume")) == 0
    assert_each_once(tmp_path, 4)


def test_kill_9_loses_nothing_but_the_configuration_in_flight(tmp_path):
    cmd = [sys.executable, "-m", "rnn_capacity.sweep", *args(tmp_path, "--calls", "200")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = tmp_path / "out" / "evaluations.jsonl"
    deadline = time.monotonic() + 120
    while not (log.exists() and log.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # into the next configuration
    proc.kill()
    assert proc.wait() == -signal.SIGKILL
    done = len(log.read_text().splitlines())
    assert done >= 1
    assert main(args(tmp_path, "--calls", str(done + 2), "--resume")) == 0
    assert_each_once(tmp_path, done + 2)


def test_ctrl_c_in_a_real_process_exits_130_with_one_line(tmp_path):
    cmd = [sys.executable, "-m", "rnn_capacity.sweep", *args(tmp_path, "--calls", "200")]
    cmd[cmd.index("--iterations") + 1] = "300"  # so that Ctrl-C mostly lands in training
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "out" / "evaluations.jsonl"
    deadline = time.monotonic() + 120
    while not (log.exists() and log.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted: ") and last.endswith("--calls 200 --resume")
    assert [r["index"] for r in records(tmp_path)] == list(range(len(records(tmp_path))))
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_a_torn_last_line_is_skipped_with_a_warning(finished, tmp_path, capsys):
    root = copy_of(finished, tmp_path)
    log = root / "out" / "evaluations.jsonl"
    text = log.read_text()
    log.write_text(text[: len(text) - 40])  # killed while writing the 4th line
    assert main(args(root, "--calls", "5", "--resume")) == 0
    assert "warning:" in capsys.readouterr().err
    assert_each_once(root, 5)
    assert records(root)[:3] == records(finished)[:3]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--hidden-size", "9"], "hidden_size: 8 there, 9 here"),
        (["--model", "pc_rnn_hc_a"], "model: 'trnn' there, 'pc_rnn_hc_a' here"),
        (["--iterations", "4"], "iterations: 3 there, 4 here"),
    ],
)
def test_resuming_another_experiment_is_refused(finished, tmp_path, capsys, change, message):
    root = copy_of(finished, tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(args(root, "--calls", "6", "--resume", *change))
    assert exc.value.code == 2
    assert message in error_line(capsys)
    assert records(root) == records(finished)


def test_a_non_empty_directory_is_never_overwritten(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(SystemExit) as exc:
        main(args(tmp_path, "--calls", "2"))
    assert exc.value.code == 2
    assert "pass --resume" in error_line(capsys)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "keep me"
    assert not (tmp_path / "logs").exists()


def test_a_bad_log_dir_is_refused_before_anything_is_written(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    for log_dir in (afile, afile / "sub"):
        with pytest.raises(SystemExit) as exc:
            main([*TINY, "--out", str(tmp_path / "out"), "--log-dir", str(log_dir)])
        assert exc.value.code == 2
        assert "TensorBoard log directory" in error_line(capsys)
        assert not (tmp_path / "out").exists()  # the same command works once fixed
    with pytest.raises(SystemExit):
        main([*TINY, "--out", str(afile / "out"), "--log-dir", str(tmp_path / "new" / "logs")])
    assert "output directory" in error_line(capsys)
    assert afile.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # no log directory made


def test_a_batch_is_one_ensemble_and_records_each_configuration_once(tmp_path):
    assert main(args(tmp_path, "--calls", "5", "--batch-size", "2")) == 0
    assert_each_once(tmp_path, 5)
    recs = records(tmp_path)
    assert [r["ensemble"] for r in recs] == [4, 4, 4, 4, 2]  # 2 configurations x 2 tries
    assert recs[0]["seconds"] == recs[1]["seconds"]  # trained together


def test_sequential_tries_train_one_replica_at_a_time(tmp_path):
    assert main(args(tmp_path, "--calls", "2", "--sequential-tries")) == 0
    assert_each_once(tmp_path, 2)
    assert [r["ensemble"] for r in records(tmp_path)] == [1, 1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--calls", "0"], "--calls=0 out of range: 1.."),
        (["--tries", "0"], "--tries=0 out of range"),
        (["--iterations", "0"], "--iterations=0 out of range"),
        (["--batch-size", "0"], "--batch-size=0 out of range"),
        (["--initial-points", "-1"], "--initial-points=-1 out of range"),
        (["--seed", "-1"], "--seed=-1 out of range"),
        (["--hidden-size", "0"], "--hidden-size=0 out of range"),
        (["--hidden-size", str(10**8)], "--hidden-size=100000000 out of range: 1..20000"),
        (["--hidden-size", str(2**63)], "out of range"),
        (["--seed", str(2**64)], "--seed=18446744073709551616 out of range"),
        (["--model", "nope"], "unknown model 'nope'; known models: srnn, trnn"),
        (["--learn-initial-state", "--fixed-initial-state"], "not allowed with argument"),
        (["--data", "missing.npy"], "missing.npy: no such file"),
        (["--resume"], "nothing to resume"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(args(tmp_path, *argv))
    assert exc.value.code == 2
    assert message in error_line(capsys)


def test_presets_and_explicit_flags():
    def settings(*argv):
        return resolve_args(build_parser().parse_args(["--hidden-size", "60", *argv]))[0]

    paper = settings("--model", "pc_rnn_hc_a", "--preset", "paper")
    assert (paper.calls, paper.tries, paper.iterations, paper.batch_size) == (300, 2, 3000, 1)
    assert paper.initial_points == 10 and paper.learn_initial_state is False
    assert paper.batch_tries is True  # the two tries as one ensemble: the same numbers
    sequential = settings("--model", "gru", "--preset", "paper", "--sequential-tries")
    assert sequential.batch_tries is False
    assert settings("--model", "esn", "--preset", "paper").calls == 500
    quick = settings("--model", "pc_rnn_hc_a")  # the protocol's measurement, few configs
    assert quick.batch_size == 1 and quick.learn_initial_state is False
    assert (quick.calls, quick.tries, quick.iterations) == (2, 3, 3000)
    assert quick.executor == "process" or os.cpu_count() == 1  # a configuration per core
    assert settings("--model", "gru").settings == {"teacher_forcing": "always"}  # its variant
    assert str(quick.out) == os.path.join("results", "pc_rnn_hc_a_60")
    mixed = settings("--model", "gru", "--preset", "paper", "--calls", "7", "--learn-initial-state")
    assert (mixed.calls, mixed.iterations, mixed.learn_initial_state) == (7, 3000, True)


def start(tmp_path, *extra) -> tuple[subprocess.Popen, object]:
    """A real sweep process; returns it once its first configuration is recorded."""
    cmd = [sys.executable, "-m", "rnn_capacity.sweep", *args(tmp_path, "--calls", "200", *extra)]
    cmd[cmd.index("--iterations") + 1] = "300"  # so that a signal mostly lands in training
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "out" / "evaluations.jsonl"
    deadline = time.monotonic() + 120
    while not (log.exists() and log.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc, log


def test_sigterm_stops_like_ctrl_c(tmp_path):
    proc, _ = start(tmp_path)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted: SIGTERM received; ") and last.endswith("--resume")
    assert [r["index"] for r in records(tmp_path)] == list(range(len(records(tmp_path))))


def test_a_second_sweep_on_a_running_sweeps_directory_is_refused(tmp_path, capsys):
    proc, log = start(tmp_path)
    try:
        before = log.read_text()
        second = args(tmp_path, "--calls", "200", "--resume")
        second[second.index("--iterations") + 1] = "300"  # the same experiment
        with pytest.raises(SystemExit) as exc:
            main(second)
        assert exc.value.code == 2
        assert "is in use by another sweep (pid " in error_line(capsys)
        assert log.read_text().startswith(before)  # untouched, still growing
    finally:
        proc.kill()
        proc.wait()
    # The lock died with its process (kill -9): a resume goes on.
    done = len(records(tmp_path))
    again = args(tmp_path, "--calls", str(done + 1), "--resume")
    again[again.index("--iterations") + 1] = "300"
    assert main(again) == 0
    assert_each_once(tmp_path, done + 1)


def test_resume_refuses_a_log_group_of_another_sweep(finished, tmp_path, capsys):
    """Two sweeps with the same --out name: a resume in the other's --log-dir must not
    delete (or mix with) the first one's TensorBoard runs."""
    root = copy_of(finished, tmp_path)
    other = tmp_path / "elsewhere"
    other_args = [*TINY, "--out", str(other / "out"), "--calls", "1"]
    assert main([*other_args, "--log-dir", str(other / "logs")]) == 0
    capsys.readouterr()
    runs_before = runs(root)
    with pytest.raises(SystemExit) as exc:
        main([*other_args[:-1], "2", "--log-dir", str(root / "logs"), "--resume"])
    assert exc.value.code == 2
    assert "already holds TensorBoard runs of " in error_line(capsys)
    assert runs(root) == runs_before


def test_a_stale_temporary_file_does_not_block_the_directory(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / ".space.json.tmp").write_text('{"half": ')  # kill -9 mid-write
    assert main(args(tmp_path, "--calls", "2")) == 0
    assert not (tmp_path / "out" / ".space.json.tmp").exists()


def test_resume_with_another_seed_is_refused(finished, tmp_path, capsys):
    root = copy_of(finished, tmp_path)
    with pytest.raises(SystemExit):
        main(args(root, "--calls", "5", "--resume", "--seed", "3"))
    assert "seed: 0 there, 3 here" in error_line(capsys)


def test_a_full_disk_while_plotting_is_one_warning(finished, tmp_path, monkeypatch, capsys):
    root = copy_of(finished, tmp_path)

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(loop, "save_plots", full)
    assert main(args(root, "--calls", "5", "--resume")) == 0
    err = capsys.readouterr().err
    assert "warning: plots not written ([Errno 28] No space left on device)" in err
    assert "Traceback" not in err
    assert len(records(root)) == 5


def test_a_full_disk_while_recording_is_one_line(finished, tmp_path, monkeypatch, capsys):
    root = copy_of(finished, tmp_path)
    before = (root / "out" / "evaluations.jsonl").read_text()

    def full(path, lines):
        with path.open("a") as f:  # half a line reaches the disk, then it is full
            f.write(lines[0][:20])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal, "append_lines", full)
    assert main(args(root, "--calls", "5", "--resume")) == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and errors[0].startswith("error: cannot write in ")
    assert "--resume" in errors[0] and "Traceback" not in err
    monkeypatch.undo()
    assert main(args(root, "--calls", "5", "--resume")) == 0  # the torn line is skipped
    assert (root / "out" / "evaluations.jsonl").read_text().startswith(before)
    assert_each_once(root, 5)


def test_the_quick_preset_starts_at_the_original_optimum_where_there_is_one():
    """Issue 18, item 5: a newcomer's first (quick) search starts where something is
    learned; the paper preset keeps the protocol's x0, and without a published optimum
    (another size, or a search space of one's own) x0 stays the config's."""
    from rnn_capacity.sweep.settings import reference_start, resolve_settings

    _, quick = resolve_settings("pc_rnn_hc_a", 60, preset="quick")
    assert quick.x0 == {"p": 61, "lr": 0.017378, "tau": 4.786301}
    line = reference_start(quick, 60)
    assert "original study's optimum at H=60" in line and "49.6 of 61" in line
    _, paper = resolve_settings("pc_rnn_hc_a", 60, preset="paper")
    assert paper.x0 == {"p": 5, "lr": 0.01, "tau": 10.0} and reference_start(paper, 60) is None
    _, other = resolve_settings("pc_rnn_hc_a", 8, preset="quick")
    assert other.x0 == paper.x0 and reference_start(other, 8) is None


def test_the_last_line_leads_with_what_was_learned_and_never_calls_nothing_best():
    """Issue 27: the count learned first, the original's beside it; a search in which
    nothing was learned says so instead of naming a 'best' configuration."""
    from rnn_capacity.records import BestConfiguration, SweepSummary
    from rnn_capacity.reference import reference_result
    from rnn_capacity.sweep.cli import result_line
    from rnn_capacity.sweep.loop import best_so_far

    def summary(p, counts, index=0, most=None):
        mean = sum(counts) / len(counts)
        best = BestConfiguration(index=index, x=[p, 0.017, 4.8], p=p,
                                 hparams={"lr": 0.017378, "tau": 4.786301}, counts=counts,
                                 mean_count=mean, objective=p - 2 * mean)  # fmt: skip
        return SweepSummary(model="pc_rnn_hc_a", hidden_size=60, calls_done=6,
                            calls_requested=6, best=best, best_objective=p - 2 * mean,
                            best_mean_count=most if most is not None else mean,
                            best_mean_count_index=3 if most else index,
                            wall_seconds=1.0)  # fmt: skip

    ref = reference_result("pc_rnn_hc_a", 60)
    line = result_line(summary(61, [56, 58, 52, 55]), "results/x", ref, 61)
    assert line.startswith("pc_rnn_hc_a H=60: learned 55.2 of 61 on average at p=61 ")
    assert "tries 56, 58, 52, 55" in line and "the best of 6 configurations" in line
    assert "at this optimum: 49.6 of 61 predicted by its surrogate" in line
    assert "its best measured configuration learned 75.5 of 188" in line
    assert line.endswith("; results in results/x")
    nothing = result_line(summary(1, [0, 0, 0, 0]), "out")
    assert "nothing learned" in nothing and "best" not in nothing.split(";")[0]
    assert "the most learned: 9 (configuration 3)" in result_line(summary(5, [4, 4], most=9), "o")
    from rnn_capacity.records import Configuration

    record = Configuration(index=0, x=[3], p=3, hparams={}, seeds=[0], counts=[0],
                           mean_count=0, objective=3, final_losses=[0.1], seconds=1,
                           ensemble=1)  # fmt: skip
    assert best_so_far([record]) == "nothing learned yet"


def test_a_resume_keeps_the_run_options_its_directory_was_started_with(tmp_path):
    """A sweep started under other preset defaults (the earlier quick preset: 2 tries,
    800 iterations, learned states) resumes as that experiment; a flag given explicitly
    that disagrees with it is still refused by the resume's check."""
    from rnn_capacity.sweep.settings import resolve_settings

    assert main(args(tmp_path, "--learn-initial-state", "--calls", "1")) == 0  # 2 tries, 3 its
    out = tmp_path / "out"
    resumed, _ = resolve_settings("trnn", 8, out=out, resume=True)
    assert (resumed.tries, resumed.iterations, resumed.learn_initial_state) == (2, 3, True)
    assert main(args(tmp_path, "--calls", "2", "--resume")) == 0  # states: as recorded
    assert len(records(tmp_path)) == 2
    with pytest.raises(SystemExit):  # an explicit disagreement is one line, exit 2
        main(args(tmp_path, "--calls", "3", "--resume", "--tries", "5"))


def test_the_search_figures_name_the_model_and_size(tmp_path, monkeypatch):
    """convergence.png and objective.png are titled with the model and size, and the
    partial-dependence panels keep at most 4 ticks on a linear axis (no collisions)."""
    from skopt import Optimizer

    from rnn_capacity.config import load_search_config
    from rnn_capacity.sweep import loop

    config = load_search_config("pc_rnn_hc_a")
    opt = Optimizer(config.skopt_space(), n_initial_points=3, random_state=0)
    for _ in range(5):
        x = opt.ask()
        opt.tell(x, float(x[0]))
    figures = {}
    monkeypatch.setattr(loop, "save", lambda fig, path: figures.setdefault(path.name, fig))
    loop.save_plots(opt, tmp_path, "PC-RNN-HC-A H = 60")
    assert figures["convergence.png"].axes[0].get_title().startswith("PC-RNN-HC-A H = 60")
    objective = figures["objective.png"]
    assert objective._suptitle.get_text().startswith("PC-RNN-HC-A H = 60: partial dependence")
    for ax in objective.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "linear" and axis.get_visible():
                assert len(axis.get_major_locator()()) <= 5
