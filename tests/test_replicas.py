"""Vectorised replicas: each replica of an ensemble is the single model with its seed.

Replica equivalence (outputs, loss, gradients, 8 Adam steps) and the padding rules are
contract checks of every model (``rnn_capacity.testing``, tests/test_contract.py); here:
learning-rate groups and the measurement functions.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import build

from rnn_capacity.measure import Replica, measure_capacity, measure_ensemble


def test_learning_rates_are_per_replica():
    model = build("trnn", num_sequences=[3, 3, 3], seed=[0, 1, 2], lr=[0.1, 0.001, 0.1])
    groups = model.configure_optimizers().param_groups
    assert sorted(g["lr"] for g in groups) == [0.001, 0.1]
    sizes = {g["lr"]: len(g["params"]) for g in groups}
    per_replica = sum(t.requires_grad for t in model.replicas[0].values())
    assert sizes == {0.1: 2 * per_replica, 0.001: per_replica}


def test_a_diverging_replica_does_not_disturb_the_others():
    ps, seeds = [3, 3], [0, 1]
    results = measure_ensemble(
        "srnn",
        8,
        [Replica(3, 0, {"lr": 1.0}), Replica(3, 1, {"lr": 0.01})],
        iterations=30,
        log_dir=None,
    )
    single = measure_capacity("srnn", 8, ps[1], iterations=30, seed=seeds[1], log_dir=None, lr=0.01)
    np.testing.assert_allclose(results[1].errors, single.errors, rtol=1e-4)
    assert results[1].final_loss == pytest.approx(single.final_loss, rel=1e-4)


def test_measure_ensemble_matches_measure_capacity(tmp_path):
    replicas = [
        Replica(4, 7, {"lr": 0.02, "tau": 3.0}),
        Replica(2, 8, {"lr": 0.005, "tau": 8.0}),
    ]
    results = measure_ensemble("pc_rnn_hc_a", 12, replicas, iterations=20, log_dir=tmp_path)
    for r, res in zip(replicas, results, strict=True):
        single = measure_capacity(
            "pc_rnn_hc_a",
            12,
            r.num_sequences,
            iterations=20,
            seed=r.seed,
            log_dir=None,
            **r.hparams,
        )
        assert res.count == single.count and res.replicas == 2
        np.testing.assert_allclose(res.errors, single.errors, rtol=1e-4, atol=1e-6)
    # One TensorBoard run per replica.
    assert len(list((tmp_path / "pc_rnn_hc_a_h12").iterdir())) == 2


@pytest.mark.slow
def test_compiled_ensemble_matches_eager():
    """torch.compile with shape bucketing (p padded to 16) gives the eager results."""
    replicas = [Replica(5, 0, {"tau": 3.0}), Replica(9, 1, {"tau": 5.0})]
    eager = measure_ensemble("pc_rnn_hc_a", 16, replicas, iterations=20, log_dir=None)
    compiled = measure_ensemble(
        "pc_rnn_hc_a", 16, replicas, iterations=20, log_dir=None, compile=True
    )
    for a, b in zip(eager, compiled, strict=True):
        assert a.count == b.count
        np.testing.assert_allclose(a.errors, b.errors, rtol=1e-4, atol=1e-6)
