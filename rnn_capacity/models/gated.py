"""Gated models: LSTM and GRU (fed their own previous prediction) and the UGRNN."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .base import OUTPUT_SIZE, CapacityModule, default_read_out, randn
from .bptt import FeedbackLoop, UGRNNLoop
from .options import TEACHER_FORCING


def uniform(g: torch.Generator, bound: float, *shape: int) -> Tensor:
    return torch.empty(*shape).uniform_(-bound, bound, generator=g)


class FeedbackModule(CapacityModule):
    r"""A model with an input: the previous point. Which previous point is the
    ``teacher_forcing`` setting:

    .. math::
        x^{in}_1 = 0, \qquad
        x^{in}_t = \begin{cases}
            \operatorname{sg}(\hat x_{t-1}) & \text{closed loop} \\
            x_{t-1} & \text{teacher-forced (the target)}
        \end{cases}

    (``sg``: detached from the graph.)

    * ``"none"`` (default): closed loop in training and in the count — free generation,
      comparable with every other model.
    * ``"train"``: teacher-forced training, closed-loop count.
    * ``"always"``: teacher-forced training *and* count, the original study's code
      default (``forward(teacher_forcing=True)``). Such a count measures one-step
      prediction from the true previous point, not free generation, so it is not
      comparable with the other models' counts (protocol.md).

    The targets reach :meth:`forward` in training (``training_step``) and in the count
    (:class:`~rnn_capacity.capacity.CapacityCallback`, module in eval mode);
    :meth:`generate` without targets is always closed loop.

    Subclasses write ``step(w, state, x)`` with the input ``x`` (K, P, 2); the read-out
    has no tanh: :math:`\hat x_t = W_o h_t + b_o` (the features are ``h`` itself).

    Args:
        hidden_size: ``H``.
        num_sequences: ``p`` (1–250), or one per replica.
        teacher_forcing: ``"none"``, ``"train"`` or ``"always"`` (above), shared.
        **kwargs: the base class's (``seed``, ``lr``, ``learn_initial_state``, ...).
    """

    OPTIONS = (TEACHER_FORCING,)

    def __init__(self, hidden_size, num_sequences, teacher_forcing: str | bool = "none", **kwargs):
        # save_hyperparameters() (in the base) records this frame's locals: the mode's name.
        teacher_forcing = TEACHER_FORCING.check(teacher_forcing, type(self).__name__)
        super().__init__(hidden_size, num_sequences, **kwargs)

    def cell_weights(self, g: torch.Generator, gates: int) -> dict[str, Tensor]:
        """The framework's default initialisation: everything ``U(-1/√H, 1/√H)``."""
        H = self.hidden_size
        k = H**-0.5
        return {
            "W_ih": uniform(g, k, gates * H, OUTPUT_SIZE),
            "W_hh": uniform(g, k, gates * H, H),
            "b_ih": uniform(g, k, 1, gates * H),
            "b_hh": uniform(g, k, 1, gates * H),
        } | default_read_out(g, H)

    def features(self, state):
        return state

    def teacher_forced(self, targets: Tensor | None) -> bool:
        """Whether this forward pass feeds the targets (see the class docstring)."""
        mode = self.hparams.teacher_forcing
        if targets is None or mode == "none":
            return False
        return mode == "always" or self.training

    def forward(self, targets: Tensor | None = None) -> Tensor:
        w = self.prepare(self.weights())
        state = self.start(w)
        forced = self.teacher_forced(targets)
        if self.uses_hand_written_bptt():
            return self.bptt_loop(w, state, targets if forced else None)
        x = w.W_o.new_zeros(*self.mask.shape, OUTPUT_SIZE)  # first input: zero
        xs = []
        for t in range(self.num_steps):
            state = self.step(w, state, x)
            xs.append(self.read_out(w, self.features(state)))
            x = targets[t] if forced else self.fed_back(xs[-1])
        return torch.stack(xs)  # (T, K, P, 2)

    def fed_back(self, prediction: Tensor) -> Tensor:
        """The next input in closed loop: the prediction, detached (``sg`` above). A
        subclass returning it undetached must also set ``hand_written_bptt = False``: the
        hand-written loop detaches it."""
        return prediction.detach()


class LSTM(FeedbackModule):
    r"""LSTM generating closed-loop from a per-sequence initial cell state.

    .. math::
        \begin{array}{ll}
        i_t = \sigma(W_{ii} x_{t-1} + b_{ii} + W_{hi} h_{t-1} + b_{hi}) &
        f_t = \sigma(W_{if} x_{t-1} + b_{if} + W_{hf} h_{t-1} + b_{hf}) \\
        g_t = \tanh(W_{ig} x_{t-1} + b_{ig} + W_{hg} h_{t-1} + b_{hg}) &
        o_t = \sigma(W_{io} x_{t-1} + b_{io} + W_{ho} h_{t-1} + b_{ho}) \\
        c_t = f_t \odot c_{t-1} + i_t \odot g_t & h_t = o_t \odot \tanh(c_t) \\
        \hat x_t = W_o h_t + b_o &
        \end{array}

    :math:`x_0 = 0`, then :math:`x_{t-1} = \hat x_{t-1}` (detached) or, with teacher
    forcing, the target. Initial states: ``c_0 ~ N(0,1)`` per sequence, ``h_0 = tanh(c_0)``.
    Initialisation: the framework's default (``torch.nn.LSTMCell``: all cell weights
    ``U(-1/√H, 1/√H)``, gates stacked ``i, f, g, o``); read-out ``W_o ~ N(0,1)/H``,
    ``b_o ~ N(0,1)/10``. Hyperparameters: ``lr``; setting: ``teacher_forcing``.

    Examples:
        >>> import torch
        >>> from rnn_capacity.models import LSTM
        >>> model = LSTM(hidden_size=8, num_sequences=3, teacher_forcing="always")
        >>> model.generate().shape  # without targets: free generation
        torch.Size([60, 3, 2])
        >>> targets = torch.zeros(60, 1, 3, 2)  # (T, K, P, 2)
        >>> torch.equal(model.generate(), model.generate(targets))  # "always": fed the targets
        False
    """

    display_name = "LSTM"
    # Not --prune: of the 15 runs of 30 it stopped, 2 had counted 7 (its loss at iteration
    # 200 is still up to 0.24 where it learns; bench/prune_rule.py --shipped).
    prune_validated = False

    def init_state(self, g, p):
        return {"c0": randn(g, p, self.hidden_size)}

    def init_weights(self, g, p, **hp):
        return self.cell_weights(g, 4)

    def prepare(self, w):
        w.b = w.b_ih + w.b_hh
        return w

    def start(self, w):
        return torch.tanh(w.c0), w.c0

    def step(self, w, state, x):
        h, c = state
        gates = torch.baddbmm(torch.baddbmm(w.b, x, w.W_ih.mT), h, w.W_hh.mT)  # (K, P, 4H)
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    def features(self, state):
        return state[0]

    hand_written_bptt = True
    bptt_max_sequences = 100  # K·P; K = 4, 8 at p = 45 measured 0.93x, 0.86x of autograd
    # Compiled whole step over the default at K = 2 (bench/compile_cost.py): 1.70x at
    # K·P = 256, 1.54x at 416 (over autograd's loop there); a cold compile costs 112-149 s.
    compile_max_sequences = 416

    def bptt_loop(self, w, state, inputs):
        h0, c0 = state
        weights = (w.W_ih, w.W_hh, w.b_ih, w.b_hh, w.W_o, w.b_o)
        return FeedbackLoop.apply("lstm", h0, c0, inputs, self.num_steps, *weights)


class GRU(FeedbackModule):
    r"""GRU generating closed-loop from a per-sequence initial state.

    .. math::
        \begin{array}{ll}
        r_t = \sigma(W_{ir} x_{t-1} + b_{ir} + W_{hr} h_{t-1} + b_{hr}) \\
        z_t = \sigma(W_{iz} x_{t-1} + b_{iz} + W_{hz} h_{t-1} + b_{hz}) \\
        n_t = \tanh(W_{in} x_{t-1} + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})) \\
        h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}, \qquad \hat x_t = W_o h_t + b_o
        \end{array}

    Inputs as :class:`LSTM`; ``h_0 ~ N(0,1)``. Initialisation: the framework's default
    (``torch.nn.GRUCell``, gates stacked ``r, z, n``); read-out as :class:`LSTM`.
    Hyperparameters: ``lr``; setting: ``teacher_forcing``.

    Examples:
        >>> import torch
        >>> from rnn_capacity.models import GRU
        >>> model = GRU(hidden_size=8, num_sequences=3)
        >>> model.hparams.teacher_forcing  # the default: closed loop in training and count
        'none'
        >>> targets = torch.zeros(60, 1, 3, 2)  # (T, K, P, 2)
        >>> torch.equal(model.generate(), model.generate(targets))  # "none" ignores them
        True
        >>> # The setting's old bool values still work: True meant teacher-forced training.
        >>> GRU(hidden_size=8, num_sequences=3, teacher_forcing=True).hparams.teacher_forcing
        'train'
    """

    display_name = "GRU"
    prune_validated = True  # 24 runs at H = 30 / 40: none counted that --prune stops

    def init_weights(self, g, p, **hp):
        return self.cell_weights(g, 3)

    def step(self, w, h, x):
        i_r, i_z, i_n = torch.baddbmm(w.b_ih, x, w.W_ih.mT).chunk(3, dim=-1)  # (K, P, H) each
        h_r, h_z, h_n = torch.baddbmm(w.b_hh, h, w.W_hh.mT).chunk(3, dim=-1)
        r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        return torch.lerp(n, h, z)  # (1 - z) n + z h

    hand_written_bptt = True
    bptt_max_sequences = 500  # K·P; above, autograd's loop measured faster
    # Compiled whole step over the default at K = 2 (bench/compile_cost.py): 1.50-1.70x at
    # K·P = 96, 1.44x at 256, 1.47x at 416; a cold compile costs 175-183 s.
    compile_max_sequences = 416

    def bptt_loop(self, w, h, inputs):
        weights = (w.W_ih, w.W_hh, w.b_ih, w.b_hh, w.W_o, w.b_o)
        return FeedbackLoop.apply("gru", h, None, inputs, self.num_steps, *weights)


class UGRNN(CapacityModule):
    r"""Update-gate RNN.

    .. math::
        u_t &= \sigma(\tanh(h_{t-1}) W_u + b_u) \\
        h_t &= u_t \odot h_{t-1} + (1 - u_t) \odot \tanh(\tanh(h_{t-1}) W_r + b_r) \\
        \hat x_t &= W_o \tanh(h_t) + b_o

    (row vectors). Initialisation: ``h_0 ~ N(0,1)``, ``W_u, W_r ~ N(0,1)/H``,
    ``b_u, b_r ~ N(0,1)/10``, read-out as TRNN. Hyperparameters: ``lr``.

    Examples:
        >>> from rnn_capacity.models import UGRNN
        >>> model = UGRNN(hidden_size=8, num_sequences=3, lr=0.01, learn_initial_state=False)
        >>> model.generate().shape
        torch.Size([60, 3, 2])
        >>> model.parameter_counts()  # W_u, W_r, b_u, b_r, W_o, b_o; fixed initial states
        {'trainable': 162, 'per_sequence': 0, 'shared': 162}
    """

    display_name = "UGRNN"
    prune_validated = True  # 24 runs at H = 30 / 40: none counted that --prune stops

    def __init__(self, hidden_size: int, num_sequences: int | Sequence[int], **kwargs):
        super().__init__(hidden_size, num_sequences, **kwargs)

    def init_weights(self, g, p, **hp):
        H = self.hidden_size
        w = {"W_u": randn(g, H, H) / H, "W_r": randn(g, H, H) / H}
        w |= {"b_u": randn(g, 1, H) / 10, "b_r": randn(g, 1, H) / 10}
        return w | default_read_out(g, H)

    def prepare(self, w):
        # Both products share tanh(h): one (H × 2H) product per step.
        w.W = torch.cat([w.W_u, w.W_r], dim=2)
        w.b = torch.cat([w.b_u, w.b_r], dim=2)
        return w

    def step(self, w, h, f):
        z = torch.baddbmm(w.b, f, w.W)  # (K, P, 2H)
        u = torch.sigmoid(z[..., : self.hidden_size])
        candidate = torch.tanh(z[..., self.hidden_size :])
        return torch.lerp(candidate, h, u)  # u h + (1 - u) candidate

    hand_written_bptt = True
    bptt_max_sequences = 500  # K·P; above, autograd's loop measured faster

    def bptt_loop(self, w, h):
        return UGRNNLoop.apply(h, self.num_steps, w.W, w.b)
