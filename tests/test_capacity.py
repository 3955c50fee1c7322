"""Counting learned sequences, on hand-made predictions (no training)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnn_capacity.capacity import CapacityCallback, count_learned, objective, sequence_errors


def targets(p=4, k=1):
    g = torch.Generator().manual_seed(0)
    return torch.rand(60, k, p, 2, generator=g) * 2 - 1


def test_error_is_the_mean_euclidean_distance_over_time():
    y = torch.zeros(60, 2, 2)
    x = torch.zeros(60, 2, 2)
    x[:, 0, 0] = 0.3  # constant offset 0.3 along x
    x[:30, 1] = torch.tensor([0.3, 0.4])  # distance 0.5 for half the time
    torch.testing.assert_close(sequence_errors(x, y), torch.tensor([0.3, 0.25]))


def test_perfect_bad_and_threshold():
    assert count_learned(torch.tensor([0.0, 0.05, 0.099])) == 3
    assert count_learned(torch.tensor([0.1, 0.5, 2.0])) == 0  # strict: 0.1 is not learned
    assert count_learned(np.array([0.05, 0.2]), threshold=0.3) == 2


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_diverged_run_counts_zero(bad):
    assert count_learned(torch.tensor([0.01, 0.02, bad])) == 0


def test_objective():
    assert objective(20, 15) == -10
    assert objective(5, 0) == 5


def test_callback_on_hand_made_predictions():
    y = targets(p=4, k=3)
    pred = y.clone()
    pred[:, 1, :2] += 0.5  # replica 1: two of its three sequences are off
    pred[5, 2, 0, 0] = math.nan  # replica 2 diverged
    pred[:, 0, 3] = 99.0  # replica 0 has p = 3: the padded sequence must not count
    cb = CapacityCallback(threshold=0.1)
    cb.evaluate(pred, y, num_sequences=[3, 3, 2])
    assert cb.counts == [3, 1, 0]
    assert [len(e) for e in cb.errors] == [3, 3, 2]
    assert cb.final_losses[0] == 0.0
    assert math.isnan(cb.final_losses[2])
    assert cb.metrics(1) == {
        "capacity/count": 1,
        "capacity/fraction": pytest.approx(1 / 3),
        "capacity/objective": 1,
    }
    np.testing.assert_allclose(cb.errors[1][:2], [0.5 * 2**0.5] * 2, rtol=1e-6)


def test_callback_perfect_and_bad_single():
    y = targets(p=5)
    cb = CapacityCallback()
    cb.evaluate(y.clone(), y, [5])
    assert cb.count == 5
    cb.evaluate(y + 1.0, y, [5])
    assert cb.count == 0 and cb.metrics(0)["capacity/objective"] == 5
