"""Vectorised replicas: each replica of an ensemble is the single model with its seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import HPARAMS, NAMES, build, fit

from rnn_capacity.data import TrajectoryDataModule
from rnn_capacity.measure import Replica, measure_capacity, measure_ensemble
from rnn_capacity.models.base import OUTPUT_SIZE


def vary(name: str, k: int) -> dict:
    """Replica k's hyperparameters: every float one scaled differently."""
    hp = dict(HPARAMS[name])
    for key, value in hp.items():
        if isinstance(value, float):
            hp[key] = value * (1.0 + 0.5 * k) if key != "connectivity" else value / (1 + k)
    return hp


@pytest.mark.parametrize("name", NAMES)
def test_each_replica_trains_like_its_single_model(name):
    """Different p, seeds and hyperparameters per replica; 8 Adam steps through Lightning."""
    ps, seeds = [3, 5, 2], [11, 12, 13]
    hps = [vary(name, k) for k in range(3)]
    per_replica = {key: [hp[key] for hp in hps] for key in hps[0] if key != "factors"}
    fixed = {key: v for key, v in HPARAMS[name].items() if key == "factors"}
    ensemble = build(name, num_sequences=ps, seed=seeds, **per_replica, **fixed)
    fit(ensemble, TrajectoryDataModule(ps, seed=seeds), steps=8)
    with torch.no_grad():
        together = ensemble()  # (T, 3, 5, 2)
    for k in range(3):
        single = build(name, num_sequences=ps[k], seed=seeds[k], **hps[k])
        fit(single, TrajectoryDataModule(ps[k], seed=seeds[k]), steps=8)
        with torch.no_grad():
            alone = single()[:, 0]
        # Float rounding differs between a batched and a single product, and 8 Adam steps
        # of the velocity models amplify it to ~6e-5 on trajectories of size ~1.
        torch.testing.assert_close(together[:, k, : ps[k]], alone, rtol=1e-3, atol=2e-4)
        for pname, value in single.replicas[0].items():
            trained = ensemble.replicas[k][pname]
            sliced = trained[tuple(slice(0, n) for n in value.shape)]
            torch.testing.assert_close(sliced, value, rtol=1e-3, atol=2e-4, msg=pname)


def test_padding_stays_zero_and_out_of_the_loss():
    ensemble = build("pc_rnn_hc_a", num_sequences=[4, 2], seed=[0, 1])
    data = TrajectoryDataModule([4, 2], seed=[0, 1])
    fit(ensemble, data, steps=5)
    rep = ensemble.replicas[1]
    assert torch.count_nonzero(rep["h0"][2:]) == 0
    assert torch.count_nonzero(rep["W_c"][:, 2:]) == 0
    # The loss of replica 1 ignores whatever the padded rows predict.
    pred = ensemble().detach()
    garbage = pred.clone()
    garbage[:, 1, 2:] = 1e3
    torch.testing.assert_close(
        ensemble.replica_losses(pred, data.targets), ensemble.replica_losses(garbage, data.targets)
    )
    expected = (pred[:, 1, :2] - data.targets[:, 1, :2]).square().mean()
    torch.testing.assert_close(ensemble.replica_losses(pred, data.targets)[1], expected)
    assert pred.shape[-1] == OUTPUT_SIZE


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
