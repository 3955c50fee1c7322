"""Classic recurrent models: sRNN, TRNN (leaky) and MTRNN (two time scales)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import CapacityModule, default_read_out, leaky, randn
from .bptt import leaky_loop
from .options import TAU, TAU_FAST, TAU_SLOW


def recurrent_weights(g: torch.Generator, hidden: int) -> dict[str, torch.Tensor]:
    """``W_r ~ N(0,1)/H`` (H×H) and ``b_r ~ N(0,1)/10`` (stored 1×H), then the read-out."""
    return {
        "W_r": randn(g, hidden, hidden) / hidden,
        "b_r": randn(g, 1, hidden) / 10,
        **default_read_out(g, hidden),
    }


class SRNN(CapacityModule):
    r"""Simple RNN: the TRNN with :math:`\tau = 1`.

    .. math::
        h_t = W_r \tanh(h_{t-1}) + b_r, \qquad \hat x_t = W_o \tanh(h_t) + b_o

    Shapes: ``h`` (K, P, H); ``W_r`` H×H, ``b_r`` 1×H, ``W_o`` 2×H, ``b_o`` 1×2.
    Initialisation: ``h_0 ~ N(0,1)``, ``W_r, W_o ~ N(0,1)/H``, ``b_r, b_o ~ N(0,1)/10``.
    Hyperparameters: ``lr``.

    Examples:
        >>> from rnn_capacity.models import SRNN
        >>> model = SRNN(hidden_size=8, num_sequences=3, lr=0.01)
        >>> model.generate().shape  # (T, p, 2)
        torch.Size([60, 3, 2])
        >>> model.parameter_counts()  # W_r, b_r, W_o, b_o; the 3 learned initial states
        {'trainable': 114, 'per_sequence': 24, 'shared': 90}
    """

    display_name = "sRNN"

    def __init__(self, hidden_size: int, num_sequences: int | Sequence[int], **kwargs):
        super().__init__(hidden_size, num_sequences, **kwargs)

    def init_weights(self, g, p, **hp):
        return recurrent_weights(g, self.hidden_size)

    def step(self, w, h, f):
        return torch.baddbmm(w.b_r, f, w.W_r.mT)

    hand_written_bptt = True

    def bptt_loop(self, w, h):
        return leaky_loop(h, None, self.num_steps, w.W_r.mT, w.b_r)


class TRNN(CapacityModule):
    r"""Time-constant (leaky) RNN.

    .. math::
        h_t = (1 - a)\, h_{t-1} + a \left(W_r \tanh(h_{t-1}) + b_r\right), \qquad
        a = 1/\tau, \qquad \hat x_t = W_o \tanh(h_t) + b_o

    Shapes and initialisation as :class:`SRNN`. Hyperparameters: ``lr``, ``tau`` ≥ 1.

    Args:
        hidden_size: ``H``.
        num_sequences: ``p`` (1–250), or one per replica.
        tau: time constant ``τ ≥ 1``, or one per replica.
        **kwargs: the base class's (``seed``, ``lr``, ``learn_initial_state``, ...).

    Examples:
        Two replicas (an ensemble), each with its own seed, ``p`` and ``τ``:

        >>> from rnn_capacity.models import TRNN
        >>> model = TRNN(hidden_size=8, num_sequences=[3, 5], seed=[0, 1], tau=[2.0, 5.0])
        >>> model.generate().shape  # (T, K, P = the largest p, 2)
        torch.Size([60, 2, 5, 2])
        >>> single = model.replica(1)  # replica 1 as one model, as if built with seed=1
        >>> single.num_sequences, single.hparams.tau
        ([5], 5.0)
        >>> single.generate().shape
        torch.Size([60, 5, 2])
    """

    display_name = "TRNN"

    OPTIONS = (TAU,)

    def __init__(
        self,
        hidden_size: int,
        num_sequences: int | Sequence[int],
        tau: float | Sequence[float] = 10.0,
        **kwargs,
    ):
        super().__init__(hidden_size, num_sequences, tau=tau, **kwargs)

    def init_weights(self, g, p, **hp):
        return recurrent_weights(g, self.hidden_size)

    def prepare(self, w):
        w.a = w.tau.reciprocal()
        return w

    def step(self, w, h, f):
        return leaky(h, torch.baddbmm(w.b_r, f, w.W_r.mT), w.a)

    hand_written_bptt = True

    def bptt_loop(self, w, h):
        return leaky_loop(h, w.a, self.num_steps, w.W_r.mT, w.b_r)


class MTRNN(CapacityModule):
    r"""Multiple-timescale RNN: a slow layer ``s`` and a fast layer ``f`` of H units each.

    With row vectors, :math:`a_s = 1/\tau_s` and :math:`a_f = 1/\tau_f`:

    .. math::
        s_t &= (1 - a_s)\, s_{t-1} + a_s \left(\tanh(s_{t-1}) W_{ss}
               + \tanh(f_{t-1}) W_{fs} + b_s\right) \\
        f_t &= (1 - a_f)\, f_{t-1} + a_f \left(\tanh(s_{t-1}) W_{sf}
               + \tanh(f_{t-1}) W_{ff} + b_f\right) \\
        \hat x_t &= W_o \tanh(f_t) + b_o

    Initialisation: ``s_0, f_0 ~ N(0,1)``; the four H×H matrices ``~ N(0,1)/H``; biases
    ``~ N(0,1)/10``; read-out as :class:`SRNN`. Hyperparameters: ``lr``, ``tau_slow``,
    ``tau_fast``.

    Args:
        hidden_size: ``H``, units per layer.
        num_sequences: ``p`` (1–250), or one per replica.
        tau_slow: ``τ_s ≥ 1``, or one per replica.
        tau_fast: ``τ_f ≥ 1``, or one per replica.
        **kwargs: the base class's (``seed``, ``lr``, ``learn_initial_state``, ...).

    Implementation: the two layers are one leaky layer of 2H units, state ``[s, f]``,
    with the block matrix ``[[W_ss, W_sf], [W_fs, W_ff]]`` and per-unit rates
    ``[a_s…, a_f…]`` — the same equations in one batched product per step.

    Examples:
        >>> from rnn_capacity.models import MTRNN
        >>> model = MTRNN(hidden_size=8, num_sequences=3, tau_slow=20.0, tau_fast=2.0)
        >>> model.generate().shape  # read out from the fast layer
        torch.Size([60, 3, 2])
        >>> list(MTRNN.options())  # its own options, then the base class's
        ['tau_slow', 'tau_fast', 'lr']
        >>> MTRNN(hidden_size=8, num_sequences=3, tau_slow=0.5)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rnn_capacity.errors.UsageError: hyperparameter tau_slow=0.5 out of range for MTRNN: ...
    """

    display_name = "MTRNN"
    prune_validated = True  # 158 runs at H = 30 / 40: none counted that --prune stops

    OPTIONS = (TAU_SLOW, TAU_FAST)

    def __init__(
        self,
        hidden_size: int,
        num_sequences: int | Sequence[int],
        tau_slow: float | Sequence[float] = 10.0,
        tau_fast: float | Sequence[float] = 2.0,
        **kwargs,
    ):
        super().__init__(hidden_size, num_sequences, tau_slow=tau_slow, tau_fast=tau_fast, **kwargs)

    def init_state(self, g, p):
        return {"s0": randn(g, p, self.hidden_size), "f0": randn(g, p, self.hidden_size)}

    def init_weights(self, g, p, **hp):
        H = self.hidden_size
        w = {n: randn(g, H, H) / H for n in ("W_ss", "W_fs", "W_sf", "W_ff")}
        w |= {"b_s": randn(g, 1, H) / 10, "b_f": randn(g, 1, H) / 10}
        return w | default_read_out(g, H)

    def prepare(self, w):
        H = self.hidden_size
        # Rows index the source layer (tanh(s) then tanh(f)), columns the target layer.
        w.W = torch.cat([torch.cat([w.W_ss, w.W_sf], 2), torch.cat([w.W_fs, w.W_ff], 2)], 1)
        w.b = torch.cat([w.b_s, w.b_f], 2)  # (K, 1, 2H)
        w.a = torch.cat([w.tau_slow.expand(-1, -1, H), w.tau_fast.expand(-1, -1, H)], 2)
        w.a = w.a.reciprocal()
        return w

    def start(self, w):
        return torch.cat([w.s0, w.f0], dim=2)  # (K, P, 2H)

    def step(self, w, x, f):
        return leaky(x, torch.baddbmm(w.b, f, w.W), w.a)

    hand_written_bptt = True

    def bptt_loop(self, w, x):
        return leaky_loop(x, w.a, self.num_steps, w.W, w.b)

    def read_out(self, w, f):
        return super().read_out(w, f[..., self.hidden_size :])  # the fast layer
