"""The rules for some models only: ``check_closed_form_fit`` (closed-form models, such
as the ESN's ridge regression) and ``check_teacher_forcing`` (the models with a
``teacher_forcing`` setting)."""

from __future__ import annotations

import torch

from ..machinery import _close, _closed_form, _expect, _outputs, _quiet, _targets, _trainer_fit
from ..registry import _rule
from ..spec import EXACT, TIGHT, _Spec

_CLOSED_FORM: dict[tuple, bool] = {}


def _is_closed_form(spec: _Spec) -> bool:
    """Whether the class is a closed-form model (False if it cannot even be built)."""
    key = (spec.cls, spec.hidden_size, spec.num_steps, repr(sorted(spec.base.items())))
    if key not in _CLOSED_FORM:
        try:
            with _quiet():
                _CLOSED_FORM[key] = _closed_form(spec.single(0))
        except Exception:
            _CLOSED_FORM[key] = False
    return _CLOSED_FORM[key]


def _only_closed_form(spec: _Spec) -> str | None:
    if not _is_closed_form(spec):
        return f"{spec.name} trains by gradient (the rule is for closed-form fits)"
    return None


def _only_teacher_forcing(spec: _Spec) -> str | None:
    option = spec.options.get("teacher_forcing")
    if option is None or not {"none", "train", "always"} <= set(option.choices):
        return f"{spec.name} has no teacher_forcing setting"
    return None


@_rule(_only_closed_form)
def check_closed_form_fit(spec: _Spec):
    """The fit is a minimum of the training loss, and refitting changes nothing."""
    model = spec.ensemble()
    targets = _targets(model)
    before = {
        (k, n): t.detach().clone() for k, r in enumerate(model.replicas) for n, t in r.items()
    }

    def loss_gradient(names) -> float:
        tensors = [model.replicas[k][n] for k, n in names]
        for t in tensors:
            t.requires_grad_(True)
        try:
            model.eval()
            loss = model.replica_losses(model(), targets).sum()
            grads = torch.autograd.grad(loss, tensors)
        finally:
            for t in tensors:
                t.requires_grad_(False)
        return max(g.abs().max().item() for g in grads)

    _, loss_before = _outputs(model, targets)
    _trainer_fit(model, targets, 1)
    _, loss_after = _outputs(model, targets)
    _expect(bool((loss_after < loss_before).all()), f"the fit did not lower the loss: {loss_after}")
    changed = [key for key, t in before.items() if not torch.equal(_tensor(model, key), t)]
    _expect(changed, "the fit changed no tensor")
    fitted = {key: _tensor(model, key).detach().clone() for key in changed}
    at_fit = loss_gradient(changed)
    with torch.no_grad():
        for key in changed:
            _tensor(model, key).copy_(before[key])
    at_start = loss_gradient(changed)
    _expect(
        at_fit <= 1e-2 * at_start + 1e-6,
        f"the loss is not stationary at the fit: |grad| {at_fit:.3g}, {at_start:.3g} before it",
    )
    with torch.no_grad():
        for key in changed:
            _tensor(model, key).copy_(fitted[key])
    _trainer_fit(model, targets, 1)
    for key in changed:
        _close(_tensor(model, key), fitted[key], f"a second fit moved {key[1]}", TIGHT)


def _tensor(model, key):
    k, name = key
    return model.replicas[k][name]


@_rule(_only_teacher_forcing)
def check_teacher_forcing(spec: _Spec):
    """none / train / always feed the target where the package says they do."""
    models = {mode: spec.single(1, teacher_forcing=mode) for mode in ("none", "train", "always")}
    free, train, always = models.values()
    targets = _targets(free)
    with torch.no_grad():
        for m in models.values():
            m.train()
        _close(free(targets), free(), "none: training with targets is not closed loop", EXACT)
        _close(train(targets), always(targets), "train and always differ in training", EXACT)
        forced, closed = train(targets), free(targets)
        _close(forced[0], closed[0], "train: the first input is not zero", EXACT)
        _expect(not torch.allclose(forced[1], closed[1]), "train: training is not teacher-forced")
        for m in models.values():
            m.eval()
        _close(train(targets), free(targets), "train: eval mode is not closed loop", EXACT)
        _expect(
            not torch.allclose(always(targets)[1], free(targets)[1]),
            "always: eval mode with targets is not teacher-forced",
        )
    for mode, m in models.items():
        _close(m.generate(), free.generate(), f"{mode}: generate() is not free generation", EXACT)
