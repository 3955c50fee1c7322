"""One capacity measurement — and an ensemble of them trained together.

``measure_capacity`` is the protocol's "fitness evaluation": draw ``p`` trajectories,
build a model with fresh weights, train it, count the sequences it generates within
the threshold. Everything else (the CLI, the sweep, the benchmarks) calls it or its
batched form :func:`measure_ensemble`.
"""

from __future__ import annotations

import inspect
import logging
import math
import re
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import TQDMProgressBar
from pytorch_lightning.loggers import TensorBoardLogger

from .capacity import DEFAULT_THRESHOLD, CapacityCallback, LossHistory, ReplicaLosses, objective
from .data import TrajectoryDataModule
from .errors import UsageError, ensure_directory
from .models import MODELS
from .models.base import CapacityModule

MAX_SEQUENCES = 250

# name -> (type, low, high, low_inclusive): what each model option accepts.
OPTION_RULES: dict[str, tuple[type, float, float, bool]] = {
    "lr": (float, 0.0, math.inf, False),
    "tau": (float, 1.0, math.inf, True),
    "tau_slow": (float, 1.0, math.inf, True),
    "tau_fast": (float, 1.0, math.inf, True),
    "gamma": (float, 0.0, math.inf, True),
    "connectivity": (float, 0.0, 1.0, True),
    "sigma": (float, 0.0, math.inf, False),
    "alpha_h_prime": (float, 0.0, math.inf, True),
    "ridge": (float, 0.0, math.inf, True),
    "factors": (int, 1, math.inf, True),
    "state_inference": (bool, 0, 1, True),
    "teacher_forcing": (str, 0, 0, True),
}
# Options whose value is one of a few names (type str above).
CHOICES: dict[str, tuple[str, ...]] = {"teacher_forcing": ("none", "train", "always")}
# Constructor arguments that measure_capacity sets itself.
RESERVED = {
    *("self", "hidden_size", "num_sequences", "seed"),
    *("learn_initial_state", "num_steps", "pad_to"),
}
# Hyperparameters a replica of an ensemble may set to its own value (one tensor entry per
# replica); every other option is a setting all replicas of an ensemble share.
PER_REPLICA = {
    *("lr", "tau", "tau_slow", "tau_fast", "gamma"),
    *("connectivity", "sigma", "alpha_h_prime"),
}


def model_class(name: str) -> type[CapacityModule]:
    if name not in MODELS:
        raise UsageError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    return MODELS[name]


def model_options(cls: type[CapacityModule]) -> list[str]:
    """The options (hyperparameters and settings) a model's constructor accepts."""
    names: list[str] = []
    mro = cls.__mro__
    for klass in mro[: mro.index(CapacityModule) + 1]:  # the models, their mixins, the base
        if "__init__" not in vars(klass):
            continue
        for p in inspect.signature(klass.__init__).parameters.values():
            if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD:
                if p.name not in RESERVED and p.name not in names:
                    names.append(p.name)
    return [n for n in names if n not in getattr(cls, "ignored_options", ())]


def validate_options(model: str, options: dict) -> dict:
    """Check names, types and ranges of a model's options; returns them as plain Python."""
    known = model_options(model_class(model))
    clean = {}
    for name, value in options.items():
        if name not in known:
            raise UsageError(
                f"unknown hyperparameter {name!r} for model {model}; allowed: {', '.join(known)}"
            )
        kind, low, high, low_inclusive = OPTION_RULES[name]
        value = getattr(value, "item", lambda v=value: v)()  # numpy scalars -> Python
        if value is None and kind is int:  # the model's default, e.g. F = H factors
            clean[name] = None
            continue
        if kind is str:
            if name == "teacher_forcing" and isinstance(value, bool):  # the older API
                value = "train" if value else "none"
            if value not in CHOICES[name]:
                allowed = ", ".join(CHOICES[name])
                raise UsageError(
                    f"hyperparameter {name}={value!r} out of range for {model}: one of {allowed}"
                )
            clean[name] = value
            continue
        if kind is bool:
            ok = isinstance(value, bool)
        elif kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        try:  # float(10**400) and math.isfinite(10**400) overflow
            value = float(value) if ok and kind is float else value
            in_range = ok and (kind is bool or (low <= value if low_inclusive else low < value))
            in_range = in_range and (kind is bool or (value <= high and math.isfinite(value)))
        except OverflowError:
            in_range = False
        if not in_range:
            bound = "[" if low_inclusive else "("
            article = "an" if kind is int else "a"
            allowed = f"{article} {kind.__name__} in {bound}{low}, {high}"
            allowed += "]" if high < math.inf else ")"
            allowed = "true or false" if kind is bool else allowed
            raise UsageError(f"hyperparameter {name}={value!r} out of range for {model}: {allowed}")
        clean[name] = value
    return clean


def quiet_lightning() -> None:
    """Silence Lightning's per-Trainer banners and advice: a sweep builds hundreds."""
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    for pattern in (
        ".*does not have many workers.*",
        ".*log_every_n_steps.*",
        ".*configure_optimizers` returned `None`.*",  # the ESN fits in closed form
        ".*isinstance\\(treespec, LeafSpec\\)` is deprecated.*",
    ):
        warnings.filterwarnings("ignore", pattern)


def validate_sizes(
    hidden_size: int, num_sequences: int, iterations: int, threshold: float = DEFAULT_THRESHOLD
) -> None:
    if not 1 <= num_sequences <= MAX_SEQUENCES:
        raise UsageError(f"num_sequences={num_sequences} out of range: 1..{MAX_SEQUENCES}")
    if hidden_size < 1:
        raise UsageError(f"hidden_size={hidden_size} out of range: at least 1")
    if iterations < 1:
        raise UsageError(f"iterations={iterations} out of range: at least 1")
    if not 0 < threshold < math.inf:  # also rejects NaN
        raise UsageError(f"threshold={threshold} out of range: a positive, finite error")


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
    log_dir: str | None = None
    loss_curve: list[float] | None = None  # training loss per iteration (record_losses)
    generated: Any = None  # (T, p, 2) numpy array of what was counted (keep_trajectories)
    targets: Any = None  # (T, p, 2) numpy array, the trajectories drawn

    def to_dict(self) -> dict:
        skip = ("generated", "targets")
        return {k: v for k, v in asdict(self).items() if k not in skip} | {
            "objective": self.objective
        }

    @property
    def objective(self) -> float:
        return objective(self.num_sequences, self.count)


def make_trainer(
    max_steps: int,
    accelerator: str = "auto",
    callbacks: list | None = None,
    progress_bar: bool = False,
) -> pl.Trainer:
    """A Trainer for one full-batch training run: no checkpoints, validation or logger
    (replicas log to their own TensorBoard runs), one device."""
    return pl.Trainer(
        max_steps=max_steps,
        accelerator=accelerator,
        devices=1,
        logger=False,
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress_bar,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )


def measure_capacity(
    model: str,
    hidden_size: int,
    num_sequences: int,
    iterations: int = 3000,
    seed: int = 0,
    learn_initial_state: bool = True,
    threshold: float = DEFAULT_THRESHOLD,
    *,
    accelerator: str = "auto",
    log_dir: str | Path | None = "lightning_logs",
    progress_bar: bool = False,
    data_path: str | Path | None = None,
    compile: bool = False,
    **hparams,
) -> CapacityResult:
    """Train one model on ``num_sequences`` trajectories and count those it learned.

    ``hparams`` are the model's options, named as in protocol.md (``lr``, ``tau``,
    ``tau_slow``, ``tau_fast``, ``gamma``, ``connectivity``, ``sigma``,
    ``alpha_h_prime``) plus settings such as ``factors``. Bad input raises
    :class:`~rnn_capacity.errors.UsageError`. With ``log_dir=None`` nothing is logged.
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
    )
    return result


def measure_ensemble(
    model: str,
    hidden_size: int,
    replicas: list[Replica],
    iterations: int = 3000,
    learn_initial_state: bool = True,
    threshold: float = DEFAULT_THRESHOLD,
    *,
    accelerator: str = "auto",
    log_dir: str | Path | None = "lightning_logs",
    progress_bar: bool = False,
    data_path: str | Path | None = None,
    log_every_n_steps: int = 50,
    log_group: str | None = None,
    compile: bool = False,
    record_losses: bool = False,
    keep_trajectories: bool = False,
) -> list[CapacityResult]:
    """Train ``len(replicas)`` independent measurements as one batched ensemble.

    Each replica gives, for the same seed and hyperparameters, the result a single
    :func:`measure_capacity` call gives (up to float rounding). All replicas must set
    the same option names; their values may differ.

    Every replica is its own TensorBoard run ``<log_dir>/<log_group>/<replica.name>``
    (default group ``<model>_h<H>``, default name the next free ``version_<i>``) with
    its loss curve, hyperparameters and capacity metrics (HPARAMS tab).

    ``record_losses=True`` keeps every replica's loss at every iteration
    (``result.loss_curve``); ``keep_trajectories=True`` keeps the generated trajectories
    that were counted and their targets (``result.generated``, ``result.targets``).

    ``compile=True`` runs the forward pass through ``torch.compile``, with the sequence
    axis padded to a multiple of :data:`COMPILE_BUCKET` so that a new ``p`` reuses a
    compiled graph (bench/throughput.py measures the gain and the compile time).
    """
    cls = model_class(model)
    quiet_lightning()
    names = set(replicas[0].hparams)
    hparams = []  # validated copies: the caller's replicas stay as they were
    for r in replicas:
        validate_sizes(hidden_size, r.num_sequences, iterations, threshold)
        hparams.append(validate_options(model, r.hparams))
        if set(hparams[-1]) != names:
            raise UsageError("all replicas of an ensemble must set the same hyperparameters")
    seeds = [int(r.seed) for r in replicas]
    ps = [int(r.num_sequences) for r in replicas]
    options = {n: [hp[n] for hp in hparams] for n in names}
    for n, values in options.items():  # settings (not per-replica tensors) must agree
        if n not in PER_REPLICA:
            if len(set(values)) > 1:
                raise UsageError(f"all replicas of an ensemble must share the setting {n}")
            options[n] = values[0]

    # Shape bucketing: every p in a bucket gives the same shapes, hence the same graph.
    pad_to = -(-max(ps) // COMPILE_BUCKET) * COMPILE_BUCKET if compile else None
    data = TrajectoryDataModule(ps, seed=seeds, path=data_path, pad_to=pad_to)
    data.setup()
    init = {"seed": seeds, "learn_initial_state": learn_initial_state, "pad_to": pad_to}
    module = cls(hidden_size, ps, **init, **options)
    if compile:
        compile_forward(module)

    loggers = []
    if log_dir is not None:
        ensure_directory(log_dir, "TensorBoard log directory")
        group = log_group or f"{model}_h{hidden_size}"
        versions = [r.name for r in replicas]
        free = next_versions(Path(log_dir) / group, sum(v is None for v in versions))
        versions = [v if v is not None else next(free) for v in versions]
        loggers = [TensorBoardLogger(log_dir, group, v, default_hp_metric=False) for v in versions]
    # Capacity metrics reach the loggers with the hyperparameters below (HPARAMS tab).
    capacity = CapacityCallback(threshold, loggers=[])
    callbacks = [capacity] + ([ReplicaLosses(loggers, log_every_n_steps)] if loggers else [])
    history = LossHistory() if record_losses else None
    if history is not None:
        callbacks.append(history)
    if progress_bar:  # refresh ~200 times per run, not every step (logs stay readable)
        callbacks.append(TQDMProgressBar(refresh_rate=max(1, iterations // 200)))
    trainer = make_trainer(iterations, accelerator, callbacks, progress_bar)
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
            count=capacity.counts[k],
            errors=capacity.errors[k].tolist(),
            final_loss=capacity.final_losses[k],
            seconds=seconds,
            iterations=iterations,
            replicas=len(replicas),
            log_dir=loggers[k].log_dir if loggers else None,
            loss_curve=history.curves[k] if history is not None else None,
        )
        if keep_trajectories:
            result.generated = capacity.predictions[:, k, : ps[k]].numpy()
            result.targets = data.targets[:, k, : ps[k]].numpy()
        if loggers:
            hp = {"model": model, "hidden_size": hidden_size, "num_sequences": ps[k]}
            hp |= {"seed": seeds[k], "iterations": iterations}
            hp |= {"learn_initial_state": learn_initial_state, **hparams[k]}
            loggers[k].log_hyperparams(hp, metrics=capacity.metrics(k))
            loggers[k].finalize("success")
        results.append(result)
    return results


COMPILE_BUCKET = 16


def compile_forward(module: CapacityModule) -> None:
    """Compile the module's time loop (forward and, through AOTAutograd, backward)."""
    import torch

    # One graph per (model, K, P bucket, H): allow more than Dynamo's default 8.
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
    module.forward = torch.compile(module.forward, dynamic=False)


def next_versions(group_dir: Path, n: int):
    """Yield ``n`` fresh ``version_<i>`` names under ``group_dir`` (loggers create them lazily,
    so K loggers made at once would otherwise all pick the same one)."""
    names = [re.fullmatch(r"version_(\d+)", d.name) for d in group_dir.glob("version_*")]
    used = [int(m.group(1)) for m in names if m]
    start = max(used, default=-1) + 1
    return iter(f"version_{i}" for i in range(start, start + n))
