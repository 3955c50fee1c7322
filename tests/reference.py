"""Hand-written reference equations, one sequence at a time, straight from models.md.

Each function takes a single-replica model's parameters (numpy, as stored: ``W_r`` is
H×H for ``W_r tanh(h)``, biases 1×H) and returns the first ``steps`` predictions of every
sequence, shape (steps, p, 2). Plain numpy loops, written independently of the package's
batched code, so that a mismatch points at the package.
"""

from __future__ import annotations

import numpy as np
import torch


def _np(model) -> dict[str, np.ndarray]:
    rep = model.replicas[0]
    out = {n: t.detach().double().numpy() for n, t in rep.items()}
    for name in model.replica_hparams:
        out[name] = float(getattr(model, name)[0, 0, 0])
    return out


def _tanh(x):
    return np.tanh(x)


def _readout(w, h):
    return w["W_o"] @ np.tanh(h) + w["b_o"][0]


def _run(model, steps, init, update, readout=_readout):
    w = _np(model)
    p = model.num_sequences[0]
    out = np.zeros((steps, p, 2))
    for i in range(p):
        state = init(w, i, p)
        for t in range(steps):
            state = update(w, state, i, p)
            out[t, i] = readout(w, state)
    return out


def trnn_like(model, steps, tau=None):
    def update(w, h, i, p):
        a = 1.0 / (w["tau"] if tau is None else tau)
        return (1 - a) * h + a * (w["W_r"] @ np.tanh(h) + w["b_r"][0])

    return _run(model, steps, lambda w, i, p: w["h0"][i], update)


def srnn(model, steps):
    return trnn_like(model, steps, tau=1.0)


def mtrnn(model, steps):
    def update(w, sf, i, p):
        s, f = sf
        a_s, a_f = 1 / w["tau_slow"], 1 / w["tau_fast"]
        ts, tf = np.tanh(s), np.tanh(f)
        s_new = (1 - a_s) * s + a_s * (ts @ w["W_ss"] + tf @ w["W_fs"] + w["b_s"][0])
        f_new = (1 - a_f) * f + a_f * (ts @ w["W_sf"] + tf @ w["W_ff"] + w["b_f"][0])
        return s_new, f_new

    return _run(
        model,
        steps,
        lambda w, i, p: (w["s0"][i], w["f0"][i]),
        update,
        lambda w, sf: _readout(w, sf[1]),
    )


def _cell_reference(model, steps, cell_cls, lstm: bool):
    """LSTM/GRU against torch's own cells, closed loop (input: previous prediction)."""
    w = _np(model)
    H = model.hidden_size
    cell = cell_cls(2, H).double()
    with torch.no_grad():
        cell.weight_ih.copy_(torch.from_numpy(w["W_ih"]))
        cell.weight_hh.copy_(torch.from_numpy(w["W_hh"]))
        cell.bias_ih.copy_(torch.from_numpy(w["b_ih"][0]))
        cell.bias_hh.copy_(torch.from_numpy(w["b_hh"][0]))
    p = model.num_sequences[0]
    out = np.zeros((steps, p, 2))
    with torch.no_grad():
        if lstm:
            c = torch.from_numpy(w["c0"][:p])
            state = (torch.tanh(c), c)
        else:
            state = torch.from_numpy(w["h0"][:p])
        x = torch.zeros(p, 2, dtype=torch.float64)
        for t in range(steps):
            state = cell(x, state)
            h = state[0] if lstm else state
            x = h @ torch.from_numpy(w["W_o"]).T + torch.from_numpy(w["b_o"][0])
            out[t] = x.numpy()
    return out


def lstm(model, steps):
    return _cell_reference(model, steps, torch.nn.LSTMCell, lstm=True)


def gru(model, steps):
    return _cell_reference(model, steps, torch.nn.GRUCell, lstm=False)


def ugrnn(model, steps):
    def update(w, h, i, p):
        u = 1 / (1 + np.exp(-(np.tanh(h) @ w["W_u"] + w["b_u"][0])))
        return u * h + (1 - u) * np.tanh(np.tanh(h) @ w["W_r"] + w["b_r"][0])

    return _run(model, steps, lambda w, i, p: w["h0"][i], update)


def antisymmetric_rnn(model, steps):
    def update(w, h, i, p):
        H = len(h)
        VL = w["V"] * np.tril(np.ones((H, H)), -1)
        A = VL - VL.T
        return h + (1 / w["tau"]) * np.tanh(np.tanh(h) @ A + w["b_r"][0] - w["gamma"] * h)

    return _run(model, steps, lambda w, i, p: w["h0"][i], update)


def pc_rnn_gc(model, steps):
    inference = model.hparams.state_inference

    def update(w, state, i, p):
        h, v = state
        a, ah = 1 / w["tau"], w["alpha_h_prime"]
        eps = v - a * (w["W_r"] @ np.tanh(h) + w["b_r"][0] - h)
        v = v - ah * eps
        h_new = h + v
        if inference:
            h_new = h_new + ah * a * ((1 - np.tanh(h) ** 2) * (eps @ w["W_r"]) - eps)
        return h_new, v

    return _run(
        model,
        steps,
        lambda w, i, p: (w["h0"][i], np.zeros_like(w["h0"][i])),
        update,
        lambda w, s: _readout(w, s[0]),
    )


def _one_hot(i, p):
    c = np.zeros(p)
    c[i] = 1.0
    return c


def _additive_drive(w, h, c):
    return w["W_r"] @ np.tanh(h) + w["W_c"] @ c + w["b_r"][0]


def _multiplicative_drive(w, h, c):
    return ((np.tanh(h) @ w["W_pd"]) * (c @ w["W_cd"])) @ w["W_fd"].T + w["b_r"][0]


def _hc(drive):
    def ref(model, steps):
        def update(w, h, i, p):
            a = 1 / w["tau"]
            return (1 - a) * h + a * drive(w, h, _one_hot(i, p))

        return _run(model, steps, lambda w, i, p: w["h0"][i], update)

    return ref


def _gc_hc(drive):
    def ref(model, steps):
        def update(w, state, i, p):
            h, v = state
            a = 1 / w["tau"]
            v = (1 - a) * v + a * (drive(w, h, _one_hot(i, p)) - h)
            return h + v, v

        return _run(
            model,
            steps,
            lambda w, i, p: (w["h0"][i], np.zeros_like(w["h0"][i])),
            update,
            lambda w, s: _readout(w, s[0]),
        )

    return ref


REFERENCES = {
    "srnn": srnn,
    "trnn": trnn_like,
    "mtrnn": mtrnn,
    "lstm": lstm,
    "gru": gru,
    "ugrnn": ugrnn,
    "antisymmetric_rnn": antisymmetric_rnn,
    "esn": trnn_like,
    "pc_rnn_v": trnn_like,
    "pc_rnn_gc": pc_rnn_gc,
    "pc_rnn_hc_a": _hc(_additive_drive),
    "pc_rnn_hc_m": _hc(_multiplicative_drive),
    "pc_rnn_gc_hc_a": _gc_hc(_additive_drive),
    "pc_rnn_gc_hc_m": _gc_hc(_multiplicative_drive),
}
