"""``--compile``: the whole training step (forward, loss, gradient, Adam) as one compiled
graph, against the eager step, through a real Lightning Trainer."""

from __future__ import annotations

import pytest
import torch

from rnn_capacity.models import MODELS
from rnn_capacity.models.compiled import compile_training_step, compiles
from rnn_capacity.testing import TIGHT, TRAINED, _close, _targets, _train, _trainer_fit

STEPS = 8
#: Every model trained by gradient steps (the ESN is fitted in closed form).
BPTT = [name for name, cls in MODELS.items() if compiles(cls(4, 2))]


def pair(name: str, **kw):
    """Two copies of the same ensemble (K = 2, p = 3 and 5, T = 5: small graphs)."""
    make = lambda: MODELS[name](8, [3, 5], seed=[0, 1], lr=[0.01, 0.02], num_steps=5, **kw)  # noqa: E731
    return make(), make()


def check_equivalent(name: str, **kw) -> None:
    eager, compiled = pair(name, **kw)
    compile_training_step(compiled)
    targets = _targets(eager)
    _train(eager, targets, STEPS)  # the module's own fused Adam on its eager step
    trainer = _trainer_fit(compiled, targets, STEPS)  # the compiled step in a Trainer
    assert trainer.global_step == STEPS
    for (n, a), (_, b) in zip(compiled.named_parameters(), eager.named_parameters(), strict=True):
        _close(a, b, f"{name}: {n} after {STEPS} compiled Adam steps", TRAINED)
    # The Adam state is kept where torch keeps it: a checkpoint holds it.
    opt = compiled.trainer.optimizers[0]
    steps = {float(s["step"]) for s in opt.state.values()}
    assert steps == {float(STEPS)}
    with torch.no_grad():
        _close(compiled.generate(), eager.generate(), f"{name}: generated", TRAINED)


def test_closed_form_model_is_left_alone():
    esn = MODELS["esn"](8, 3)
    compile_training_step(esn)
    assert "training_step" not in vars(esn) and not compiles(esn)


def test_compiled_step_matches_eager_hc_a():
    """One model in the default suite (a few seconds of compiling); all of them: slow."""
    check_equivalent("pc_rnn_hc_a", learn_initial_state=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", BPTT)
def test_compiled_step_matches_eager(name):
    check_equivalent(name, learn_initial_state=True)


@pytest.mark.slow
def test_compiled_step_fixed_states_teacher_forcing():
    check_equivalent("gru", learn_initial_state=False, teacher_forcing="train")


def test_first_step_is_one_eager_step():
    """After one step (before Adam amplifies rounding) the two agree tightly."""
    eager, compiled = pair("srnn")
    compile_training_step(compiled)
    targets = _targets(eager)
    _train(eager, targets, 1)
    _trainer_fit(compiled, targets, 1)
    for (n, a), (_, b) in zip(compiled.named_parameters(), eager.named_parameters(), strict=True):
        _close(a, b, f"srnn: {n} after one step", TIGHT)
