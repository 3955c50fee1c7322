"""The records: files written by the earlier version (tests/data/, see its README) still
load, resume and report; every record round-trips through its one writer and reader;
a bad field or an unknown format is one UsageError naming the file and the field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import NAMES

from rnn_capacity.config import load_search_config, write_search_config
from rnn_capacity.errors import UsageError
from rnn_capacity.evaluate import sweep_plan
from rnn_capacity.optimum import find_optimum, observed_optimum
from rnn_capacity.records import (
    FORMAT,
    Configuration,
    Evaluation,
    Optimum,
    SweepSpace,
    SweepSummary,
)
from rnn_capacity.report import build_report
from rnn_capacity.report import main as report_main
from rnn_capacity.study import main as study_main
from rnn_capacity.sweep.cli import main as sweep_main
from rnn_capacity.sweep.journal import read_evaluations

DATA = Path(__file__).resolve().parent / "data"
OLD_SWEEP = DATA / "old_sweep_v0"
OLD_EVALUATION = DATA / "old_evaluation_v0"
OLD_STUDY = DATA / "old_study_v0"
# The command that wrote OLD_SWEEP (tests/data/README.md), less its --out and --log-dir.
OLD_SWEEP_ARGS = ["--model", "srnn", "--hidden-size", "4", "--iterations", "5"]
OLD_SWEEP_ARGS += ["--initial-points", "1", "--batch-size", "1"]

OLD_FILES = [
    (SweepSpace, OLD_SWEEP / "space.json"),
    (SweepSummary, OLD_SWEEP / "summary.json"),
    (Evaluation, OLD_EVALUATION / "evaluation.json"),
    (Evaluation, OLD_STUDY / "evaluations" / "srnn_4" / "evaluation.json"),
    (Optimum, DATA / "old_surrogate_optimum_v0.json"),
    (Optimum, OLD_STUDY / "evaluations" / "srnn_4" / "optimum.json"),
    (SweepSpace, OLD_STUDY / "sweeps" / "srnn_4" / "space.json"),
    (SweepSummary, OLD_STUDY / "sweeps" / "srnn_4" / "summary.json"),
]


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


# ------------------------------------------------------------------ the earlier version


@pytest.mark.parametrize(
    ("kind", "path"), OLD_FILES, ids=[str(p.relative_to(DATA)) for _, p in OLD_FILES]
)
def test_files_of_the_earlier_version_load_as_they_were(kind, path):
    raw = json.loads(path.read_text())
    assert "format" not in raw  # written before the field: format 1
    record = kind.read(path)
    assert {k: v for k, v in record.to_dict().items() if k in raw} == raw
    assert record.to_json()["format"] == FORMAT == 1


def test_journal_lines_of_the_earlier_version_load():
    records = read_evaluations(OLD_SWEEP / "evaluations.jsonl", 2)
    lines = (OLD_SWEEP / "evaluations.jsonl").read_text().splitlines()
    assert [r.to_dict() for r in records] == [json.loads(line) for line in lines]
    (failed,) = [json.loads(x) for x in (DATA / "old_failed_record_v0.jsonl").open()]
    record = Configuration.from_dict(failed, "old_failed_record_v0.jsonl")
    assert record.failed.startswith("worker died") and record.to_dict() == failed


def test_an_old_sweep_directory_resumes(tmp_path, capsys):
    out = tmp_path / "old_sweep_v0"
    shutil.copytree(OLD_SWEEP, out)
    before = (out / "evaluations.jsonl").read_text()
    argv = [*OLD_SWEEP_ARGS, "--out", str(out), "--log-dir", str(tmp_path / "logs")]
    assert sweep_main([*argv, "--calls", "5", "--resume"]) == 0
    text = (out / "evaluations.jsonl").read_text()
    assert text.startswith(before)  # the old lines stay as they were
    records = read_evaluations(out / "evaluations.jsonl", 2)
    assert [r.index for r in records] == [0, 1, 2, 3, 4]
    assert [json.loads(x)["format"] for x in text.splitlines()[3:]] == [1, 1]
    summary = SweepSummary.read(out / "summary.json")
    assert summary.calls_done == 5 and summary.wall_seconds >= 1.0  # the old session's 1.0 s
    assert json.loads((out / "summary.json").read_text())["format"] == 1
    assert capsys.readouterr().out.splitlines()[-1].startswith("srnn H=4: ")


def test_an_old_evaluation_reports(tmp_path):
    shutil.copytree(OLD_EVALUATION, tmp_path / "evaluations" / "srnn_4")
    written = build_report([tmp_path / "evaluations"], tmp_path / "report")
    text = (tmp_path / "report" / "report.md").read_text()
    assert "| `srnn` | 4 | 0.0 ± 0.0 | 2 | 1 |" in text
    assert written["trajectories"]["srnn"].directory == tmp_path / "evaluations" / "srnn_4"


def approx_tree(obj):
    """``obj`` with every float replaced by ``pytest.approx`` of it (rel 1e-9)."""
    if isinstance(obj, float):
        return pytest.approx(obj, rel=1e-9, abs=1e-12)
    if isinstance(obj, dict):
        return {k: approx_tree(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [approx_tree(v) for v in obj]
    return obj


def test_an_old_optimum_plans_an_evaluation():
    surrogate = Optimum.read(DATA / "old_surrogate_optimum_v0.json")
    plan = sweep_plan(OLD_SWEEP, 5, progress=False, optimum=surrogate)
    assert (plan.model, plan.hidden_size, plan.p, plan.iterations) == ("srnn", 4, 1, 5)
    assert plan.hparams == surrogate.hparams and plan.learn_initial_state is True
    again = find_optimum(OLD_SWEEP, resolution=5, refine=3, progress=False)
    # The old surrogate.pk reads the same (its source was the relative path), to the last
    # digits a CPU's BLAS rounds differently (Intel and AMD VMs differ at 1e-13).
    assert again.to_dict() | {"source": surrogate.source} == approx_tree(surrogate.to_dict())
    observed = observed_optimum(OLD_SWEEP)
    assert (observed.p, observed.hparams, observed.model) == (5.0, {"lr": 0.01}, "srnn")


def test_an_old_study_directory_finishes(tmp_path, capsys):
    out = tmp_path / "study"
    shutil.copytree(OLD_STUDY, out)
    evaluation = (out / "evaluations" / "srnn_4" / "evaluation.json").read_text()
    argv = ["--preset", "quick", "--models", "srnn", "--sizes", "4", "--calls", "3"]
    argv += ["--iterations", "5", "--batch-size", "1", "--seeds", "2", "--resolution", "5"]
    assert study_main([*argv, "--out", str(out)]) == 0
    assert (out / "evaluations" / "srnn_4" / "evaluation.json").read_text() == evaluation
    assert "| `srnn` | 4 |" in (out / "report" / "report.md").read_text()
    assert len((out / "sweeps" / "srnn_4" / "evaluations.jsonl").read_text().splitlines()) == 3
    capsys.readouterr()


# ---------------------------------------------------------------- writer and reader


def test_every_record_round_trips_through_its_writer_and_reader(tmp_path):
    for kind, path in OLD_FILES:
        record = kind.read(path)
        record.write(tmp_path / "again.json")
        again = kind.read(tmp_path / "again.json")
        assert again == record and again.to_json() == record.to_json()
    line = Configuration.from_dict(json.loads(OLD_SWEEP.joinpath("evaluations.jsonl")
                                              .read_text().splitlines()[1]), "x")  # fmt: skip
    assert Configuration.from_dict(json.loads(line.to_line()), "y") == line


@pytest.mark.parametrize("name", NAMES)
def test_a_search_space_round_trips_through_its_writer(tmp_path, name):
    config = load_search_config(name)
    write_search_config(config, tmp_path / "space.yaml")
    again = load_search_config(tmp_path / "space.yaml")
    assert again.to_dict() == config.to_dict()


def test_an_unknown_format_is_refused_naming_file_and_field(tmp_path):
    for kind, path in OLD_FILES:
        bad = tmp_path / path.name
        bad.write_text(json.dumps({"format": 2} | json.loads(path.read_text())))
        with pytest.raises(UsageError) as exc:
            kind.read(bad)
        message = str(exc.value)
        assert message.startswith(f"{bad}: ") and "format" in message and "2" in message
        assert "\n" not in message


# ------------------------------------------------------------------- strict reading

SPACE = json.loads((OLD_SWEEP / "space.json").read_text())
SUMMARY = json.loads((OLD_SWEEP / "summary.json").read_text())
EVALUATION = json.loads((OLD_EVALUATION / "evaluation.json").read_text())
OPTIMUM = json.loads((DATA / "old_surrogate_optimum_v0.json").read_text())
LINE = json.loads((OLD_SWEEP / "evaluations.jsonl").read_text().splitlines()[0])

BAD = [
    # (record, its good content, change, the field named)
    (SweepSpace, SPACE, {"hidden_size": "4"}, "hidden_size"),
    (SweepSpace, SPACE, {"tries": True}, "tries"),
    (SweepSpace, SPACE, {"threshold": float("nan")}, "threshold"),
    (SweepSpace, SPACE, {"threshold": -0.1}, "threshold"),
    (SweepSpace, SPACE, {"seed": -1}, "seed"),
    (SweepSpace, SPACE, {"settings": []}, "settings"),
    (SweepSpace, SPACE, {"dimensions": "p"}, "dimensions"),
    (SweepSpace, SPACE, {"x0": {"p": 5}}, "x0"),
    (SweepSpace, SPACE, {"x0": {"p": 500, "lr": 0.01}}, "x0.p"),
    (SweepSpace, SPACE, {"model": "nope"}, "model"),
    (SweepSpace, SPACE, {"extra": 1}, "extra"),
    (SweepSummary, SUMMARY, {"calls_done": -1}, "calls_done"),
    (SweepSummary, SUMMARY, {"best": "configuration 0"}, "best"),
    (SweepSummary, SUMMARY, {"best": SUMMARY["best"] | {"counts": [0, "1"]}}, "best.counts[1]"),
    (SweepSummary, SUMMARY, {"wall_seconds": float("inf")}, "wall_seconds"),
    (Evaluation, EVALUATION, {"source": "a sweep"}, "source"),
    (Evaluation, EVALUATION, {"settings": ["teacher_forcing"]}, "settings"),
    (Evaluation, EVALUATION, {"std_count": -1.0}, "std_count"),
    (Evaluation, EVALUATION, {"counts": [0, 2]}, "counts"),  # above p = 1
    (Evaluation, EVALUATION, {"seeds": [0, True]}, "seeds[1]"),
    (Evaluation, EVALUATION, {"hparams": {"lr": float("nan")}}, "hparams.lr"),
    (Evaluation, EVALUATION, {"parameters": {"trainable": 1}}, "parameters"),
    (Evaluation, EVALUATION, {"loss_curves": [[0.1, "x"]]}, "loss_curves[0][1]"),
    (Optimum, OPTIMUM, {"p": 0.5}, "p"),
    (Optimum, OPTIMUM, {"hparams": {"lr": "big"}}, "hparams.lr"),
    (Optimum, OPTIMUM, {"refined": {"p": 1.0}}, "refined"),
    (Optimum, OPTIMUM, {"grid_point": [0.0, None]}, "grid_point[1]"),
    (Configuration, LINE, {"counts": [0, -1]}, "counts[1]"),
    (Configuration, LINE, {"x": "5"}, "x"),
    (Configuration, LINE, {"final_losses": [0.2]}, "final_losses"),
]


@pytest.mark.parametrize(
    ("kind", "good", "change", "field"), BAD, ids=[f"{k.__name__}-{f}" for k, _, _, f in BAD]
)
def test_a_bad_field_is_one_error_naming_file_and_field(tmp_path, kind, good, change, field):
    path = tmp_path / "record.json"
    path.write_text(json.dumps(good | change))
    with pytest.raises(UsageError) as exc:
        kind.read(path)
    message = str(exc.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert field in message, message


@pytest.mark.parametrize(
    "content",
    [b"[1, 2]", b'"space"', b"\x89PNG\r\n\x1a\n\x00\xff", b"{", b""],
    ids=["list", "string", "binary", "torn", "empty"],
)
@pytest.mark.parametrize("kind", [SweepSpace, SweepSummary, Evaluation, Optimum])
def test_not_a_json_object_is_one_error(tmp_path, kind, content):
    path = tmp_path / "record.json"
    path.write_bytes(content)
    with pytest.raises(UsageError) as exc:
        kind.read(path)
    assert str(exc.value).startswith(f"{path}: ") and "\n" not in str(exc.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"[1, 2]", "unreadable space (a JSON object is expected)"),
        (b'"a string"', "unreadable space (a JSON object is expected)"),
        (b"\x80\x81 binary", "unreadable space ("),
        (json.dumps(SPACE | {"format": 9}).encode(), "unreadable space (format: version 9 unknown"),
    ],
    ids=["list", "string", "binary", "format"],
)
def test_resume_of_a_bad_space_is_one_line(tmp_path, capsys, content, message):
    out = tmp_path / "old"
    shutil.copytree(OLD_SWEEP, out)
    (out / "space.json").write_bytes(content)
    argv = [*OLD_SWEEP_ARGS, "--out", str(out), "--log-dir", str(tmp_path / "logs")]
    with pytest.raises(SystemExit) as exc:
        sweep_main([*argv, "--calls", "4", "--resume"])
    assert exc.value.code == 2
    assert f"{out / 'space.json'}: {message}" in error_line(capsys)


def test_a_bad_line_inside_the_journal_names_line_and_field(tmp_path):
    path = tmp_path / "evaluations.jsonl"
    lines = (OLD_SWEEP / "evaluations.jsonl").read_text().splitlines()
    lines[1] = json.dumps(json.loads(lines[1]) | {"mean_count": -1})
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UsageError, match=r"line 2: not a record of this sweep \(mean_count: "):
        read_evaluations(path, 2)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"source": "a sweep"}, "not an evaluation ('source' missing or not a dict"),
        ({"settings": []}, "not an evaluation ('settings' missing or not a dict"),
        ({"std_count": -1}, "not an evaluation ('std_count' must be at least 0, got -1)"),
    ],
)
def test_report_on_a_bad_evaluation_is_one_line(tmp_path, capsys, change, message):
    (tmp_path / "r" / "x").mkdir(parents=True)
    (tmp_path / "r" / "x" / "evaluation.json").write_text(json.dumps(EVALUATION | change))
    with pytest.raises(SystemExit) as exc:
        report_main([str(tmp_path / "r"), "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    assert message in error_line(capsys)
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------- search spaces

GOOD_YAML = (DATA.parent.parent / "configs" / "srnn.yaml").read_text()


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("srnn.yaml", GOOD_YAML.replace("model: srnn", "model: trnn"),
         "model: 'trnn' in srnn.yaml, a file named after srnn"),
        ("space.yaml", GOOD_YAML + "calls: 5\n", "the key 'calls' appears twice"),
        ("space.yaml", GOOD_YAML.replace("high: 1.0,", "high: .inf,"), "space.lr: low and high"),
        ("space.yaml", GOOD_YAML.replace("low: 1.0e-4,", "low: .nan,"), "space.lr: low and high"),
    ],
)  # fmt: skip
def test_a_bad_search_space_names_file_and_key(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(UsageError) as exc:
        load_search_config(path)
    assert str(exc.value).startswith(f"{path}: ") and message in str(exc.value)


def test_a_binary_search_space_is_one_error(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    with pytest.raises(UsageError, match="not a YAML text file"):
        load_search_config(path)


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "directory"])
def test_a_journal_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    """A journal linked to /dev/zero would fill memory, a FIFO block the sweep forever."""
    import os

    path = tmp_path / "evaluations.jsonl"
    {"dev-zero": lambda: path.symlink_to("/dev/zero"), "fifo": lambda: os.mkfifo(path),
     "directory": path.mkdir}[kind]()  # fmt: skip
    with pytest.raises(UsageError, match="evaluations.jsonl: not a regular file"):
        read_evaluations(path, dims=2)


def test_the_data_bias_label_says_which_way_it_leans():
    from rnn_capacity.reference import DataBias

    def label(ratio):
        return DataBias("gru", ratio, 0.9, 12, (30, 40)).label()

    assert (label(1.46), label(0.62), label(1.04)) == ("1.46 (easier)", "0.62 (harder)", "1.04 (≈)")
    # A row at a size the bias was not measured at says where it was; one measured apart
    # at that size (a check) is used instead of the pooled one.
    pooled = DataBias("gru", 1.46, 0.9, 24, (30, 40), {60: DataBias("gru", 1.39, 0.9, 24, (60,))})
    assert pooled.label(30) == "1.46 (easier)" and pooled.label(60) == "1.39 (easier)"
    assert pooled.at(30).label(30) == "1.46 (easier)"
    assert pooled.at(60).label(60) == "1.39 (easier)"
    assert DataBias("lstm", 0.97, 0.8, 24, (30, 40)).at(60).label(60) == "0.97 (≈, H 30/40)"
