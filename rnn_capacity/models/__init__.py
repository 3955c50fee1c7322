"""The fourteen models of the benchmark, and the registry ``MODELS`` used everywhere.

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

#: name -> LightningModule class; the single list used by the CLI, the sweep and the tests.
MODELS: dict[str, type[CapacityModule]] = {
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

__all__ = ["MODELS", "CapacityModule", "PredictiveCodingModule"]
__all__ += [cls.__name__ for cls in MODELS.values()]
