"""The leaky time loops in C++ (models/native.py): where they build, they agree with the
Python loop to float rounding, for every model they cover; where they cannot, the Python
loop runs after one line that says why."""

from __future__ import annotations

import pytest
import torch

from rnn_capacity.models import MODELS, native

COVERED = ["srnn", "trnn", "mtrnn", "pc_rnn_v", "pc_rnn_hc_a", "pc_rnn_gc_hc_a"]
needs_build = pytest.mark.skipif(
    native.why_not() is not None, reason=f"the C++ loop cannot be built: {native.why_not()}"
)


def outputs_and_gradients(name: str, on: bool):
    with native.enabled_as(on):
        model = MODELS[name](hidden_size=12, num_sequences=[3, 5], seed=[0, 1],
                             learn_initial_state=True)  # fmt: skip
        targets = torch.randn(60, 2, 5, 2, generator=torch.Generator().manual_seed(0))
        pred = model(targets)
        model.replica_losses(pred, targets).sum().backward()
        grads = {n: q.grad for n, q in model.named_parameters() if q.grad is not None}
        return pred.detach(), grads


@needs_build
@pytest.mark.parametrize("name", COVERED)
def test_the_cpp_loop_agrees_with_the_python_loop(name):
    """Outputs and every gradient (initial states and padding included) to float rounding,
    and not bit for bit (so the C++ loop really ran)."""
    assert native.loops() is not None
    (y1, g1), (y0, g0) = outputs_and_gradients(name, True), outputs_and_gradients(name, False)
    assert set(g1) == set(g0)
    torch.testing.assert_close(y1, y0, rtol=1e-5, atol=1e-6)
    for n in g0:
        torch.testing.assert_close(g1[n], g0[n], rtol=1e-4, atol=1e-6, msg=n)
    assert not all(torch.equal(g1[n], g0[n]) for n in g0)


@needs_build
def test_a_model_with_the_cpp_loop_keeps_the_contract():
    """check_hand_written_bptt holds the C++ loop to autograd's, as the Python one."""
    from rnn_capacity.testing import check_model

    with native.enabled_as(True):
        for name in ("pc_rnn_hc_a", "pc_rnn_gc_hc_a", "mtrnn"):
            report = check_model(MODELS[name], checks=["check_hand_written_bptt"])
            assert report.passed == ["check_hand_written_bptt"], report.skipped


def test_without_a_compiler_the_python_loop_runs_after_one_line(monkeypatch, capsys):
    monkeypatch.setenv("CXX", "no-such-compiler-here")
    native.loops.cache_clear()
    try:
        assert native.loops() is None
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "no C++ compiler (no-such-compiler-here)" in err
        pred, _ = outputs_and_gradients("pc_rnn_hc_a", True)  # switched on: the Python loop
        assert torch.isfinite(pred).all()
    finally:
        native.loops.cache_clear()


def test_the_paper_preset_switches_it_on_and_quick_does_not():
    from rnn_capacity.sweep.settings import resolve_settings

    assert resolve_settings("pc_rnn_hc_a", 60, preset="paper")[0].native is True
    assert resolve_settings("pc_rnn_hc_a", 60, preset="quick")[0].native is False
    assert resolve_settings("pc_rnn_hc_a", 60, preset="paper", native=False)[0].native is False


def test_a_sweep_in_the_drivers_process_leaves_the_switch_as_it_found_it(tmp_path):
    """A paper sweep trained inline switches the C++ loops on for its batches only: the
    library's default (off) holds afterwards, so later calls in the process (a doctest's
    exact comparison of inference with generation, say) see the Python loop."""
    from rnn_capacity.config import load_search_config
    from rnn_capacity.sweep.batch import train_batch
    from rnn_capacity.sweep.settings import resolve_settings

    settings = resolve_settings("srnn", 4, preset="paper", iterations=2, tries=1,
                                executor="local", log_dir=tmp_path)[0]  # fmt: skip
    assert settings.native is True and native.enabled() is False
    config = load_search_config("srnn")
    point = [d.low for d in config.space]
    train_batch([point], 0, settings, config)
    assert native.enabled() is False
