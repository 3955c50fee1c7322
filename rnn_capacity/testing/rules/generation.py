"""The rules on the model as built (``check_generate_shapes``,
``check_generate_determinism``, ``check_initial_state``): ``generate()``'s shapes and
determinism, and the initial state, learned or not."""

from __future__ import annotations

import torch

from ..machinery import (
    _close,
    _closed_form,
    _equal_models,
    _expect,
    _gradients,
    _state_names,
    _targets,
    _train,
)
from ..registry import _rule
from ..spec import ADAM_STEPS, EXACT, NUM_SEQUENCES, SEEDS, _Spec


@_rule()
def check_generate_shapes(spec: _Spec):
    """(T, p, 2) for a single model, (T, K, P, 2) for an ensemble; mode preserved."""
    single = spec.single(1)
    T, p = single.num_steps, NUM_SEQUENCES[1]
    for training in (True, False):
        single.train(training)
        out = single.generate()
        _expect(single.training is training, f"generate() left training={single.training}")
        _expect(tuple(out.shape) == (T, p, 2), f"single generate() shape {tuple(out.shape)}")
        _expect(not out.requires_grad, "generate() output requires grad")
        _expect(bool(torch.isfinite(out).all()), "generate() is not finite")
    single.train()
    with torch.no_grad():
        shape = tuple(single(_targets(single)).shape)
    _expect(shape == (T, 1, p, 2), f"single forward shape {shape}, expected {(T, 1, p, 2)}")
    ensemble = spec.ensemble()
    K, P = len(SEEDS), max(NUM_SEQUENCES)
    out = ensemble.generate()
    _expect(tuple(out.shape) == (T, K, P, 2), f"ensemble generate() shape {tuple(out.shape)}")
    _expect(bool(torch.isfinite(out).all()), "ensemble generate() is not finite")
    mask = [[i < q for i in range(P)] for q in NUM_SEQUENCES]
    _expect(ensemble.mask.tolist() == mask, f"mask {ensemble.mask.tolist()}, expected {mask}")
    _expect(
        ensemble.num_replicas == K and ensemble.num_sequences == list(NUM_SEQUENCES),
        f"num_replicas {ensemble.num_replicas}, num_sequences {ensemble.num_sequences}",
    )


@_rule()
def check_generate_determinism(spec: _Spec):
    """The same seed, the same model (whatever the global RNG); another seed, another."""
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(0)
        a = spec.single(1)
        torch.manual_seed(1)
        b = spec.single(1)
    finally:
        torch.random.set_rng_state(state)
    _equal_models(a, b, "two models with the same seed")
    first = a.generate()
    _close(first, b.generate(), "generate() of two models with the same seed", EXACT)
    _close(a.generate(), first, "generate() called twice", EXACT)
    other = spec.single(1, seed=SEEDS[1] + 100)
    _expect(not torch.equal(other.generate(), first), "another seed generates the same")
    a, b = spec.ensemble(), spec.ensemble()
    _close(a.generate(), b.generate(), "generate() of two ensembles with the same seeds", EXACT)


@_rule()
def check_initial_state(spec: _Spec):
    """learn_initial_state both ways: the initial state is a trained parameter or not."""
    note = None
    for learn in (True, False):
        model = spec.single(1, learn_initial_state=learn)
        states = _state_names(model)
        frozen = set(getattr(model, "frozen", ()))
        closed = _closed_form(model)
        rep = model.replicas[0]
        for name, t in rep.items():
            if closed:
                expected = False
            elif name in states:
                expected = learn and name not in frozen
            else:
                expected = name not in frozen
            _expect(
                t.requires_grad == expected,
                f"learn_initial_state={learn}: {name}.requires_grad is {t.requires_grad}",
            )
        for name, buf in model.named_buffers():
            _expect(not buf.requires_grad, f"buffer {name} requires grad")
        before = {n: t.detach().clone() for n, t in rep.items()}
        targets = _targets(model)
        if closed:
            note = "closed-form fit: no tensor takes a gradient; the fit leaves the states"
            _train(model, targets, ADAM_STEPS)
            for name in states:
                _close(rep[name], before[name], f"initial state {name} after the fit", EXACT)
            continue
        grads = _gradients(model, targets)
        for name, t in rep.items():
            g = grads[(0, name)]
            if t.requires_grad:
                _expect(g is not None and g.abs().sum() > 0, f"trainable {name} gets no gradient")
            else:
                _expect(g is None, f"untrained {name} gets a gradient")
        model.zero_grad(set_to_none=True)
        _train(model, targets, 2)
        for name, t in rep.items():
            if t.requires_grad:
                _expect(not torch.equal(t, before[name]), f"trainable {name} did not change")
            else:
                _close(t, before[name], f"untrained {name} after 2 Adam steps", EXACT)
    return note
