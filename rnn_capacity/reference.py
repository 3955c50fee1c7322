"""The original study's published results, shipped with the package for side-by-side display.

``reference_results.json`` (package data, a copy of ``paper_results.json``) lists for each
(model, size) the study searched: the number of configurations, the best count it
observed and the optimum its GP surrogate predicts (read off a grid of
``surrogate_grid_resolution`` points per dimension, see :mod:`rnn_capacity.optimum`).
They were measured on the original data, so numbers on another data set differ: they are
for reports, not for tests of a measurement.

Model names are ours (the keys of :data:`rnn_capacity.models.MODELS`);
:data:`ORIGINAL_NAMES` maps the original study's spellings (``PC_RNN_HC_A``,
``AntisymetricRNN``, ...) to them, and :func:`parse_surrogate_name` reads model and size
off an original surrogate's file name such as ``PC_RNN_HC_A_model_60.pk``.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .errors import UsageError

__all__ = [
    "ORIGINAL_NAMES",
    "ReferenceResult",
    "load_reference",
    "parse_surrogate_name",
    "reference_result",
]

RESOURCE = "reference_results.json"
# The original surrogates are saved as <ORIGINAL NAME>_model_<H>.pk.
SURROGATE_NAME = re.compile(r"^(?P<name>.+)_model_(?P<size>\d+)\.pk$")


@dataclass(frozen=True)
class ReferenceResult:
    """One (model, size) of the original study. Hyperparameters are keyed by our names."""

    model: str
    original_name: str
    size: int
    n_configurations: int
    best_observed_count: float
    best_observed_config: dict[str, float]
    surrogate_grid_resolution: int
    surrogate_optimum: dict[str, float]  # includes p, unrounded
    surrogate_predicted_count: float
    note: str | None = None  # a caveat about the row (e.g. a duplicated original file)


@functools.cache
def _raw() -> dict:
    # importlib.resources finds the file in a checkout, an editable or a regular install.
    text = resources.files(__package__).joinpath(RESOURCE).read_text(encoding="utf-8")
    return json.loads(text)


def load_reference() -> list[ReferenceResult]:
    """Every row of the original study's results, in the file's order."""
    return [ReferenceResult(**row) for row in _raw()["results"]]


def reference_result(model: str, size: int) -> ReferenceResult:
    """The row of ``model`` at hidden size ``size``; a :class:`UsageError` if there is none."""
    rows = [r for r in load_reference() if r.model == model]
    if not rows:
        known = ", ".join(sorted({r.model for r in load_reference()}))
        raise UsageError(f"no reference results for model {model!r}; available: {known}")
    for row in rows:
        if row.size == size:
            return row
    sizes = ", ".join(str(r.size) for r in rows)
    raise UsageError(f"no reference result for {model} at size {size}; available sizes: {sizes}")


def _original_names() -> dict[str, str]:
    names = {row["original_name"]: row["model"] for row in _raw()["results"]}
    # The original spells it "AntisymetricRNN"; accept the correct spelling as well.
    if names.get("AntisymetricRNN") == "antisymmetric_rnn":
        names["AntisymmetricRNN"] = "antisymmetric_rnn"
    return names


#: The original study's model name -> ours, from the ``original_name`` fields.
ORIGINAL_NAMES: dict[str, str] = _original_names()


def _model_from_original(name: str) -> str | None:
    if name in ORIGINAL_NAMES:
        return ORIGINAL_NAMES[name]
    # Models without a published row (sRNN, TRNN) have no recorded original spelling:
    # accept our own name in any case, with '-' or '_' (SRNN, TRNN, PC-RNN-V, ...).
    from .models import MODELS  # imports torch: only when the table does not answer

    ours = name.lower().replace("-", "_")
    return ours if ours in MODELS else None


def parse_surrogate_name(path: str | Path) -> tuple[str, int] | None:
    """``(model, size)`` from an original surrogate's file name, or None if it has no such
    form; e.g. ``PC_RNN_HC_A_model_60.pk`` -> ``("pc_rnn_hc_a", 60)``."""
    match = SURROGATE_NAME.match(Path(path).name)
    if match is None:
        return None
    model = _model_from_original(match["name"])
    size = int(match["size"])
    if model is None or size < 1:
        return None
    return model, size
