"""Exact early exits (capacity.DivergenceExit): a replica whose training diverged is
finished and the run stops when all have, and no count, error or loss of any replica
changes for it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnn_capacity.capacity import shared_weight_is_nan
from rnn_capacity.measure import Replica, measure_ensemble
from rnn_capacity.models import PCRNNGC

#: PC-RNN-GC configurations the original search measured (its H = 30 surrogate, lr = 1):
#: with α_h' = 10 the loss is NaN from the first step on; with 0.001 it trains.
DIVERGES = {"lr": 1.0, "tau": 100.0, "alpha_h_prime": 10.0}
TRAINS = {"lr": 0.05, "tau": 5.0, "alpha_h_prime": 0.001}


def run(replicas, stop: bool, iterations: int = 40):
    return measure_ensemble(
        "pc_rnn_gc", 8, replicas, iterations=iterations, learn_initial_state=True,
        log_dir=None, record_losses=True, stop_diverged=stop,
    )  # fmt: skip


def test_a_diverged_replica_is_finished_and_nothing_else_changes():
    replicas = [Replica(3, 0, DIVERGES), Replica(2, 1, TRAINS), Replica(3, 2, TRAINS)]
    replicas.append(Replica(1, 3, {**DIVERGES, "tau": 1.0}))
    plain, exited = run(replicas, stop=False), run(replicas, stop=True)
    assert [r.diverged_at for r in plain] == [None] * 4
    assert [r.diverged_at for r in exited] == [1, None, None, 1]
    for a, b in zip(plain, exited, strict=True):
        assert a.count == b.count  # the diverged ones count 0 both ways
        assert np.array_equal(np.asarray(a.errors), np.asarray(b.errors), equal_nan=True)
        assert (math.isnan(a.final_loss) and math.isnan(b.final_loss)) or (
            a.final_loss == b.final_loss  # bit for bit: the same arithmetic
        )
        assert a.loss_curve == pytest.approx(b.loss_curve, nan_ok=True, rel=0, abs=0)
    assert [r.count for r in exited[:1] + exited[3:]] == [0, 0]


def test_the_run_stops_when_every_replica_has_diverged():
    replicas = [Replica(2, 0, DIVERGES), Replica(1, 1, DIVERGES)]
    exited = run(replicas, stop=True, iterations=3000)
    assert [r.diverged_at for r in exited] == [1, 1]
    assert [len(r.loss_curve) for r in exited] == [1, 1]  # one step of 3000 trained
    assert [r.count for r in exited] == [0, 0] and all(math.isnan(r.final_loss) for r in exited)
    plain = run(replicas, stop=False, iterations=30)
    assert [r.count for r in plain] == [0, 0] and [len(r.loss_curve) for r in plain] == [30, 30]


def test_only_a_nan_shared_weight_counts_as_divergence():
    model = PCRNNGC(hidden_size=4, num_sequences=[2, 2], seed=[0, 1], learn_initial_state=True)
    assert not shared_weight_is_nan(model, 0)
    with torch.no_grad():
        model.replicas[0]["h0"][0, 0] = float("nan")  # an initial state: not shared
    assert not shared_weight_is_nan(model, 0)
    with torch.no_grad():
        next(w for n, w in model.replicas[1].items() if n != "h0").view(-1)[0] = float("nan")
    assert shared_weight_is_nan(model, 1) and not shared_weight_is_nan(model, 0)


def test_a_sweep_records_where_its_tries_diverged(tmp_path):
    """The journal line of a configuration whose tries diverged says at which step; a
    3000-iteration sweep of them ends in seconds."""
    import json

    from rnn_capacity.sweep import main

    space = tmp_path / "gc.yaml"
    space.write_text(
        "model: pc_rnn_gc\nsizes: [4]\ncalls: 2\nspace:\n"
        "  - {name: p, type: integer, low: 1, high: 3, prior: uniform}\n"
        "  - {name: lr, type: real, low: 0.5, high: 1.0, prior: log-uniform}\n"
        "  - {name: tau, type: real, low: 50.0, high: 100.0, prior: log-uniform}\n"
        "x0: {p: 2, lr: 1.0, tau: 100.0}\nfixed: {alpha_h_prime: 10.0}\n"
    )
    argv = ["--model", "pc_rnn_gc", "--hidden-size", "4", "--space", str(space)]
    argv += ["--calls", "2", "--initial-points", "1", "--executor", "local", "--preset", "paper"]
    argv += ["--no-compile"]  # (PC-RNN-GC compiles by default at 3000 iterations: a minute)
    argv += ["--out", str(tmp_path / "out"), "--log-dir", str(tmp_path / "logs")]
    assert main(argv) == 0
    lines = (tmp_path / "out" / "evaluations.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["diverged_at"] for r in records] == [[1, 1], [1, 1]]
    assert [r["counts"] for r in records] == [[0, 0], [0, 0]]
