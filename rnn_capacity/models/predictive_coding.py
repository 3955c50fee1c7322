r"""Predictive-coding RNNs (the PC-RNN family).

In the capacity benchmark every PC model runs in pure generation mode (sensory
feedback rate :math:`\alpha_x = 0`) and is trained by BPTT like the others. The
modules also implement the feedback (inference) path for :math:`\alpha_x > 0`, since
they are reused for online inference: :meth:`PredictiveCodingModule.infer`.

Generation and inference share one prior step per model. Hidden causes ``c`` (HC
variants) enter the prior only through a *cause code* (``W_c c + b_r`` for additive,
``c W_cd`` for multiplicative causes): during generation ``c`` never changes, so the
code is computed once per forward from the one-hot ``c_0 = I_p``; during inference it
is recomputed after every cause update.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .base import CapacityModule, default_read_out, leaky, randn
from .bptt import GCLoop, leaky_loop
from .classic import recurrent_weights
from .options import ALPHA_H_PRIME, FACTORS, STATE_INFERENCE, TAU


class PredictiveCodingModule(CapacityModule):
    r"""Base of the PC-RNN family, and the leaky prior they share.

    The default prior is :math:`h^{prior}_t = (1 - a)\, h_{t-1} + a\, d(h_{t-1}, c)` with
    the drive :math:`d = W_r \tanh(h_{t-1}) + \mathrm{code}(c)`. Cause mixins change the
    code and the drive; velocity variants change the prior. :meth:`infer` runs the
    feedback path. As everywhere, ``f`` is ``tanh(h)`` of the state the step starts from.

    Args:
        hidden_size: ``H``.
        num_sequences: ``p`` (1–250), or one per replica; the HC variants have one
            hidden cause per sequence (``C = p``).
        tau: ``τ ≥ 1``, or one per replica.
        factors: (HC-M variants) the number of factors ``F``; ``None`` means ``F = H``.
        **kwargs: the base class's (``seed``, ``lr``, ``learn_initial_state``, ...).
    """

    has_causes = False
    # All six checked (bench/prune_rule.py --shipped): HC-A, V and GC-HC-A on 154 runs each,
    # GC, HC-M and GC-HC-M on 24; none that --prune stops had counted.
    prune_validated = True
    OPTIONS = (TAU,)

    def __init__(self, hidden_size, num_sequences, tau: float | Sequence[float] = 10.0, **kwargs):
        super().__init__(hidden_size, num_sequences, tau=tau, **kwargs)

    def init_weights(self, g, p, **hp):
        return recurrent_weights(g, self.hidden_size)

    # -- what the variants change ----------------------------------------------------
    def cause_code(self, w, c: Tensor | None) -> Tensor:
        """What the causes contribute to the drive (without causes: the bias ``b_r``)."""
        return w.b_r

    def drive(self, w, h: Tensor, f: Tensor, code: Tensor) -> Tensor:
        r""":math:`W_r \tanh(h) + \mathrm{code}`, with ``f = tanh(h)``: (K, P, H)."""
        return torch.baddbmm(code, f, w.W_r.mT)

    def prior(self, w, state, f, code):
        """The prior (generative) step ``state_{t-1} -> state_t`` given the cause code."""
        return leaky(state, self.drive(w, state, f, code), w.a)

    def drive_weights(self, w) -> tuple[Tensor, ...]:
        """The drive as models/bptt.py takes it: ``(W, code)`` for ``code + f W``."""
        return w.W_r.mT, w.code

    def leaky_bptt(self, w, state):
        """The prior loop of :meth:`prior` through models/bptt.py (generation)."""
        return leaky_loop(state, w.a, self.num_steps, *self.drive_weights(w))

    def update_causes(self, w, f_prev, eps: Tensor, c: Tensor, rate: float) -> Tensor:
        """Cause update from a hidden prediction error ``eps`` (HC variants);
        ``f_prev = tanh(h_{t-1})``."""
        return c

    def feedback(self, w, f_prev, state, f, e: Tensor, c, alpha_x, alpha_h, alpha_h_prime):
        r"""Posterior state and causes after the sensory error ``e`` (K, P, 2):
        :math:`h^{post}` (see :func:`sensory_feedback`; ``f = tanh(h^{prior})``), then the
        causes at rate :math:`\alpha_h` from :math:`\varepsilon_h = h^{prior} - h^{post}`."""
        h_post, eps_h = sensory_feedback(w, self.hidden(state), f, e, alpha_x)
        if c is not None:
            c = self.update_causes(w, f_prev, eps_h, c, alpha_h)
        return self.with_hidden(state, h_post), c

    def hidden(self, state) -> Tensor:
        """The hidden state ``h`` (K, P, H) within the state (default: the state is ``h``)."""
        return state

    def with_hidden(self, state, h):
        """The state with its hidden part replaced (default: the state is ``h``)."""
        return h

    # -- shared ----------------------------------------------------------------------
    def initial_causes(self, w) -> Tensor | None:
        """``c_0 = I_p``: one one-hot cause per sequence, (K, P, C=P); None without causes."""
        if not self.has_causes:
            return None
        k, p = self.mask.shape
        return torch.eye(p, dtype=self.tau.dtype, device=self.tau.device).expand(k, p, p)

    def prepare(self, w):
        w.a = w.tau.reciprocal()
        w.code = self.cause_code(w, self.initial_causes(w))  # constant during generation
        return w

    def step(self, w, state, f):
        return self.prior(w, state, f, w.code)

    def infer(
        self,
        targets: Tensor,
        alpha_x: float,
        alpha_h: float = 0.0,
        alpha_h_prime: float = 0.0,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """Online inference on ``targets`` (T, K, P, 2) with feedback rates ``alpha_*``.

        At each step: prior, read-out, error ``e_t = x̂_t - x_t``, posterior and cause
        update (:meth:`feedback`); the next step starts from the posterior. With
        ``alpha_x = 0`` this is exactly :meth:`forward` (pure generation).

        Returns ``(predictions, errors, states, causes)``: the predictions and errors
        (T, K, P, 2) of the prior states, the posterior hidden states (T, K, P, H) and
        the causes after each step (T, K, P, C; None for models without causes).
        """
        w = self.prepare(self.weights())
        state, c, code = self.start(w), self.initial_causes(w), w.code
        f = self.features(state)
        priors, posts, cs = [], [], []
        rates = (alpha_x, alpha_h, alpha_h_prime)
        for t in range(self.num_steps):
            f_prev = f
            state = self.prior(w, state, f_prev, code)
            f = self.features(state)
            priors.append(f)
            if alpha_x:
                e = self.read_out(w, f) - targets[t]
                state, c = self.feedback(w, f_prev, state, f, e, c, *rates)
                f = self.features(state)  # the next step starts from the posterior
                if c is not None:
                    code = self.cause_code(w, c)
            posts.append(self.hidden(state))
            cs.append(c)
        # Read out like forward() does, so that alpha_x = 0 reproduces it bit for bit.
        x = self.read_out_steps(w, priors)
        causes = torch.stack(cs) if self.has_causes else None
        return x, x - targets, torch.stack(posts), causes


def sensory_feedback(w, h: Tensor, f: Tensor, e: Tensor, alpha_x: float):
    r""":math:`h^{post} = h^{prior} - \alpha_x (1 - \tanh^2 h^{prior}) \odot (e_t W_o)` with
    ``f = tanh(h_prior)``; returns :math:`h^{post}` and
    :math:`\varepsilon_h = h^{prior} - h^{post}`."""
    eps = alpha_x * (1 - f.square()) * torch.bmm(e, w.W_o)
    return h - eps, eps


class AdditiveCauses:
    r"""Mixin: additive hidden causes. Code :math:`W_c c + b_r`; ``W_c ~ N(0,1)/C`` (H×C);
    update :math:`c \leftarrow c - \alpha (\varepsilon W_c)`."""

    has_causes = True
    per_sequence = {"W_c": 1}

    def init_weights(self, g, p, **hp):
        H = self.hidden_size
        return recurrent_weights(g, H) | {"W_c": randn(g, H, p) / p}

    def cause_code(self, w, c):
        return torch.baddbmm(w.b_r, c, w.W_c.mT)  # W_c c + b_r: (K, P, H)

    def update_causes(self, w, f_prev, eps, c, rate):
        return c - rate * torch.bmm(eps, w.W_c)


class MultiplicativeCauses:
    r"""Mixin: multiplicative hidden causes through ``F`` factors (``factors``, default H).

    Code :math:`c W_{cd}`; drive :math:`((\tanh(h) W_{pd}) \odot (c W_{cd})) W_{fd}^\top + b_r`;
    update :math:`c \leftarrow c - \alpha ((\tanh(h_{t-1}) W_{pd}) \odot (\varepsilon W_{fd}))
    W_{cd}^\top`. ``W_pd, W_fd ~ N(0,1)/√F`` (H×F), ``W_cd = F · softmax_row(0.5 N(0,1))``
    (C×F), ``b_r ~ N(0,1)/10``; there is no ``W_r``.
    """

    has_causes = True
    per_sequence = {"W_cd": 0}
    OPTIONS = (FACTORS,)

    def __init__(self, hidden_size, num_sequences, factors: int | None = None, **kwargs):
        super().__init__(hidden_size, num_sequences, **kwargs)

    def init_weights(self, g, p, **hp):
        H = self.hidden_size
        F = self.hparams.factors or H
        return {
            "W_pd": randn(g, H, F) / F**0.5,
            "W_fd": randn(g, H, F) / F**0.5,
            "W_cd": F * torch.softmax(0.5 * randn(g, p, F), dim=1),
            "b_r": randn(g, 1, H) / 10,
        } | default_read_out(g, H)

    def cause_code(self, w, c):
        return torch.bmm(c, w.W_cd)  # c W_cd: (K, P, F)

    def drive(self, w, h, f, code):
        return torch.baddbmm(w.b_r, torch.bmm(f, w.W_pd) * code, w.W_fd.mT)

    def drive_weights(self, w):
        return w.W_pd, w.code, w.W_fd, w.b_r  # b_r + ((f W_pd) ⊙ code) W_fdᵀ

    def update_causes(self, w, f_prev, eps, c, rate):
        factor_in = torch.bmm(f_prev, w.W_pd)  # (K, P, F)
        return c - rate * torch.bmm(factor_in * torch.bmm(eps, w.W_fd), w.W_cd.mT)


class Velocity:
    """Mixin for the generalised-coordinates variants: state ``(h, h')`` with ``h'_0 = 0``;
    the read-out and the sensory feedback act on ``h``."""

    def start(self, w):
        return w.h0, torch.zeros_like(w.h0)

    def features(self, state):
        return torch.tanh(state[0])

    def hidden(self, state):
        return state[0]

    def with_hidden(self, state, h):
        return h, state[1]


class PCRNNV(PredictiveCodingModule):
    r"""PC-RNN-V: the vanilla predictive-coding RNN.

    .. math::
        h^{prior}_t = (1 - a)\, h_{t-1} + a \left(W_r \tanh(h_{t-1}) + b_r\right), \qquad
        \hat x_t = W_o \tanh(h^{prior}_t) + b_o

    With :math:`\alpha_x = 0` it coincides with :class:`~rnn_capacity.models.TRNN`.
    Feedback: :math:`h^{post} = h^{prior} - \alpha_x (1 - \tanh^2 h^{prior}) \odot (e_t W_o)`.
    Initialisation as TRNN. Hyperparameters: ``lr``, ``tau``.

    Examples:
        >>> import torch
        >>> from rnn_capacity.models import PCRNNV, TRNN
        >>> model = PCRNNV(hidden_size=8, num_sequences=3, tau=5.0, lr=0.01)
        >>> model.generate().shape
        torch.Size([60, 3, 2])
        >>> trnn = TRNN(hidden_size=8, num_sequences=3, tau=5.0, lr=0.01)  # the same seed, 0
        >>> torch.equal(model.generate(), trnn.generate())  # generation: the TRNN exactly
        True
    """

    display_name = "PC-RNN-V"

    hand_written_bptt = True

    def bptt_loop(self, w, state):
        return self.leaky_bptt(w, state)


class PCRNNHCA(AdditiveCauses, PredictiveCodingModule):
    r"""PC-RNN-HC-A: additive hidden causes, one per sequence.

    .. math::
        h^{prior}_t = (1 - a)\, h_{t-1} + a \left(W_r \tanh(h_{t-1}) + W_c c + b_r\right),
        \qquad \hat x_t = W_o \tanh(h^{prior}_t) + b_o

    ``c`` has ``C = p`` entries and starts at the one-hot code of its sequence
    (:math:`c_0 = I_p`, fixed). With :math:`\alpha_x = 0` it never changes, so ``W_c c`` is
    a learned per-sequence bias, computed once per forward. Feedback: :math:`h^{post}` as
    PC-RNN-V, then :math:`c \leftarrow c - \alpha_h (\varepsilon_h W_c)`.
    Initialisation: TRNN's plus ``W_c ~ N(0,1)/C`` (H×C). Hyperparameters: ``lr``, ``tau``.

    Examples:
        >>> import torch
        >>> from rnn_capacity.models import PCRNNHCA
        >>> model = PCRNNHCA(hidden_size=8, num_sequences=3, tau=5.0, lr=0.01)
        >>> model.generate().shape  # (T, p, 2)
        torch.Size([60, 3, 2])
        >>> model.parameter_counts()["per_sequence"]  # W_c (H×p) and the 3 initial states
        48

        Online inference, with sensory feedback (:meth:`~PredictiveCodingModule.infer`):

        >>> targets = torch.zeros(60, 1, 3, 2)  # (T, K, P, 2)
        >>> x, errors, states, causes = model.infer(targets, alpha_x=0.1, alpha_h=0.01)
        >>> states.shape, causes.shape  # posterior states (T, K, P, H); causes (T, K, P, C=p)
        (torch.Size([60, 1, 3, 8]), torch.Size([60, 1, 3, 3]))
    """

    display_name = "PC-RNN-HC-A"

    hand_written_bptt = True

    def bptt_loop(self, w, state):
        return self.leaky_bptt(w, state)


class PCRNNHCM(MultiplicativeCauses, PredictiveCodingModule):
    r"""PC-RNN-HC-M: multiplicative hidden causes through ``F`` factors (default ``F = H``).

    .. math::
        h^{prior}_t = (1 - a)\, h_{t-1} + a \left( \left( (\tanh(h_{t-1}) W_{pd})
                      \odot (c\, W_{cd}) \right) W_{fd}^\top + b_r \right)

    Feedback: :math:`h^{post}` as PC-RNN-V, then
    :math:`c \leftarrow c - \alpha_h \left((\tanh(h_{t-1}) W_{pd}) \odot
    (\varepsilon_h W_{fd})\right) W_{cd}^\top`.
    Initialisation: ``W_pd, W_fd ~ N(0,1)/√F`` (H×F), ``W_cd = F · softmax_row(0.5 N(0,1))``
    (C×F), ``b_r ~ N(0,1)/10``, read-out as TRNN; ``c_0 = I_p``.
    Hyperparameters: ``lr``, ``tau``; setting: ``factors``.

    Examples:
        >>> from rnn_capacity.models import PCRNNHCM
        >>> model = PCRNNHCM(hidden_size=8, num_sequences=3, tau=5.0, factors=4)
        >>> model.generate().shape
        torch.Size([60, 3, 2])
        >>> model.replicas[0]["W_cd"].shape  # C×F: one cause per sequence, 4 factors
        torch.Size([3, 4])
    """

    display_name = "PC-RNN-HC-M"

    hand_written_bptt = True
    bptt_max_sequences = 500  # K·P; above, autograd's loop measured faster

    def bptt_loop(self, w, state):
        return self.leaky_bptt(w, state)


class PCRNNGC(Velocity, PredictiveCodingModule):
    r"""PC-RNN-GC: generalised coordinates, a velocity layer ``h'`` (starts at 0).

    .. math::
        \varepsilon'_t &= h'_{t-1} - a \left(W_r \tanh(h_{t-1}) + b_r - h_{t-1}\right) \\
        h'_t &= h'_{t-1} - \alpha_{h'}\, \varepsilon'_t \\
        h^{prior}_t &= h_{t-1} + h'_t + \alpha_{h'} a \left( (1 - \tanh^2 h_{t-1})
                       \odot (\varepsilon'_t W_r) - \varepsilon'_t \right)

    The last term is the "state inference" correction (``state_inference=True``, the
    default). Read-out from :math:`h^{prior}`; feedback on ``h`` as PC-RNN-V.
    Initialisation as TRNN. Hyperparameters: ``lr``, ``tau``, ``alpha_h_prime``.

    Args:
        hidden_size: ``H``.
        num_sequences: ``p`` (1–250), or one per replica.
        alpha_h_prime: the velocity update rate ``α_h' ≥ 0``, or one per replica.
        state_inference: keep the state-inference correction (shared).
        **kwargs: ``tau`` and the base class's (``seed``, ``lr``, ...).

    Examples:
        >>> import torch
        >>> from rnn_capacity.models import PCRNNGC
        >>> model = PCRNNGC(hidden_size=8, num_sequences=3, tau=5.0, alpha_h_prime=0.1)
        >>> model.generate().shape
        torch.Size([60, 3, 2])
        >>> plain = PCRNNGC(hidden_size=8, num_sequences=3, tau=5.0, state_inference=False)
        >>> torch.equal(model.generate(), plain.generate())  # the correction term matters
        False
        >>> list(PCRNNGC.options())
        ['alpha_h_prime', 'state_inference', 'tau', 'lr']
    """

    display_name = "PC-RNN-GC"

    OPTIONS = (ALPHA_H_PRIME, STATE_INFERENCE)

    def __init__(
        self,
        hidden_size,
        num_sequences,
        alpha_h_prime: float | Sequence[float] = 0.1,
        state_inference: bool = True,
        **kwargs,
    ):
        super().__init__(hidden_size, num_sequences, alpha_h_prime=alpha_h_prime, **kwargs)

    def prior(self, w, state, f, code):
        h, v = state
        eps = v - w.a * (self.drive(w, h, f, code) - h)
        v = v - w.alpha_h_prime * eps
        h_new = h + v
        if self.hparams.state_inference:
            correction = (1 - f.square()) * torch.bmm(eps, w.W_r) - eps
            h_new = h_new + (w.alpha_h_prime * w.a) * correction
        return h_new, v

    hand_written_bptt = True
    # Compiled whole step over the default at K = 2 (bench/compile_cost.py): 1.96-2.02x at
    # K·P = 96, 1.62x at 256, 1.22x at 416; a cold compile costs 53-62 s.
    compile_max_sequences = 256

    def bptt_loop(self, w, state):
        inference = self.hparams.state_inference
        weights = (w.W_r, w.code)  # d = code + f W_rᵀ
        return GCLoop.apply(state[0], w.a, w.alpha_h_prime, self.num_steps, inference, *weights)


class VelocityCauses(Velocity, PredictiveCodingModule):
    r"""The GC-HC prior and feedback, for either kind of causes (:math:`h'_0 = 0`):

    .. math::
        h'^{prior}_t = (1 - a)\, h'_{t-1} + a \left(d(h_{t-1}, c) - h_{t-1}\right), \qquad
        h^{prior}_t = h_{t-1} + h'^{prior}_t

    Feedback: :math:`h^{post}` as PC-RNN-V;
    :math:`h'^{post} = h'^{prior} - \alpha_h \varepsilon_h`,
    :math:`\varepsilon_{h'} = h'^{prior} - h'^{post}`, then the causes at rate
    :math:`\alpha_{h'}` from :math:`\varepsilon_{h'}`.
    """

    def prior(self, w, state, f, code):
        h, v = state
        v = leaky(v, self.drive(w, h, f, code) - h, w.a)
        return h + v, v

    def leaky_bptt(self, w, state):
        return leaky_loop(state[0], w.a, self.num_steps, *self.drive_weights(w), velocity=True)

    def feedback(self, w, f_prev, state, f, e, c, alpha_x, alpha_h, alpha_h_prime):
        h, v = state
        h_post, eps_h = sensory_feedback(w, h, f, e, alpha_x)
        eps_v = alpha_h * eps_h  # h'_prior - h'_post
        c = self.update_causes(w, f_prev, eps_v, c, alpha_h_prime)
        return (h_post, v - eps_v), c


class PCRNNGCHCA(AdditiveCauses, VelocityCauses):
    r"""PC-RNN-GC-HC-A: velocity layer with additive hidden causes (:math:`h'_0 = 0`).

    .. math::
        h'^{prior}_t &= (1 - a)\, h'_{t-1} + a \left(W_r \tanh(h_{t-1}) + W_c c + b_r
                        - h_{t-1}\right) \\
        h^{prior}_t &= h_{t-1} + h'^{prior}_t, \qquad
        \hat x_t = W_o \tanh(h^{prior}_t) + b_o

    Feedback: :math:`h^{post}` as PC-RNN-V, then
    :math:`h'^{post} = h'^{prior} - \alpha_h \varepsilon_h`,
    :math:`\varepsilon_{h'} = h'^{prior} - h'^{post}`,
    :math:`c \leftarrow c - \alpha_{h'} (\varepsilon_{h'} W_c)`.
    Initialisation as PC-RNN-HC-A. Hyperparameters: ``lr``, ``tau``.

    Examples:
        >>> import torch
        >>> from rnn_capacity.models import PCRNNGCHCA
        >>> model = PCRNNGCHCA(hidden_size=8, num_sequences=3, tau=5.0, lr=0.01)
        >>> targets = torch.zeros(60, 1, 3, 2)  # (T, K, P, 2)
        >>> x, errors, states, causes = model.infer(targets, alpha_x=0.0)
        >>> torch.equal(x[:, 0], model.generate())  # no feedback: inference is generation
        True
    """

    display_name = "PC-RNN-GC-HC-A"

    hand_written_bptt = True

    def bptt_loop(self, w, state):
        return self.leaky_bptt(w, state)


class PCRNNGCHCM(MultiplicativeCauses, VelocityCauses):
    r"""PC-RNN-GC-HC-M: as PC-RNN-GC-HC-A with the multiplicative drive of PC-RNN-HC-M.

    .. math::
        h'^{prior}_t &= (1 - a)\, h'_{t-1} + a \left( \left( (\tanh(h_{t-1}) W_{pd})
                        \odot (c\, W_{cd}) \right) W_{fd}^\top + b_r - h_{t-1} \right) \\
        h^{prior}_t &= h_{t-1} + h'^{prior}_t

    Feedback as PC-RNN-GC-HC-A, with HC-M's cause update driven by
    :math:`\varepsilon_{h'}` (models.md gives the GC-HC-M feedback only "as GC-HC-A").
    Initialisation as PC-RNN-HC-M. Hyperparameters: ``lr``, ``tau``; setting: ``factors``.

    Examples:
        >>> from rnn_capacity.models import PCRNNGCHCM
        >>> model = PCRNNGCHCM(hidden_size=8, num_sequences=3, tau=5.0)  # factors: F = H
        >>> model.generate().shape
        torch.Size([60, 3, 2])
        >>> model.replicas[0]["W_cd"].shape  # C×F
        torch.Size([3, 8])
    """

    display_name = "PC-RNN-GC-HC-M"

    hand_written_bptt = True
    bptt_max_sequences = 100  # K·P; K = 4 at p = 45 measured 0.82x of autograd's loop

    def bptt_loop(self, w, state):
        return self.leaky_bptt(w, state)
