"""Baselines written the way the original study wrote its models (for bench/throughput.py).

One model at a time, a Python loop over time steps of per-step 2-D tensor ops
(``torch.mm`` per weight, the bias repeated over the batch, the read-out and the error
computed at every step and written into a preallocated tensor), Adam, no batching of
independent runs. The equations are those of ../shared/docs/models.md with α_x = 0.
These classes exist only to be timed; the package's models are in rnn_capacity.models.
"""

from __future__ import annotations

import torch
from torch import nn


class OriginalPCRNNHCA(nn.Module):
    def __init__(self, causes: int, states: int, tau: float):
        super().__init__()
        self.tau = tau
        self.w_o = nn.Parameter(torch.randn(2, states) / states)
        self.b_o = nn.Parameter(torch.randn(2) / 10)
        self.w_c = nn.Parameter(torch.randn(states, causes) / causes)
        self.w_r = nn.Parameter(torch.randn(states, states) / states)
        self.b_r = nn.Parameter(torch.randn(states) / 10)

    def forward(self, x, c, h):
        seq_len, batch, _ = x.shape
        errors = torch.zeros(seq_len, batch, 2)
        for t in range(seq_len):
            h = (1 - 1 / self.tau) * h + (1 / self.tau) * (
                torch.mm(torch.tanh(h), self.w_r.T)
                + torch.mm(c, self.w_c.T)
                + self.b_r.unsqueeze(0).repeat(batch, 1)
            )
            x_pred = torch.mm(torch.tanh(h), self.w_o.T) + self.b_o.unsqueeze(0).repeat(batch, 1)
            errors[t] = x_pred - x[t]
        return errors


class OriginalPCRNNGCHCM(nn.Module):
    def __init__(self, causes: int, states: int, tau: float, factors: int | None = None):
        super().__init__()
        f = factors or states
        self.tau = tau
        self.w_o = nn.Parameter(torch.randn(2, states) / states)
        self.b_o = nn.Parameter(torch.randn(2) / 10)
        self.w_pd = nn.Parameter(torch.randn(states, f) / f**0.5)
        self.w_fd = nn.Parameter(torch.randn(states, f) / f**0.5)
        self.w_cd = nn.Parameter(torch.softmax(0.5 * torch.randn(causes, f), 1) * f)
        self.b_r = nn.Parameter(torch.randn(states) / 10)

    def forward(self, x, c, h):
        seq_len, batch, _ = x.shape
        errors = torch.zeros(seq_len, batch, 2)
        hp = torch.zeros_like(h)
        for t in range(seq_len):
            drive = torch.mm(
                torch.mm(torch.tanh(h), self.w_pd) * torch.mm(c, self.w_cd), self.w_fd.T
            ) + self.b_r.unsqueeze(0).repeat(batch, 1)
            hp = (1 - 1 / self.tau) * hp + (1 / self.tau) * (drive - h)
            h = h + hp
            x_pred = torch.mm(torch.tanh(h), self.w_o.T) + self.b_o.unsqueeze(0).repeat(batch, 1)
            errors[t] = x_pred - x[t]
        return errors


class OriginalGRU(nn.Module):
    def __init__(self, causes: int, states: int, tau: float = 1.0):
        super().__init__()
        self.cell = nn.GRUCell(2, states)
        self.w_o = nn.Parameter(torch.randn(2, states) / states)
        self.b_o = nn.Parameter(torch.randn(2) / 10)

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


BASELINES = {
    "pc_rnn_hc_a": OriginalPCRNNHCA,
    "gru": OriginalGRU,
    "pc_rnn_gc_hc_m": OriginalPCRNNGCHCM,
}


def train_original(name: str, targets: torch.Tensor, hidden: int, iterations: int, seed: int):
    """Train one original-style model on ``targets`` (T, p, 2) with Adam; returns the loss."""
    torch.manual_seed(seed)
    p = targets.shape[1]
    model = BASELINES[name](p, hidden, tau=5.0)
    h0 = torch.randn(p, hidden)  # fixed initial states, as in the original protocol
    c0 = torch.eye(p)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(iterations):
        opt.zero_grad()
        loss = torch.mean(model(targets, c0, h0) ** 2)
        loss.backward()
        opt.step()
    return loss.item()
