"""Counting learned sequences: pure functions, and the callback that applies them after fit."""

from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.core.saving import save_hparams_to_yaml
from pytorch_lightning.loggers import TensorBoardLogger
from torch import Tensor

from .protocol import THRESHOLD as DEFAULT_THRESHOLD
from .protocol import PruneRule


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

    The Lightning way to count: add it to any ``pl.Trainer`` that fits one of the
    package's models on a :class:`~rnn_capacity.data.TrajectoryDataModule` (it reads
    ``trainer.datamodule.targets``, (T, K, P, 2)). At fit end it

    * puts ``capacity/count``, ``capacity/fraction`` and ``capacity/objective``
      (``p − 2·count``) into ``trainer.callback_metrics`` — for replica ``k`` of an
      ensemble as ``capacity/count/<k>`` etc., and the single model's (or replica 0's)
      also under the plain names;
    * logs them through the Trainer's loggers: with one logger per replica (as
      :func:`~rnn_capacity.measure.measure_ensemble` sets up) replica ``k`` goes to
      ``trainer.loggers[k]``, otherwise a single model goes to every logger. A
      TensorBoard logger also gets them with the module's hyperparameters, for the
      HPARAMS tab (``hparams``: one dict per replica, default the module's own).

    Per-sequence errors (:attr:`errors`, arrays of length ``p_k``), final losses and the
    predictions that were counted stay on the callback for reports. A diverged run
    counts 0 and raises nothing, and so does a replica that ``pruned``
    (a :class:`PruningExit`) stopped early.

    Examples:
        >>> import pytorch_lightning as pl
        >>> from rnn_capacity.capacity import CapacityCallback
        >>> from rnn_capacity.data import TrajectoryDataModule
        >>> from rnn_capacity.models import PCRNNHCA
        >>> data = TrajectoryDataModule(num_sequences=3, seed=0)
        >>> model = PCRNNHCA(hidden_size=4, num_sequences=3, tau=5.0, lr=0.01)
        >>> callback = CapacityCallback()
        >>> trainer = pl.Trainer(max_steps=5, callbacks=[callback], logger=False,
        ...                      enable_checkpointing=False, enable_progress_bar=False,
        ...                      enable_model_summary=False)
        >>> trainer.fit(model, datamodule=data)
        >>> 0 <= int(trainer.callback_metrics["capacity/count"]) <= 3
        True
        >>> len(callback.errors[0]), callback.count == callback.counts[0]
        (3, True)
    """

    def __init__(
        self,
        threshold: float = DEFAULT_THRESHOLD,
        hparams: list[dict] | None = None,
        pruned: PruningExit | None = None,
    ):
        self.threshold = threshold
        self.hparams = hparams
        self.pruned = pruned  # its pruned replicas count 0, whatever they generate
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
        pruned = self.pruned.pruned_at if self.pruned is not None else []
        for k, p in enumerate(num_sequences):
            x, y = pred[:, k, :p], targets[:, k, :p]
            errors = sequence_errors(x, y)
            self.errors.append(errors.cpu().numpy())
            self.final_losses.append(float((x - y).square().mean()))
            stopped = k < len(pruned) and pruned[k] is not None
            self.counts.append(0 if stopped else count_learned(errors, self.threshold))

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
        k_replicas = len(self.counts)
        for k in range(k_replicas):
            for name, value in self.metrics(k).items():
                value = torch.tensor(float(value))
                trainer.callback_metrics[f"{name}/{k}"] = value
                if k == 0:
                    trainer.callback_metrics[name] = value
        loggers = trainer.loggers
        if len(loggers) == k_replicas:  # one logger per replica
            groups = [[logger] for logger in loggers]
        else:  # a single model's metrics go to every logger; an ensemble's to none
            groups = [loggers] if k_replicas == 1 else []
        params = self.hparams or [dict(pl_module.hparams)] * k_replicas
        for k, group in enumerate(groups):
            for logger in group:
                log_capacity(logger, params[k], self.metrics(k), trainer.global_step)


def log_capacity(logger, hparams: dict, metrics: dict, step: int) -> None:
    """The capacity metrics as scalars, and for TensorBoard with the hyperparameters
    (the HPARAMS tab pairs a run's hyperparameters with these metrics)."""
    if isinstance(logger, TensorBoardLogger):  # logs the metrics too (once, at step 0)
        scalar = (int, float, str, bool)
        plain = {k: v if isinstance(v, scalar) else str(v) for k, v in hparams.items()}
        logger.log_hyperparams(plain, metrics=metrics)
        # The logger writes hparams.yaml once, at fit start (an ensemble's: all replicas'
        # lists); rewrite it with this run's own values.
        save_hparams_to_yaml(f"{logger.log_dir}/{logger.NAME_HPARAMS_FILE}", logger.hparams)
    else:
        logger.log_metrics(metrics, step=step)
    logger.save()


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


class DivergenceExit(pl.Callback):
    """Finish a replica whose training diverged, and stop the run when all have.

    A replica is *diverged* after a step whose loss is not finite and that leaves a NaN
    in one of its shared weights (a tensor every sequence of the replica goes through,
    neither an initial state nor a per-sequence weight). That is final, so its count is
    already decided: Adam keeps a NaN weight NaN (``w - lr·u`` is NaN whatever ``u``), a
    NaN in a shared weight reaches every output through the products and nonlinearities
    of the step, and :func:`count_learned` counts 0 for any non-finite error. So the exit
    changes no count (``tests/test_divergence.py`` compares runs with and without it):

    * from then on the replica's gradients are dropped before each optimiser step (it is
      masked out of the update; the ensemble's layout, hence every other replica's
      arithmetic, stays as it was);
    * once every replica is finished, the run stops (``trainer.should_stop``): the rest
      of its iterations are not trained.

    A loss that is infinite while every weight stays finite is not a divergence (Adam's
    step is bounded; such a run may come back), and the run goes on.

    :attr:`diverged_at` holds, per replica, the step (1-based) after which it was finished,
    or None.
    """

    def __init__(self) -> None:
        self.diverged_at: list[int | None] = []
        self.states: set[str] = set()

    def finished(self) -> list[bool]:
        """Per replica, whether it is finished (trains no more)."""
        return [d is not None for d in self.diverged_at]

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.diverged_at = [None] * pl_module.num_replicas
        # The initial states' names, once (drawing them is not free; their values unused).
        self.states = set(pl_module.init_state(torch.Generator().manual_seed(0), 1))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        losses = pl_module.last_losses
        if losses is None or bool(torch.isfinite(losses).all()):
            return
        step = trainer.global_step
        for k in torch.nonzero(~torch.isfinite(losses)).flatten().tolist():
            if self.diverged_at[k] is None and shared_weight_is_nan(pl_module, k, self.states):
                self.diverged_at[k] = step
        if all(self.finished()):
            trainer.should_stop = True

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        for k, done in enumerate(self.finished()):
            if done:
                for weight in pl_module.replicas[k].values():
                    weight.grad = None  # Adam skips a tensor without a gradient


class PruningExit(DivergenceExit):
    """:class:`DivergenceExit`, and a departure from the protocol (``--prune``): after
    step ``rule.at``, every replica of ``p >= rule.min_p`` whose training loss is still
    above ``rule.bound`` (or not finite) is finished too, and counts 0 whatever it would
    have learned.

    A pruned replica is masked out of the update like a diverged one, so the others'
    arithmetic, hence their counts, stay as they were; once every replica is finished,
    the run stops. (A compiled step, ``compile=True``, updates inside its own graph, so
    there a pruned replica goes on training until the run stops, unread: replicas are
    independent, and it counts 0 all the same.)

    Unlike the divergence exit this one can change a count: a replica it stops might
    have learned something in its remaining iterations (a *false prune*). The shipped
    rule, :data:`~rnn_capacity.protocol.PRUNE`, and how often it erred:
    ``docs/performance.md``.

    :attr:`pruned_at` holds, per replica, ``rule.at`` where it was pruned, or None.

    Examples:
        >>> from rnn_capacity.capacity import PruningExit
        >>> from rnn_capacity.protocol import PRUNE
        >>> PruningExit(PRUNE).rule.describe()
        'loss > 0.19 at 200, p ≥ 2'
    """

    def __init__(self, rule: PruneRule) -> None:
        super().__init__()
        self.rule = rule
        self.pruned_at: list[int | None] = []

    def finished(self) -> list[bool]:
        pairs = zip(self.diverged_at, self.pruned_at, strict=True)
        return [d is not None or q is not None for d, q in pairs]

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self.pruned_at = [None] * pl_module.num_replicas

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        losses, rule = pl_module.last_losses, self.rule
        if trainer.global_step != rule.at or losses is None:
            return
        for k, (loss, p) in enumerate(zip(losses.tolist(), pl_module.num_sequences, strict=True)):
            if self.diverged_at[k] is None and p >= rule.min_p and not loss <= rule.bound:
                self.pruned_at[k] = rule.at  # (a NaN loss is not <= bound: pruned too)
        if all(self.finished()):
            trainer.should_stop = True


def shared_weight_is_nan(module, k: int, states: set[str] | None = None) -> bool:
    """Whether replica ``k`` of ``module`` has a NaN in a trainable tensor shared by all
    its sequences (not an initial state, not a per-sequence weight). ``states``: the
    names of the initial states, where the caller already has them."""
    if states is None:
        states = set(module.init_state(torch.Generator().manual_seed(0), 1))
    for name, weight in module.replicas[k].items():
        if name in states or name in module.per_sequence or not weight.requires_grad:
            continue
        if bool(torch.isnan(weight).any()):
            return True
    return False
