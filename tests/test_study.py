"""The study path: evaluate at one configuration, and the whole study killed and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rnn_capacity.evaluate import main as evaluate_main

REPO = Path(__file__).resolve().parents[1]


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_evaluate_two_seeds(tmp_path, capsys):
    out = tmp_path / "eval"
    argv = ["--model", "pc_rnn_hc_a", "--hidden-size", "8", "--set", "p=3", "--set", "lr=0.02"]
    argv += ["--set", "tau=3", "--seeds", "2", "--iterations", "15", "--out", str(out)]
    argv += ["--log-dir", str(tmp_path / "logs"), "--json"]
    assert evaluate_main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    report = json.loads((out / "evaluation.json").read_text())
    assert report["seeds"] == [0, 1] and len(report["counts"]) == 2
    assert report["mean_count"] == sum(report["counts"]) / 2 == summary["mean_count"]
    assert [len(c) for c in report["loss_curves"]] == [15, 15]
    assert report["learn_initial_state"] is False  # HC-A's paper variant: fixed states
    assert report["original"] is None  # the original study has no H = 8
    assert report["options"] == {"lr": 0.02, "tau": 3.0}  # every option, as trained
    for name in ("loss.png", "trajectories.png", "samples.npz"):
        assert (out / name).stat().st_size > 0
    assert sorted(p.name for p in (tmp_path / "logs" / "pc_rnn_hc_a_h8_evaluation").iterdir()) == [
        "seed0",
        "seed1",
    ]
    # Nothing is overwritten without --force.
    with pytest.raises(SystemExit) as exc:
        evaluate_main(argv)
    assert exc.value.code == 2
    assert "already holds an evaluation" in error_line(capsys)


def test_a_diverged_evaluation_says_so(tmp_path, capsys):
    """A learning rate that blows the loss up: the console line and the file say diverged,
    not a count of 0 that reads like a run that learned nothing."""
    out = tmp_path / "eval"
    argv = ["--model", "pc_rnn_hc_a", "--hidden-size", "8", "--set", "p=3", "--set", "lr=1e30"]
    argv += ["--set", "tau=3", "--seeds", "2", "--iterations", "15", "--out", str(out)]
    assert evaluate_main([*argv, "--log-dir", str(tmp_path / "logs")]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    report = json.loads((out / "evaluation.json").read_text())
    assert report["diverged"] == 2 and report["final_losses"] == [None, None]
    assert "count diverged (all 2 seeds) over 2 seeds" in line, line


def test_evaluate_reference_uses_the_reproducing_variant(tmp_path, capsys):
    from rnn_capacity.evaluate import reference_plan

    gru = reference_plan("gru", 60)
    assert gru.p == 41 and gru.settings == {"teacher_forcing": "always"}
    assert gru.source["predicted_count"] == pytest.approx(33.53)
    with pytest.raises(SystemExit):
        evaluate_main(["--model", "gru", "--hidden-size", "7", "--reference"])
    assert "gru" in error_line(capsys)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "nope", "--hidden-size", "8", "--set", "p=3"], "unknown model"),
        (["--model", "gru", "--hidden-size", "8", "--set", "lr=0.1"], "needs p="),
        (["--model", "gru", "--hidden-size", "8", "--set", "p=300"], "num_sequences"),
        (["--model", "gru", "--hidden-size", "8", "--set", "p=3", "--seeds", "0"], "--seeds"),
        (["--from", "/nonexistent"], "not a sweep directory"),
    ],
)
def test_evaluate_bad_input(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        evaluate_main([*argv, "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    assert message in error_line(capsys)
    assert not (tmp_path / "o").exists()


def study(out: Path, *extra: str, env: dict | None = None) -> subprocess.Popen:
    argv = [sys.executable, "-m", "rnn_capacity.study", "--preset", "quick"]
    argv += ["--models", "pc_rnn_hc_a", "trnn", "--sizes", "6", "--calls", "3"]
    argv += ["--iterations", "10", "--batch-size", "2", "--seeds", "2", "--resolution", "5"]
    argv += ["--out", str(out), *extra]
    env = os.environ | {"PYTHONUNBUFFERED": "1"} | (env or {})
    return subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_study_killed_and_resumed(tmp_path):
    out = tmp_path / "study"
    first = study(out)
    # Kill it (kill -9: no clean-up at all) once the first cell is evaluated.
    deadline = time.time() + 240
    target = out / "evaluations" / "pc_rnn_hc_a_6" / "evaluation.json"
    while not target.exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert target.exists(), first.communicate()[1].decode()[-2000:]
    first.send_signal(signal.SIGKILL)
    first.wait()
    stamp = target.stat().st_mtime_ns
    second = study(out)
    stdout, stderr = second.communicate(timeout=300)
    assert second.returncode == 0, stderr.decode()[-2000:]
    assert target.stat().st_mtime_ns == stamp  # the finished stage was not redone
    for name in ("pc_rnn_hc_a_6", "trnn_6"):
        lines = (out / "sweeps" / name / "evaluations.jsonl").read_text().splitlines()
        assert [json.loads(x)["index"] for x in lines] == [0, 1, 2]  # none lost or run twice
        evaluation = json.loads((out / "evaluations" / name / "evaluation.json").read_text())
        assert len(evaluation["counts"]) == 2
        assert (out / "evaluations" / name / "optimum.json").is_file()
    for name in ("report.md", "capacity.png", "capacity.svg"):
        assert (out / "report" / name).is_file()
    assert "study" in stderr.decode()  # the overall progress bar
    # A third run finds everything done and only refreshes the report.
    third = study(out)
    _, stderr = third.communicate(timeout=120)
    assert third.returncode == 0, stderr.decode()[-2000:]


def test_study_reads_the_surrogates_optimum_when_asked(tmp_path):
    out = tmp_path / "study"
    proc = study(out, "--optimum", "surrogate")
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr.decode()[-2000:]
    optimum = json.loads((out / "evaluations" / "trnn_6" / "optimum.json").read_text())
    assert optimum["resolution"] == 5 and len(optimum["grid_point"]) == 3
    quick = json.loads((out / "evaluations" / "pc_rnn_hc_a_6" / "optimum.json").read_text())
    assert "predicted_count" in quick


@pytest.mark.slow  # about 40 s; concurrent sweeps on processes are in the default suite
def test_a_study_runs_its_sweeps_concurrently_on_ray(tmp_path):
    """Two (model, size) sweeps at once, their batches as tasks on a local Ray cluster."""
    pytest.importorskip("ray")
    out = tmp_path / "study"
    env = {"RAY_AUTH_MODE": "disabled", "HOME": str(tmp_path / "home")}
    env |= {"RAY_USAGE_STATS_ENABLED": "0"}
    proc = study(out, "--executor", "ray", "--workers", "2", "--concurrent", "2", env=env)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr.decode()[-3000:]
    starts = {}
    for name in ("pc_rnn_hc_a_6", "trnn_6"):
        lines = (out / "sweeps" / name / "evaluations.jsonl").read_text().splitlines()
        assert [json.loads(x)["index"] for x in lines] == [0, 1, 2]
        starts[name] = (out / "sweeps" / name / "space.json").stat().st_mtime
        assert (out / "evaluations" / name / "evaluation.json").is_file()
    # Both sweeps started before either finished: they ran at the same time.
    ends = {n: (out / "sweeps" / n / "summary.json").stat().st_mtime for n in starts}
    assert max(starts.values()) < min(ends.values())


def test_one_name_per_flag_across_commands(tmp_path):
    """--seed is a seed and --num-sequences is p in train and evaluate alike; the older
    spellings (--seed-base, --set p=) are kept as aliases, and a disagreement is refused."""
    from rnn_capacity.errors import UsageError
    from rnn_capacity.evaluate import build_parser as evaluate_parser
    from rnn_capacity.evaluate import plan_from_args
    from rnn_capacity.train import parse

    base = ["--model", "srnn", "--hidden-size", "4", "--set", "lr=0.01"]
    a = evaluate_parser().parse_args([*base, "--num-sequences", "3", "--seed", "5"])
    b = evaluate_parser().parse_args([*base, "--set", "p=3", "--seed-base", "5"])
    assert (a.seed_base, b.seed_base) == (5, 5) and plan_from_args(a) == plan_from_args(b)
    with pytest.raises(UsageError, match="disagree"):
        plan_from_args(
            evaluate_parser().parse_args([*base, "--set", "p=4", "--num-sequences", "3"])
        )
    train = ["--model", "srnn", "--hidden-size", "4", "--no-checkpoint"]
    args, hp = parse([*train, "--set", "p=3", "--set", "lr=0.01"])
    assert args.num_sequences == 3 and hp == {"lr": 0.01}
    assert parse([*train, "--num-sequences", "3"])[0].num_sequences == 3
    with pytest.raises(UsageError, match="number of sequences"):
        parse(train)
