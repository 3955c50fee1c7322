"""The fourteen models of the benchmark, and the registry ``MODELS`` used everywhere."""

from .base import CapacityModule
from .classic import MTRNN, SRNN, TRNN
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
    "pc_rnn_v": PCRNNV,
    "pc_rnn_gc": PCRNNGC,
    "pc_rnn_hc_a": PCRNNHCA,
    "pc_rnn_hc_m": PCRNNHCM,
    "pc_rnn_gc_hc_a": PCRNNGCHCA,
    "pc_rnn_gc_hc_m": PCRNNGCHCM,
}

__all__ = [
    "MODELS",
    "CapacityModule",
    "MTRNN",
    "PCRNNGC",
    "PCRNNGCHCA",
    "PCRNNGCHCM",
    "PCRNNHCA",
    "PCRNNHCM",
    "PCRNNV",
    "PredictiveCodingModule",
    "SRNN",
    "TRNN",
]
