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

``data_bias.json`` (package data, written by ``bench/data_bias.py`` from replay
measurements) says how much easier or harder the shipped data set is than the original's
for each model with an original surrogate: the ratio of our counts to the original's
smoothed counts at the same configurations (:func:`load_data_bias`).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .errors import UsageError

__all__ = [
    "ORIGINAL_NAMES",
    "DataBias",
    "ReferenceResult",
    "load_data_bias",
    "load_reference",
    "parse_surrogate_name",
    "reference_result",
]

RESOURCE = "reference_results.json"
BIAS_RESOURCE = "data_bias.json"
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


@dataclass(frozen=True)
class DataBias:
    """How the shipped data compares with the original's for one model, measured by
    replaying the original's configurations on it: ``ratio`` = Σ our counts / Σ the
    original surrogate's smoothed counts over ``n`` configurations at ``sizes`` (above 1:
    our data is easier), ``spearman`` the rank correlation of the two."""

    model: str
    ratio: float
    spearman: float
    n: int
    sizes: tuple[int, ...]
    #: the same, measured apart at sizes the data was not fitted to (the H = 60 checks)
    checks: dict[int, DataBias] = field(default_factory=dict, compare=False)

    def at(self, size: int) -> DataBias:
        """The measurement for a row at hidden size ``size``: that size's own where it was
        measured apart, else the one pooled over :attr:`sizes`."""
        return self.checks.get(size, self)

    def label(self, size: int | None = None) -> str:
        """``1.46 (easier)``, ``0.62 (harder)``, or ``1.04 (≈)`` inside the replay's band.
        For a row at ``size``: that size's own measurement where there is one (:meth:`at`),
        else the pooled one saying where it was measured: ``1.46 (easier, H 30/40)``."""
        if size is not None and self.at(size) is not self:
            return self.at(size).label(size)
        low, high = BIAS_BAND
        lean = "easier" if self.ratio > high else "harder" if self.ratio < low else "≈"
        where = (
            "" if size is None or size in self.sizes else ", H " + "/".join(map(str, self.sizes))
        )
        return f"{self.ratio:.2f} ({lean}{where})"


#: The replay's band of agreement (bench/replay.py's target): a ratio inside it is "≈".
BIAS_BAND = (0.8, 1.25)


@functools.cache
def _bias_raw() -> dict:
    path = resources.files(__package__).joinpath(BIAS_RESOURCE)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"models": {}}


def load_data_bias() -> dict[str, DataBias]:
    """The shipped data's bias against the original's, by model (only models with a
    measurement: those with an original surrogate)."""

    def one(m: str, row: dict, checks: dict) -> DataBias:
        return DataBias(m, row["ratio"], row["spearman"], row["n"], tuple(row["sizes"]), checks)

    return {
        m: one(m, row, {int(h): one(m, c, {}) for h, c in row.get("checks", {}).items()})
        for m, row in _bias_raw()["models"].items()
    }


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
