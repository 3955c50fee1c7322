"""The echo-state network: a fixed random reservoir, a read-out fitted in closed form."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..errors import UsageError
from .base import OUTPUT_SIZE, default_read_out, randn
from .classic import TRNN
from .options import CONNECTIVITY, RIDGE, SIGMA, TAU


class ESN(TRNN):
    r"""Echo-state network: TRNN dynamics on a fixed sparse reservoir.

    .. math::
        h_t = (1 - a)\, h_{t-1} + a \left(W_r \tanh(h_{t-1}) + b_r\right), \qquad
        \hat x_t = W_o \tanh(h_t) + b_o, \qquad a = 1/\tau

    Reservoir: ``M ~ Bernoulli(q)`` (H×H), ``W_r = σ · N(0,1) ⊙ M`` (not divided by H),
    ``b_r ~ N(0,1)/10``, initial states ``h_0 ~ N(0,1)``; all fixed (the initial states
    are fixed whatever ``learn_initial_state`` says). Only ``W_o, b_o`` are trained, in
    closed form, by ridge least squares on the states ``tanh(h_t)`` of all steps and
    sequences — no learning rate, no BPTT:

    .. math::
        [W_o\; b_o]^\top = \left(\tfrac{1}{N} X^\top X + \lambda \bar I\right)^{-1}
                           \tfrac{1}{N} X^\top Y, \qquad X = [\tanh(h_t)\; 1]

    over the ``N = T p`` rows; ``λ = ridge`` (the bias is not penalised). The normal
    equations are accumulated step by step in float64, so memory stays at
    ``O(K (H^2 + p H))`` for ``H`` up to thousands and ``p`` up to 250.

    Hyperparameters: ``tau``, ``connectivity`` (q), ``sigma`` (σ); setting: ``ridge``.
    Training is one Trainer step (the fit), which then stops the Trainer.

    Args:
        hidden_size: ``H``, reservoir units (typically 1000–4000).
        num_sequences: ``p`` (1–250), or one per replica.
        tau: ``τ ≥ 1``, or one per replica.
        connectivity: ``q ∈ [0, 1]``, or one per replica.
        sigma: ``σ > 0``, or one per replica.
        ridge: ``λ ≥ 0``, shared by all replicas.
        **kwargs: the base class's (``seed``; ``lr`` is ignored).

    Examples:
        >>> from rnn_capacity.data import TrajectoryDataModule
        >>> from rnn_capacity.models import ESN
        >>> data = TrajectoryDataModule(num_sequences=3, seed=0)
        >>> data.setup()
        >>> model = ESN(hidden_size=50, num_sequences=3, tau=5.0, connectivity=0.1, sigma=1.0)
        >>> model.fit_read_out(data.targets)  # the whole training: one least-squares solve
        >>> model.generate().shape
        torch.Size([60, 3, 2])
        >>> model.parameter_counts()  # only the read-out W_o (2×H) and b_o (2) is fitted
        {'trainable': 102, 'per_sequence': 0, 'shared': 102}
    """

    display_name = "ESN"

    OPTIONS = (TAU, CONNECTIVITY, SIGMA, RIDGE)
    frozen = ("h0", "W_r", "b_r", "W_o", "b_o")
    fitted = ("W_o", "b_o")  # by least squares, not by Adam
    ignored_options = ("lr",)

    def __init__(
        self,
        hidden_size: int,
        num_sequences: int | Sequence[int],
        tau: float | Sequence[float] = 10.0,
        connectivity: float | Sequence[float] = 0.1,
        sigma: float | Sequence[float] = 1.0,
        ridge: float = 1e-6,
        **kwargs,
    ):
        # A reservoir's initial states are never trained, whatever is asked (h0 is frozen);
        # a value that is not a bool is still refused, as for every model.
        if not isinstance(kwargs.get("learn_initial_state", False), bool):
            raise UsageError("learn_initial_state must be true or false for ESN")
        kwargs["learn_initial_state"] = False
        super().__init__(
            hidden_size, num_sequences, tau=tau, connectivity=connectivity, sigma=sigma, **kwargs
        )
        self.automatic_optimization = False

    def init_weights(self, g, p, connectivity, sigma, **hp):
        H = self.hidden_size
        mask = torch.rand(H, H, generator=g) < connectivity
        return {
            "W_r": sigma * randn(g, H, H) * mask,
            "b_r": randn(g, 1, H) / 10,
        } | default_read_out(g, H)

    def configure_optimizers(self):
        return None

    @torch.no_grad()
    def fit_read_out(self, targets: Tensor) -> None:
        """Ridge least squares of ``targets`` (T, K, P, 2) on the reservoir states."""
        w = self.prepare(self.weights())
        k, p = self.mask.shape
        H = self.hidden_size
        gram = torch.zeros(k, H + 1, H + 1, dtype=torch.float64, device=self.mask.device)
        cross = torch.zeros(k, H + 1, OUTPUT_SIZE, dtype=torch.float64, device=self.mask.device)
        ones = self.mask.to(torch.float64).unsqueeze(-1)  # the bias column; 0 on padding
        h = self.start(w)
        for t in range(self.num_steps):
            h = self.step(w, h, torch.tanh(h))
            x = torch.cat([torch.tanh(h).double() * ones, ones], dim=2)  # (K, P, H+1)
            gram.baddbmm_(x.mT, x)
            cross.baddbmm_(x.mT, targets[t].double() * ones)
        n = torch.tensor(self.num_sequences, dtype=torch.float64, device=gram.device)
        n = (n * self.num_steps).view(k, 1, 1)
        penalty = torch.full((H + 1,), self.hparams.ridge, dtype=torch.float64)
        penalty[H] = 0.0  # do not shrink the bias
        system = gram / n + torch.diag(penalty).to(gram.device)
        chol, info = torch.linalg.cholesky_ex(system)
        if (info != 0).any():
            bad = [i for i, v in enumerate(info.tolist()) if v]
            raise UsageError(
                f"ESN read-out fit is singular for replica(s) {bad} (H={H}, p="
                f"{[self.num_sequences[i] for i in bad]}, ridge={self.hparams.ridge}): "
                "the reservoir states are degenerate; use ridge > 0"
            )
        solution = torch.cholesky_solve(cross / n, chol)  # (K, H+1, 2)
        for rep, sol in zip(self.replicas, solution.float(), strict=True):
            rep["W_o"].copy_(sol[:H].T)
            rep["b_o"].copy_(sol[H:])

    def training_step(self, batch, batch_idx):
        self.fit_read_out(batch["targets"])
        self.trainer.should_stop = True  # one closed-form fit is the whole training
        self.log_losses(self.replica_losses(self(), batch["targets"]))
