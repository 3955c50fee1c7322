"""What the rules share: the data, training (the module's own optimiser, or a real
Trainer), gradients and outputs, padded parts, and comparisons that raise an
``AssertionError`` saying what differs."""

from __future__ import annotations

import functools
import warnings
from contextlib import contextmanager

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from ..cli import quiet_lightning
from ..data import TrajectoryDataModule
from ..measure import make_trainer
from ..models.compiled import compiles
from .spec import EXACT


@functools.lru_cache(maxsize=64)
def _trajectories(ps: tuple, seeds: tuple, steps: int, width: int) -> Tensor:
    """The data module's targets for these replicas, ``steps`` long (the data's 60 points
    mirrored where more are asked), padded to ``width``: (T, K, width, 2)."""
    data = TrajectoryDataModule(list(ps), seed=list(seeds), pad_to=width)
    data.setup()
    x = data.targets
    while x.shape[0] < steps:
        x = torch.cat([x, x.flip(0)])
    return x[:steps].contiguous()


def _targets(model) -> Tensor:
    width = model.mask.shape[1]
    ps, seeds = tuple(model.num_sequences), tuple(model.seeds)
    return _trajectories(ps, seeds, model.num_steps, width).clone()


def _batch(model, targets: Tensor) -> dict[str, Tensor]:
    return {"targets": targets, "mask": model.mask}


def _closed_form(model) -> bool:
    """Trained otherwise than by the Trainer's gradient steps (the ESN's ridge fit)."""
    return not compiles(model)


CLOSED_FORM_NOTE = (
    "closed-form fit: compared after each model's own fit, not by gradients and Adam steps"
)


class _RepeatBatch(torch.utils.data.IterableDataset):
    def __init__(self, batch):
        self.batch = batch

    def __iter__(self):
        while True:
            yield dict(self.batch)


def _trainer_fit(model, targets: Tensor, steps: int):
    """A real Lightning Trainer, ``steps`` full-batch steps on ``targets``."""
    trainer = make_trainer(steps, accelerator="cpu")
    model.train()  # as a Trainer expects it (generate() and the checks may leave it in eval)
    loader = DataLoader(_RepeatBatch(_batch(model, targets)), batch_size=None)
    trainer.fit(model, train_dataloaders=loader)
    return trainer


def _optimizer(model):
    """The optimiser of the module's own ``configure_optimizers`` (any Lightning form)."""
    out = model.configure_optimizers()
    while not isinstance(out, torch.optim.Optimizer):
        if isinstance(out, dict):
            out = out["optimizer"]
        elif isinstance(out, list | tuple) and out:
            out = out[0]
        else:
            raise AssertionError(f"configure_optimizers returned no optimiser: {out!r}")
    return out


def _train(model, targets: Tensor, steps: int) -> None:
    """``steps`` Adam steps of the module's own optimiser on its ``training_step`` loss,
    or, for a closed-form model, its own fit in a real Trainer."""
    if _closed_form(model):
        _trainer_fit(model, targets, steps)
        return
    optimizer = _optimizer(model)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        model.training_step(_batch(model, targets), 0).backward()
        optimizer.step()


def _gradients(model, targets: Tensor) -> dict[tuple[int, str], Tensor | None]:
    """Gradients of the ``training_step`` loss: (replica, tensor name) → grad."""
    model.zero_grad(set_to_none=True)
    model.train()
    model.training_step(_batch(model, targets), 0).backward()
    return {(k, n): t.grad for k, rep in enumerate(model.replicas) for n, t in rep.items()}


def _outputs(model, targets: Tensor) -> tuple[Tensor, Tensor]:
    """Training-mode predictions (T, K, P, 2) on ``targets`` and the per-replica losses."""
    model.train()
    with torch.no_grad():
        pred = model(targets)
        return pred, model.replica_losses(pred, targets)


def _real(t: Tensor, shape) -> Tensor:
    """The leading, unpadded part of ``t`` of the given shape."""
    return t[tuple(slice(0, n) for n in shape)]


def _state_names(model) -> set[str]:
    return set(model.init_state(torch.Generator().manual_seed(0), 1))


def _padded_parts(model) -> list[tuple[int, str, tuple]]:
    """(replica, tensor name, index of its padded part) for every padded replica."""
    width = model.mask.shape[1]
    axes = dict.fromkeys(_state_names(model), 0) | dict(model.per_sequence)
    out = []
    for k, p in enumerate(model.num_sequences):
        if p < width:
            for name, axis in axes.items():
                index = (slice(None),) * axis + (slice(p, None),)
                out.append((k, name, index))
    return out


def _expect(condition, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _close(actual, expected, what: str, tol: dict) -> None:
    try:
        torch.testing.assert_close(actual, expected, **tol)
    except AssertionError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        raise AssertionError(f"{what}: {'; '.join(lines)}") from None


def _equal_models(a, b, what: str) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    _expect(list(sa) == list(sb), f"{what}: state dict keys {list(sa)} vs {list(sb)}")
    for name in sa:
        _close(sa[name], sb[name], f"{what}: {name}", EXACT)


@contextmanager
def _quiet():
    """Lightning's banners and the 'self.log without a Trainer' warning, silenced."""
    with quiet_lightning(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*self.log\\(\\)` but the `self.trainer`.*")
        warnings.filterwarnings("ignore", ".*configure_optimizers` returned `None`.*")
        yield
