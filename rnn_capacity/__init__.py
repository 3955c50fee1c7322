"""rnn_capacity: the sequence-generation capacity of recurrent networks.

``measure_capacity`` is one measurement of the protocol; ``measure_ensemble`` trains many
as one batched ensemble; the models are in :mod:`rnn_capacity.models` (registry
``MODELS``, plug-ins included; ``resolve_model`` also takes an import path
``module:Class``). Imports are lazy so that the command-line tools start fast.
"""

import importlib

__version__ = "0.1.0"

_LAZY = {
    "measure_capacity": "measure",
    "measure_ensemble": "measure",
    "CapacityResult": "measure",
    "Replica": "measure",
    "MODELS": "models",
    "resolve_model": "models",
    "load_trajectories": "data",
    "TrajectoryDataModule": "data",
    "CapacityCallback": "capacity",
    "load_search_config": "config",
}
__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
