"""One capacity measurement — and an ensemble of them trained together.

``measure_capacity`` is the protocol's "fitness evaluation": draw ``p`` trajectories,
build a model with fresh weights, train it, count the sequences it generates within
the threshold. Everything else (the CLI, the sweep, the benchmarks) calls it or its
batched form :func:`measure_ensemble`.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger

from .capacity import CapacityCallback, DivergenceExit, LossHistory, PruningExit, objective
from .cli import quiet_lightning  # (its home is cli.py; scripts import it here too)
from .data import TrajectoryDataModule
from .errors import UsageError, ensure_directory
from .models import model_slug, resolve_model
from .models.base import CapacityModule
from .models.compiled import compile_by_default, compile_training_step
from .models.options import (
    MAX_HIDDEN,
    MAX_SEED,
    check_count,
    check_num_sequences,
    searchable_options,
)
from .models.options import validate_options as check_declared
from .progress import LightningBar
from .progress import enabled as progress_enabled
from .protocol import ACCELERATORS, ITERATIONS, LOG_DIR, THRESHOLD, PruneRule


def model_class(name: str) -> type[CapacityModule]:
    """The class of a built-in model, an installed plug-in or an import path ``module:Class``
    (:func:`rnn_capacity.models.resolve_model`)."""
    return resolve_model(name)[1]


def validate_options(model: str, options: dict) -> dict:
    """Check names, types and ranges of a model's options against its declaration."""
    name, cls = resolve_model(model)
    return check_declared(cls, options, name)


MAX_ITERATIONS = 10**7


def validate_sizes(
    hidden_size: int, num_sequences: int, iterations: int, threshold: float = THRESHOLD
) -> None:
    """The measurement's sizes, each an integer in range (a UsageError naming it)."""
    check_num_sequences(num_sequences)
    check_count(hidden_size, "hidden_size", 1, MAX_HIDDEN)
    check_count(iterations, "iterations", 1, MAX_ITERATIONS)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise UsageError(f"threshold must be a number, got {threshold!r}")
    if not 0 < threshold < math.inf:  # also rejects NaN
        raise UsageError(f"threshold={threshold} out of range: a positive, finite error")


def validate_run(seeds: list, accelerator: str) -> None:
    for s in seeds:
        check_count(s, "seed", 0, MAX_SEED)
    if accelerator not in ACCELERATORS:
        allowed = ", ".join(ACCELERATORS)
        raise UsageError(f"accelerator={accelerator!r} is not one of {allowed}")
    if accelerator in ("gpu", "cuda"):
        if not torch.cuda.is_available():
            raise UsageError(f"accelerator={accelerator!r}: no GPU is available here")


@dataclass
class Replica:
    """One measurement inside an ensemble: its ``p``, seed and hyperparameters."""

    num_sequences: int
    seed: int = 0
    hparams: dict = field(default_factory=dict)
    name: str | None = None  # TensorBoard version directory; default: the next free one


@dataclass
class CapacityResult:
    """The outcome of one measurement."""

    model: str
    hidden_size: int
    num_sequences: int
    seed: int
    hparams: dict
    count: int
    errors: list[float]
    final_loss: float
    seconds: float  # wall time of the training run (shared by an ensemble's replicas)
    iterations: int
    replicas: int = 1  # size of the ensemble this measurement was trained in
    # Trainable parameters of this replica: trainable, per_sequence (grows with p), shared.
    parameters: dict[str, int] | None = None
    # Every option of the model as it trained, defaults included (``hparams``: only those
    # given): what the journal, evaluation.json and TensorBoard's HPARAMS record.
    options: dict | None = None
    log_dir: str | None = None
    # The step after which the run diverged and was finished (capacity.DivergenceExit).
    diverged_at: int | None = None
    # The step at which ``prune`` stopped it (it then counts 0), or None.
    pruned_at: int | None = None
    loss_curve: list[float] | None = None  # training loss per iteration (record_losses)
    generated: Any = None  # (T, p, 2) numpy array of what was counted (keep_trajectories)
    targets: Any = None  # (T, p, 2) numpy array, the trajectories drawn
    module: Any = None  # the trained ensemble (keep_module); this is module.replica(k)
    replica_index: int = 0

    def to_dict(self) -> dict:
        skip = ("generated", "targets", "module", "replica_index")
        return {k: v for k, v in asdict(self).items() if k not in skip} | {
            "objective": self.objective
        }

    @property
    def objective(self) -> float:
        return objective(self.num_sequences, self.count)


def count_parameters(
    model: str,
    hidden_size: int,
    num_sequences: int,
    learn_initial_state: bool = True,
    **options,
) -> dict[str, int]:
    """Trainable parameters of one model of ``model`` with ``hidden_size`` units learning
    ``num_sequences`` sequences (:meth:`CapacityModule.parameter_counts`): ``trainable``,
    ``per_sequence`` (the part that grows with p) and ``shared``. ``options`` are the
    model's settings (e.g. ``factors``); hyperparameters do not change the count.

    Examples:
        >>> count_parameters("srnn", 60, 10, learn_initial_state=False)
        {'trainable': 3782, 'per_sequence': 0, 'shared': 3782}
        >>> count_parameters("pc_rnn_hc_a", 60, 10, learn_initial_state=False)["per_sequence"]
        600
    """
    cls = model_class(model)
    options = validate_options(model, options)
    return cls(hidden_size, num_sequences, learn_initial_state=learn_initial_state,
               **options).parameter_counts()  # fmt: skip


def make_trainer(
    max_steps: int,
    accelerator: str = "auto",
    callbacks: list | None = None,
    progress_bar: bool = False,
    logger=False,
    log_every_n_steps: int = 50,
    **trainer_kwargs,
) -> pl.Trainer:
    """A Trainer for one full-batch training run of ``max_steps`` steps: one device, no
    validation; ``logger`` as for ``pl.Trainer`` (``measure_ensemble`` gives one
    TensorBoard logger per replica). ``trainer_kwargs`` override or add any other
    ``pl.Trainer`` argument (devices, precision, callbacks, enable_checkpointing, ...)."""
    options = dict(
        max_steps=max_steps,
        accelerator=accelerator,
        devices=1,
        logger=logger,
        log_every_n_steps=log_every_n_steps,
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress_bar,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    return pl.Trainer(**(options | trainer_kwargs))


def measure_capacity(
    model: str,
    hidden_size: int,
    num_sequences: int,
    iterations: int = ITERATIONS,
    seed: int = 0,
    learn_initial_state: bool = True,
    threshold: float = THRESHOLD,
    *,
    accelerator: str = "auto",
    log_dir: str | Path | None = LOG_DIR,
    progress_bar: bool = False,
    data_path: str | Path | None = None,
    compile: bool = False,
    trainer_kwargs: dict | None = None,
    keep_module: bool = False,
    verbose: bool = False,
    **hparams,
) -> CapacityResult:
    """Train one model on ``num_sequences`` trajectories and count those it learned.

    ``model``: a built-in model (``"gru"``), an installed plug-in's name, or an import
    path ``"mypkg.cells:MyRNN"`` of a :class:`CapacityModule` subclass (imported: that
    runs its code). ``hparams`` are the model's options, named as in protocol.md (``lr``, ``tau``,
    ``tau_slow``, ``tau_fast``, ``gamma``, ``connectivity``, ``sigma``,
    ``alpha_h_prime``) plus settings such as ``factors``. Bad input raises
    :class:`~rnn_capacity.errors.UsageError`. With ``log_dir=None`` nothing is logged.
    ``trainer_kwargs`` go to ``pl.Trainer`` (e.g. ``{"precision": "64-true"}``,
    ``{"callbacks": [...]}``, ``{"enable_checkpointing": True}``). With
    ``keep_module=True`` the trained model is ``result.module`` (e.g. to
    ``result.module.save_checkpoint(path)``). Lightning's own messages (its GPU/TPU
    banner, tips, "fit stopped") are hidden unless ``verbose=True``.

    Examples:
        A tiny run (the protocol trains 3000 iterations; 5 teach nothing):

        >>> from rnn_capacity import measure_capacity
        >>> r = measure_capacity("pc_rnn_hc_a", hidden_size=4, num_sequences=3, iterations=5,
        ...                      log_dir=None, tau=5.0, lr=0.01)
        >>> 0 <= r.count <= 3, len(r.errors)  # learned sequences; one error per sequence
        (True, 3)
        >>> r.objective == 3 - 2 * r.count  # what the search minimises: p - 2 count
        True
        >>> r.parameters  # trainable numbers: W_c and the initial states grow with p
        {'trainable': 54, 'per_sequence': 24, 'shared': 30}
    """
    (result,) = measure_ensemble(
        model,
        hidden_size,
        [Replica(num_sequences, seed, hparams)],
        iterations=iterations,
        learn_initial_state=learn_initial_state,
        threshold=threshold,
        accelerator=accelerator,
        log_dir=log_dir,
        progress_bar=progress_bar,
        data_path=data_path,
        compile=compile,
        trainer_kwargs=trainer_kwargs,
        keep_module=keep_module,
        verbose=verbose,
    )
    return result


def measure_ensemble(
    model: str,
    hidden_size: int,
    replicas: list[Replica],
    iterations: int = ITERATIONS,
    learn_initial_state: bool = True,
    threshold: float = THRESHOLD,
    *,
    accelerator: str = "auto",
    log_dir: str | Path | None = LOG_DIR,
    progress_bar: bool = False,
    data_path: str | Path | None = None,
    log_every_n_steps: int = 50,
    log_group: str | None = None,
    compile: bool | None = False,
    record_losses: bool = False,
    keep_trajectories: bool = False,
    trainer_kwargs: dict | None = None,
    keep_module: bool = False,
    verbose: bool = False,
    stop_diverged: bool = True,
    prune: PruneRule | None = None,
) -> list[CapacityResult]:
    """Train ``len(replicas)`` independent measurements as one batched ensemble.

    ``model`` is a built-in model's name, an installed plug-in's or an import path
    ``module:Class`` (which imports the module: it runs its code); the results carry the
    name :func:`~rnn_capacity.models.resolve_model` gives it.

    Each replica gives, for the same seed and hyperparameters, the result a single
    :func:`measure_capacity` call gives (up to float rounding). All replicas must set
    the same option names; their values may differ.

    Every replica is its own TensorBoard run ``<log_dir>/<log_group>/<replica.name>``
    (default group ``<model>_h<H>``, default name the next free ``version_<i>``) with
    its loss curve, hyperparameters and capacity metrics (HPARAMS tab).

    ``record_losses=True`` keeps every replica's loss at every iteration
    (``result.loss_curve``); ``keep_trajectories=True`` keeps the generated trajectories
    that were counted and their targets (``result.generated``, ``result.targets``).

    ``compile=True`` trains with the whole step — forward, loss, gradient and Adam —
    compiled into one graph (:func:`rnn_capacity.models.compiled.compile_training_step`),
    the sequence axis padded to a multiple of :data:`COMPILE_BUCKET` so that a new ``p``
    reuses a compiled graph (bench/step_cost.py measures the gain and the compile time).
    ``compile=None`` decides by :func:`~rnn_capacity.models.compiled.compile_by_default`
    (what a sweep does when neither ``--compile`` nor ``--no-compile`` is given).

    Lightning's own messages (its GPU/TPU banner, tips, "fit stopped") are hidden unless
    ``verbose=True``; the caller's warning filters and log levels are left as they were.

    A replica whose training diverged is finished: it counts 0, as it would have, its
    gradients are dropped, and the run stops once every replica has diverged
    (:class:`~rnn_capacity.capacity.DivergenceExit`; ``stop_diverged=False`` trains every
    iteration regardless). ``result.diverged_at`` is the step it diverged at, or None.

    ``prune`` (a :class:`~rnn_capacity.protocol.PruneRule`, for example
    :data:`~rnn_capacity.protocol.PRUNE`) departs from the protocol: a replica of
    ``p >= rule.min_p`` whose training loss after ``rule.at`` iterations is above
    ``rule.bound`` is stopped there and counts 0
    (:class:`~rnn_capacity.capacity.PruningExit`, which also finishes diverged
    replicas); ``result.pruned_at`` is ``rule.at`` for those, else None.

    Examples:
        Two measurements of different ``p``, seeds and learning rates, trained together:

        >>> from rnn_capacity import Replica, measure_ensemble
        >>> replicas = [Replica(3, seed=0, hparams={"lr": 0.01}),
        ...             Replica(5, seed=1, hparams={"lr": 0.02})]
        >>> results = measure_ensemble("srnn", 4, replicas, iterations=5, log_dir=None)
        >>> [(r.num_sequences, r.seed, r.replicas) for r in results]
        [(3, 0, 2), (5, 1, 2)]
        >>> [0 <= r.count <= r.num_sequences for r in results]
        [True, True]
    """
    model, cls = resolve_model(model)
    if not replicas:
        raise UsageError("an ensemble needs at least one replica")
    validate_run([r.seed for r in replicas], accelerator)
    names = set(replicas[0].hparams)
    hparams = []  # validated copies: the caller's replicas stay as they were
    for r in replicas:
        validate_sizes(hidden_size, r.num_sequences, iterations, threshold)
        hparams.append(validate_options(model, r.hparams))
        if set(hparams[-1]) != names:
            raise UsageError("all replicas of an ensemble must set the same hyperparameters")
    if prune is not None:
        ok = isinstance(prune, PruneRule) and isinstance(prune.at, int) and prune.at >= 1
        ok = ok and 0 < prune.bound < math.inf and isinstance(prune.min_p, int)
        if not ok:
            raise UsageError(
                f"prune needs a PruneRule(at >= 1, 0 < bound < inf, min_p), got {prune!r}"
            )
    seeds = [int(r.seed) for r in replicas]
    ps = [int(r.num_sequences) for r in replicas]
    options = {n: [hp[n] for hp in hparams] for n in names}
    shared = set(options) - set(searchable_options(cls))
    for n, values in options.items():  # settings (not per-replica tensors) must agree
        if n in shared:
            if len(set(values)) > 1:
                raise UsageError(f"all replicas of an ensemble must share the setting {n}")
            options[n] = values[0]

    # Shape bucketing: every p in a bucket gives the same shapes, hence the same graph.
    bucket = -(-max(ps) // COMPILE_BUCKET) * COMPILE_BUCKET
    if compile is None:
        compile = compile_by_default(cls, len(ps) * bucket, iterations, accelerator)
    pad_to = bucket if compile else None
    data = TrajectoryDataModule(ps, seed=seeds, path=data_path, pad_to=pad_to)
    data.setup()
    init = {"seed": seeds, "learn_initial_state": learn_initial_state, "pad_to": pad_to}
    module = cls(hidden_size, ps, **init, **options)
    if compile:
        compile_training_step(module)
    # The effective value of every option, defaults included (save_hyperparameters holds
    # the whole constructor chain's arguments); per-replica ones are lists.
    effective = []
    for k in range(len(replicas)):
        values = {n: module.hparams[n] for n in cls.options() if n in module.hparams}
        effective.append({n: v[k] if isinstance(v, list | tuple) else v for n, v in values.items()})

    loggers = []
    if log_dir is not None:
        ensure_directory(log_dir, "TensorBoard log directory")
        group = log_group or f"{model_slug(model)}_h{hidden_size}"
        versions = [r.name for r in replicas]
        free = next_versions(Path(log_dir) / group, sum(v is None for v in versions))
        versions = [v if v is not None else next(free) for v in versions]
        loggers = [TensorBoardLogger(log_dir, group, v, default_hp_metric=False) for v in versions]
    # Every replica is its own run: the Trainer gets one logger per replica, which the
    # module's training_step and the capacity callback write replica k's metrics to.
    hps = []
    for k in range(len(replicas)):
        hp = {"model": model, "hidden_size": hidden_size, "num_sequences": ps[k]}
        hp |= {"seed": seeds[k], "iterations": iterations}
        hps.append(hp | {"learn_initial_state": learn_initial_state, **effective[k], **hparams[k]})
    if prune is not None:
        exit_ = PruningExit(prune)
    else:
        exit_ = DivergenceExit() if stop_diverged else None
    pruning = exit_ if isinstance(exit_, PruningExit) else None
    capacity = CapacityCallback(threshold, hparams=hps, pruned=pruning)
    callbacks = [capacity]
    if exit_ is not None:
        callbacks.append(exit_)
    history = LossHistory() if record_losses else None
    if history is not None:
        callbacks.append(history)
    progress_bar = progress_bar and progress_enabled()  # --no-progress hides every bar
    if progress_bar:  # refresh ~200 times per run, not every step (logs stay readable)
        callbacks.append(LightningBar(refresh_rate=max(1, iterations // 200)))
    if trainer_kwargs is not None and not isinstance(trainer_kwargs, dict):
        raise UsageError(
            f"trainer_kwargs must be a dict of pl.Trainer arguments, got "
            f"{type(trainer_kwargs).__name__}"
        )
    extra = dict(trainer_kwargs or {})
    callbacks += extra.pop("callbacks", None) or []  # the caller's, beside the package's
    with contextlib.nullcontext() if verbose else quiet_lightning():
        trainer = make_trainer(
            iterations, accelerator, callbacks, progress_bar,
            logger=loggers or False, log_every_n_steps=log_every_n_steps, **extra,
        )  # fmt: skip
        start = time.perf_counter()
        trainer.fit(module, datamodule=data)
        seconds = time.perf_counter() - start

    results = []
    for k in range(len(replicas)):
        result = CapacityResult(
            model=model,
            hidden_size=hidden_size,
            num_sequences=ps[k],
            seed=seeds[k],
            hparams=hparams[k],
            options=effective[k] | hparams[k],
            count=int(trainer.callback_metrics[f"capacity/count/{k}"]),
            errors=capacity.errors[k].tolist(),
            final_loss=capacity.final_losses[k],
            seconds=seconds,
            iterations=iterations,
            replicas=len(replicas),
            parameters=module.parameter_counts(k),
            log_dir=loggers[k].log_dir if loggers else None,
            diverged_at=exit_.diverged_at[k] if exit_ and exit_.diverged_at else None,
            pruned_at=pruning.pruned_at[k] if pruning and pruning.pruned_at else None,
            loss_curve=history.curves[k] if history is not None else None,
        )
        if keep_trajectories:
            result.generated = capacity.predictions[:, k, : ps[k]].numpy()
            result.targets = data.targets[:, k, : ps[k]].numpy()
        if keep_module:  # replica k of it is module.replica(k)
            result.module, result.replica_index = module, k
        results.append(result)
    return results


COMPILE_BUCKET = 16


def next_versions(group_dir: Path, n: int):
    """Yield ``n`` fresh ``version_<i>`` names under ``group_dir`` (loggers create them lazily,
    so K loggers made at once would otherwise all pick the same one)."""
    names = [re.fullmatch(r"version_(\d+)", d.name) for d in group_dir.glob("version_*")]
    used = [int(m.group(1)) for m in names if m]
    start = max(used, default=-1) + 1
    return iter(f"version_{i}" for i in range(start, start + n))
