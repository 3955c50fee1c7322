"""The rule on training (``check_training_lowers_loss``): a real Trainer lowers every
replica's loss."""

from __future__ import annotations

import torch

from ..machinery import _closed_form, _expect, _outputs, _targets, _trainer_fit
from ..registry import _rule
from ..spec import TRAINING_STEPS, _Spec


@_rule()
def check_training_lowers_loss(spec: _Spec):
    """A few dozen steps of a real Trainer lower every replica's loss."""
    model = spec.shortened().ensemble(learn_initial_state=True)
    targets = _targets(model)
    _, before = _outputs(model, targets)
    trainer = _trainer_fit(model, targets, TRAINING_STEPS)
    _, after = _outputs(model, targets)
    _expect(
        bool((after < before).all()),
        f"the loss did not fall in {TRAINING_STEPS} steps: {before.tolist()} -> {after.tolist()}",
    )
    logged = trainer.callback_metrics.get("train/loss")
    _expect(
        logged is not None, f"no train/loss in callback_metrics {sorted(trainer.callback_metrics)}"
    )
    _expect(bool(torch.isfinite(logged)), f"train/loss is {logged}")
    return "its closed-form fit in a real Trainer" if _closed_form(model) else None
