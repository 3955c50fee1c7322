"""The fourteen models of the benchmark, and the registry ``MODELS`` used everywhere.

``MODELS`` holds the built-in models and the installed plug-ins (entry points of the group
``rnn_capacity.models``); :func:`resolve_model` also takes an import path ``module:Class``
(``registry.py``).

Families: classic (sRNN, TRNN, MTRNN), gated (LSTM, GRU, UGRNN), antisymmetric, ESN and
predictive coding (PC-RNN-V, -GC, -HC-A, -HC-M, -GC-HC-A, -GC-HC-M). Every model is a
:class:`CapacityModule`; see its docstring for the equations and initialisation.
"""

from .antisymmetric import AntisymmetricRNN
from .base import CapacityModule
from .classic import MTRNN, SRNN, TRNN
from .esn import ESN
from .gated import GRU, LSTM, UGRNN, FeedbackModule
from .predictive_coding import (
    PCRNNGC,
    PCRNNGCHCA,
    PCRNNGCHCM,
    PCRNNHCA,
    PCRNNHCM,
    PCRNNV,
    PredictiveCodingModule,
)
from .registry import (
    BUILTIN_MODELS,
    ENTRY_POINT_GROUP,
    MODELS,
    SPACE_HELP,
    ModelRegistry,
    is_model_name,
    model_help,
    model_label,
    model_slug,
    resolve_model,
)

__all__ = ["BUILTIN_MODELS", "ENTRY_POINT_GROUP", "MODELS", "CapacityModule"]
__all__ += [
    "FeedbackModule",
    "PredictiveCodingModule",
    "SPACE_HELP",
    "is_model_name",
    "model_help",
    "model_label",
    "model_slug",
]
__all__ += ["ModelRegistry", "resolve_model"]
__all__ += ["AntisymmetricRNN", "ESN", "GRU", "LSTM", "MTRNN", "SRNN", "TRNN", "UGRNN"]
__all__ += ["PCRNNGC", "PCRNNGCHCA", "PCRNNGCHCM", "PCRNNHCA", "PCRNNHCM", "PCRNNV"]
