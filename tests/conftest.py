"""Shared fixtures: every model at a tiny size, with non-default hyperparameters."""

from __future__ import annotations

import logging
import os
import warnings

import pytest
from hypothesis import HealthCheck, settings

from rnn_capacity.cli import quiet_lightning
from rnn_capacity.data import TrajectoryDataModule
from rnn_capacity.measure import make_trainer
from rnn_capacity.models import BUILTIN_MODELS, MODELS

# Hyperparameters away from the constructor defaults, so tests see them used.
HPARAMS: dict[str, dict] = {
    "srnn": {"lr": 0.01},
    "trnn": {"lr": 0.01, "tau": 3.0},
    "mtrnn": {"lr": 0.01, "tau_slow": 7.0, "tau_fast": 1.5},
    "lstm": {"lr": 0.01},
    "gru": {"lr": 0.01},
    "ugrnn": {"lr": 0.01},
    "antisymmetric_rnn": {"lr": 0.01, "tau": 2.0, "gamma": 0.3},
    "esn": {"tau": 2.0, "connectivity": 0.5, "sigma": 0.8},
    "pc_rnn_v": {"lr": 0.01, "tau": 3.0},
    "pc_rnn_gc": {"lr": 0.01, "tau": 3.0, "alpha_h_prime": 0.3},
    "pc_rnn_hc_a": {"lr": 0.01, "tau": 3.0},
    "pc_rnn_hc_m": {"lr": 0.01, "tau": 3.0, "factors": 10},
    "pc_rnn_gc_hc_a": {"lr": 0.01, "tau": 3.0},
    "pc_rnn_gc_hc_m": {"lr": 0.01, "tau": 3.0},
}
NAMES = list(BUILTIN_MODELS)  # not the plug-ins an environment may have installed
BPTT = [n for n in NAMES if n != "esn"]


def build(name: str, hidden_size: int = 12, num_sequences=3, seed=0, **overrides):
    """A model from the registry at a tiny size."""
    return MODELS[name](hidden_size, num_sequences, seed=seed, **(HPARAMS[name] | overrides))


def fit(model, data, steps: int):
    """Train ``model`` for ``steps`` full-batch steps through a real Lightning Trainer."""
    make_trainer(steps, accelerator="cpu").fit(model, datamodule=data)
    return model


@pytest.fixture
def tiny_data():
    """Three real trajectories, one replica."""
    data = TrajectoryDataModule(3, seed=0)
    data.setup()
    return data


@pytest.fixture(autouse=True, scope="session")
def _quiet():
    with quiet_lightning():
        logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", ".*GPU available.*")
        yield


# Hypothesis profiles (tests/test_properties.py): "default" keeps the suite quick;
# HYPOTHESIS_PROFILE=slow runs many more examples of every property.
settings.register_profile("default", max_examples=30, deadline=None)
settings.register_profile(
    "slow", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
