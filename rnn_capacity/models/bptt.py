r"""Hand-written BPTT for the shared time loop: the same equations, fewer and larger ops.

Autograd records every op of the 60-step time loop and replays it backwards: per step a
dozen small kernels, each dispatched from Python, and one small weight-gradient product
per weight and step. Here the forward loop runs without recording (three ops per step,
features written into one preallocated buffer), the backward loop carries only the
state gradients (three ops per step), and each weight's gradient is **one batched
product over all steps**, ``Σ_t f_{t-1}^T g_t = F^T G`` on ``(K, T·P, ·)`` matrices,
instead of ``T`` small ones.

The forward pass runs exactly the ops of the models' eager ``step`` (bit-identical
outputs); gradients differ from autograd's only by summation order (float rounding).
The reads-out, the loss and everything outside the time loop stay with autograd, which
hands the loop the gradient of its features.

Recurrences covered (``f = tanh(h)``; products in row-vector form ``f @ W``):

* **leaky** (:class:`LeakyLoop`): ``h_t = lerp(h_{t-1}, d_t, a)`` — sRNN (``a = 1``:
  ``h_t = d_t``), TRNN, PC-RNN-V, PC-RNN-HC-A, MTRNN (per-unit ``a``), ESN;
* **velocity** (``velocity=True``): ``v_t = lerp(v_{t-1}, d_t - h_{t-1}, a)``,
  ``h_t = h_{t-1} + v_t``, ``v_0 = 0`` — PC-RNN-GC-HC-A and -M;

with the drive ``d_t`` either **linear**, ``code + f_{t-1} W`` (``code``: a bias
``(K, 1, H)`` or a per-sequence code ``(K, P, H)``), or **multiplicative** (HC-M),
``b + ((f_{t-1} W_{pd}) ⊙ C) W_{fd}^T``.

All ops run on the tensors' device, with no host synchronisation inside the loops.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import native


class Drive:
    """A drive ``d = drive(f)`` and its backward, for one forward/backward pass.

    ``forward(f, t)`` returns ``d_t`` from ``f_{t-1}`` (and may keep per-step values);
    ``backward(g, t)`` takes ``g = ∂L/∂d_t`` and returns ``∂L/∂f_{t-1}`` through the
    drive (or adds ``extra`` to it); ``grads(G, F)`` returns the weights' gradients from
    all steps' ``G`` (K, T, P, H) and the features ``F`` (K, T+1, P, H) at once.
    """


class LinearDrive(Drive):
    """``d = code + f @ W``: W (K, H, H) in row-vector layout, code (K, 1|P, H)."""

    def __init__(self, W: Tensor, code: Tensor):
        self.W, self.code, self.Wt = W, code, W.mT

    def forward(self, f: Tensor, t: int) -> Tensor:
        return torch.baddbmm(self.code, f, self.W)

    def backward(self, g: Tensor, t: int, extra: Tensor | None) -> Tensor:
        return torch.bmm(g, self.Wt) if extra is None else torch.baddbmm(extra, g, self.Wt)

    def grads(self, G: Tensor, F: Tensor, needs: tuple[bool, ...]) -> tuple:
        k, T, p, h = G.shape
        gW = gcode = None
        if needs[0]:
            f = F[:, :T].reshape(k, T * p, F.shape[-1])
            gW = torch.bmm(f.mT, G.reshape(k, T * p, h))
        if needs[1]:
            gcode = G.sum(1)  # (K, P, H)
            if self.code.shape[1] == 1:
                gcode = gcode.sum(1, keepdim=True)
        return gW, gcode


class MultiplicativeDrive(Drive):
    """``d = b + ((f @ W_pd) ⊙ C) @ W_fdᵀ``: W_pd, W_fd (K, H, F), C (K, P, F), b (K, 1, H)."""

    def __init__(self, W_pd: Tensor, C: Tensor, W_fd: Tensor, b: Tensor, steps: int):
        self.W_pd, self.C, self.W_fd, self.b = W_pd, C, W_fd, b
        self.W_fdT, self.W_pdT = W_fd.mT, W_pd.mT
        k, p, factors = C.shape
        # f @ W_pd of every step, kept for the gradients of C and W_fd.
        self.Q = C.new_empty(k, steps, p, factors)
        self.Gq = None

    def forward(self, f: Tensor, t: int) -> Tensor:
        q = self.Q[:, t]
        torch.bmm(f, self.W_pd, out=q)
        return torch.baddbmm(self.b, q * self.C, self.W_fdT)

    def backward(self, g: Tensor, t: int, extra: Tensor | None) -> Tensor:
        if self.Gq is None:
            self.Gq = torch.empty_like(self.Q)
        gq = self.Gq[:, t]
        torch.bmm(g, self.W_fd, out=gq)  # ∂L/∂(q ⊙ C)
        gp = gq * self.C  # ∂L/∂q
        return torch.bmm(gp, self.W_pdT) if extra is None else torch.baddbmm(extra, gp, self.W_pdT)

    def grads(self, G: Tensor, F: Tensor, needs: tuple[bool, ...]) -> tuple:
        k, T, p, h = G.shape
        factors = self.Q.shape[-1]
        gW_pd = gC = gW_fd = gb = None
        Gq = self.Gq.reshape(k, T * p, factors)
        if needs[0]:
            f = F[:, :T].reshape(k, T * p, F.shape[-1])
            gW_pd = torch.bmm(f.mT, Gq * self.C.repeat(1, T, 1))
        if needs[1]:
            gC = (self.Gq * self.Q).sum(1)
        if needs[2]:
            q = self.Q * self.C[:, None]
            gW_fd = torch.bmm(G.reshape(k, T * p, h).mT, q.reshape(k, T * p, factors))
        if needs[3]:
            gb = G.sum((1, 2)).unsqueeze(1)
        return gW_pd, gC, gW_fd, gb


def _drive(kind: str, weights: tuple[Tensor, ...], steps: int) -> Drive:
    if kind == "linear":
        return LinearDrive(*weights)
    return MultiplicativeDrive(*weights, steps=steps)


class LeakyLoop(torch.autograd.Function):
    """The leaky (or velocity) time loop: features ``tanh(h_1..h_T)``, (K, T, P, H)."""

    @staticmethod
    def forward(ctx, h0, a, steps, velocity, kind, *weights):
        if a is not None and a.requires_grad:
            raise ValueError("the leaky rate is a hyperparameter: it takes no gradient here")
        # The C++ loop (models/native.py) where it applies: a linear drive on the CPU.
        ctx.native = kind == "linear" and native.applies(h0, *weights) and native.available()
        if ctx.native:
            W, code = weights
            F = native.loops().leaky_forward(h0, a, steps, velocity, W, code)
            ctx.W, ctx.code, ctx.steps = W, code, steps
            ctx.velocity, ctx.has_a = velocity, a is not None
            ctx.save_for_backward(F, *(() if a is None else (a,)))
            return F[:, 1:]
        drive = _drive(kind, weights, steps)
        k, p, h = h0.shape
        F = h0.new_empty(k, steps + 1, p, h)  # tanh(h_0..h_T)
        fs = F.unbind(1)
        torch.tanh(h0, out=fs[0])
        state = h0
        v = torch.zeros_like(h0) if velocity else None
        for t in range(steps):
            d = drive.forward(fs[t], t)
            if velocity:
                v = torch.lerp(v, d - state, a)
                state = state + v
            elif a is None:
                state = d
            else:
                state = torch.lerp(state, d, a)
            torch.tanh(state, out=fs[t + 1])
        ctx.drive, ctx.steps, ctx.velocity = drive, steps, velocity
        ctx.has_a = a is not None
        ctx.save_for_backward(F, *(() if a is None else (a,)))
        return F[:, 1:]

    @staticmethod
    def backward(ctx, gF):
        F, *rest = ctx.saved_tensors
        a = rest[0] if ctx.has_a else None
        if ctx.native:
            G, gh0 = native.loops().leaky_backward(F, gF, a, ctx.W, ctx.velocity)
            weight_grads = LinearDrive(ctx.W, ctx.code).grads(G, F, ctx.needs_input_grad[5:])
            return (gh0 if ctx.needs_input_grad[0] else None, None, None, None, None,
                    *weight_grads)  # fmt: skip
        drive, steps = ctx.drive, ctx.steps
        ds = F.unbind(1)  # tanh(h_t): tanh_backward(g, tanh(h)) = g ⊙ (1 - tanh²(h))
        gfs = gF.unbind(1)  # ∂L/∂f_1..f_T, through the read-out
        G = gF.new_empty(gF.shape)  # ∂L/∂d_1..d_T
        gs = G.unbind(1)
        if ctx.velocity:
            gh0 = _velocity_backward(drive, a, steps, ds, gfs, gs)
        else:
            gh0 = _leaky_backward(drive, a, steps, ds, gfs, gs)
        needs = ctx.needs_input_grad[5:]
        weight_grads = drive.grads(G, F, needs)
        return (gh0 if ctx.needs_input_grad[0] else None, None, None, None, None, *weight_grads)


tanh_backward = torch.ops.aten.tanh_backward


def _leaky_backward(drive, a, steps, ds, gfs, gs):
    """``h_t = lerp(h_{t-1}, d_t, a)``. Carries ``g_t = ∂L/∂d_t = a ∂L/∂h_t``:
    ``g_{t-1} = lerp(g_t, tanh'(h_{t-1}) ⊙ (∂d_t/∂f_{t-1} g_t + ∂L/∂f_{t-1}), a)``."""
    T = steps
    g = gs[T - 1]
    if a is None:
        g.copy_(tanh_backward(gfs[T - 1], ds[T]))
    else:
        torch.mul(tanh_backward(gfs[T - 1], ds[T]), a, out=g)
    for t in range(T - 1, 0, -1):  # g holds ∂L/∂d_{t+1}; compute ∂L/∂d_t
        x = tanh_backward(drive.backward(g, t, gfs[t - 1]), ds[t])  # ∂L/∂h_t but (1 - a)·
        if a is None:
            gs[t - 1].copy_(x)
        else:
            torch.lerp(g, x, a, out=gs[t - 1])
        g = gs[t - 1]
    # ∂L/∂h_0 = (1 - a) ∂L/∂h_1 + tanh'(h_0) ⊙ (∂d_1/∂f_0 g_1), with ∂L/∂h_1 = g_1 / a.
    x = tanh_backward(drive.backward(g, 0, None), ds[0])
    if a is None:
        return x
    return torch.addcmul(x, g, (1 - a) / a)


def _velocity_backward(drive, a, steps, ds, gfs, gs):
    """``v_t = lerp(v_{t-1}, d_t - h_{t-1}, a)``, ``h_t = h_{t-1} + v_t``.

    With ``G_t = ∂L/∂d_t = a ∂L/∂v_t``, ``H_t = ∂L/∂h_t`` (total):
    ``∂L/∂v_t = H_t + (1 - a) ∂L/∂v_{t+1}``, ``H_{t-1} = H_t - G_t + tanh'(h_{t-1}) ⊙
    (∂d_t/∂f_{t-1} G_t + ∂L/∂f_{t-1})``.
    """
    T = steps
    H = tanh_backward(gfs[T - 1], ds[T])  # ∂L/∂h_T
    gv = H  # ∂L/∂v_T = ∂L/∂h_T (v_T reaches the loss only through h_T)
    one_a = 1 - a
    for t in range(T, 0, -1):
        g = torch.mul(gv, a, out=gs[t - 1])  # ∂L/∂d_t
        extra = gfs[t - 2] if t >= 2 else None
        x = tanh_backward(drive.backward(g, t - 1, extra), ds[t - 1])
        H = H - g + x  # ∂L/∂h_{t-1}
        gv = torch.addcmul(H, gv, one_a)  # ∂L/∂v_{t-1} = H_{t-1} + (1 - a) ∂L/∂v_t
    return H


def leaky_loop(h0: Tensor, a: Tensor | None, steps: int, *weights: Tensor, velocity=False):
    """Features (K, T, P, H) of the leaky loop with a linear drive ``(W, code)`` or a
    multiplicative one ``(W_pd, C, W_fd, b)``; ``a=None`` means ``h_t = d_t``."""
    kind = "linear" if len(weights) == 2 else "multiplicative"
    return LeakyLoop.apply(h0, a, steps, velocity, kind, *weights)


sigmoid_backward = torch.ops.aten.sigmoid_backward


def _flat(t: Tensor) -> Tensor:
    """(K, T, P, n) -> (K, T·P, n) (a view where the layout allows)."""
    return t.reshape(t.shape[0], -1, t.shape[-1])


def _bias_grad(g: Tensor) -> Tensor:
    """Σ over steps and sequences of (K, T, P, n): the (K, 1, n) gradient of a bias."""
    return g.sum((1, 2)).unsqueeze(1)


class AntisymmetricLoop(torch.autograd.Function):
    """``h_t = h_{t-1} + a tanh(b + f_{t-1} A - γ h_{t-1})``: features (K, T, P, H)."""

    @staticmethod
    def forward(ctx, h0, a, gamma, steps, A, b):
        k, p, h = h0.shape
        F = h0.new_empty(k, steps + 1, p, h)
        S = h0.new_empty(k, steps, p, h)  # tanh(z_t)
        fs, ss = F.unbind(1), S.unbind(1)
        torch.tanh(h0, out=fs[0])
        state = h0
        for t in range(steps):
            z = torch.baddbmm(b, fs[t], A) - gamma * state
            torch.tanh(z, out=ss[t])
            state = torch.addcmul(state, a, ss[t])
            torch.tanh(state, out=fs[t + 1])
        ctx.steps = steps
        ctx.save_for_backward(F, S, a, gamma, A)
        return F[:, 1:]

    @staticmethod
    def backward(ctx, gF):
        F, S, a, gamma, A = ctx.saved_tensors
        T = ctx.steps
        fs, ss, gfs = F.unbind(1), S.unbind(1), gF.unbind(1)
        Gz = gF.new_empty(gF.shape)  # ∂L/∂z_t
        gzs = Gz.unbind(1)
        At = A.mT
        H = tanh_backward(gfs[T - 1], fs[T])  # ∂L/∂h_T
        for t in range(T, 0, -1):
            torch.ops.aten.tanh_backward.grad_input(H * a, ss[t - 1], grad_input=gzs[t - 1])
            gz = gzs[t - 1]
            x = torch.bmm(gz, At) if t == 1 else torch.baddbmm(gfs[t - 2], gz, At)
            H = torch.addcmul(H, gamma, gz, value=-1) + tanh_backward(x, fs[t - 1])
        needs = ctx.needs_input_grad
        gA = torch.bmm(_flat(F[:, :T]).mT, _flat(Gz)) if needs[4] else None
        gb = _bias_grad(Gz) if needs[5] else None
        return H if needs[0] else None, None, None, None, gA, gb


class UGRNNLoop(torch.autograd.Function):
    """``z = b + f_{t-1} W`` (2H), ``u = σ(z_u)``, ``c = tanh(z_c)``,
    ``h_t = lerp(c, h_{t-1}, u)``: features (K, T, P, H).

    Per-step values live in one buffer per quantity, (K, T, P, H), so that every
    elementwise op reads and writes whole ``(P, H)`` blocks (a slice of the last axis
    would make them strided, and several times slower)."""

    @staticmethod
    def forward(ctx, h0, steps, W, b):
        k, p, h = h0.shape
        F = h0.new_empty(k, steps + 1, p, h)
        Hs = h0.new_empty(k, steps + 1, p, h)  # h_0..h_T
        U, C = h0.new_empty(k, steps, p, h), h0.new_empty(k, steps, p, h)
        fs, hs, us, cs = F.unbind(1), Hs.unbind(1), U.unbind(1), C.unbind(1)
        torch.tanh(h0, out=fs[0])
        hs[0].copy_(h0)
        for t in range(steps):
            z = torch.baddbmm(b, fs[t], W)
            u = torch.sigmoid(z[..., :h], out=us[t])
            c = torch.tanh(z[..., h:], out=cs[t])
            torch.lerp(c, hs[t], u, out=hs[t + 1])
            torch.tanh(hs[t + 1], out=fs[t + 1])
        ctx.steps = steps
        ctx.save_for_backward(F, Hs, U, C, W)
        return F[:, 1:]

    @staticmethod
    def backward(ctx, gF):
        F, Hs, U, C, W = ctx.saved_tensors
        T = ctx.steps
        k, _, p, h = F.shape
        fs, hs, us, cs, gfs = F.unbind(1), Hs.unbind(1), U.unbind(1), C.unbind(1), gF.unbind(1)
        Gz = F.new_empty(k, T, p, 2 * h)  # ∂L/∂z_t
        gzs = Gz.unbind(1)
        Wt = W.mT
        H = tanh_backward(gfs[T - 1], fs[T])
        for t in range(T, 0, -1):
            u, c = us[t - 1], cs[t - 1]
            uH = u * H
            gu = sigmoid_backward((hs[t - 1] - c) * H, u)
            gc = tanh_backward(H - uH, c)
            gz = torch.cat([gu, gc], dim=-1, out=gzs[t - 1])
            x = torch.bmm(gz, Wt) if t == 1 else torch.baddbmm(gfs[t - 2], gz, Wt)
            H = uH + tanh_backward(x, fs[t - 1])
        needs = ctx.needs_input_grad
        gW = torch.bmm(_flat(F[:, :T]).mT, _flat(Gz)) if needs[2] else None
        gb = _bias_grad(Gz) if needs[3] else None
        return H if needs[0] else None, None, gW, gb


class GCLoop(torch.autograd.Function):
    r"""PC-RNN-GC: ``d = b + f W_rᵀ``, ``ε = v - a (d - h)``, ``v' = v - α ε``,
    ``h' = h + v' + α a ((1 - f²) ⊙ (ε W_r) - ε)`` (the last term with state inference):
    features (K, T, P, H)."""

    @staticmethod
    def forward(ctx, h0, a, alpha, steps, inference, W, b):
        k, p, h = h0.shape
        F = h0.new_empty(k, steps + 1, p, h)
        E = h0.new_empty(k, steps, p, h)  # ε_t
        M = h0.new_empty(k, steps, p, h) if inference else None  # ε_t W_r
        fs, es = F.unbind(1), E.unbind(1)
        torch.tanh(h0, out=fs[0])
        state, v = h0, torch.zeros_like(h0)
        Wt = W.mT
        beta = alpha * a
        for t in range(steps):
            f = fs[t]
            eps = torch.sub(v, a * (torch.baddbmm(b, f, Wt) - state), out=es[t])
            v = v - alpha * eps
            h_new = state + v
            if inference:
                m = torch.bmm(eps, W, out=M[:, t])
                correction = (1 - f.square()) * m - eps
                h_new = h_new + beta * correction
            state = h_new
            torch.tanh(state, out=fs[t + 1])
        ctx.steps, ctx.inference = steps, inference
        ctx.save_for_backward(F, E, *((M,) if inference else ()), a, alpha, W)
        return F[:, 1:]

    @staticmethod
    def backward(ctx, gF):
        T, inference = ctx.steps, ctx.inference
        if inference:
            F, E, M, a, alpha, W = ctx.saved_tensors
            ms = M.unbind(1)
        else:
            F, E, a, alpha, W = ctx.saved_tensors
        fs, gfs = F.unbind(1), gF.unbind(1)
        Gd = gF.new_empty(gF.shape)  # ∂L/∂d_t
        Gm = gF.new_empty(gF.shape) if inference else None  # ∂L/∂m_t
        gds = Gd.unbind(1)
        beta = alpha * a
        H = tanh_backward(gfs[T - 1], fs[T])  # ∂L/∂h_T
        Vn = torch.zeros_like(H)  # ∂L/∂v_T from later steps
        for t in range(T, 0, -1):
            f = fs[t - 1]
            gv = Vn + H  # ∂L/∂v'_t
            ge = -alpha * gv  # ∂L/∂ε_t
            gf = gfs[t - 2] if t >= 2 else None
            if inference:
                gc = beta * H  # ∂L/∂correction
                gm = torch.mul(gc, 1 - f.square(), out=Gm[:, t - 1])
                ge = ge - gc + torch.bmm(gm, W.mT)
                # ∂(1 - f²)/∂f = -2f
                gD = gc * ms[t - 1]
                gf = -2 * f * gD if gf is None else gf - 2 * f * gD
            gd = torch.mul(ge, -a, out=gds[t - 1])
            x = torch.bmm(gd, W) if gf is None else torch.baddbmm(gf, gd, W)
            H = H + a * ge + tanh_backward(x, f)
            Vn = gv + ge
        needs = ctx.needs_input_grad
        gW = gb = None
        if needs[5]:
            gW = torch.bmm(_flat(Gd).mT, _flat(F[:, :T]))
            if inference:
                gW = gW + torch.bmm(_flat(E).mT, _flat(Gm))
        if needs[6]:
            gb = _bias_grad(Gd)
        return H if needs[0] else None, None, None, None, None, gW, gb


class FeedbackLoop(torch.autograd.Function):
    """LSTM and GRU fed their own detached prediction (or, teacher-forced, the targets):
    predictions (T, K, P, 2), the read-out ``x̂ = b_o + h W_oᵀ`` made inside the loop.

    Gate values are kept one buffer per gate, (K, T, P, H) (see :class:`UGRNNLoop`); the
    input and hidden weights' gradients (and the biases') come from one product over all
    steps for the LSTM, ``Gᵀ [h | x | 1]``, and for the GRU ``Gᵀ [h | 1]`` on the hidden side
    and a small product per step on the input side (a product with 2 columns over all
    steps is slow)."""

    @staticmethod
    def forward(ctx, cell, h0, c0, inputs, steps, W_ih, W_hh, b_ih, b_hh, W_o, b_o):
        k, p, h = h0.shape
        lstm = cell == "lstm"
        n_in = W_ih.shape[-1]
        # [h_{t-1} | x_t | 1] of every step: the right-hand side of the weights' gradients.
        HX = h0.new_empty(k, steps, p, h + n_in + 1)
        HX[..., h + n_in :] = 1
        Hs = h0.new_empty(k, steps + 1, p, h)  # h_0..h_T
        gates = [h0.new_empty(k, steps, p, h) for _ in range(4)]
        Cs = h0.new_empty(k, steps + 1, p, h) if lstm else None  # c_0..c_T
        out = h0.new_empty(steps, k, p, W_o.shape[1])
        hs = Hs.unbind(1)
        g1, g2, g3, g4 = (g.unbind(1) for g in gates)  # LSTM: σi σf tanh(g) σo; GRU: r z n h_n
        cs = Cs.unbind(1) if lstm else None
        tcs = None
        hs[0].copy_(h0)
        Wi, Wh, Wo = W_ih.mT, W_hh.mT, W_o.mT
        x = h0.new_zeros(k, p, n_in)  # x_1 = 0
        if lstm:
            cs[0].copy_(c0)
            b = b_ih + b_hh
            TC = h0.new_empty(k, steps, p, h)  # tanh(c_t)
            tcs = TC.unbind(1)
        for t in range(steps):
            hprev = hs[t]
            if lstm:
                g = torch.baddbmm(torch.baddbmm(b, x, Wi), hprev, Wh)
                i, f, gg, o = g.chunk(4, dim=-1)
                si = torch.sigmoid(i, out=g1[t])
                sf = torch.sigmoid(f, out=g2[t])
                tg = torch.tanh(gg, out=g3[t])
                so = torch.sigmoid(o, out=g4[t])
                c = torch.add(sf * cs[t], si * tg, out=cs[t + 1])
                torch.mul(so, torch.tanh(c, out=tcs[t]), out=hs[t + 1])
            else:
                i_r, i_z, i_n = torch.baddbmm(b_ih, x, Wi).chunk(3, dim=-1)
                h_r, h_z, h_n = torch.baddbmm(b_hh, hprev, Wh).chunk(3, dim=-1)
                g4[t].copy_(h_n)
                r = torch.sigmoid(i_r + h_r, out=g1[t])
                z = torch.sigmoid(i_z + h_z, out=g2[t])
                n = torch.tanh(i_n + r * h_n, out=g3[t])
                torch.lerp(n, hprev, z, out=hs[t + 1])
            HX[:, t, :, h : h + n_in] = x
            torch.baddbmm(b_o, hs[t + 1], Wo, out=out[t])
            if t + 1 < steps:
                x = out[t] if inputs is None else inputs[t]
        HX[..., :h] = Hs[:, :steps]
        ctx.cell, ctx.steps = cell, steps
        ctx.save_for_backward(HX, Hs, *gates, *((Cs, TC) if lstm else ()), W_ih, W_hh, W_o)
        return out

    @staticmethod
    def backward(ctx, gout):
        lstm, T = ctx.cell == "lstm", ctx.steps
        saved = ctx.saved_tensors
        HX, Hs, G1, G2, G3, G4 = saved[:6]
        if lstm:
            Cs, TC = saved[6:8]
        W_ih, W_hh, W_o = saved[-3:]
        k, _, p, h = Hs.shape
        n_in = W_ih.shape[-1]
        g1, g2, g3, g4 = G1.unbind(1), G2.unbind(1), G3.unbind(1), G4.unbind(1)
        hs = Hs.unbind(1)
        gates = 4 if lstm else 3
        Gg = Hs.new_empty(k, T, p, gates * h)  # ∂L/∂ gate pre-activations (hidden side)
        ggs = Gg.unbind(1)
        # ∂L/∂h_t through the read-out, all steps in one product: (K, T, P, H).
        go = gout.transpose(0, 1)  # (K, T, P, 2)
        ghs = torch.bmm(_flat(go), W_o).view(k, T, p, h).unbind(1)
        needs = ctx.needs_input_grad
        xs1 = HX[..., h:].unbind(1)  # [x_t | 1]
        gWx = None if lstm else Hs.new_zeros(k, gates * h, n_in + 1)  # GRU: Σ g_iᵀ [x | 1]
        H = ghs[T - 1]  # ∂L/∂h_T
        if lstm:
            cs, tcs = Cs.unbind(1), TC.unbind(1)
            C = torch.zeros_like(H)  # ∂L/∂c_T from later steps
        for t in range(T, 0, -1):
            if lstm:
                si, sf, tg, so, tc = g1[t - 1], g2[t - 1], g3[t - 1], g4[t - 1], tcs[t - 1]
                go_ = sigmoid_backward(H * tc, so)
                C = C + tanh_backward(H * so, tc)
                gi = sigmoid_backward(C * tg, si)
                gf = sigmoid_backward(C * cs[t - 1], sf)
                gt = tanh_backward(C * si, tg)
                C = C * sf
                gg = torch.cat([gi, gf, gt, go_], dim=-1, out=ggs[t - 1])
                direct = None
            else:
                r, z, n, h_n = g1[t - 1], g2[t - 1], g3[t - 1], g4[t - 1]
                zH = z * H
                ga = tanh_backward(H - zH, n)
                gz = sigmoid_backward((hs[t - 1] - n) * H, z)
                gr = sigmoid_backward(ga * h_n, r)
                gi = torch.cat([gr, gz, ga], dim=-1)
                gWx.baddbmm_(gi.mT, xs1[t - 1])
                gg = torch.cat([gr, gz, ga * r], dim=-1, out=ggs[t - 1])
                direct = zH
            x = torch.bmm(gg, W_hh) if t == 1 else torch.baddbmm(ghs[t - 2], gg, W_hh)
            H = x if direct is None else x + direct
        gW_ih = gW_hh = gb_ih = gb_hh = None
        if lstm:  # one product: Gᵀ [h | x | 1]
            both = torch.bmm(_flat(Gg).mT, _flat(HX))  # (K, 4H, H + n_in + 1)
            gW_hh, gW_ih = both[..., :h], both[..., h : h + n_in]
            gb_ih = gb_hh = both[..., h + n_in].unsqueeze(1)
        else:
            hidden = torch.cat([_flat(Hs[:, :T]), _flat(HX[..., h + n_in :])], dim=-1)
            both = torch.bmm(_flat(Gg).mT, hidden)  # (K, 3H, H + 1)
            gW_hh, gb_hh = both[..., :h], both[..., h].unsqueeze(1)
            gW_ih, gb_ih = gWx[..., :n_in], gWx[..., n_in].unsqueeze(1)
        gW_o = torch.bmm(_flat(go).mT, _flat(Hs[:, 1:])) if needs[9] else None
        gb_o = _bias_grad(go) if needs[10] else None
        gh0 = H if needs[1] else None
        gc0 = C if (lstm and needs[2]) else None
        grads = (gW_ih, gW_hh, gb_ih, gb_hh)
        grads = tuple(g if need else None for g, need in zip(grads, needs[5:9], strict=True))
        return None, gh0, gc0, None, None, *grads, gW_o, gb_o
