"""A model from outside the package: the minimal gated unit (MGU), as an rnn_capacity plug-in.

Installed (``pip install examples/mgu``), it is the model ``mgu`` everywhere a built-in
name is (entry point ``rnn_capacity.models``, see pyproject.toml); uninstalled, it is
``mgu_capacity:MGU`` with this directory's parent on ``PYTHONPATH``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rnn_capacity.models import CapacityModule
from rnn_capacity.models.base import default_read_out, randn
from rnn_capacity.models.options import Option

#: Per replica: a dimension a search may explore (the base class declares ``lr``).
GATE_BIAS = Option("gate_bias", float, -10.0, 10.0, per_replica=True, doc="MGU gate bias b_f")


class MGU(CapacityModule):
    r"""Minimal gated unit (Zhou et al., 2016): one gate that both forgets and resets.

    Generating on its own (no input; row vectors, :math:`\sigma` the logistic function):

    .. math::
        f_t &= \sigma(\tanh(h_{t-1}) W_f + b_f) \\
        \tilde h_t &= \tanh\left((f_t \odot \tanh(h_{t-1})) W_h + b_h\right) \\
        h_t &= (1 - f_t) \odot h_{t-1} + f_t \odot \tilde h_t \\
        \hat x_t &= W_o \tanh(h_t) + b_o

    Initialisation: ``h_0 ~ N(0,1)``, ``W_f, W_h ~ N(0,1)/H``, ``b_h ~ N(0,1)/10``,
    ``b_f ~ N(0,1)/10 + gate_bias`` (a negative bias starts with slow updates), read-out
    as the TRNN. Hyperparameters: ``lr``, ``gate_bias``.
    """

    OPTIONS = (GATE_BIAS,)
    #: The search space shipped beside this file (package data): ``--space`` overrides it.
    SEARCH_SPACE = "mgu.yaml"

    def __init__(
        self,
        hidden_size: int,
        num_sequences: int | Sequence[int],
        gate_bias: float | Sequence[float] = 0.0,
        **kwargs,
    ):
        super().__init__(hidden_size, num_sequences, gate_bias=gate_bias, **kwargs)

    def init_weights(self, g, p, gate_bias, **hp):
        H = self.hidden_size
        w = {"W_f": randn(g, H, H) / H, "W_h": randn(g, H, H) / H}
        w |= {"b_f": randn(g, 1, H) / 10 + gate_bias, "b_h": randn(g, 1, H) / 10}
        return w | default_read_out(g, H)

    def step(self, w, h, f):  # f = tanh(h_{t-1}), (K, P, H)
        gate = torch.sigmoid(torch.baddbmm(w.b_f, f, w.W_f))
        candidate = torch.tanh(torch.baddbmm(w.b_h, gate * f, w.W_h))
        return torch.lerp(h, candidate, gate)  # (1 - f) h + f candidate
