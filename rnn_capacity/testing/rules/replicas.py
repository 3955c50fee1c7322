"""The rules on replicas and padding (``check_replica_equivalence``,
``check_shared_settings``, ``check_hand_written_bptt``, ``check_padding``): replica ``k``
of an ensemble is the single model with its seed (for every shared setting too, and
through the hand-written BPTT as through autograd), and padded sequences neither learn nor
leak."""

from __future__ import annotations

import torch

from ...models.base import bptt_applies
from ..machinery import (
    CLOSED_FORM_NOTE,
    _close,
    _closed_form,
    _equal_models,
    _expect,
    _gradients,
    _outputs,
    _padded_parts,
    _real,
    _state_names,
    _targets,
    _train,
)
from ..registry import _rule
from ..spec import (
    ADAM_STEPS,
    EXACT,
    GRADIENT,
    NUM_SEQUENCES,
    SEEDS,
    TIGHT,
    TRAINED,
    _setting_values,
    _Spec,
)


def _compare_replicas(spec: _Spec, steps: int, settings: dict, what: str = "") -> bool:
    """Replica k of an ensemble against the single model with its seed; True if closed-form."""
    ensemble = spec.ensemble(learn_initial_state=True, **settings)
    singles = [spec.single(k, learn_initial_state=True, **settings) for k in range(len(SEEDS))]
    targets = _targets(ensemble)
    alone = [targets[:, k : k + 1, :p].contiguous() for k, p in enumerate(NUM_SEQUENCES)]
    closed = _closed_form(ensemble)
    for k, single in enumerate(singles):
        for name, t in single.replicas[0].items():
            start = _real(ensemble.replicas[k][name], t.shape)
            _close(start, t, f"{what}replica {k}'s initial {name} vs its single model", EXACT)
        _expect(
            ensemble.lrs[k] == single.lrs[0],
            f"{what}replica {k}'s lr {ensemble.lrs[k]} vs {single.lrs[0]}",
        )
        for name in getattr(single, "replica_hparams", ()):
            _close(getattr(ensemble, name)[k], getattr(single, name)[0], f"{what}{name}", EXACT)
    pred, losses = _outputs(ensemble, targets)
    for k, (single, p) in enumerate(zip(singles, NUM_SEQUENCES, strict=True)):
        pred_k, loss_k = _outputs(single, alone[k])
        _close(pred[:, k, :p], pred_k[:, 0], f"{what}replica {k}'s outputs", TIGHT)
        _close(losses[k], loss_k[0], f"{what}replica {k}'s loss", TIGHT)
    if not closed:
        grads = _gradients(ensemble, targets)
        for k, single in enumerate(singles):
            single_grads = _gradients(single, alone[k])
            for name, t in single.replicas[0].items():
                g, g_k = grads[(k, name)], single_grads[(0, name)]
                _expect((g is None) == (g_k is None), f"{what}replica {k}: {name} grad presence")
                if g is not None:
                    _close(_real(g, t.shape), g_k, f"{what}replica {k}'s {name} grad", GRADIENT)
        ensemble.zero_grad(set_to_none=True)
        for single in singles:
            single.zero_grad(set_to_none=True)
    if steps:
        _train(ensemble, targets, steps)
        for single, target in zip(singles, alone, strict=True):
            _train(single, target, steps)
        pred, _ = _outputs(ensemble, targets)
        after = "its fit" if closed else f"{steps} Adam steps"
        for k, (single, p) in enumerate(zip(singles, NUM_SEQUENCES, strict=True)):
            pred_k, _ = _outputs(single, alone[k])
            _close(pred[:, k, :p], pred_k[:, 0], f"{what}replica {k} after {after}", TRAINED)
            for name, t in single.replicas[0].items():
                trained = _real(ensemble.replicas[k][name], t.shape)
                _close(trained, t, f"{what}replica {k}'s {name} after {after}", TRAINED)
    return closed


@_rule()
def check_replica_equivalence(spec: _Spec):
    """Replica k = the single model with its seed: outputs, loss, gradients, Adam steps."""
    closed = _compare_replicas(spec, ADAM_STEPS, {})
    return CLOSED_FORM_NOTE if closed else None


def _only_with_settings(spec: _Spec) -> str | None:
    return None if spec.settings else f"{spec.name} has no shared settings"


@_rule(_only_with_settings)
def check_shared_settings(spec: _Spec):
    """Every value of every shared setting: recorded, and replicas still equivalent."""
    closed = False
    for name in spec.settings:
        option = spec.options[name]
        for value in _setting_values(option, spec.default(name)):
            model = spec.single(0, **{name: value})
            recorded = model.hparams[name]
            _expect(recorded == value, f"{name}={value!r} is recorded as {recorded!r}")
            closed = _compare_replicas(spec, 1, {name: value}, f"{name}={value!r}: ")
    return CLOSED_FORM_NOTE if closed else None


def _only_hand_written_bptt(spec: _Spec) -> str | None:
    if not getattr(spec.cls, "hand_written_bptt", False):
        return "hand_written_bptt is off: the time loop is differentiated by autograd"
    if not bptt_applies(spec.cls):
        return "the class changes a method its bptt_loop relies on: autograd runs"
    limit = getattr(spec.cls, "bptt_max_sequences", None)
    if limit is not None and limit < len(NUM_SEQUENCES) * max(NUM_SEQUENCES):
        return f"bptt_max_sequences={limit} is below the check's ensemble"
    return None


def _fast_against_eager(spec: _Spec, steps: int, settings: dict, what: str = "") -> bool:
    """The ensemble through its hand-written BPTT against the same ensemble through
    autograd; True if closed-form (outputs only)."""
    fast = spec.ensemble(learn_initial_state=True, **settings)
    eager = spec.ensemble(learn_initial_state=True, **settings)
    eager.hand_written_bptt = False
    _equal_models(fast, eager, f"{what}the two copies")
    targets = _targets(fast)
    for mode in ("train", "eval"):
        for m in (fast, eager):
            m.train(mode == "train")
        with torch.no_grad():
            pred, pred_eager = fast(targets), eager(targets)
        _close(pred, pred_eager, f"{what}{mode}-mode outputs vs autograd's loop", TIGHT)
    _close(fast.generate(), eager.generate(), f"{what}generate() vs autograd's loop", TIGHT)
    pred, losses = _outputs(fast, targets)
    _close(losses, _outputs(eager, targets)[1], f"{what}losses vs autograd's loop", TIGHT)
    if _closed_form(fast):
        return True
    grads, grads_eager = _gradients(fast, targets), _gradients(eager, targets)
    for key, g in grads.items():
        g_eager = grads_eager[key]
        _expect((g is None) == (g_eager is None), f"{what}{key[1]} grad presence")
        if g is not None:
            k, name = key
            _close(g, g_eager, f"{what}replica {k}'s {name} grad vs autograd's", GRADIENT)
    for m in (fast, eager):
        m.zero_grad(set_to_none=True)
    if steps:
        _train(fast, targets, steps)
        _train(eager, targets, steps)
        pred, _ = _outputs(fast, targets)
        _close(pred, _outputs(eager, targets)[0], f"{what}outputs after {steps} Adam steps",
               TRAINED)  # fmt: skip
        for k, (rep, rep_eager) in enumerate(zip(fast.replicas, eager.replicas, strict=True)):
            for name, t in rep.items():
                _close(t, rep_eager[name], f"{what}replica {k}'s {name} after {steps} Adam "
                       "steps", TRAINED)  # fmt: skip
    return False


@_rule(_only_hand_written_bptt)
def check_hand_written_bptt(spec: _Spec):
    """The hand-written BPTT against autograd: outputs, losses, gradients, Adam steps."""
    closed = _fast_against_eager(spec, ADAM_STEPS, {})
    for name in spec.settings:
        for value in _setting_values(spec.options[name], spec.default(name)):
            _fast_against_eager(spec, 1, {name: value}, f"{name}={value!r}: ")
    return "closed-form fit: compared the outputs and losses only" if closed else None


@_rule()
def check_padding(spec: _Spec):
    """Padded sequences: zero, out of the loss, no gradient, no influence on real ones."""
    model = spec.ensemble(learn_initial_state=True)
    closed = _closed_form(model)
    parts = _padded_parts(model)
    _expect(parts, "the ensemble has no padded tensors (expected padded initial states)")
    for k, name, index in parts:
        padded = model.replicas[k][name][index]
        _expect(not padded.count_nonzero(), f"padded {name} of replica {k} starts non-zero")
    targets = _targets(model)
    pred, losses = _outputs(model, targets)
    garbage, noisy_targets = pred.clone(), targets.clone()
    for k, p in enumerate(NUM_SEQUENCES):
        garbage[:, k, p:] = 1e3
        noisy_targets[:, k, p:] = -1e3
        with torch.no_grad():
            leaked = model.replica_losses(garbage, targets)
            leaked_targets = model.replica_losses(pred, noisy_targets)
        _close(leaked[k], losses[k], f"padded predictions of replica {k} leak into its loss", TIGHT)
        _close(
            leaked_targets[k], losses[k], f"padded targets of replica {k} leak into its loss", TIGHT
        )
        own = (pred[:, k, :p] - targets[:, k, :p]).square().mean()
        _close(losses[k], own, f"replica {k}'s loss is not the MSE of its {p} sequences", TIGHT)
    if not closed:
        grads = _gradients(model, targets)
        for k, name, index in parts:
            g = grads[(k, name)]
            if g is not None:
                leak = g[index].abs().max().item() if g[index].numel() else 0.0
                _expect(leak == 0, f"padded {name} of replica {k} receives gradient ({leak:.3g})")
        model.zero_grad(set_to_none=True)
    # Noise in the padding changes nothing real.
    noisy = spec.ensemble(learn_initial_state=True)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for k, name, index in parts:
            t = noisy.replicas[k][name]
            t[index] = torch.randn(t[index].shape, generator=g)
    noisy_pred, noisy_losses = _outputs(noisy, targets)
    for k, p in enumerate(NUM_SEQUENCES):
        _close(
            noisy_pred[:, k, :p],
            pred[:, k, :p],
            f"noise in the padding changes replica {k}'s real outputs",
            TIGHT,
        )
    _close(noisy_losses, losses, "noise in the padding changes the losses", TIGHT)
    if closed:
        _train(model, targets, 1)
        _train(noisy, targets, 1)
        for k, rep in enumerate(model.replicas):
            for name, t in rep.items():
                if name in _state_names(model) or name in model.per_sequence:
                    continue
                _close(
                    noisy.replicas[k][name], t, f"noise in the padding changes {name}'s fit", TIGHT
                )
        return "closed-form fit: compared the fits with and without noise in the padding"
    noisy_grads = _gradients(noisy, targets)
    for k, single_p in enumerate(NUM_SEQUENCES):
        for name, t in model.replicas[k].items():
            g, g_noisy = grads[(k, name)], noisy_grads[(k, name)]
            if g is None:
                continue
            shape = list(t.shape)
            if name in _state_names(model):
                shape[0] = single_p
            elif name in model.per_sequence:
                shape[model.per_sequence[name]] = single_p
            _close(
                _real(g_noisy, shape),
                _real(g, shape),
                f"noise in the padding changes replica {k}'s {name} gradient",
                GRADIENT,
            )
    _train(model, targets, 3)
    for k, name, index in parts:
        padded = model.replicas[k][name][index]
        _expect(not padded.count_nonzero(), f"padded {name} of replica {k} moved in training")
