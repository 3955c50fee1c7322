"""The report: built from hand-written evaluation directories (no training), its figure's
axis choice, duplicates, and the one-line refusals of bad input."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

import numpy as np
import pytest

from rnn_capacity import report as report_module
from rnn_capacity.reference import DataBias
from rnn_capacity.report import (
    best_per_model,
    build_report,
    capacity_figure,
    collect,
    deduplicate,
    main,
    parameter_figure,
    ratio,
    reference_rows,
    table_rows,
    use_log_x,
)

PNG = b"\x89PNG\r\n\x1a\n"


def write_evaluation(d, model, size, p, counts, *, teacher_forced=False, samples=True):
    """An evaluation directory as ``rnn_capacity.evaluate`` writes it (without its plots)."""
    d.mkdir(parents=True, exist_ok=True)
    ev = {
        "model": model,
        "hidden_size": size,
        "p": p,
        "hparams": {"lr": 0.006918} if model != "esn" else {"tau": 9.12, "sigma": 0.14},
        "learn_initial_state": False,
        "settings": {"teacher_forcing": "always"} if teacher_forced else {},
        "teacher_forced_count": teacher_forced,
        "threshold": 0.1,
        "data": None,
        "source": {"kind": "reference"},
        "seeds": list(range(len(counts))),
        "counts": counts,
        "mean_count": statistics.mean(counts),
        "std_count": statistics.stdev(counts) if len(counts) > 1 else 0.0,
    }
    (d / "evaluation.json").write_text(json.dumps(ev))
    if samples:
        t = np.linspace(0, 6, 20)
        targets = np.stack([np.stack([np.sin(t + i), np.cos(t)], -1) for i in range(3)], 1)
        np.savez(
            d / "samples.npz",
            generated=targets + 0.05,
            targets=targets,
            errors=np.array([0.07, 0.2, 0.05]),
            threshold=np.asarray(0.1),
        )
    return d


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A report of two directories: gru (teacher-forced) at 60, pc_rnn_hc_a at 40 and 60."""
    root = tmp_path_factory.mktemp("report")
    write_evaluation(root / "a" / "gru_60", "gru", 60, 41, [38, 40, 39], teacher_forced=True)
    write_evaluation(root / "a" / "hca_60", "pc_rnn_hc_a", 60, 61, [44, 46])
    write_evaluation(root / "b" / "nested" / "hca_40", "pc_rnn_hc_a", 40, 10, [8, 9])
    # A data-bias measurement for the GRU only (the shipped one may hold any models).
    # Pooled over H = 30 / 40, and apart at H = 60 (a check): the row at 60 shows the latter.
    at_60 = DataBias("gru", 1.39, 0.91, 24, (60,))
    bias = {"gru": DataBias("gru", 1.46, 0.94, 24, (30, 40), {60: at_60})}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(report_module, "load_data_bias", lambda: bias)
        result = build_report([root / "a", root / "b"], root / "out")
    return root, result


def test_the_report_holds_figures_table_and_trajectories(built):
    root, result = built
    out = root / "out"
    names = {p.name for p in result["files"]}
    expected = {
        "capacity",
        "capacity_per_parameter",
        "trajectories_gru",
        "trajectories_pc_rnn_hc_a",
    }
    assert names == {f"{n}.{x}" for n in expected for x in ("png", "svg")} | {"report.md"}
    for name in expected:
        assert (out / f"{name}.png").read_bytes().startswith(PNG)
        assert "<svg" in (out / f"{name}.svg").read_text()
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporary file
    text = (out / "report.md").read_text()
    # The original's numbers beside ours: gru H=60 predicts 33.53 and observed 55.5.
    gru = next(line for line in text.splitlines() if line.startswith("| `gru` | 60 |"))
    assert "39.0 ± 1.0 †" in gru and "| 3 | 41 |" in gru
    assert "| 33.5 | 55.5 | 1.16 |" in gru  # 39 / min(33.53, 41)
    # GRU, H = 60, fixed initial states: 3·(60·60 + 60·2 + 60) + 2·60 + 2 = 11642 trainable
    # parameters (counted: the file predates the record); 39 / 11.642 and 33.53 / 11.642.
    assert "| 11642 | 3.35 |" in gru and "| 2.88 |" in gru
    # The data's measured bias for the GRU (built-in data: no --data); none for HC-A.
    assert gru.endswith("| 2.88 | 1.39 (easier) |")
    hca40 = next(line for line in text.splitlines() if line.startswith("| `pc_rnn_hc_a` | 40 |"))
    assert "| 16.9 | 24.0 | 0.85 |" in hca40  # p=10 < 16.95 predicted: 8.5 / 10
    assert hca40.endswith("| — |")  # no bias measured for this model
    assert "lr=0.006918" in gru and "fixed" in gru and "teacher_forcing=always" in gru
    assert "one-step prediction from the true previous point, not free generation" in text
    assert "(teacher-forced count)" in text
    for link in ("capacity.png", "capacity.svg", "trajectories_gru.png", "trajectories_gru.svg"):
        assert f"]({link})" in text
    assert "](../b/nested/hca_40/evaluation.json)" in text
    # pc_rnn_hc_a's best configuration is H=60 (more sequences learned than at 40).
    assert result["trajectories"]["pc_rnn_hc_a"].hidden_size == 60


def test_table_rows_and_best_per_model(built):
    root, _ = built
    evaluations = collect([root / "a", root / "b"])
    rows = table_rows(evaluations, reference_rows(["gru", "pc_rnn_hc_a"]))
    assert [(r["model"], r["hidden_size"]) for r in rows] == [
        ("gru", 60),
        ("pc_rnn_hc_a", 40),
        ("pc_rnn_hc_a", 60),
    ]  # MODELS order, then size
    assert rows[0]["original_predicted"] == pytest.approx(33.53)
    assert rows[0]["teacher_forced_count"] and not rows[2]["teacher_forced_count"]
    assert table_rows(evaluations)[0]["ratio"] is None  # no reference, no ratio
    assert {m: e.hidden_size for m, e in best_per_model(evaluations).items()} == {
        "gru": 60,
        "pc_rnn_hc_a": 60,
    }
    assert ratio(39, 33.53, 41) == pytest.approx(39 / 33.53)
    assert ratio(8.5, 16.95, 10) == pytest.approx(0.85)
    assert ratio(1, None, 5) is None and ratio(0, 0.0, 5) is None


def test_the_data_bias_is_shown_only_for_the_variant_it_was_measured_with(tmp_path):
    """The bias is the paper variant's on the shipped data: a GRU row counted in free
    generation (not its paper variant) or on a user's data gets none."""
    write_evaluation(tmp_path / "tf", "gru", 60, 41, [38, 40], teacher_forced=True)
    write_evaluation(tmp_path / "free", "gru", 30, 41, [3, 5])
    write_evaluation(tmp_path / "own_data", "gru", 40, 41, [38, 40], teacher_forced=True)
    ev = json.loads((tmp_path / "own_data" / "evaluation.json").read_text())
    (tmp_path / "own_data" / "evaluation.json").write_text(json.dumps(ev | {"data": "x.npy"}))
    bias = {"gru": DataBias("gru", 1.86, 0.61, 24, (30, 40))}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(report_module, "load_data_bias", lambda: bias)
        rows = {r["hidden_size"]: r for r in table_rows(collect([tmp_path]))}
    assert rows[60]["variant"] == "paper" and rows[60]["data_bias"] == "1.86 (easier, H 30/40)"
    assert rows[30]["variant"] == "own" and rows[30]["data_bias"] is None
    assert rows[40]["data_bias"] is None


def test_log_axis_only_when_the_esn_sizes_are_in(tmp_path):
    assert not use_log_x([30, 40, 60]) and use_log_x([30, 60, 1000])
    write_evaluation(tmp_path / "m", "mtrnn", 40, 11, [9, 10])
    write_evaluation(tmp_path / "e", "esn", 1000, 31, [25, 26])
    mtrnn = collect([tmp_path / "m"])
    both = collect([tmp_path])
    scale = {}
    for name, evs, ref in [("mtrnn", mtrnn, True), ("both", both, False), ("ref", both, True)]:
        refs = reference_rows(e.model for e in evs) if ref else None
        fig = capacity_figure(evs, refs)
        scale[name] = fig.axes[0].get_xscale()
        ticks = list(fig.axes[0].get_xticks())
        fig.clf()
    assert scale == {"mtrnn": "linear", "both": "log", "ref": "log"}
    assert ticks == [30, 40, 60, 1000, 2000, 3000, 4000]  # all the original's sizes overlaid


def test_duplicates_keep_more_seeds_with_a_warning(tmp_path, capsys):
    write_evaluation(tmp_path / "r" / "old", "gru", 40, 16, [12, 13, 14])
    write_evaluation(tmp_path / "r" / "new", "gru", 40, 16, [15, 15, 15, 16, 16], samples=False)
    kept, warnings = deduplicate(collect([tmp_path / "r"]))
    assert len(kept) == 1 and kept[0].directory.name == "new" and len(warnings) == 1
    # A directory given twice (or inside another given one) is the same evaluation, no warning.
    assert len(collect([tmp_path / "r", tmp_path / "r" / "old"])) == 2
    assert main([str(tmp_path / "r"), "--out", str(tmp_path / "out"), "--no-reference"]) == 0
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert any("evaluated twice" in line and "5 seeds" in line for line in err)
    assert any("no samples.npz" in line for line in err)  # the kept one has none
    assert captured.out.splitlines() == [
        f"wrote {tmp_path / 'out' / name}"
        for name in (
            "capacity.png",
            "capacity.svg",
            "capacity_per_parameter.png",
            "capacity_per_parameter.svg",
            "report.md",
        )
    ]
    text = (tmp_path / "out" / "report.md").read_text()
    assert "15.4 ± 0.5" in text and "original predicted" not in text


def test_an_existing_report_is_replaced_only_with_force(tmp_path, capsys):
    write_evaluation(tmp_path / "r" / "gru", "gru", 40, 16, [12, 13])
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.md").write_text("old\n")
    (out / "trajectories_lstm.png").write_bytes(b"stale")  # of a model no longer reported
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "r"), "--out", str(out)])
    assert exc.value.code == 2
    assert "already holds a report.md: pass --force" in error_line(capsys)
    assert (out / "report.md").read_text() == "old\n"
    assert main([str(tmp_path / "r"), "--out", str(out), "--force"]) == 0
    assert (out / "report.md").read_text() != "old\n"
    assert (out / "trajectories_gru.png").exists() and not (out / "trajectories_lstm.png").exists()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda r: r.mkdir(), "no evaluation.json found below it"),
        (lambda r: None, "no such directory"),
        (lambda r: bad(r, "{not json"), "r/x/evaluation.json: not a readable evaluation"),
        (lambda r: bad(r, '{"model": "gru"}'), "'hidden_size' missing or not a int"),
        (lambda r: bad(r, "[1, 2]"), "r/x/evaluation.json: not an evaluation"),
        (lambda r: bad(r, GOOD.replace('"gru"', '"nope"')), "unknown model 'nope'"),
        (lambda r: bad(r, GOOD.replace("7.5", "NaN")), "'mean_count' missing"),
        (lambda r: bad(r, GOOD, samples=b"garbage"), "r/x/samples.npz: not readable samples"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, setup, message):
    setup(tmp_path / "r")
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "r"), "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    assert message in error_line(capsys)
    assert not (tmp_path / "out").exists()  # refused before anything is written


GOOD = '{"model": "gru", "hidden_size": 40, "p": 9, "mean_count": 7.5, "std_count": 0.5}'


def bad(root, text: str, samples: bytes | None = None) -> None:
    (root / "x").mkdir(parents=True)
    (root / "x" / "evaluation.json").write_text(text)
    if samples is not None:
        (root / "x" / "samples.npz").write_bytes(samples)


def fifo(path: Path) -> None:
    os.mkfifo(path)


def zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


@pytest.mark.parametrize(
    ("make", "kind"), [(zero, "a character device"), (fifo, "a FIFO")], ids=["dev-zero", "fifo"]
)
@pytest.mark.parametrize("name", ["evaluation.json", "samples.npz"])
def test_a_record_that_is_not_a_regular_file_is_refused(tmp_path, capsys, make, kind, name):
    """A link to /dev/zero would be read until memory runs out, a FIFO waited on forever."""
    (tmp_path / "r" / "x").mkdir(parents=True)
    if name != "evaluation.json":
        (tmp_path / "r" / "x" / "evaluation.json").write_text(GOOD)
    make(tmp_path / "r" / "x" / name)
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "r"), "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    assert f"{name}: not a regular file ({kind})" in error_line(capsys)


def test_an_oversized_record_is_refused(tmp_path, capsys, monkeypatch):
    from rnn_capacity import files

    monkeypatch.setattr(files, "MAX_RECORD_BYTES", 10)
    monkeypatch.setattr(files.read_record_bytes, "__defaults__", (10,))
    bad(tmp_path / "r", GOOD)
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "r"), "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    assert "larger than a record can be" in error_line(capsys)


def test_a_diverged_evaluation_is_reported_as_diverged_not_zero(tmp_path):
    """Every seed's loss non-finite (null in the file): 'diverged', not 'count 0.0 ± 0.0'."""
    write_evaluation(tmp_path / "r" / "dead", "gru", 40, 9, [0, 0], samples=False)
    write_evaluation(tmp_path / "r" / "half", "pc_rnn_hc_a", 40, 9, [0, 8], samples=False)
    for name, losses in (("dead", [None, None]), ("half", [None, 0.01])):
        path = tmp_path / "r" / name / "evaluation.json"
        path.write_text(json.dumps(json.loads(path.read_text()) | {"final_losses": losses}))
    build_report([tmp_path / "r"], tmp_path / "out", reference=False)
    text = (tmp_path / "out" / "report.md").read_text()
    dead = next(line for line in text.splitlines() if line.startswith("| `gru` | 40 |"))
    half = next(line for line in text.splitlines() if line.startswith("| `pc_rnn_hc_a` | 40 |"))
    assert "| diverged (all 2 seeds) |" in dead and "0.0 ± 0.0" not in dead
    assert "| 4.0 ± 5.7 (1 of 2 seeds diverged) |" in half


def test_rows_of_different_protocols_are_flagged(tmp_path, capsys):
    """An own-variant row (learned states for GRU, 100 iterations) beside paper-variant rows."""
    write_evaluation(tmp_path / "r" / "gru", "gru", 60, 41, [38, 40], teacher_forced=True)
    write_evaluation(tmp_path / "r" / "gru40", "gru", 40, 20, [10, 12], samples=False)
    path = tmp_path / "r" / "gru40" / "evaluation.json"
    ev = json.loads(path.read_text()) | {"learn_initial_state": True, "iterations": 100}
    path.write_text(json.dumps(ev))
    assert main([str(tmp_path / "r"), "--out", str(tmp_path / "out"), "--no-reference"]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "different protocols" in line]
    assert len(err) == 1 and "variant own (1 row), paper (1 row)" in err[0], err
    assert "iterations 100 (1 row), not recorded (1 row)" in err[0]
    text = (tmp_path / "out" / "report.md").read_text()
    assert "**Warning: rows of different protocols side by side" in text
    row = next(line for line in text.splitlines() if line.startswith("| `gru` | 40 |"))
    assert "| 100 | learned |" in row and "| own |" in row


def test_rows_of_one_protocol_are_not_flagged(built):
    root, result = built
    assert not any("different protocols" in w for w in result["warnings"])


def test_the_shipped_data_bias_covers_every_replayable_model():
    """rnn_capacity/data_bias.json (bench/data_bias.py, from replays of the original's own
    configurations): one row per model with an original surrogate, ratios positive."""
    from rnn_capacity.reference import load_data_bias

    bias = load_data_bias()
    replayable = {"pc_rnn_hc_a", "pc_rnn_gc_hc_a", "pc_rnn_hc_m", "pc_rnn_gc_hc_m",
                  "pc_rnn_gc", "pc_rnn_v", "mtrnn", "ugrnn", "lstm", "gru",
                  "antisymmetric_rnn", "esn"}  # fmt: skip
    assert set(bias) == replayable
    assert all(b.ratio > 0 and b.n >= 12 for b in bias.values())


# ------------------------------------------------------------------------- figures


def test_figures_name_models_short_and_keep_coinciding_points_apart(tmp_path):
    """Legends show each model's short name, not its registry or import name; two models
    with the same count at the same size are drawn side by side (both seen); the count
    against parameters keeps every point, 0 and the largest, inside its axes."""
    write_evaluation(tmp_path / "a", "pc_rnn_hc_a", 30, 9, [0, 0])
    write_evaluation(tmp_path / "b", "srnn", 30, 9, [0, 0])
    write_evaluation(tmp_path / "c", "gru", 60, 41, [41, 41], teacher_forced=True)
    evs = collect([tmp_path])
    for figure in (capacity_figure, parameter_figure):
        fig = figure(evs, reference_rows(e.model for e in evs))
        ax = fig.axes[0]
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels[:3] == ["sRNN", "GRU (teacher-forced count)", "PC-RNN-HC-A"]
        ours = {c.get_label(): c for c in ax.containers}  # errorbars: ours, one per model
        zero_x = [float(ours[m].lines[0].get_xdata()[0]) for m in ("sRNN", "PC-RNN-HC-A")]
        assert zero_x[0] != zero_x[1]  # the two at count 0 do not coincide
        low, high = ax.get_ylim()
        assert low < 0 and high > 41 + 0.5
        fig.clf()


def test_tick_labels_that_would_touch_are_turned():
    from rnn_capacity.report import set_size_axis

    fig, ax = report_module.pyplot().subplots(figsize=(10, 5.5))
    ax.plot([4, 4000], [0, 1])
    set_size_axis(ax, [4, 8, 30, 40, 60, 1000, 2000, 3000, 4000])
    assert {t.get_rotation() for t in ax.get_xticklabels()} == {45.0}
    fig.clf()
    fig, ax = report_module.pyplot().subplots(figsize=(10, 5.5))
    ax.plot([30, 60], [0, 1])
    set_size_axis(ax, [30, 40, 60])
    assert {t.get_rotation() for t in ax.get_xticklabels()} == {0.0}
    fig.clf()


def test_model_labels():
    from rnn_capacity.models import BUILTIN_MODELS, PCRNNHCA, model_label

    assert model_label("pc_rnn_hc_a") == "PC-RNN-HC-A" and model_label("srnn") == "sRNN"
    assert model_label("mypkg.cells:Jordan") == "Jordan"  # not imported
    assert len({model_label(m) for m in BUILTIN_MODELS}) == len(BUILTIN_MODELS)

    class Mine(PCRNNHCA):  # a subclass is not shown under its parent's name
        pass

    assert Mine.__dict__.get("display_name") is None
