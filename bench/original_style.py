"""Baselines written the way the original study wrote its models (for bench/throughput.py).

Two things live here.

1. **Original-style models** (:data:`BASELINES`): all thirteen BPTT models of
   ../shared/docs/models.md (the ESN has no BPTT loop), written in the original study's
   style: one model at a time, a Python loop over time steps of per-step 2-D tensor ops —
   ``torch.mm`` per weight, every bias ``.repeat``-ed over the batch, the read-out and the
   error computed at every step and written into a preallocated ``errors`` tensor — and
   Adam. The equations are those of models.md with α_x = 0 (pure generation), with the
   original code's order of work inside a step: the update computes ``tanh`` of the
   previous state, the read-out ``tanh`` of the new one; hidden causes are multiplied by
   their weights at every step (``torch.mm(c, W_c.T)``); LSTM and GRU are
   ``nn.LSTMCell``/``nn.GRUCell`` fed their own detached previous prediction (closed loop,
   the first input zero). Every class takes ``(causes, states, **its hyperparameters)``,
   draws its own fixed initial state with :meth:`initial_state` and returns from
   ``forward(x, c, h)`` the errors ``x̂_t − x_t`` of shape (T, p, 2).

2. **The original training loop** (:func:`notebook_training`): a transcription of the
   study's published notebook for PC-RNN-HC-A (its ``fitness`` function): the model built
   with plain tensors that are then wrapped in ``nn.Parameter``, ``h_init`` a Parameter
   that the optimiser never sees (so autograd computes, and accumulates, its gradient at
   every iteration), Adam over ``(w_o, w_c, w_r, b_o, b_r)``, and the targets rebuilt from
   the numpy array at every iteration: ``torch.Tensor(trajs[:, l])``.
   bench/throughput.py times it beside :class:`OriginalPCRNNHCA` to show how far the
   baseline is from the original code path.

These classes exist only to be timed; the package's models are in rnn_capacity.models.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn


def _w(rows: int, cols: int, scale: float) -> nn.Parameter:
    return nn.Parameter(torch.randn(rows, cols) / scale)


def _b(size: int) -> nn.Parameter:
    return nn.Parameter(torch.randn(size) / 10)


class OriginalModel(nn.Module):
    """Shared read-out ``x̂ = W_o tanh(h) + b_o`` (W_o ~ N(0,1)/H, b_o ~ N(0,1)/10)."""

    def __init__(self, states: int):
        super().__init__()
        self.states = states
        self.w_o = _w(2, states, states)
        self.b_o = _b(2)

    def initial_state(self, p: int):
        """The fixed initial state of p sequences (``h_0 ~ N(0,1)``)."""
        return torch.randn(p, self.states)

    def read_out(self, h, batch):
        return torch.mm(torch.tanh(h), self.w_o.T) + self.b_o.unsqueeze(0).repeat(batch, 1)


# -- classic models ------------------------------------------------------------------


class OriginalSRNN(OriginalModel):
    """``h_t = W_r tanh(h_{t-1}) + b_r``."""

    def __init__(self, causes: int, states: int):
        super().__init__(states)
        self.w_r = _w(states, states, states)
        self.b_r = _b(states)

    def forward(self, x, c, h):
        seq_len, batch, _ = x.shape
        errors = torch.zeros(seq_len, batch, 2)
        for t in range(seq_len):
            h = torch.mm(torch.tanh(h), self.w_r.T) + self.b_r.unsqueeze(0).repeat(batch, 1)
            x_pred = self.read_out(h, batch)
            errors[t] = x_pred - x[t]
        return errors


class OriginalTRNN(OriginalModel):
    """``h_t = (1 − 1/τ) h_{t−1} + (1/τ)(W_r tanh(h_{t−1}) + b_r)``."""

    def __init__(self, causes: int, states: int, tau: float):
        super().__init__(states)
        self.tau = tau
        self.w_r = _w(states, states, states)
        self.b_r = _b(states)

    def forward(self, x, c, h):
        seq_len, batch, _ = x.shape
        errors = torch.zeros(seq_len, batch, 2)
        for t in range(seq_len):
            h = (1 - 1 / self.tau) * h + (1 / self.tau) * (
                torch.mm(torch.tanh(h), self.w_r.T) + self.b_r.unsqueeze(0).repeat(batch, 1)
            )
            x_pred = self.read_out(h, batch)
            errors[t] = x_pred - x[t]
        return errors


class OriginalMTRNN(OriginalModel):
    """Two leaky layers of H units, slow ``s`` and fast ``f``; the output reads ``f``."""

    def __init__(self, causes: int, states: int, tau_slow: float, tau_fast: float):
        super().__init__(states)
        self.tau_s, self.tau_f = tau_slow, tau_fast
        self.w_ss = _w(states, states, states)
        self.w_fs = _w(states, states, states)
        self.w_sf = _w(states, states, states)
        self.w_ff = _w(states, states, states)
        self.b_s = _b(states)
        self.b_f = _b(states)

    def initial_state(self, p):
        return torch.randn(p, self.states), torch.randn(p, self.states)

    def forward(self, x, c, h):
        seq_len, batch, _ = x.shape
        errors = torch.zeros(seq_len, batch, 2)
        s, f = h
        for t in range(seq_len):
            tanh_s, tanh_f = torch.tanh(s), torch.tanh(f)
            s_new = (1 - 1 / self.tau_s) * s + (1 / self.tau_s) * (
                torch.mm(tanh_s, self.w_ss)
                + torch.mm(tanh_f, self.w_fs)
                + self.b_s.unsqueeze(0).repeat(batch, 1)
            )
            f = (1 - 1 / self.tau_f) * f + (1 / self.tau_f) * (
                torch.mm(tanh_s, self.w_sf)
                + torch.mm(tanh_f, self.w_ff)
                + self.b_f.unsqueeze(0).repeat(batch, 1)
            )
            s = s_new
            x_pred = self.read_out(f, batch)
            errors[t] = x_pred - x[t]
        return errors


# -- gated models --------------------------------------------------------------------


class OriginalLSTM(OriginalModel):
    """``nn.LSTMCell(2, H)`` fed its own detached previous prediction; ``h_0 = tanh(c_0)``;
    read-out without tanh."""

    def __init__(self, causes: int, states: int):
        super().__init__(states)
        self.cell = nn.LSTMCell(2, states)

    def initial_state(self, p):
        c0 = torch.randn(p, self.states)
        return torch.tanh(c0), c0

    def forward(self, x, c, h):
        seq_len, batch, _ = x.shape
        errors = torch.zeros(seq_len, batch, 2)
        state = h
        inp = torch.zeros(batch, 2)
        for t in range(seq_len):
            state = self.cell(inp, state)
            x_pred = torch.mm(state[0], self.w_o.T) + self.b_o.unsqueeze(0).repeat(batch, 1)
            errors[t] = x_pred - x[t]
            inp = x_pred.detach()
        return errors


class OriginalGRU(OriginalModel):
    """``nn.GRUCell(2, H)`` fed its own detached previous prediction; read-out without tanh."""

    def __init__(self, causes: int, states: int):
        super().__init__(states)
        self.cell = nn.GRUCell(2, states)

    def forward(self, x, c, h):
        seq_len, batch, _ = x.shape
        errors = torch.zeros(seq_len, batch, 2)
        inp = torch.zeros(batch, 2)
        for t in range(seq_len):
            h = self.cell(inp, h)
            x_pred = torch.mm(h, self.w_o.T) + self.b_o.unsqueeze(0).repeat(batch, 1)
            errors[t] = x_pred - x[t]
            inp = x_pred.detach()
        return errors


class OriginalUGRNN(OriginalModel):
    """``u = σ(tanh(h) W_u + b_u)``, ``h = u ⊙ h + (1 − u) ⊙ tanh(tanh(h) W_r + b_r)``."""

    def __init__(self, causes: int, states: int):
        super().__init__(states)
        self.w_u = _w(states, states, states)
        self.w_r = _w(states, states, states)
        self.b_u = _b(states)
        self.b_r = _b(states)

    def forward(self, x, c, h):
        seq_len, batch, _ = x.shape
        errors = torch.zeros(seq_len, batch, 2)
        for t in range(seq_len):
            tanh_h = torch.tanh(h)
            u = torch.sigmoid(torch.mm(tanh_h, self.w_u) + self.b_u.unsqueeze(0).repeat(batch, 1))
            candidate = torch.tanh(
                torch.mm(tanh_h, self.w_r) + self.b_r.unsqueeze(0).repeat(batch, 1)
            )
            h = u * h + (1 - u) * candidate
            x_pred = self.read_out(h, batch)
            errors[t] = x_pred - x[t]
        return errors


class OriginalAntisymmetricRNN(OriginalModel):
    """``A = V⊙L − (V⊙L)ᵀ`` recomputed at every forward;
    ``h_t = h_{t−1} + (1/τ) tanh(tanh(h_{t−1}) A + b_r − γ h_{t−1})``."""

    def __init__(self, causes: int, states: int, tau: float, gamma: float):
        super().__init__(states)
        self.tau, self.gamma = tau, gamma
        self.v = _w(states, states, states)
        self.b_r = _b(states)
        self.mask = torch.ones(states, states).tril(diagonal=-1)

    def forward(self, x, c, h):
        seq_len, batch, _ = x.shape
        errors = torch.zeros(seq_len, batch, 2)
        lower = self.v * self.mask
        a = lower - lower.T
        for t in range(seq_len):
            h = h + (1 / self.tau) * torch.tanh(
                torch.mm(torch.tanh(h), a) + self.b_r.unsqueeze(0).repeat(batch, 1) - self.gamma * h
            )
            x_pred = self.read_out(h, batch)
            errors[t] = x_pred - x[t]
        return errors


# -- predictive-coding models (α_x = 0) ----------------------------------------------


class OriginalPCRNNV(OriginalTRNN):
    """PC-RNN-V with α_x = 0: the TRNN's prior, read out from ``h_prior``."""


class OriginalPCRNNGC(OriginalModel):
    """Generalised coordinates with the state-inference term (``h'_0 = 0``)."""

    def __init__(self, causes: int, states: int, tau: float, alpha_h_prime: float):
        super().__init__(states)
        self.tau, self.alpha_h_prime = tau, alpha_h_prime
        self.w_r = _w(states, states, states)
        self.b_r = _b(states)

    def forward(self, x, c, h):
        seq_len, batch, _ = x.shape
        errors = torch.zeros(seq_len, batch, 2)
        h_prime = torch.zeros_like(h)
        for t in range(seq_len):
            error_h_prime = h_prime - (1 / self.tau) * (
                torch.mm(torch.tanh(h), self.w_r.T) + self.b_r.unsqueeze(0).repeat(batch, 1) - h
            )
            h_prime = h_prime - self.alpha_h_prime * error_h_prime
            h_prior = h + h_prime
            h_prior = h_prior + (self.alpha_h_prime / self.tau) * (
                (1 - torch.tanh(h) ** 2) * torch.mm(error_h_prime, self.w_r) - error_h_prime
            )
            h = h_prior
            x_pred = self.read_out(h, batch)
            errors[t] = x_pred - x[t]
        return errors


class OriginalPCRNNHCA(OriginalModel):
    """Additive hidden causes: ``h = (1−a) h + a (W_r tanh(h) + W_c c + b_r)``."""

    def __init__(self, causes: int, states: int, tau: float):
        super().__init__(states)
        self.tau = tau
        self.w_c = _w(states, causes, causes)
        self.w_r = _w(states, states, states)
        self.b_r = _b(states)

    def forward(self, x, c, h):
        seq_len, batch, _ = x.shape
        errors = torch.zeros(seq_len, batch, 2)
        for t in range(seq_len):
            h = (1 - 1 / self.tau) * h + (1 / self.tau) * (
                torch.mm(torch.tanh(h), self.w_r.T)
                + torch.mm(c, self.w_c.T)
                + self.b_r.unsqueeze(0).repeat(batch, 1)
            )
            x_pred = self.read_out(h, batch)
            errors[t] = x_pred - x[t]
        return errors


class MultiplicativeWeights(OriginalModel):
    """``W_pd, W_fd ~ N(0,1)/√F`` (H×F), ``W_cd = F · softmax_row(0.5 N(0,1))`` (C×F)."""

    def __init__(self, causes: int, states: int, tau: float, factors: int | None = None):
        super().__init__(states)
        f = factors or states
        self.tau = tau
        self.w_pd = _w(states, f, f**0.5)
        self.w_fd = _w(states, f, f**0.5)
        self.w_cd = nn.Parameter(torch.softmax(0.5 * torch.randn(causes, f), 1) * f)
        self.b_r = _b(states)

    def drive(self, h, c, batch):
        return torch.mm(
            torch.mm(torch.tanh(h), self.w_pd) * torch.mm(c, self.w_cd), self.w_fd.T
        ) + self.b_r.unsqueeze(0).repeat(batch, 1)


class OriginalPCRNNHCM(MultiplicativeWeights):
    """Multiplicative hidden causes through F factors (default F = H)."""

    def forward(self, x, c, h):
        seq_len, batch, _ = x.shape
        errors = torch.zeros(seq_len, batch, 2)
        for t in range(seq_len):
            h = (1 - 1 / self.tau) * h + (1 / self.tau) * self.drive(h, c, batch)
            x_pred = self.read_out(h, batch)
            errors[t] = x_pred - x[t]
        return errors


class OriginalPCRNNGCHCA(OriginalModel):
    """Velocity layer with additive causes (``h'_0 = 0``)."""

    def __init__(self, causes: int, states: int, tau: float):
        super().__init__(states)
        self.tau = tau
        self.w_c = _w(states, causes, causes)
        self.w_r = _w(states, states, states)
        self.b_r = _b(states)

    def forward(self, x, c, h):
        seq_len, batch, _ = x.shape
        errors = torch.zeros(seq_len, batch, 2)
        hp = torch.zeros_like(h)
        for t in range(seq_len):
            hp = (1 - 1 / self.tau) * hp + (1 / self.tau) * (
                torch.mm(torch.tanh(h), self.w_r.T)
                + torch.mm(c, self.w_c.T)
                + self.b_r.unsqueeze(0).repeat(batch, 1)
                - h
            )
            h = h + hp
            x_pred = self.read_out(h, batch)
            errors[t] = x_pred - x[t]
        return errors


class OriginalPCRNNGCHCM(MultiplicativeWeights):
    """Velocity layer with the multiplicative drive of HC-M (``h'_0 = 0``)."""

    def forward(self, x, c, h):
        seq_len, batch, _ = x.shape
        errors = torch.zeros(seq_len, batch, 2)
        hp = torch.zeros_like(h)
        for t in range(seq_len):
            hp = (1 - 1 / self.tau) * hp + (1 / self.tau) * (self.drive(h, c, batch) - h)
            h = h + hp
            x_pred = self.read_out(h, batch)
            errors[t] = x_pred - x[t]
        return errors


#: model name (as in rnn_capacity.models.MODELS) -> original-style class; every BPTT model.
BASELINES: dict[str, type[OriginalModel]] = {
    "srnn": OriginalSRNN,
    "trnn": OriginalTRNN,
    "mtrnn": OriginalMTRNN,
    "lstm": OriginalLSTM,
    "gru": OriginalGRU,
    "ugrnn": OriginalUGRNN,
    "antisymmetric_rnn": OriginalAntisymmetricRNN,
    "pc_rnn_v": OriginalPCRNNV,
    "pc_rnn_gc": OriginalPCRNNGC,
    "pc_rnn_hc_a": OriginalPCRNNHCA,
    "pc_rnn_hc_m": OriginalPCRNNHCM,
    "pc_rnn_gc_hc_a": OriginalPCRNNGCHCA,
    "pc_rnn_gc_hc_m": OriginalPCRNNGCHCM,
}


def build_original(name: str, p: int, hidden: int, seed: int = 0, **hparams):
    """An original-style model for ``p`` sequences, its fixed initial state and the
    one-hot causes ``c_0 = I_p`` (used by the HC models, ignored by the others)."""
    torch.manual_seed(seed)
    model = BASELINES[name](p, hidden, **hparams)
    return model, model.initial_state(p), torch.eye(p)


def train_original(
    name: str,
    targets: torch.Tensor,
    hidden: int,
    iterations: int,
    seed: int = 0,
    lr: float = 0.01,
    clock: list | None = None,
    **hparams,
) -> float:
    """Train one original-style model on ``targets`` (T, p, 2) with Adam (initial states
    fixed, as in the original protocol); returns the last loss. ``clock``, if given,
    receives ``time.perf_counter()`` after every iteration."""
    p = targets.shape[1]
    model, h0, c0 = build_original(name, p, hidden, seed, **hparams)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss = None
    for _ in range(iterations):
        opt.zero_grad()
        loss = torch.mean(model(targets, c0, h0) ** 2)
        loss.backward()
        opt.step()
        if clock is not None:
            clock.append(time.perf_counter())
    return float(loss.item()) if loss is not None else float("nan")


# -- the original training loop, transcribed -----------------------------------------


class NotebookPCRNNHCA(nn.Module):
    """PC-RNN-HC-A as the original study's ``pc_rnn_models.py`` builds it: plain-tensor
    weights (wrapped in ``nn.Parameter`` by the caller, as the notebook does), and a
    forward pass with the bottom-up (inference) branch, taken only when ``alpha_x > 0``.
    The ``store=True`` bookkeeping is left out: the training loop calls ``store=False``."""

    def __init__(self, causes_dim, states_dim, output_dim, tau_h, alpha_x, alpha_h):
        super().__init__()
        self.causes_dim = causes_dim
        self.output_dim = output_dim
        self.states_dim = states_dim
        self.tau_h = tau_h
        self.alpha_x = alpha_x
        self.alpha_h = alpha_h
        self.w_o = torch.randn(self.output_dim, self.states_dim) / self.states_dim
        self.b_o = torch.randn(self.output_dim) / 10
        self.w_c = torch.randn(self.states_dim, self.causes_dim) / self.causes_dim
        self.w_r = torch.randn(self.states_dim, self.states_dim) / self.states_dim
        self.b_r = torch.randn(self.states_dim) / 10

    def forward(self, x, c_init, h_init=0, store=False):
        seq_len, batch_size, _ = x.shape
        errors = torch.zeros(seq_len, batch_size, self.output_dim)
        old_h_post = h_init
        c = c_init
        for t in range(seq_len):
            # top-down pass: the prior from the previous posterior
            h_prior = (1 - 1 / self.tau_h) * old_h_post + (1 / self.tau_h) * (
                torch.mm(torch.tanh(old_h_post), self.w_r.T)
                + torch.mm(c, self.w_c.T)
                + self.b_r.unsqueeze(0).repeat(batch_size, 1)
            )
            x_pred = torch.mm(torch.tanh(h_prior), self.w_o.T) + self.b_o.unsqueeze(0).repeat(
                batch_size, 1
            )
            error = x_pred - x[t]
            errors[t] = error
            # bottom-up pass (inference), off in the capacity benchmark (alpha_x = 0)
            if self.alpha_x > 0:
                h_post = h_prior - self.alpha_x * (1 - torch.tanh(h_prior) ** 2) * torch.mm(
                    error, self.w_o
                )
                error_h = h_prior - h_post
                c = c - self.alpha_h * torch.mm(error_h, self.w_c)
                old_h_post = h_post
            else:
                old_h_post = h_prior
        return errors


def original_trajs(raw: np.ndarray) -> np.ndarray:
    """The notebook's ``trajs = trajs[:, ::20].transpose(1, 0, 2)`` of the raw (250, 1200, 2)
    array: a strided, non-contiguous (60, 250, 2) view. The original file is a pickled numpy
    array; float64 (numpy's default) is assumed."""
    return np.asarray(raw, dtype=np.float64)[:, ::20].transpose(1, 0, 2)


def notebook_training(
    trajs: np.ndarray,
    p: int,
    hidden: int,
    lr: float,
    tau_h: float,
    iterations: int,
    seed: int = 0,
    clock: list | None = None,
) -> float:
    """One try of the notebook's ``fitness`` for PC-RNN-HC-A: build, draw ``p`` of the
    trajectories, train ``iterations`` Adam steps; returns the last loss. ``clock`` as in
    :func:`train_original`. (The notebook's evaluation after training is not included.)"""
    torch.manual_seed(seed)
    np.random.seed(seed)  # noqa: NPY002 -- the notebook uses the global numpy generator
    p = np.int32(p)
    lr = np.float32(lr)
    tau_h = np.float32(tau_h)
    rnn = NotebookPCRNNHCA(p, hidden, 2, alpha_x=0, tau_h=tau_h, alpha_h=0)
    h_init = torch.nn.Parameter(torch.randn(p, rnn.states_dim))
    c_init = torch.eye(rnn.causes_dim)
    rnn.w_o = torch.nn.Parameter(rnn.w_o)
    rnn.b_o = torch.nn.Parameter(rnn.b_o)
    rnn.w_c = torch.nn.Parameter(rnn.w_c)
    rnn.w_r = torch.nn.Parameter(rnn.w_r)
    rnn.b_r = torch.nn.Parameter(rnn.b_r)
    opt = torch.optim.Adam((rnn.w_o, rnn.w_c, rnn.w_r, rnn.b_o, rnn.b_r), lr=lr)
    l = np.arange(250)
    np.random.shuffle(l)  # noqa: NPY002
    l = l[:p]
    loss = None
    for _ in range(iterations):
        opt.zero_grad()
        error = rnn.forward(torch.Tensor(trajs[:, l]), c_init=c_init, h_init=h_init, store=False)
        loss = torch.mean(error**2)
        loss.backward()
        opt.step()
        if clock is not None:
            clock.append(time.perf_counter())
    return float(loss.item()) if loss is not None else float("nan")
