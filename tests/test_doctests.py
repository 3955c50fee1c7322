"""The docstrings' ``Examples`` run as doctests, in the default suite.

Every module of the package that has examples is one test (``rnn_capacity.testing`` is run
by tests/test_contract.py). Sizes are tiny, so all of them take seconds.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil

import pytest
import torch

import rnn_capacity
from rnn_capacity import models

OWN_TEST = {"rnn_capacity.testing"}  # tests/test_contract.py runs its examples


def module_names() -> list[str]:
    found = pkgutil.walk_packages(rnn_capacity.__path__, f"{rnn_capacity.__name__}.")
    names = {"rnn_capacity", *(m.name for m in found)} - OWN_TEST
    return sorted(n for n in names if not n.endswith(".__main__"))  # importing one runs it


def examples(module) -> list[doctest.DocTest]:
    return [t for t in doctest.DocTestFinder().find(module) if t.examples]


MODULES = [name for name in module_names() if examples(importlib.import_module(name))]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name):
    torch.manual_seed(0)
    result = doctest.testmod(importlib.import_module(name), verbose=False, report=True)
    assert result.attempted > 0 and result.failed == 0


def has_example(obj) -> bool:
    return ">>>" in (inspect.getdoc(obj) or "")


def test_the_public_api_has_examples():
    from rnn_capacity import study
    from rnn_capacity.capacity import CapacityCallback
    from rnn_capacity.data import TrajectoryDataModule
    from rnn_capacity.measure import measure_capacity, measure_ensemble

    public = [*models.BUILTIN_MODELS.values(), models.CapacityModule]
    public += [measure_capacity, measure_ensemble, CapacityCallback, TrajectoryDataModule]
    public += [getattr(study, name) for name in STUDY_FUNCTIONS]
    missing = [getattr(obj, "__qualname__", repr(obj)) for obj in public if not has_example(obj)]
    assert not missing, f"no Examples section: {missing}"


#: The study's public functions (the ones a Python user calls instead of the command).
STUDY_FUNCTIONS = ("cells_of", "run_study", "main")
