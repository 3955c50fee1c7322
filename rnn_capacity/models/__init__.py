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
from .gated import GRU, LSTM, UGRNN
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
    ENTRY_POINT_GROUP,
    SPACE_HELP,
    ModelRegistry,
    is_model_name,
    model_help,
    model_slug,
    resolve_model,
)

#: The fourteen built-in models, name -> LightningModule class.
BUILTIN_MODELS: dict[str, type[CapacityModule]] = {
    "srnn": SRNN,
    "trnn": TRNN,
    "mtrnn": MTRNN,
    "lstm": LSTM,
    "gru": GRU,
    "ugrnn": UGRNN,
    "antisymmetric_rnn": AntisymmetricRNN,
    "esn": ESN,
    "pc_rnn_v": PCRNNV,
    "pc_rnn_gc": PCRNNGC,
    "pc_rnn_hc_a": PCRNNHCA,
    "pc_rnn_hc_m": PCRNNHCM,
    "pc_rnn_gc_hc_a": PCRNNGCHCA,
    "pc_rnn_gc_hc_m": PCRNNGCHCM,
}
#: name -> LightningModule class: the built-in models, then the installed plug-ins (found
#: on first use, imported when used). The single list used by the CLI, the sweep and the
#: tests; :func:`resolve_model` is the single way from a name (or import path) to a class.
MODELS = ModelRegistry(BUILTIN_MODELS)

__all__ = ["BUILTIN_MODELS", "ENTRY_POINT_GROUP", "MODELS", "CapacityModule"]
__all__ += ["PredictiveCodingModule", "SPACE_HELP", "is_model_name", "model_help", "model_slug"]
__all__ += ["resolve_model"]
__all__ += [cls.__name__ for cls in BUILTIN_MODELS.values()]
