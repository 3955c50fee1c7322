"""Every model in the registry: equations, model-specific behaviour, inference.

The rules every model keeps (shapes, gradients and learn_initial_state, training,
state-dict round trip, teacher_forcing modes, saved hyperparameters) are contract checks:
``rnn_capacity.testing``, run over every model by tests/test_contract.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import NAMES, build, fit
from reference import REFERENCES

from rnn_capacity.measure import make_trainer
from rnn_capacity.models import BUILTIN_MODELS, MODELS, PredictiveCodingModule

ALL_FOURTEEN = {
    "srnn", "trnn", "mtrnn", "lstm", "gru", "ugrnn", "antisymmetric_rnn", "esn",
    "pc_rnn_v", "pc_rnn_gc", "pc_rnn_hc_a", "pc_rnn_hc_m", "pc_rnn_gc_hc_a", "pc_rnn_gc_hc_m",
}  # fmt: skip


def test_registry_has_the_fourteen_models():
    assert set(BUILTIN_MODELS) == ALL_FOURTEEN
    assert list(MODELS)[:14] == list(BUILTIN_MODELS)  # built-ins first, then any plug-ins
    assert set(REFERENCES) == ALL_FOURTEEN  # every model has a hand-written reference


@pytest.mark.parametrize("name", NAMES)
def test_two_steps_match_the_equations(name):
    """The package's batched code against plain per-sequence numpy from models.md."""
    model = build(name, num_sequences=3).double()
    expected = REFERENCES[name](model, steps=2)
    with torch.no_grad():
        got = model()[:2, 0].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name", ["pc_rnn_gc"])
def test_state_inference_switch(name):
    model = build(name, state_inference=False).double()
    np.testing.assert_allclose(model()[:2, 0].detach().numpy(), REFERENCES[name](model, 2))
    assert not torch.allclose(model(), build(name).double()())


def test_antisymmetric_matrix_and_mask():
    model = build("antisymmetric_rnn")
    w = model.prepare(model.weights())
    torch.testing.assert_close(w.A, -w.A.mT)
    model.replica_losses(model(), torch.zeros(60, 1, 3, 2)).sum().backward()
    V_grad = model.replicas[0]["V"].grad
    assert torch.count_nonzero(torch.triu(V_grad)) == 0  # only the masked part is used


def test_esn_trains_nothing_by_gradient(tiny_data):
    model = build("esn")
    assert not any(p.requires_grad for p in model.parameters())
    reservoir = model.replicas[0]["W_r"].clone()
    before = model.replica_losses(model(), tiny_data.targets)
    model.fit_read_out(tiny_data.targets)
    after = model.replica_losses(model(), tiny_data.targets)
    assert after < before
    assert torch.equal(model.replicas[0]["W_r"], reservoir)


def test_esn_read_out_is_the_least_squares_solution(tiny_data):
    """Compare with numpy's lstsq on all states (ridge ~ 0)."""
    model = build("esn", hidden_size=10, ridge=1e-12).double()
    model.fit_read_out(tiny_data.targets.double())
    w = model.prepare(model.weights())
    h, states = model.start(w), []
    for _ in range(60):
        h = model.step(w, h, torch.tanh(h))
        states.append(torch.tanh(h[0]))
    X = torch.cat([torch.cat(states), torch.ones(180, 1, dtype=torch.float64)], 1).numpy()
    Y = tiny_data.targets[:, 0].reshape(-1, 2).double().numpy()
    sol = np.linalg.lstsq(X, Y, rcond=None)[0]
    rep = model.replicas[0]
    np.testing.assert_allclose(rep["W_o"].detach().numpy(), sol[:10].T, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(rep["b_o"].detach().numpy(), sol[10:], rtol=1e-5, atol=1e-7)


def test_esn_singular_fit_is_reported(tiny_data):
    from rnn_capacity.errors import UsageError

    model = build("esn", hidden_size=400, num_sequences=1, ridge=0.0)  # 60 rows, 401 unknowns
    with pytest.raises(UsageError, match="singular"):
        model.fit_read_out(tiny_data.targets[:, :, :1])


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_fed_back_prediction_is_detached(name):
    """d x̂_2 / d W_o must be h_2 only: no path through the fed-back x̂_1."""
    model = build(name)
    pred = model()
    pred[1, 0].sum().backward()
    w = model.prepare(model.weights())
    h = model.start(w)
    x = torch.zeros(1, 3, 2)
    for _ in range(2):
        h = model.step(w, h, x)
        x = model.read_out(w, model.features(h)).detach()
    h2 = model.features(h)[0].detach()  # (P, H)
    expected = h2.sum(0).expand(2, -1)
    torch.testing.assert_close(model.replicas[0]["W_o"].grad, expected)


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_always_counts_on_the_teacher_forced_path(name, tiny_data):
    """After training, the callback's count uses the forced path for ``always`` only."""
    from rnn_capacity.capacity import CapacityCallback, sequence_errors

    targets = tiny_data.targets
    for mode in ("train", "always"):
        model = build(name, teacher_forcing=mode)
        callback = CapacityCallback(threshold=10.0)
        make_trainer(5, accelerator="cpu", callbacks=[callback]).fit(model, datamodule=tiny_data)
        was_training = model.training
        model.eval()
        with torch.no_grad():
            path = model(targets) if mode == "always" else model()
        expected = sequence_errors(path[:, 0], targets[:, 0]).numpy()
        np.testing.assert_allclose(callback.errors[0], expected, rtol=1e-6)
        assert was_training  # the count left the module in the mode the Trainer had


def test_initialisation_scales():
    H = 300
    trnn = build("trnn", hidden_size=H, num_sequences=50).replicas[0]
    assert abs(trnn["W_r"].std().item() * H - 1) < 0.05
    assert abs(trnn["b_r"].std().item() * 10 - 1) < 0.25
    assert abs(trnn["h0"].std().item() - 1) < 0.05
    hca = build("pc_rnn_hc_a", hidden_size=H, num_sequences=50).replicas[0]
    assert abs(hca["W_c"].std().item() * 50 - 1) < 0.05
    hcm = build("pc_rnn_hc_m", hidden_size=H, num_sequences=50, factors=None).replicas[0]
    torch.testing.assert_close(hcm["W_cd"].sum(1), torch.full((50,), float(H)))
    assert abs(hcm["W_pd"].std().item() * H**0.5 - 1) < 0.05
    esn = build("esn", hidden_size=H, connectivity=0.3, sigma=2.0).replicas[0]["W_r"]
    nonzero = esn[esn != 0]
    assert abs(nonzero.numel() / H**2 - 0.3) < 0.01
    assert abs(nonzero.std().item() / 2.0 - 1) < 0.05
    lstm = build("lstm", hidden_size=H).replicas[0]
    assert lstm["W_hh"].abs().max() <= H**-0.5
    assert lstm["W_hh"].shape == (4 * H, H)


PC = [n for n in NAMES if issubclass(MODELS[n], PredictiveCodingModule)]


@pytest.mark.parametrize("name", PC)
def test_inference_with_no_feedback_is_generation(name, tiny_data):
    model = build(name)
    pred, errors, states, causes = model.infer(tiny_data.targets, alpha_x=0.0)
    assert torch.equal(pred, model())
    torch.testing.assert_close(errors, pred - tiny_data.targets)
    assert states.shape == (60, 1, 3, 12)
    if model.has_causes:
        assert torch.equal(causes[-1, 0], torch.eye(3))  # causes never move without feedback


@pytest.mark.parametrize("name", PC)
def test_inference_corrects_a_perturbed_initial_state(name, tiny_data):
    """Trained on its targets, then started from a wrong state: feedback (alpha_x > 0)
    must pull the prediction back towards the targets."""
    model = build(name, hidden_size=24)
    fit(model, tiny_data, steps=500)
    targets = tiny_data.targets
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        model.replicas[0]["h0"].add_(torch.randn(3, 24, generator=g))
        open_loop = model.infer(targets, alpha_x=0.0)[1].square().mean()
        rates = {"alpha_h": 0.1, "alpha_h_prime": 0.1} if model.has_causes else {}
        closed = model.infer(targets, alpha_x=1.0, **rates)[1].square().mean()
    assert closed < open_loop


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"foo": 1}, "unknown hyperparameter 'foo' for model PCRNNHCA; allowed: tau, lr"),
        ({"tau": 0.0}, "tau=0.0 out of range for PCRNNHCA: a float in [1.0, inf)"),
        ({"tau": -1}, "tau=-1.0 out of range"),
        ({"tau": float("nan")}, "tau=nan out of range"),
        ({"lr": -1.0}, "lr=-1.0 out of range for PCRNNHCA: a float in (0.0, inf)"),
        ({"hidden_size": -1}, "hidden_size=-1 out of range"),
        ({"hidden_size": 8.5}, "hidden_size must be an integer"),
        ({"num_sequences": 0}, "num_sequences=0 out of range: 1..250"),
        ({"seed": 2**64}, "seed=18446744073709551616 out of range"),
        ({"tau": [2.0, "x"], "seed": [0, 1]}, "tau='x' out of range"),
    ],
)
def test_constructors_refuse_bad_arguments_by_name(kwargs, message):
    """The option declarations drive validation: one line naming the option, as a
    UsageError, which is a ValueError."""
    from rnn_capacity.errors import UsageError

    args = {"hidden_size": 8, "num_sequences": 3} | kwargs
    with pytest.raises(UsageError) as exc:
        MODELS["pc_rnn_hc_a"](**args)
    assert isinstance(exc.value, ValueError)
    assert message in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("name", NAMES)
def test_every_model_declares_its_options(name):
    """Each declared option is a constructor argument (of the class or its bases) and
    appears in the class docstrings; per-replica ones are the searchable hyperparameters."""
    import inspect

    cls = MODELS[name]
    params = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            params |= set(inspect.signature(klass.__init__).parameters)
    docs = " ".join(klass.__doc__ or "" for klass in cls.__mro__)
    for option in cls.options().values():
        assert option.name in params, option.name
        assert option.name in docs, option.name
    from rnn_capacity.config import load_search_config

    config_dims = {d.name for d in load_search_config(name).space}
    assert config_dims - {"p"} <= {n for n, o in cls.options().items() if o.per_replica}
