"""Reading the optimum off a surrogate (grid, decoding, refinement, CLI, refusals) and the
shipped reference results of the original study."""

from __future__ import annotations

import json
import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from skopt.space import Space
from skopt.utils import cook_estimator

from rnn_capacity.config import Dimension
from rnn_capacity.errors import UsageError
from rnn_capacity.models import MODELS
from rnn_capacity.optimum import (
    config_dimensions,
    decode,
    find_optimum,
    grid_argmin,
    load_surrogate,
    main,
    refine_point,
    training_points,
)
from rnn_capacity.reference import (
    ORIGINAL_NAMES,
    load_reference,
    parse_surrogate_name,
    reference_result,
)

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
HC_A = REFERENCE / "PC_RNN_HC_A_model_60.pk"

P = Dimension("p", "integer", 1, 101, "uniform")
LR = Dimension("lr", "real", 1e-3, 1e-1, "log-uniform")
TARGET = np.array([0.4, 0.6])  # the synthetic objective's minimum, on the res-10 grid


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


# ------------------------------------------------------------------------- pure parts


def test_grid_argmin_finds_a_known_minimum_in_bounded_chunks():
    target = np.array([3, 5, 1]) / 7
    sizes = []

    def predict(X):
        sizes.append(len(X))
        return ((X - target) ** 2).sum(axis=1) - 2.0

    point, value = grid_argmin(predict, dims=3, resolution=7, chunk=10)
    assert np.allclose(point, target) and value == pytest.approx(-2.0)
    assert max(sizes) == 10 and sum(sizes) == 7**3  # every point once, never more at a time


def test_grid_argmin_stays_below_one_and_keeps_the_first_tie():
    point, value = grid_argmin(lambda X: -np.floor(X.sum(axis=1)), 2, 4, chunk=3)
    assert value == -1.0 and point.tolist() == [0.25, 0.75]  # first in C order with sum 1
    point, _ = grid_argmin(lambda X: -X[:, 0], 1, 4, chunk=100)
    assert point.tolist() == [0.75]  # the grid is k/res, k < res: 1.0 is not on it


def test_decoding_integer_linear_and_log_dimensions():
    dims = [
        Dimension("p", "integer", 1, 250, "uniform"),
        Dimension("lr", "real", 1e-4, 1.0, "log-uniform"),
        Dimension("tau", "real", 1.0, 100.0, "log-uniform"),
        Dimension("connectivity", "real", 0.0, 1.0, "uniform"),
    ]
    values = decode(dims, [0.24, 0.56, 0.34, 0.6])
    assert values["p"] == pytest.approx(1 + 0.24 * 249)  # 60.76, unrounded
    assert values["lr"] == pytest.approx(10 ** (-4 + 0.56 * 4))  # 0.017378
    assert values["tau"] == pytest.approx(10**0.68)  # 4.786301
    assert values["connectivity"] == pytest.approx(0.6)
    assert decode(dims, [0, 0, 0, 0]) == {"p": 1, "lr": 1e-4, "tau": 1, "connectivity": 0}


def test_refinement_never_worsens_and_reaches_off_grid_minima():
    target = np.array([0.437, 0.913])

    def predict(X):
        return ((X - target) ** 2).sum(axis=1)

    point, value = refine_point(predict, np.array([0.4, 0.9]), resolution=1001)
    assert np.allclose(point, target, atol=1e-3) and value < predict(np.array([[0.4, 0.9]]))[0]
    start = np.array([0.437, 0.913])  # already optimal: stays put
    assert np.allclose(refine_point(predict, start, 7)[0], start)


# ---------------------------------------------------------------- synthetic surrogate


def objective(X: np.ndarray) -> np.ndarray:
    return 10 * ((X - TARGET) ** 2).sum(axis=1) - 5


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    """A sweep directory whose GP (the sweep's own kind) learned a known quadratic."""
    space = Space([P.to_skopt(), LR.to_skopt()])
    gp = cook_estimator("GP", space=space, normalize_y=True, noise="gaussian", random_state=0)
    axis = np.linspace(0, 1, 11)
    X = np.array([[a, b] for a in axis for b in axis])
    with warnings.catch_warnings():  # noise-free data drives the kernel to its bounds
        warnings.simplefilter("ignore", ConvergenceWarning)
        gp.fit(X, objective(X))
    out = tmp_path_factory.mktemp("sweep")
    (out / "surrogate.pk").write_bytes(pickle.dumps(gp))
    (out / "space.json").write_text(space_json([vars(P), vars(LR)]))
    return out


def space_json(dims: list[dict]) -> str:
    """A sweep's ``space.json`` over ``dims`` (srnn, H = 8), as a sweep writes it."""
    space = {"model": "srnn", "dimensions": dims, "x0": {d["name"]: d["high"] for d in dims}}
    space |= {"fixed": {}, "hidden_size": 8, "tries": 2, "iterations": 5}
    space |= {"learn_initial_state": True, "threshold": 0.1, "data": None, "settings": {}}
    return json.dumps(space | {"seed": 0})


def test_find_optimum_on_a_synthetic_sweep(sweep_dir):
    opt = find_optimum(sweep_dir, resolution=10, refine=41, progress=False)
    assert (opt.model, opt.hidden_size, opt.resolution) == ("srnn", 8, 10)
    assert opt.grid_point == pytest.approx(TARGET.tolist())
    assert opt.p == pytest.approx(41.0) and opt.hparams["lr"] == pytest.approx(10**-1.8)
    assert opt.objective == pytest.approx(-5, abs=0.05)
    assert opt.predicted_count == pytest.approx((opt.p - opt.objective) / 2)
    refined = opt.refined
    assert refined["resolution"] == 41 and refined["objective"] <= opt.objective
    assert refined["grid_point"] == pytest.approx(TARGET.tolist(), abs=0.03)
    em = opt.expected_minimum
    assert em is not None and set(em) == {"hparams", "p", "objective", "predicted_count"}
    assert em["objective"] == pytest.approx(-5, abs=0.2)
    # The pickle inside the directory is the same source.
    again = find_optimum(sweep_dir / "surrogate.pk", resolution=10, progress=False)
    assert again.grid_point == opt.grid_point and again.model == "srnn"


def test_cli_json_is_the_last_line(sweep_dir, capsys):
    assert main([str(sweep_dir), "--resolution", "10", "--refine", "11", "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) > 1 and "predicted count" in lines[1]
    result = json.loads(lines[-1])
    assert set(result) == {
        "model", "hidden_size", "source", "resolution", "hparams", "p", "objective",
        "predicted_count", "grid_point", "refined", "expected_minimum",
    }  # fmt: skip
    assert set(result["hparams"]) == {"lr"} and result["p"] == pytest.approx(41.0)
    assert result["refined"]["resolution"] == 11


class Noisy:
    """Warns when unpickled, like the original study's GP pickles under newer libraries."""

    def __setstate__(self, state):
        warnings.warn("old version", UserWarning, stacklevel=1)


def test_the_loader_silences_warnings_only_while_loading(tmp_path):
    path = tmp_path / "noisy.pk"
    path.write_bytes(pickle.dumps(Noisy()))
    before = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(UsageError, match="not a fitted GP surrogate"):
            load_surrogate(path)
    assert caught == [] and warnings.filters == before


def bad_inputs(sweep_dir: Path, tmp: Path) -> dict[str, tuple[list[str], str]]:
    (tmp / "garbage.pk").write_bytes(b"not a pickle")
    (tmp / "dict.pk").write_bytes(pickle.dumps({"X_train_": 1}))
    (tmp / "PC_RNN_V_model_60.pk").write_bytes((sweep_dir / "surrogate.pk").read_bytes())
    (tmp / "empty").mkdir()
    (tmp / "empty" / "space.json").write_text((sweep_dir / "space.json").read_text())
    for name, dims in (("bad space", [vars(LR) | {"low": 0}]), ("no p", [vars(LR), vars(LR)])):
        (tmp / name).mkdir()
        (tmp / name / "space.json").write_text(space_json(dims))
        (tmp / name / "surrogate.pk").write_bytes((sweep_dir / "surrogate.pk").read_bytes())
    gp = str(sweep_dir / "surrogate.pk")
    return {
        "bad space": ([str(tmp / "bad space")], "unreadable space (lr: bounds [0, 0.1]"),
        "no p": ([str(tmp / "no p")], "has no dimension p"),
        "missing file": ([str(tmp / "nope.pk")], "no such file"),
        "garbage": ([str(tmp / "garbage.pk"), "--model", "gru"], "cannot unpickle"),
        "not a GP": ([str(tmp / "dict.pk"), "--model", "gru"], "not a fitted GP surrogate"),
        "unknown model": ([str(tmp / "garbage.pk"), "--model", "nope"], "unknown model 'nope'"),
        "no model": ([str(tmp / "dict.pk")], "pass --model"),
        "resolution": ([gp, "--resolution", "1"], "--resolution must be at least 2"),
        "refine": ([gp, "--refine", "1"], "--refine must be at least 2"),
        "no surrogate": ([str(tmp / "empty")], "no surrogate.pk"),
        "wrong space": ([str(tmp / "PC_RNN_V_model_60.pk")], "the surrogate has 2 dimensions"),
        "contradiction": ([gp, "--model", "trnn"], "contradicts"),
        "bad int": ([gp, "--resolution", "x"], "invalid int value"),
    }


BAD_INPUTS = [
    "missing file", "garbage", "not a GP", "unknown model", "no model", "resolution",
    "refine", "no surrogate", "wrong space", "contradiction", "bad int", "bad space", "no p",
]  # fmt: skip


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_line_and_exit_2(sweep_dir, tmp_path, capsys, case):
    argv, message = bad_inputs(sweep_dir, tmp_path)[case]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in error_line(capsys)


# ------------------------------------------------------------ the original surrogates


def test_the_original_hc_a_surrogate_gives_the_published_optimum():
    if not HC_A.is_file():
        pytest.skip(f"{HC_A} is not available")
    ref = reference_result("pc_rnn_hc_a", 60)
    opt = find_optimum(HC_A, resolution=ref.surrogate_grid_resolution, progress=False)
    assert (opt.model, opt.hidden_size) == ("pc_rnn_hc_a", 60)
    steps = np.array(opt.grid_point) * 50
    assert np.allclose(steps, np.round(steps)) and steps.max() < 50  # a point of the grid
    assert opt.predicted_count > 0
    published = ref.surrogate_optimum
    assert opt.p == pytest.approx(published["p"], abs=1e-9)
    for name, value in opt.hparams.items():
        assert value == pytest.approx(published[name], rel=1e-5)  # published to 6 decimals
    assert opt.predicted_count == pytest.approx(ref.surrogate_predicted_count, abs=0.005)


SURROGATES = [
    "PC_RNN_HC_A_model_60.pk",
    "GRU_model_60.pk",
    "MTRNN_model_60.pk",
    "ESN_model_1000.pk",
]


@pytest.mark.parametrize("name", SURROGATES)
def test_decoded_training_points_give_the_published_best_observed_count(name):
    """bench/replay.py's target: the configurations the original search measured, decoded
    from its surrogate, with the mean counts it observed; the largest is the table's."""
    path = REFERENCE / name
    if not path.is_file():
        pytest.skip(f"{path} is not available")
    model, size = parse_surrogate_name(path)
    ref = reference_result(model, size)
    points = training_points(load_surrogate(path), config_dimensions(model))
    assert len(points) == ref.n_configurations and [t.index for t in points] == list(
        range(len(points))
    )
    best = max(points, key=lambda t: t.count)
    assert best.count == pytest.approx(ref.best_observed_count, abs=1e-9)
    # published to 6 decimals
    assert {"p": best.p} | best.hparams == pytest.approx(ref.best_observed_config, abs=1e-6)
    for t in points:
        assert 1 <= t.p <= 250 and 0 <= t.smoothed_count <= t.p
        # A mean of 2 tries: a multiple of 1/2 between 0 and p.
        assert -1e-9 <= t.count <= t.p + 1e-9 and (2 * t.count) == pytest.approx(
            round(2 * t.count), abs=1e-9
        )
        assert t.objective == pytest.approx(t.p - 2 * t.count)
    # The GP smooths the counts, it does not invent them.
    counts = np.array([t.count for t in points])
    smoothed = np.array([t.smoothed_count for t in points])
    assert np.corrcoef(counts, smoothed)[0, 1] > 0.9


def test_training_points_refuse_a_space_of_another_dimension():
    if not HC_A.is_file():
        pytest.skip(f"{HC_A} is not available")
    with pytest.raises(UsageError, match="3-D training points; the space has 2"):
        training_points(load_surrogate(HC_A), config_dimensions("gru"))


# ------------------------------------------------------------------------- reference


def test_every_reference_row_names_one_of_our_models():
    rows = load_reference()
    assert len(rows) == 37
    assert {r.model for r in rows} <= set(MODELS)
    for row in rows:
        assert ORIGINAL_NAMES[row.original_name] == row.model
        assert row.size >= 1 and 0 < row.surrogate_grid_resolution
        assert "p" in row.surrogate_optimum and "p" in row.best_observed_config
    if (REFERENCE / "paper_results.json").is_file():  # the shipped copy is the published one
        published = json.loads((REFERENCE / "paper_results.json").read_text())["results"]
        assert [r.model for r in rows] == [r["model"] for r in published]


def test_reference_result_and_its_refusals():
    row = reference_result("esn", 1000)
    assert row.original_name == "ESN" and row.n_configurations == 500
    assert row.surrogate_optimum["connectivity"] == 0.6
    with pytest.raises(UsageError, match="available sizes: 30, 40, 60"):
        reference_result("pc_rnn_hc_a", 50)
    with pytest.raises(UsageError, match="no reference results for model 'srnn'"):
        reference_result("srnn", 60)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("PC_RNN_HC_A_model_60.pk", ("pc_rnn_hc_a", 60)),
        ("/some/where/GRU_model_60.pk", ("gru", 60)),
        ("MTRNN_model_60.pk", ("mtrnn", 60)),
        ("ESN_model_1000.pk", ("esn", 1000)),
        ("AntisymetricRNN_model_40.pk", ("antisymmetric_rnn", 40)),
        ("AntisymmetricRNN_model_40.pk", ("antisymmetric_rnn", 40)),
        ("PC_RNN_GC_HC_M_model_30.pk", ("pc_rnn_gc_hc_m", 30)),
        ("SRNN_model_30.pk", ("srnn", 30)),  # no published row: our own name, any case
        ("surrogate.pk", None),
        ("FOO_model_60.pk", None),
        ("GRU_model_x.pk", None),
    ],
)
def test_parse_surrogate_name(name, expected):
    assert parse_surrogate_name(name) == expected


def test_every_original_name_parses():
    for original, model in ORIGINAL_NAMES.items():
        assert parse_surrogate_name(f"{original}_model_30.pk") == (model, 30)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"resolution": "50"}, "--resolution must be an integer"),
        ({"resolution": 2.5}, "--resolution must be an integer"),
        ({"resolution": float("nan")}, "--resolution must be an integer"),
        ({"resolution": True}, "--resolution must be an integer"),
        ({"refine": "5"}, "--refine must be an integer"),
        ({"resolution": 1}, "at least 2"),
        ({"resolution": 10**6}, "1e+18 grid points (about"),
        ({"resolution": 10**23}, "grid points (about"),
        ({"refine": 10**11}, "GiB (100000000000 points × 300 training points)"),
    ],
)
def test_resolution_and_refine_are_checked_before_any_work(kwargs, message):
    """Issue 18, defects 14 and 15: types, and what cannot be done in time or memory."""
    if not HC_A.is_file():
        pytest.skip(f"{HC_A} is not available")
    with pytest.raises(UsageError, match=re.escape(message)):
        find_optimum(HC_A, progress=False, **kwargs)


def test_an_unbounded_resolution_is_one_line_on_the_command_line(capsys):
    if not HC_A.is_file():
        pytest.skip(f"{HC_A} is not available")
    with pytest.raises(SystemExit) as exc:
        main([str(HC_A), "--resolution", str(10**23)])
    assert exc.value.code == 2 and "grid points" in error_line(capsys)
