"""Training one batch of configurations, and making its records: the one place a
journal record (:class:`~rnn_capacity.records.Configuration`) is made.

A batch is the configurations ``start``, ``start + 1``, ... that the search asked at once;
each is measured ``tries`` times, and all of it trains as one ensemble (or one try after
the other with ``batch_tries`` off). It runs in the driver or in a worker
(:mod:`rnn_capacity.sweep.executors`), whose records are the same.
"""

from __future__ import annotations

import math

import numpy as np

from ..capacity import objective
from ..cli import quiet_lightning
from ..config import SearchConfig
from ..measure import Replica, measure_ensemble
from ..models import native
from ..protocol import PRUNE
from ..records import Configuration
from .settings import SweepSettings

__all__ = ["derive_seed", "failed_records", "run_name", "train_batch"]


def derive_seed(seed: int, index: int, try_: int) -> int:
    """The seed of try ``try_`` of configuration ``index``: a sweep is reproducible."""
    return int(np.random.SeedSequence([seed, index, try_]).generate_state(1)[0])


def run_name(index: int, try_: int) -> str:
    return f"call{index:04d}_try{try_}"


def train_batch(
    points: list[list], start: int, settings: SweepSettings, config: SearchConfig
) -> tuple[list[Configuration], dict]:
    """Measure ``points`` (configurations ``start``, ``start + 1``, ...) as one ensemble,
    or one try after the other when ``settings.batch_tries`` is off.

    Returns the records and, by configuration index, the trained model of its best try
    (a single model, ``module.replica(k)``), for ``best.ckpt``. Ctrl-C and SIGTERM are
    the driver's to handle (its loop wraps this call)."""
    replicas = []
    for i, x in enumerate(points):
        values = dict(zip(config.names, x, strict=True))
        p = int(values.pop("p"))
        for t in range(settings.tries):
            seed = derive_seed(settings.seed, start + i, t)
            options = values | config.fixed | (settings.settings or {})
            replicas.append(Replica(p, seed, options, name=run_name(start + i, t)))
    groups = [replicas] if settings.batch_tries else [[r] for r in replicas]
    results = []
    # In this process (the driver's or a worker's), for this batch only.
    with quiet_lightning(), native.enabled_as(settings.native):
        for group in groups:
            results += measure_ensemble(
                settings.model,
                settings.hidden_size,
                group,
                iterations=settings.iterations,
                learn_initial_state=settings.learn_initial_state,
                threshold=settings.threshold,
                accelerator=settings.accelerator,
                log_dir=settings.log_dir,
                log_group=settings.group,
                progress_bar=False,
                data_path=settings.data,
                compile=settings.compile,
                keep_module=True,
                prune=PRUNE if settings.prune else None,
            )
    records, models = [], {}
    for i, x in enumerate(points):
        tries = results[i * settings.tries : (i + 1) * settings.tries]
        counts = [r.count for r in tries]
        best = max(tries, key=lambda r: r.count)
        models[start + i] = best.module.replica(best.replica_index)
        mean = sum(counts) / len(counts)
        p = tries[0].num_sequences
        diverged = [r.diverged_at for r in tries]
        pruned = [r.pruned_at for r in tries]
        records.append(
            Configuration(
                index=start + i,
                x=x,
                p=p,
                hparams=tries[0].hparams,
                seeds=[r.seed for r in tries],
                counts=counts,
                mean_count=mean,
                objective=objective(p, mean),
                final_losses=[r.final_loss if math.isfinite(r.final_loss) else None for r in tries],
                seconds=round(sum(r.seconds for r in tries) / tries[0].replicas, 3),
                ensemble=tries[0].replicas,  # replicas trained together
                parameters=tries[0].parameters,  # the same for every try (same p)
                options=tries[0].options,
                diverged_at=diverged if any(d is not None for d in diverged) else None,
                pruned_at=pruned if any(q is not None for q in pruned) else None,
            )
        )
    return records, models


def failed_records(
    points: list[list], start: int, settings: SweepSettings, config: SearchConfig, error: str
) -> list[Configuration]:
    """What a batch that could not be trained is recorded as: count 0 for every try."""
    records = []
    for i, x in enumerate(points):
        values = dict(zip(config.names, x, strict=True))
        p = int(values.pop("p"))
        records.append(
            Configuration(
                index=start + i,
                x=x,
                p=p,
                hparams=values | config.fixed | (settings.settings or {}),
                seeds=[],
                counts=[0] * settings.tries,
                mean_count=0.0,
                objective=float(p),
                final_losses=[None] * settings.tries,
                seconds=0.0,
                ensemble=0,
                failed=error,
            )
        )
    return records
