"""``--prune`` (capacity.PruningExit): a try whose training loss after N iterations is
still above B stops there and counts 0; the other tries of its ensemble train as they
would have; the sweep records it, keeps it on resume, and a report keeps an optimum of a
pruned search apart from one of a full search."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnn_capacity.errors import UsageError
from rnn_capacity.measure import Replica, measure_ensemble
from rnn_capacity.protocol import PRUNE, PruneRule
from rnn_capacity.records import Configuration, Evaluation

REPLICAS = [Replica(3, 0, {"lr": 0.01, "tau": 5.0}), Replica(2, 1, {"lr": 0.2, "tau": 2.0})]
REPLICAS.append(Replica(3, 2, {"lr": 0.05, "tau": 8.0}))


def run(prune=None, iterations=30):
    return measure_ensemble(
        "pc_rnn_hc_a", 6, REPLICAS, iterations=iterations, learn_initial_state=False,
        log_dir=None, record_losses=True, prune=prune,
    )  # fmt: skip


def test_pruned_tries_count_0_and_the_others_train_as_without_it():
    plain = run()
    at = 10
    losses = sorted(r.loss_curve[at - 1] for r in plain)
    bound = (losses[0] + losses[1]) / 2  # prunes all but the lowest-loss try
    pruned = run(prune=PruneRule(at, bound))
    kept = [r.loss_curve[at - 1] <= bound for r in plain]
    assert sum(kept) == 1
    for a, b, keep in zip(plain, pruned, kept, strict=True):
        if keep:  # bit for bit: masking the others leaves its arithmetic alone
            assert b.pruned_at is None and b.count == a.count
            assert b.loss_curve == a.loss_curve and b.final_loss == a.final_loss
            assert np.array_equal(a.errors, b.errors)
        else:
            assert b.pruned_at == at and b.count == 0
            assert b.loss_curve[:at] == a.loss_curve[:at]  # the same run until pruned
            # Frozen from then on: its weights take no more steps.
            assert len(set(b.loss_curve[at:])) == 1


def test_the_run_stops_when_every_try_is_pruned_and_a_loose_bound_changes_nothing():
    stopped = run(prune=PruneRule(5, 1e-12), iterations=3000)
    assert [r.pruned_at for r in stopped] == [5, 5, 5]
    assert [len(r.loss_curve) for r in stopped] == [5, 5, 5]  # 5 of 3000 iterations
    assert [r.count for r in stopped] == [0, 0, 0]
    plain, loose = run(), run(prune=PruneRule(5, 1e12))
    assert [r.pruned_at for r in loose] == [None] * 3
    assert [(r.count, r.final_loss) for r in loose] == [(r.count, r.final_loss) for r in plain]


BAD_RULES = [PruneRule(0, 0.1), PruneRule(10, 0.0), PruneRule(10, float("inf")), (10, 0.1)]


def test_tries_below_min_p_are_never_pruned():
    """REPLICAS has p = 3, 2, 3: min_p = 3 spares the p = 2 try, however high its loss."""
    stopped = run(prune=PruneRule(5, 1e-12, min_p=3), iterations=20)
    assert [r.pruned_at for r in stopped] == [5, None, 5]
    assert [len(r.loss_curve) for r in stopped] == [20, 20, 20]  # one try goes on: all do
    assert stopped[0].count == stopped[2].count == 0


@pytest.mark.parametrize("prune", [*BAD_RULES, PruneRule(1.5, 0.1), PruneRule(10, 0.1, 1.5)])
def test_a_bad_rule_is_refused(prune):
    with pytest.raises(UsageError, match="prune"):
        run(prune=prune, iterations=2)


def test_a_journal_line_needs_one_pruned_at_per_try():
    line = {"index": 0, "x": [2, 0.01], "p": 2, "hparams": {"lr": 0.01}, "seeds": [1, 2],
            "counts": [0, 1], "mean_count": 0.5, "objective": 1.0, "final_losses": [1.0, 0.1],
            "seconds": 1.0, "ensemble": 2}  # fmt: skip
    assert Configuration.from_dict(line | {"pruned_at": [200, None]}, "t").pruned_at == [200, None]
    with pytest.raises(UsageError, match="pruned_at"):
        Configuration.from_dict(line | {"pruned_at": [200]}, "t")


def sweep(tmp_path, *flags):
    from rnn_capacity.sweep import main

    space = tmp_path / "hca.yaml"
    space.write_text(
        "model: pc_rnn_hc_a\nsizes: [4]\ncalls: 2\nspace:\n"
        "  - {name: p, type: integer, low: 2, high: 4, prior: uniform}\n"
        "  - {name: lr, type: real, low: 0.00001, high: 0.00002, prior: log-uniform}\n"
        "  - {name: tau, type: real, low: 2.0, high: 10.0, prior: log-uniform}\n"
        "x0: {p: 3, lr: 0.00001, tau: 5.0}\nfixed: {}\n"
    )
    argv = ["--model", "pc_rnn_hc_a", "--hidden-size", "4", "--space", str(space)]
    argv += ["--initial-points", "1", "--executor", "local", "--preset", "paper"]
    argv += ["--iterations", str(PRUNE.at + 50), "--no-native"]
    argv += ["--out", str(tmp_path / "out"), "--log-dir", str(tmp_path / "logs"), *flags]
    return main(argv)


def test_a_pruned_sweep_records_its_rule_and_resumes_pruned(tmp_path, capsys):
    # lr 1e-5: every try is still far above the bound at iteration 200.
    assert sweep(tmp_path, "--calls", "1", "--prune") == 0
    space = json.loads((tmp_path / "out" / "space.json").read_text())
    assert space["prune"] == {"at": PRUNE.at, "bound": PRUNE.bound, "min_p": PRUNE.min_p}
    assert sweep(tmp_path, "--calls", "2", "--resume") == 0  # no flag: goes on pruned
    lines = (tmp_path / "out" / "evaluations.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["pruned_at"] for r in records] == [[PRUNE.at, PRUNE.at]] * 2
    assert [r["counts"] for r in records] == [[0, 0]] * 2
    assert f"counts=[0, 0] (pruned at {PRUNE.at}, {PRUNE.at})" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:  # another experiment: refused, nothing lost
        sweep(tmp_path, "--calls", "3", "--resume", "--no-prune")
    assert exc.value.code == 2 and "prune" in capsys.readouterr().err
    assert len((tmp_path / "out" / "evaluations.jsonl").read_text().splitlines()) == 2


def test_a_report_keeps_an_optimum_of_a_pruned_search_apart():
    from rnn_capacity.report import mixed_protocols

    base = {"model": "pc_rnn_hc_a", "hidden_size": 60, "p": 10, "mean_count": 5.0,
            "std_count": 0.0, "iterations": 3000, "threshold": 0.1,
            "learn_initial_state": False}  # fmt: skip
    full = Evaluation.from_dict(base | {"source": {"kind": "sweep"}}, "t")
    rule = {"at": PRUNE.at, "bound": PRUNE.bound, "min_p": PRUNE.min_p}
    pruned = Evaluation.from_dict(base | {"source": {"kind": "sweep", "prune": rule}}, "t")
    assert full.search_label() == "full"
    assert pruned.search_label() == "pruned (loss > 0.19 at 200, p ≥ 2)"
    assert "found by a pruned" in pruned.protocol_label()
    assert mixed_protocols([full, full]) is None
    assert "search full (1 row), pruned" in mixed_protocols([full, pruned])


def test_a_study_passes_prune_to_its_sweeps(tmp_path):
    from rnn_capacity.study import build_parser, resolve, sweep_settings

    args = ["--models", "pc_rnn_hc_a", "--sizes", "4", "--out", str(tmp_path)]
    cells, opts = resolve(build_parser().parse_args([*args, "--prune"]))
    assert opts.prune is True
    settings, _ = sweep_settings(cells[0], opts, tmp_path / "logs", None)
    assert settings.prune is True
    _, opts = resolve(build_parser().parse_args(args))
    assert opts.prune is None  # each cell's sweep as it was started, a new one unpruned
    assert sweep_settings(cells[0], opts, tmp_path / "logs", None)[0].prune is False


@pytest.mark.parametrize("model", ["lstm", "esn", "srnn"])
def test_prune_is_refused_where_its_rule_was_not_validated(model, tmp_path):
    from rnn_capacity.study import build_parser, resolve
    from rnn_capacity.sweep.settings import resolve_settings

    with pytest.raises(UsageError, match=f"not validated on {model}.*validated on: .*mtrnn"):
        resolve_settings(model, 4, prune=True, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert resolve_settings(model, 4, out=tmp_path / "out")[0].prune is False
    args = ["--models", "pc_rnn_hc_a", model, "--out", str(tmp_path), "--prune"]
    with pytest.raises(UsageError, match=f"not validated on {model}"):
        resolve(build_parser().parse_args(args))


def test_the_validated_models_are_the_ones_measured():
    from rnn_capacity.models import BUILTIN_MODELS

    validated = {n for n, c in BUILTIN_MODELS.items() if c.prune_validated}
    assert validated == {
        "mtrnn", "antisymmetric_rnn", "gru", "ugrnn", "pc_rnn_v", "pc_rnn_hc_a",
        "pc_rnn_hc_m", "pc_rnn_gc", "pc_rnn_gc_hc_a", "pc_rnn_gc_hc_m",
    }  # fmt: skip


def test_bench_prune_sweep_compares_a_pruned_sweep_with_the_full_one(tmp_path, capsys):
    """Where every pruned try had counted 0, the two searches are one: same points,
    same counts, fewer iterations (bench/prune_sweep.py)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import prune_sweep

    full, pruned = tmp_path / "full", tmp_path / "pruned"
    full.mkdir(), pruned.mkdir()
    assert sweep(full, "--calls", "2") == 0
    assert "prune" not in json.loads((full / "out" / "space.json").read_text())
    assert "pruned_at" not in (full / "out" / "evaluations.jsonl").read_text()
    assert sweep(pruned, "--calls", "2", "--prune") == 0
    logs = ["--full-logs", str(full / "logs" / "out")]  # its TensorBoard group
    c = prune_sweep.main([str(full / "out"), str(pruned / "out"), "--resolution", "5", *logs])
    assert c["rule_on_full"]["tries"] == 4 and c["rule_on_full"]["false_prunes"] == []
    assert c["agree_from_start"] == 2 and c["same_counts_where_agreeing"]
    assert len(c["pruned_tries"]) == 4 and c["false_prunes"] == []
    assert c["iterations_saved"] == pytest.approx(1 - PRUNE.at / (PRUNE.at + 50))
    first = prune_sweep.main([str(full / "out"), str(pruned / "out"), "--calls", "1"])
    assert first["agree_from_start"] == 1 and first["optimum"]["full"]["p"] >= 1
    with pytest.raises(SystemExit):  # the order matters
        prune_sweep.main([str(pruned / "out"), str(full / "out")])
    # The evaluation of the pruned search's optimum says how it was found; the full one not.
    from rnn_capacity.evaluate import sweep_plan

    rule = {"at": PRUNE.at, "bound": PRUNE.bound, "min_p": PRUNE.min_p}
    assert sweep_plan(pruned / "out", resolution=5, progress=False).source["prune"] == rule
    assert "prune" not in sweep_plan(full / "out", resolution=5, progress=False).source
