"""bench/throughput.py and its original-style baselines (bench/original_style.py), tiny sizes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

import data_bias  # noqa: E402
import fit_data  # noqa: E402
import loop_counts  # noqa: E402
import lr_window  # noqa: E402
import original_style  # noqa: E402
import step_cost  # noqa: E402
import study_cost  # noqa: E402
import throughput  # noqa: E402

from rnn_capacity.models import BUILTIN_MODELS, MODELS  # noqa: E402

BPTT = [name for name in BUILTIN_MODELS if name != "esn"]


def refuse(constant: str):
    raise ValueError(f"not strict JSON: {constant}")


def test_throughput_tiny_run_reports_ratio_and_startup_per_row(capsys):
    argv = ["--models", "pc_rnn_hc_a", "gru", "esn", "--ks", "1", "2"]
    argv += ["--iterations", "3", "--warmup", "1", "--repeats", "1", "--threads", "1"]
    argv += ["--project", "--project-ps", "2", "3", "--json"]
    threads = torch.get_num_threads()
    throughput.main(argv)
    assert torch.get_num_threads() == threads  # restored
    out = capsys.readouterr().out.strip().splitlines()
    report = json.loads(out[-1], parse_constant=refuse)  # strict JSON: no NaN or Infinity
    rows = {(r["model"], r["K"]): r for r in report["rows"]}
    assert set(rows) == {("pc_rnn_hc_a", 1), ("pc_rnn_hc_a", 2), ("gru", 1), ("gru", 2)}
    for row in rows.values():
        assert row["ratio"] > 0
        assert row["baseline_startup_s"] > 0 and row["package_startup_s"] > 0
        assert row["baseline_ms_per_iteration"] > 0 and row["package_ms_per_iteration"] > 0
        expected = row["baseline_ms_per_iteration"] / row["package_ms_per_model_iteration"]
        assert row["ratio"] == pytest.approx(expected, rel=1e-3)
    # The baseline trains one model at a time: measured once per model, the same for all K.
    assert (
        rows["gru", 1]["baseline_ms_per_iteration"] == rows["gru", 2]["baseline_ms_per_iteration"]
    )
    assert "lightning_overhead" in rows["pc_rnn_hc_a", 2]
    assert "closed form" in report["skipped"]["esn"]
    assert report["faithfulness"]["notebook_over_baseline"] > 0
    projection = report["projection"]
    assert projection["sampled_p"] == [2, 3]
    assert projection["package_hours"] > 0 and projection["baseline_hours"] > 0
    assert report["machine"] and report["threads"] == 1


def test_every_bptt_model_has_a_baseline():
    assert set(original_style.BASELINES) == set(BPTT)
    assert set(throughput.HPARAMS) == set(BPTT)


@pytest.mark.parametrize("name", BPTT)
def test_baseline_forward_returns_errors_per_step_and_sequence(name):
    T, p, H = 60, 3, 8
    model, h0, c0 = original_style.build_original(name, p, H, **throughput.HPARAMS[name])
    targets = torch.randn(T, p, 2)
    errors = model(targets, c0, h0)
    assert errors.shape == (T, p, 2)
    assert torch.isfinite(errors).all()
    torch.mean(errors**2).backward()
    grads = [q.grad for q in model.parameters()]
    assert grads and all(g is not None for g in grads)


def test_train_original_records_one_time_per_iteration():
    clock: list[float] = []
    targets = torch.randn(60, 2, 2)
    loss = original_style.train_original("trnn", targets, 6, 3, clock=clock, tau=5.0)
    assert len(clock) == 3 and clock == sorted(clock) and np.isfinite(loss)


def test_notebook_transcription_trains_from_the_numpy_array():
    raw = np.random.default_rng(0).normal(size=(250, 1200, 2))
    trajs = original_style.original_trajs(raw)
    assert trajs.shape == (60, 250, 2) and not trajs.flags.c_contiguous
    clock: list[float] = []
    loss = original_style.notebook_training(trajs, 4, 8, 0.01, 5.0, 2, clock=clock)
    assert len(clock) == 2 and np.isfinite(loss)


#: package tensor name -> baseline parameter name
BASELINE_NAMES = {
    "W_ih": "cell.weight_ih",
    "W_hh": "cell.weight_hh",
    "b_ih": "cell.bias_ih",
    "b_hh": "cell.bias_hh",
    "V": "v",
}
STATES = ("h0", "c0", "s0", "f0")


@pytest.mark.parametrize("name", BPTT)
def test_baseline_computes_the_package_models_equations(name):
    """With the package model's weights and initial states, the baseline makes the same
    errors: same equations, same shapes, same trainable parameters."""
    T, p, H = 60, 3, 8
    hp = throughput.HPARAMS[name]
    package = MODELS[name](H, p, seed=0, learn_initial_state=False, lr=0.01, **hp)
    base, _, c0 = original_style.build_original(name, p, H, **hp)
    params = dict(base.named_parameters())
    rep = package.replicas[0]
    weights = {n: t for n, t in rep.items() if n not in STATES}
    assert len(weights) == len(params)
    with torch.no_grad():
        for n, t in weights.items():
            target = params[BASELINE_NAMES.get(n, n.lower())]
            target.copy_(t.reshape(target.shape))
        if name == "lstm":
            h0 = (torch.tanh(rep["c0"]), rep["c0"].clone())
        elif name == "mtrnn":
            h0 = (rep["s0"].clone(), rep["f0"].clone())
        else:
            h0 = rep["h0"].clone()
        x = 0.5 * torch.randn(T, p, 2)
        expected = package(x[:, None])[:, 0] - x
        torch.testing.assert_close(base(x, c0, h0), expected, rtol=1e-5, atol=1e-5)


def test_throughput_times_the_autograd_loop_beside_the_hand_written_one():
    argv = ["--models", "trnn", "--ks", "2", "--iterations", "2", "--warmup", "1"]
    report = throughput.main(argv + ["--repeats", "1", "--threads", "1"])
    (row,) = report["rows"]
    assert row["autograd_ms_per_iteration"] > 0 and row["bptt_speedup"] > 0
    expected = row["baseline_ms_per_iteration"] / (row["autograd_ms_per_iteration"] / 2)
    assert row["autograd_ratio"] == pytest.approx(expected, rel=1e-3)


@pytest.mark.slow  # a cold compile of the whole step: ~20 s
def test_throughput_times_the_compiled_step_beside_the_default():
    argv = ["--models", "trnn", "--ks", "2", "--iterations", "2", "--warmup", "1"]
    report = throughput.main(argv + ["--repeats", "1", "--threads", "1", "--compile"])
    (row,) = report["rows"]
    assert row["compiled_ms_per_iteration"] > 0 and row["compiled_startup_s"] > 0
    expected = row["package_ms_per_iteration"] / row["compiled_ms_per_iteration"]
    assert row["compile_speedup"] == pytest.approx(expected, rel=1e-3)


def test_step_cost_compares_methods_side_by_side():
    argv = ["--models", "pc_rnn_hc_a", "gru", "--ks", "2", "--ps", "3", "--hidden-size", "6"]
    argv += ["--rounds", "2", "--iterations", "2", "--warmup", "1", "--check"]
    report = step_cost.main(argv)
    rows = {(r["model"], r["method"]): r for r in report["rows"]}
    assert set(rows) == {(m, k) for m in ("pc_rnn_hc_a", "gru") for k in ("autograd", "bptt")}
    for (_, method), row in rows.items():
        assert row["ms_per_iteration"] > 0
        assert row["grad_max_rel_diff"] < 1e-4 and row["output_max_abs_diff"] < 1e-5
        if method == "autograd":
            assert row["speedup"] == 1.0 and row["grad_max_rel_diff"] == 0.0


@pytest.mark.slow  # 42 s cold (a clean clone: the CI), 3-4 s when rerun: not yet explained
def test_study_cost_projects_every_cell_for_every_method():
    argv = ["--models", "srnn", "esn", "--sizes", "30", "1000", "--calls", "12"]
    argv += ["--ps", "1", "3", "--esn-ps", "2", "--iterations", "2", "--warmup", "2"]
    argv += ["--gp-points", "11", "--no-evaluation"]
    report = study_cost.main(argv)
    cells = {(c["model"], c["H"]): c for c in report["cells"]}
    assert set(cells) == {("srnn", 30), ("esn", 1000)}
    for cell in cells.values():
        assert cell["gp_s"] > 0
        for method in ("autograd", "bptt"):
            assert cell[method]["total_s"] >= cell[method]["sweep_training_s"] > 0
    assert report["total_hours"]["autograd"] > 0 and report["total_hours"]["bptt"] > 0


def test_loop_counts_trains_the_same_seeds_with_both_loops_and_resumes(tmp_path):
    out = tmp_path / "counts.jsonl"
    argv = ["--model", "ugrnn", "--seeds", "0", "2", "--chunk", "2", "--iterations", "2"]
    report = loop_counts.main(argv + ["--out", str(out), "--grad-check", "1"])
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["loop"] for r in records) == ["autograd", "bptt"]
    assert all(r["seeds"] == [0, 1] for r in records)
    assert report["seeds"] == 2 and 0 <= report["bptt"]["mean"] <= report["p"]
    (g,) = report["grad_check"]  # the two loops agree far below float32's own error
    assert g["bptt_vs_autograd"] < 1e-4 and g["autograd_vs_float64"] < 1e-4
    loop_counts.main(argv + ["--out", str(out)])  # a rerun trains nothing new
    assert len(out.read_text().splitlines()) == 2
    assert loop_counts.model_class("ugrnn").hand_written_bptt is True  # restored


def test_lr_window_through_feeds_back_the_same_points_with_their_gradient():
    """``through`` generates exactly what ``none`` does; only the gradient differs (it also
    flows through the fed-back prediction)."""
    from rnn_capacity.models import GRU

    grads, outs = [], []
    for cls in (GRU, lr_window.GRUThrough):
        torch.manual_seed(0)
        model = cls(hidden_size=4, num_sequences=2, seed=3, teacher_forcing="none")
        out = model(torch.zeros(60, 1, 2, 2))
        out.square().sum().backward()
        outs.append(out.detach())
        grads.append(model.replicas[0]["W_ih"].grad.clone())
    assert torch.allclose(outs[0], outs[1], atol=1e-6)
    assert not torch.allclose(grads[0], grads[1])


def test_lr_window_runs_every_mode_at_every_rate_and_seed(tmp_path, capsys):
    out = tmp_path / "runs.jsonl"
    argv = ["-H", "4", "-p", "2", "--lrs", "0.01", "0.1", "--seeds", "2", "--iterations", "2"]
    assert lr_window.main(argv + ["--modes", "always", "through", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((r["mode"], r["lr"], r["seed"]) for r in rows) == sorted(
        (m, lr, s) for m in ("always", "through") for lr in (0.01, 0.1) for s in (0, 1)
    )
    assert all(0 <= r["count"] <= 2 for r in rows)
    assert "lr 0.1" in capsys.readouterr().out


def test_fit_data_scores_pooled_models_and_penalises_low_rank_correlation():
    def rec(model, hidden, ours, smoothed):
        return {"model": model, "hidden_size": hidden, "mean": ours, "smoothed_count": smoothed,
                "original_count": smoothed}  # fmt: skip

    exact = [rec("gru", h, s, s) for h in (30, 40) for s in (1.0, 5.0, 9.0, 14.0)]
    total, per = fit_data.score(exact)
    assert total == pytest.approx(0.0) and per["gru"]["n"] == 8  # H = 30 and 40 pooled
    twice = [rec("gru", 40, 2 * s, s) for s in (1.0, 5.0, 9.0, 14.0)]
    assert fit_data.score(twice)[0] == pytest.approx(np.log(2.0))
    reversed_ = [
        rec("gru", 40, o, s) for o, s in zip((14.0, 9, 5, 1), (1.0, 5, 9, 14), strict=True)
    ]
    total, per = fit_data.score(reversed_)
    assert per["gru"]["spearman"] == pytest.approx(-1.0)
    assert total == pytest.approx(fit_data.PENALTY * 1.7)  # ratio 1, ρ = −1


def test_fit_data_candidates_are_files_named_by_their_knobs(tmp_path):
    assert fit_data.generator_kwargs(fit_data.SHIPPED)["vertices"] == (40, 50)
    shipped = fit_data.candidate_file(tmp_path, fit_data.SHIPPED)
    assert np.array_equal(np.load(shipped), np.load(ROOT / "data" / "trajectories_250.npy"))
    other = fit_data.candidate_file(tmp_path, fit_data.SHIPPED | {"arc": 0.5})
    assert other != shipped and fit_data.candidate_file(tmp_path, fit_data.SHIPPED) == shipped


def test_fit_data_probes_are_shipped_knobs_changed_and_checked():
    probe = fit_data.parse_probe(["tremor=0.01", "vertices_mid=55"])
    assert probe == fit_data.knobs_of(fit_data.SHIPPED | {"tremor": 0.01, "vertices_mid": 55})
    assert isinstance(probe["vertices_mid"], int)
    for bad in ("tremor=1", "colour=2", "tremor", "tremor=x"):
        with pytest.raises(ValueError, match="--probe"):
            fit_data.parse_probe([bad])


def test_fit_data_pulls_finds_models_moved_together_that_need_opposite_moves():
    def cand(knobs, ratios, probe=False):
        models = {m: {"ratio": r, "spearman": 0.9} for m, r in ratios.items()}
        return {"knobs": fit_data.SHIPPED | knobs, "objective": 0.0, "models": models} | (
            {"probe": True} if probe else {}
        )

    # "easy" is 2x too easy, "hard" 2x too hard; both fall together on harder data;
    # "fine" is in the band and moves the other way.
    done = [
        cand({}, {"easy": 2.0, "hard": 0.5, "fine": 1.0}),
        cand({"tremor": 0.01}, {"easy": 1.0, "hard": 0.25, "fine": 1.2}, probe=True),
        cand({"arc": 0.5}, {"easy": 1.4, "hard": 0.35, "fine": 1.1}),
        cand({"arc": 0.5}, {"easy": 9.0, "hard": 9.0, "fine": 9.0}),  # a repeat: ignored
        cand({"pause": 1.0}, {"easy": 2.8, "hard": 0.7, "fine": 0.9}),
    ]
    pl = fit_data.pulls(done)
    assert pl["candidates"] == 4
    assert pl["need"]["easy"] == pytest.approx(-np.log(2.0))
    assert [(a, b) for a, b, _ in pl["against"]] == [("easy", "hard")]
    assert pl["loading"]["easy"] > 0 and pl["loading"]["hard"] > 0 > pl["loading"]["fine"]
    text = fit_data.table(done)
    assert "| easy | 2.00 / 0.90 | 1.00 / 0.90 | 1.40 / 0.90 | 2.80 / 0.90 |" in text
    assert "| in band (ratio and ρ) | 1 | 2 | 1 | 1 |" in text  # "fine"; "easy" once
    assert "2. probe: tremor 0.01" in text and "1. shipped" in text and "5. pause 1" in text


def test_fit_data_confirm_table_pools_fitting_sizes_and_bands_only_complete_models():
    def rec(model, hidden, ours, smoothed, data="a.npy"):
        return {"model": model, "hidden_size": hidden, "mean": ours, "smoothed_count": smoothed,
                "original_count": smoothed, "data": data}  # fmt: skip

    counts = (1.0, 5.0, 9.0, 14.0, 20.0, 26.0)
    records = [rec("gru", h, s, s) for h in (30, 40) for s in counts]  # 12: in the band
    records += [rec("mtrnn", 30, 2 * s, s) for s in counts]  # 6 of 12: not yet complete
    records += [rec("esn", h, s, s) for h in (2000, 3000) for s in counts]  # fitting sizes
    records += [rec("gru", 60, 1.3 * s, s) for s in counts]  # a check, inside [0.75, 1.33]
    records += [rec("gru", 40, 2 * s, s, data="b.npy") for s in counts]  # another candidate
    expected = {("gru", True): 12, ("mtrnn", True): 12, ("esn", True): 12, ("gru", False): 6}
    text = fit_data.confirm_table(
        records, [("7", {"data": "a.npy"}), ("1", {"data": "b.npy"})], expected
    )
    assert "| gru | 1.00 / 1.00 | 2.00 / 1.00 (6 of 12) |" in text
    assert "| esn | 1.00 / 1.00 | – |" in text
    assert "| mtrnn | 2.00 / 1.00 (6 of 12) | – |" in text
    assert "| gru (H = 60, check) | 1.30 / 1.00 | – |" in text
    assert "with ρ ≥ 0.7 | 2 | 0 |" in text and "| checks in [0.75, 1.33] | 1 | 0 |" in text
    assert text.index("| mtrnn |") < text.index("(H = 60, check)")  # fitting rows first


def test_data_bias_prefers_the_full_replay_and_keeps_the_checks_apart():
    """bench/data_bias.py: the shipped data's paper-variant records only; a model's full
    replay (2 tries) replaces its screen (1 try); H = 30 / 40 pooled, H = 60 apart."""
    import replay

    def rec(model, hidden, ours, smoothed, tries=2, data=None, variant=None):
        variant = replay.variant_of(model, None, {}) if variant is None else variant
        return {"model": model, "hidden_size": hidden, "mean": ours, "tries": tries,
                "smoothed_count": smoothed, "original_count": smoothed,
                "data": data, "variant": variant}  # fmt: skip

    counts = (1.0, 5.0, 9.0, 14.0, 20.0, 26.0)
    records = [rec("gru", h, s, s) for h in (30, 40) for s in counts]  # full replay: 1.00
    records += [rec("gru", 30, 3 * s, s, tries=1) for s in counts]  # its screen: left out
    records += [rec("gru", 60, 1.4 * s, s) for s in counts]  # a check: apart
    records += [rec("gru", 30, 2 * s, s, data="/nonexistent.npy") for s in counts]  # other data
    records += [rec("gru", 40, 2 * s, s, variant={"teacher_forcing": "none"}) for s in counts]
    records += [rec("mtrnn", 30, 2 * s, s, tries=1) for s in counts]  # only a screen: used
    out = data_bias.bias(records)
    assert set(out) == {"gru", "mtrnn"}
    gru = out["gru"]
    assert (gru["ratio"], gru["n"], gru["sizes"], gru["tries"]) == (1.0, 12, [30, 40], [2])
    assert gru["checks"]["60"]["ratio"] == 1.4 and gru["checks"]["60"]["n"] == 6
    assert (out["mtrnn"]["ratio"], out["mtrnn"]["tries"], out["mtrnn"]["checks"]) == (2.0, [1], {})


def test_fit_data_paired_difference_of_two_candidates_on_the_same_configurations():
    def rec(data, index, ours, smoothed):
        return {"model": "gru", "hidden_size": 30, "index": index, "mean": ours,
                "smoothed_count": smoothed, "original_count": smoothed, "data": data}  # fmt: skip

    counts = (1.0, 5.0, 9.0, 14.0, 20.0, 26.0)
    exact = [rec("a", i, s, s) for i, s in enumerate(counts)]
    twice = [rec("b", i, 2 * s, s) for i, s in enumerate(counts)] + [rec("b", 99, 1.0, 1.0)]
    d, lo, hi = fit_data.paired_difference(exact, twice, draws=50)  # index 99: unpaired
    assert d == pytest.approx(-np.log(2.0)) and lo <= d <= hi
    table = fit_data.confirm_table(
        exact + twice[:-1],
        [("a", {"data": "a"}), ("b", {"data": "b"})],
        {("gru", True): 6},
        draws=50,
    )
    assert "| objective over the complete models | 0.00 (1 models) | 0.69 (1 models) |" in table
    assert "objective of a − objective of b over the 1 models complete for both: -0.69" in table


def test_fit_data_confirm_screens_group_each_models_surrogates_together():
    ref = fit_data.replay.REFERENCE
    names = ["GRU_model_30.pk", "MTRNN_model_30.pk", "GRU_model_60.pk"]
    if not all((ref / n).is_file() for n in names):
        pytest.skip("the original's GRU / MTRNN surrogates are not available")
    screens = fit_data.confirm_screens([ref / n for n in names])
    assert [(m, h) for m, h, _ in screens] == [("gru", 30), ("gru", 60), ("mtrnn", 30)]
    assert all(len(sample) == 12 for _, _, sample in screens)


@pytest.mark.slow
def test_fit_data_fresh_fit_scores_shipped_then_probe_and_resumes(tmp_path):
    """A real (tiny) fit: the shipped data first, unlabelled; the probe second, labelled;
    a rerun with the same calls scores nothing new."""
    if not (fit_data.replay.REFERENCE / "PC_RNN_HC_A_model_30.pk").is_file():
        pytest.skip("the original's PC_RNN_HC_A_model_30.pk is not available")
    argv = ["--models", "pc_rnn_hc_a", "--sizes", "30", "--n", "1", "--tries", "1",
            "--iterations", "2", "--calls", "2", "--initial", "1", "--workers", "1",
            "--probe", "tremor=0.01", "--out", str(tmp_path)]  # fmt: skip
    fit_data.main(argv)
    cands = [json.loads(line) for line in (tmp_path / "candidates.jsonl").read_text().splitlines()]
    assert [fit_data.knobs_of(c["knobs"]) for c in cands] == [
        fit_data.SHIPPED, fit_data.parse_probe(["tremor=0.01"])
    ]  # fmt: skip
    assert [c.get("probe", False) for c in cands] == [False, True]
    fit_data.main(argv)
    assert len((tmp_path / "candidates.jsonl").read_text().splitlines()) == 2
