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


def test_compile_by_default_where_the_class_measured_it_pays(monkeypatch):
    from rnn_capacity.models import compiled

    monkeypatch.setattr(compiled, "cpp_compiler", lambda: "/usr/bin/c++")
    gru, hca = MODELS["gru"], MODELS["pc_rnn_hc_a"]
    limit = gru.compile_max_sequences
    assert limit is not None and hca.compile_max_sequences is None
    assert compiled.compile_by_default(gru, limit, 3000, "cpu")
    assert not compiled.compile_by_default(gru, limit + 1, 3000, "cpu")  # too large
    assert not compiled.compile_by_default(gru, 96, 800, "cpu")  # too short to earn it back
    assert not compiled.compile_by_default(gru, 96, 3000, "gpu")  # measured on CPUs only
    assert not compiled.compile_by_default(hca, 96, 3000, "cpu")  # measured not to pay
    monkeypatch.setattr(compiled, "cpp_compiler", lambda: None)
    assert not compiled.compile_by_default(gru, 96, 3000, "cpu")  # Inductor needs one


def test_a_short_run_left_to_decide_is_not_compiled():
    from rnn_capacity.measure import Replica, measure_ensemble

    (r,) = measure_ensemble(
        "gru", 4, [Replica(3, 0, {"lr": 0.01})], iterations=2, log_dir=None,
        compile=None, keep_module=True,
    )  # fmt: skip
    assert r.module.automatic_optimization and "training_step" not in vars(r.module)


@pytest.mark.parametrize(
    ("flags", "expected"), [([], None), (["--compile"], True), (["--no-compile"], False)]
)
def test_sweep_compile_flag_defaults_to_where_it_pays(flags, expected):
    from rnn_capacity.sweep.cli import build_parser

    args = build_parser().parse_args(["--model", "gru", "--hidden-size", "4", *flags])
    assert args.compile is expected
