"""Search-space files: every shipped config loads and its x0 trains; mistakes are caught."""

from __future__ import annotations

import pytest
from conftest import NAMES

from rnn_capacity.config import CONFIG_DIR, load_search_config
from rnn_capacity.errors import UsageError
from rnn_capacity.measure import measure_capacity

PROTOCOL_ORDER = {
    "srnn": ["p", "lr"],
    "trnn": ["p", "lr", "tau"],
    "mtrnn": ["p", "lr", "tau_slow", "tau_fast"],
    "lstm": ["p", "lr"],
    "gru": ["p", "lr"],
    "ugrnn": ["p", "lr"],
    "antisymmetric_rnn": ["p", "lr", "tau", "gamma"],
    "esn": ["p", "tau", "connectivity", "sigma"],
    "pc_rnn_v": ["p", "lr", "tau"],
    "pc_rnn_gc": ["p", "lr", "tau", "alpha_h_prime"],
    "pc_rnn_hc_a": ["p", "lr", "tau"],
    "pc_rnn_hc_m": ["p", "lr", "tau"],
    "pc_rnn_gc_hc_a": ["p", "lr", "tau"],
    "pc_rnn_gc_hc_m": ["p", "lr", "tau"],
}


@pytest.mark.parametrize("name", NAMES)
def test_every_model_has_a_config_whose_x0_trains(name):
    config = load_search_config(name)
    assert config.model == name
    assert config.names == PROTOCOL_ORDER[name]
    assert config.calls == (500 if name == "esn" else 300)
    hp = {k: v for k, v in config.x0.items() if k != "p"} | config.fixed
    result = measure_capacity(name, 8, config.x0["p"], iterations=3, log_dir=None, **hp)
    assert 0 <= result.count <= config.x0["p"]


def test_the_space_matches_the_original_surrogates():
    """x0 of PC-RNN-HC-A, normalised, is the first point the original GP was fitted on."""
    config = load_search_config("pc_rnn_hc_a")
    point = config.normalise(config.x0)
    assert point == pytest.approx([4 / 249, 0.5, 0.5])
    assert config.space[1].denormalise(0.5) == pytest.approx(0.01)
    assert [type(d).__name__ for d in config.skopt_space()] == ["Integer", "Real", "Real"]


GOOD = """model: trnn
sizes: [30]
calls: 10
space:
  - {name: p, type: integer, low: 1, high: 250, prior: uniform}
  - {name: lr, type: real, low: 1.0e-4, high: 1.0, prior: log-uniform}
  - {name: tau, type: real, low: 1.0, high: 100.0, prior: log-uniform}
x0: {p: 5, lr: 0.01, tau: 10.0}
"""


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ("calls: 10", "calls: 10\nfoo: 1", "foo", "unknown key"),
        ("low: 1.0e-4, high: 1.0", "low: 1.0, high: 1.0e-4", "space.lr", "must be below"),
        ("{name: lr, type: real, low: 1.0e-4", "{name: lr, type: real, low: 0.0", "space.lr",
         "log-uniform prior needs low > 0"),
        ("lr: 0.01, tau", "lr: 2.0, tau", "x0.lr", "outside"),
        ("tau: 10.0}\n", "tau: 10.0, gamma: 1}\n", "x0.gamma", "not a dimension"),
        ("name: tau,", "name: gamma,", "space.gamma", "not a searchable hyperparameter of trnn"),
        ("prior: uniform}", "prior: normal}", "space.p.prior", "not one of"),
        ("model: trnn", "model: nope", "model", "unknown model"),
        ("tau: 10.0}\n", "tau: 10.0}\nfixed: {tau: 3}\n", "fixed.tau", "also a search dimension"),
        ("high: 1.0, prior", "high: 1.0, prio: x, prior", "space[1].prio", "unknown key"),
        ("calls: 10", "calls: 10\npaper: {learn: true}", "paper.learn", "unknown key"),
        ("calls: 10", "calls: 10\npaper: {learn_initial_state: 1}", "paper.learn_initial_state",
         "true or false"),
        ("calls: 10", "calls: 10\npaper: {settings: {teacher_forcing: always}}", "paper.settings",
         "unknown hyperparameter 'teacher_forcing' for model trnn"),
        ("calls: 10", "calls: 10\npaper: {source: guessed}", "paper.source", "not one of"),
    ],
)  # fmt: skip
def test_mistakes_name_the_file_and_key(tmp_path, old, new, key, problem):
    path = tmp_path / "space.yaml"
    assert old in GOOD
    path.write_text(GOOD.replace(old, new, 1))
    with pytest.raises(UsageError) as exc:
        load_search_config(path)
    message = str(exc.value)
    assert message.startswith(f"{path}: {key}: ") and problem in message
    assert "\n" not in message


def test_good_file_and_missing_file(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(GOOD)
    assert load_search_config(path).x0 == {"p": 5, "lr": 0.01, "tau": 10.0}
    with pytest.raises(UsageError, match="no such search-space file"):
        load_search_config(tmp_path / "missing.yaml")
    assert sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")) == sorted(PROTOCOL_ORDER)


def test_a_shared_setting_cannot_be_a_search_dimension(tmp_path):
    """A batch trains as one ensemble, whose replicas share settings such as the ESN's
    ridge: a setting belongs in ``fixed``, and the error says what may be searched."""
    path = tmp_path / "esn.yaml"
    path.write_text(
        "model: esn\nspace:\n  - {name: p, type: integer, low: 1, high: 250}\n"
        "  - {name: ridge, type: real, low: 1.0e-6, high: 1.0, prior: log-uniform}\n"
        "x0: {p: 5, ridge: 1.0e-4}\n"
    )
    with pytest.raises(UsageError) as exc:
        load_search_config(path)
    assert str(exc.value) == (
        f"{path}: space.ridge: not a searchable hyperparameter of esn; "
        "allowed: p, tau, connectivity, sigma"
    )
    text = path.read_text().replace("  - {name: ridge", "#").replace(", ridge: 1.0e-4", "")
    path.write_text(text + "fixed: {ridge: 1.0e-3}\n")
    assert load_search_config(path).fixed == {"ridge": 1.0e-3}


#: The protocol variant that reproduces the original study for each model
#: (bench/reproduce.py; docs/reproduction.md): (initial states learned, settings).
PAPER_VARIANTS = {
    "antisymmetric_rnn": (True, {}),
    "pc_rnn_gc": (True, {}),
    "gru": (False, {"teacher_forcing": "always"}),
    "lstm": (False, {"teacher_forcing": "none"}),
    "pc_rnn_hc_a": (False, {}),
    "esn": (False, {}),
}


@pytest.mark.parametrize("name", NAMES)
def test_every_config_records_its_paper_variant(name):
    paper = load_search_config(name).paper
    assert paper.source in ("published", "inferred") and paper.reason
    assert "\n" not in paper.reason
    if name in PAPER_VARIANTS:
        assert (paper.learn_initial_state, paper.settings) == PAPER_VARIANTS[name]


def test_the_paper_preset_resolves_each_models_variant():
    from rnn_capacity.sweep.cli import build_parser, resolve_args
    from rnn_capacity.sweep.journal import experiment

    def settings(model, *argv):
        args = ["--model", model, "--hidden-size", "60", "--preset", "paper", *argv]
        return resolve_args(build_parser().parse_args(args))

    gru, config = settings("gru")
    assert gru.learn_initial_state is False and gru.settings == {"teacher_forcing": "always"}
    assert experiment(gru, config).settings == {"teacher_forcing": "always"}
    anti, _ = settings("antisymmetric_rnn")
    assert anti.learn_initial_state is True and anti.settings == {}
    # An explicit flag still wins over the model's variant.
    assert settings("antisymmetric_rnn", "--fixed-initial-state")[0].learn_initial_state is False
    quick = resolve_args(build_parser().parse_args(["--model", "gru", "--hidden-size", "8"]))
    assert quick[0].settings == {"teacher_forcing": "always"}  # quick measures as paper does
