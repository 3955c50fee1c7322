"""Counting learned sequences: pure functions, and the callback that applies them after fit."""

from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor

DEFAULT_THRESHOLD = 0.1


def sequence_errors(pred: Tensor, targets: Tensor) -> Tensor:
    """Mean over time of the Euclidean error ``‖x̂_t − x_t‖₂``: (T, ..., 2) -> (...)."""
    return torch.linalg.vector_norm(pred - targets, dim=-1).mean(dim=0)


def count_learned(errors: Tensor | np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> int:
    """Number of sequences whose error is below ``threshold``.

    A diverged run (any non-finite error) counts 0, as in the original protocol.
    """
    errors = torch.as_tensor(errors)
    if not torch.isfinite(errors).all():
        return 0
    return int((errors < threshold).sum())


def objective(num_sequences: int, count: float) -> float:
    """The quantity the search minimises: ``p − 2·count``."""
    return num_sequences - 2 * count


class CapacityCallback(pl.Callback):
    """At fit end: generate, measure each sequence's error, count the learned ones.

    Works for a single model and for replicas alike: results are kept per replica in
    :attr:`errors` (a list of arrays of length ``p_k``), :attr:`counts` and
    :attr:`final_losses` (MSE of the generated trajectories after training). For a
    single model :attr:`count` is the count. Metrics ``capacity/count``,
    ``capacity/fraction`` and ``capacity/objective`` (``p − 2·count``) go to
    ``loggers[k]`` for replica ``k`` when given, else, for a single model, to the
    trainer's loggers. A diverged run counts 0 and raises nothing.

    The targets come from ``trainer.datamodule.targets`` (T, K, P, 2).
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, loggers: list | None = None):
        self.threshold = threshold
        self.loggers = loggers
        self.errors: list[np.ndarray] = []
        self.counts: list[int] = []
        self.final_losses: list[float] = []
        self.predictions: Tensor | None = None

    @property
    def count(self) -> int:
        return self.counts[0]

    def evaluate(self, pred: Tensor, targets: Tensor, num_sequences: list[int]) -> None:
        """Score predictions (T, K, P, 2) against targets; replica k has ``num_sequences[k]``."""
        self.errors, self.counts, self.final_losses = [], [], []
        for k, p in enumerate(num_sequences):
            x, y = pred[:, k, :p], targets[:, k, :p]
            errors = sequence_errors(x, y)
            self.errors.append(errors.cpu().numpy())
            self.final_losses.append(float((x - y).square().mean()))
            self.counts.append(count_learned(errors, self.threshold))

    def metrics(self, k: int) -> dict[str, float]:
        p = len(self.errors[k])
        c = self.counts[k]
        return {
            "capacity/count": c,
            "capacity/fraction": c / p,
            "capacity/objective": objective(p, c),
        }

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        targets = trainer.datamodule.targets.to(pl_module.device)
        # The count is made in eval mode, with the targets at hand: autonomous models
        # ignore them, LSTM/GRU feed them only with teacher_forcing="always".
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            pred = pl_module(targets)
        pl_module.train(was_training)
        self.predictions = pred.cpu()  # (T, K, P, 2): what was counted
        self.evaluate(pred, targets, pl_module.num_sequences)
        loggers = self.loggers
        if loggers is None:
            loggers = [trainer.loggers] if len(self.counts) == 1 else []
        for k, group in enumerate(loggers):
            for logger in group if isinstance(group, list | tuple) else [group]:
                logger.log_metrics(self.metrics(k), step=trainer.global_step)


class LossHistory(pl.Callback):
    """Record every replica's training loss at every step: :attr:`curves` is a list of K
    lists of floats (one value per iteration)."""

    def __init__(self) -> None:
        self.curves: list[list[float]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        losses = pl_module.last_losses.tolist()
        if not self.curves:
            self.curves = [[] for _ in losses]
        for curve, loss in zip(self.curves, losses, strict=True):
            curve.append(loss)


class ReplicaLosses(pl.Callback):
    """Log each replica's training loss to its own logger every ``every_n_steps`` steps,
    so that every replica of an ensemble is a separate run in TensorBoard."""

    def __init__(self, loggers: list, every_n_steps: int = 50):
        self.loggers = loggers
        self.every_n_steps = every_n_steps

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step % self.every_n_steps and step != trainer.max_steps:
            return
        for logger, loss in zip(self.loggers, pl_module.last_losses.tolist(), strict=True):
            logger.log_metrics({"train/loss": loss}, step=step)
