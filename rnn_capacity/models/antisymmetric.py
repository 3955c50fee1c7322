"""The antisymmetric RNN: a recurrent matrix constrained to be antisymmetric."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import CapacityModule, default_read_out, randn
from .bptt import AntisymmetricLoop
from .options import GAMMA, TAU


class AntisymmetricRNN(CapacityModule):
    r"""Antisymmetric RNN (row vectors, :math:`a = 1/\tau`).

    .. math::
        A &= V \odot L - (V \odot L)^\top \\
        h_t &= h_{t-1} + a \tanh\left(\tanh(h_{t-1}) A + b_r - \gamma h_{t-1}\right) \\
        \hat x_t &= W_o \tanh(h_t) + b_o

    ``L`` is the fixed strictly lower-triangular mask, so ``A`` is antisymmetric; it is
    recomputed from ``V`` at every forward (``V``'s upper triangle gets no gradient).
    Initialisation: ``h_0 ~ N(0,1)``, ``V ~ N(0,1)/H``, ``b_r ~ N(0,1)/10``, read-out as
    TRNN. Hyperparameters: ``lr``, ``tau``, ``gamma``.

    Args:
        hidden_size: ``H``.
        num_sequences: ``p`` (1–250), or one per replica.
        tau: ``τ ≥ 1``, or one per replica.
        gamma: diffusion ``γ ≥ 0``, or one per replica.
        **kwargs: the base class's (``seed``, ``lr``, ``learn_initial_state``, ...).

    Examples:
        >>> import torch
        >>> from rnn_capacity.models import AntisymmetricRNN
        >>> model = AntisymmetricRNN(hidden_size=8, num_sequences=3, tau=10.0, gamma=0.1)
        >>> w = model.prepare(model.weights())  # A is rebuilt from V at every forward
        >>> torch.equal(w.A, -w.A.mT)
        True
        >>> model.generate().shape
        torch.Size([60, 3, 2])
    """

    display_name = "Antisymmetric RNN"
    prune_validated = True  # 30 runs at H = 30 / 40: none counted that --prune stops

    OPTIONS = (TAU, GAMMA)

    def __init__(
        self,
        hidden_size: int,
        num_sequences: int | Sequence[int],
        tau: float | Sequence[float] = 10.0,
        gamma: float | Sequence[float] = 0.1,
        **kwargs,
    ):
        super().__init__(hidden_size, num_sequences, tau=tau, gamma=gamma, **kwargs)
        mask = torch.ones(hidden_size, hidden_size).tril(diagonal=-1)
        self.register_buffer("L", mask, persistent=False)

    def init_weights(self, g, p, **hp):
        H = self.hidden_size
        return {"V": randn(g, H, H) / H, "b_r": randn(g, 1, H) / 10} | default_read_out(g, H)

    def prepare(self, w):
        lower = w.V * self.L
        w.A = lower - lower.mT
        w.a = w.tau.reciprocal()
        return w

    def step(self, w, h, f):
        z = torch.baddbmm(w.b_r, f, w.A) - w.gamma * h
        return torch.addcmul(h, w.a, torch.tanh(z))

    hand_written_bptt = True

    def bptt_loop(self, w, h):
        return AntisymmetricLoop.apply(h, w.a, w.gamma, self.num_steps, w.A, w.b_r)
