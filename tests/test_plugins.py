"""Models from outside the package: the example plug-in (examples/mgu) by import path and
installed (an entry point), end to end at tiny sizes, and every way of naming a model
wrongly (one line, exit status 2)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rnn_capacity.errors import UsageError
from rnn_capacity.evaluate import main as evaluate_main
from rnn_capacity.measure import measure_capacity
from rnn_capacity.models import MODELS, resolve_model
from rnn_capacity.report import main as report_main
from rnn_capacity.study import main as study_main
from rnn_capacity.sweep import main as sweep_main
from rnn_capacity.train import main as train_main

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "mgu"
PATH = "mgu_capacity:MGU"
# A sweep of 3 configurations (x0 and two random ones, then the GP is fitted) of 20 steps.
TINY = ["--hidden-size", "8", "--calls", "3", "--iterations", "20", "--batch-size", "3"]
TINY += ["--initial-points", "1", "--tries", "1"]
SPACE = """
space:
  - {name: p, type: integer, low: 1, high: 4}
  - {name: lr, type: real, low: 1.0e-3, high: 0.1, prior: log-uniform}
  - {name: gate_bias, type: real, low: -2.0, high: 2.0}
x0: {p: 3, lr: 0.02, gate_bias: -1.0}
"""


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert "Traceback" not in err[0]
    return err[0]


def forget_example() -> None:
    for name in [m for m in sys.modules if m == "mgu_capacity" or m.startswith("mgu_capacity.")]:
        del sys.modules[name]


@pytest.fixture
def on_path():
    """The example importable (its directory on sys.path), not installed."""
    sys.path.insert(0, str(EXAMPLE))
    yield
    sys.path.remove(str(EXAMPLE))
    forget_example()


def make_site(root: Path, entry_points: str, name: str = "rnn_capacity_mgu") -> Path:
    """A directory that looks like site-packages with one installed distribution: what
    ``pip install examples/mgu`` writes, minus the copy of the package."""
    info = root / f"{name}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[rnn_capacity.models]\n{entry_points}\n")
    return root


@pytest.fixture
def install(tmp_path):
    """``install(entry_points)``: a distribution declaring them, found by importlib.metadata
    (and the example package importable); the registry is refreshed both ways."""
    added = []

    def install(entry_points: str) -> None:
        site = make_site(tmp_path / f"site{len(added)}", entry_points)
        for path in (str(site), str(EXAMPLE)):
            sys.path.insert(0, path)
            added.append(path)
        importlib.invalidate_caches()
        MODELS.refresh()

    yield install
    for path in added:
        sys.path.remove(path)
    importlib.invalidate_caches()
    MODELS.refresh()
    forget_example()


def test_import_path_sweep_evaluate_report(tmp_path, on_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)  # no model: key, the --model given is its model
    sweep = tmp_path / "sweep"
    logs = ["--log-dir", str(tmp_path / "logs")]
    argv = ["--model", PATH, *TINY, "--space", str(space), "--out", str(sweep), *logs]
    assert sweep_main(argv) == 0
    recorded = json.loads((sweep / "space.json").read_text())
    assert recorded["model"] == PATH
    assert [d["name"] for d in recorded["dimensions"]] == ["p", "lr", "gate_bias"]
    assert (sweep / "surrogate.pk").is_file() and (tmp_path / "logs" / "sweep").is_dir()

    argv = ["--from", str(sweep), "--seeds", "2", "--resolution", "5", "--json", *logs]
    assert evaluate_main(argv) == 0
    evaluation = json.loads((sweep / "evaluation" / "evaluation.json").read_text())
    assert evaluation["model"] == PATH and evaluation["original"] is None
    assert set(evaluation["hparams"]) == {"lr", "gate_bias"}
    assert (tmp_path / "logs" / "mgu_capacity-MGU_h8_evaluation" / "seed1").is_dir()
    # A built-in beside it, then the report of both.
    gru = ["--model", "gru", "--hidden-size", "8", "--set", "p=2", "--set", "lr=0.02"]
    gru += ["--seeds", "2", "--iterations", "10", "--out", str(tmp_path / "gru"), *logs]
    assert evaluate_main(gru) == 0
    out = tmp_path / "report"
    assert report_main([str(sweep), str(tmp_path / "gru"), "--out", str(out)]) == 0
    text = (out / "report.md").read_text()
    assert f"| `{PATH}` | 8 |" in text and "| `gru` | 8 |" in text
    assert "](trajectories_mgu_capacity-MGU.png)" in text
    for name in ("capacity.png", "trajectories_mgu_capacity-MGU.png", "trajectories_gru.svg"):
        assert (out / name).stat().st_size > 0
    capsys.readouterr()

    # The report reads results only: without the plug-in importable it still draws them.
    sys.path.remove(str(EXAMPLE))
    forget_example()
    try:
        assert report_main([str(sweep), "--out", str(tmp_path / "r2")]) == 0
    finally:
        sys.path.insert(0, str(EXAMPLE))


def test_import_path_in_the_api(on_path):
    result = measure_capacity(PATH, 8, 2, iterations=5, log_dir=None, gate_bias=-1.0)
    assert result.model == PATH and result.hparams == {"gate_bias": -1.0}
    name, cls = resolve_model(PATH)
    assert name == PATH and cls.__name__ == "MGU" and cls.SEARCH_SPACE == "mgu.yaml"
    # An import path of a built-in class is that built-in, under its name.
    assert resolve_model("rnn_capacity.models.gated:GRU") == ("gru", MODELS["gru"])


def test_installed_plugin_everywhere(tmp_path, install, capsys):
    install(f"mgu = {PATH}")
    assert "mgu" in MODELS and list(MODELS)[-1] == "mgu" and len(MODELS) == 15
    assert resolve_model("mgu") == resolve_model(PATH) == ("mgu", MODELS["mgu"])
    for main in (sweep_main, train_main, evaluate_main, study_main):
        with pytest.raises(SystemExit) as exc:
            main(["--help"])
        assert exc.value.code == 0
        assert "pc_rnn_gc_hc_m, mgu (built-in" in " ".join(capsys.readouterr().out.split())

    # The whole study of it: its shipped search space (SEARCH_SPACE), no --space.
    argv = ["--models", "mgu", "--sizes", "8", "--calls", "3", "--iterations", "20"]
    argv += ["--seeds", "2", "--tries", "1", "--batch-size", "3", "--out", str(tmp_path / "s")]
    assert study_main(argv) == 0
    space = json.loads((tmp_path / "s" / "sweeps" / "mgu_8" / "space.json").read_text())
    assert space["model"] == "mgu" and space["x0"] == {"p": 5, "lr": 0.01, "gate_bias": 0.0}
    text = (tmp_path / "s" / "report" / "report.md").read_text()
    assert "| `mgu` | 8 |" in text
    assert (tmp_path / "s" / "report" / "trajectories_mgu.png").is_file()


def run_cli(module: str, *argv: str, **env: str):
    return subprocess.run(
        [sys.executable, "-m", module, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | env,
    )


def test_a_plugin_named_like_a_built_in_is_one_line(tmp_path, install, capsys):
    install(f"gru = {PATH}")
    with pytest.raises(UsageError, match="clashes with the built-in model gru"):
        list(MODELS)
    with pytest.raises(SystemExit) as exc:
        sweep_main(["--model", "srnn", *TINY, "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    message = error_line(capsys)
    assert "plug-in model 'gru' (distribution rnn_capacity_mgu, entry point " in message
    # A real process: exit status 2, one line on stderr, no traceback.
    site = make_site(tmp_path / "elsewhere", f"gru = {PATH}")
    bad = run_cli("rnn_capacity.train", "--model", "srnn", "--hidden-size", "8",
                  "--num-sequences", "2", PYTHONPATH=str(site))  # fmt: skip
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    assert "clashes with the built-in model gru" in bad.stderr


def test_a_broken_entry_point_is_one_line(install, capsys):
    install("broken = no_such_module:Cell\nbadclass = rnn_capacity.models.options:Option")
    assert list(MODELS)[-2:] == ["badclass", "broken"]  # listed, not loaded
    for name, message in [
        ("broken", "plug-in model 'broken' (distribution rnn_capacity_mgu, entry point "
         "no_such_module:Cell): cannot load (ModuleNotFoundError: No module named"),
        ("badclass", "not a CapacityModule subclass (rnn_capacity.models.CapacityModule) "
         "but the class Option"),
    ]:  # fmt: skip
        with pytest.raises(SystemExit) as exc:
            train_main(["--model", name, "--hidden-size", "8", "--num-sequences", "2"])
        assert exc.value.code == 2 and message in error_line(capsys)


BAD_MODELS = [
    ("no_such_module.cells:MyRNN", "cannot import no_such_module.cells (ModuleNotFoundError"),
    (f"{PATH}X", "mgu_capacity has no attribute MGUX"),
    ("mgu_capacity:GATE_BIAS", "not a CapacityModule subclass"),
    ("rnn_capacity.models:CapacityModule", "CapacityModule does not implement init_weights"),
    ("mgu capacity:MGU", "an import path is module:Class, e.g. mypkg.cells:MyRNN"),
    ("nope", "unknown model 'nope'; known models: srnn, trnn"),
]
CLIS = {  # each writes to "o" if it gets that far
    "train": (train_main, ["--hidden-size", "8", "--num-sequences", "2", "--log-dir", "o"]),
    "sweep": (sweep_main, [*TINY, "--out", "o", "--log-dir", "o"]),
    "evaluate": (evaluate_main, ["--hidden-size", "8", "--set", "p=2", "--out", "o"]),
}


@pytest.mark.parametrize(("model", "message"), BAD_MODELS, ids=[m for m, _ in BAD_MODELS])
@pytest.mark.parametrize("cli", list(CLIS))
def test_bad_model_is_one_line_and_exit_2(
    model, message, cli, on_path, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    main, argv = CLIS[cli]
    with pytest.raises(SystemExit) as exc:
        main(["--model", model, *argv])
    assert exc.value.code == 2 and message in error_line(capsys)
    assert not (tmp_path / "o").exists()


def test_bad_model_in_the_study_and_the_api(on_path, tmp_path, capsys):
    model, message = BAD_MODELS[1]
    with pytest.raises(SystemExit) as exc:
        study_main(["--models", model, "--out", str(tmp_path / "s")])
    assert exc.value.code == 2 and f"--models: model '{model}': " in error_line(capsys)
    with pytest.raises(UsageError, match=message):
        measure_capacity(model, 8, 2, iterations=2, log_dir=None)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--space", str(REPO / "configs" / "gru.yaml")], "model: 'gru' is another model than"),
        (["--space", "missing.yaml"], "missing.yaml: no such search-space file"),
        (["--model", "rnn_capacity.models.gated:GRU", "--space", str(EXAMPLE / "mgu_capacity" /
          "mgu.yaml")], "model: 'mgu_capacity:MGU' is another model than gru"),
    ],
)  # fmt: skip
def test_bad_space_is_one_line(argv, message, on_path, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        sweep_main(["--model", PATH, *TINY, *argv, "--out", str(tmp_path / "o")])
    assert exc.value.code == 2 and message in error_line(capsys)


def test_a_plugin_without_a_search_space_needs_space(tmp_path, capsys):
    module = tmp_path / "bare_cell.py"
    module.write_text("from mgu_capacity import MGU\n\nclass Bare(MGU):\n    SEARCH_SPACE = None\n")
    sys.path[:0] = [str(tmp_path), str(EXAMPLE)]
    try:
        with pytest.raises(SystemExit) as exc:
            sweep_main(["--model", "bare_cell:Bare", *TINY, "--out", str(tmp_path / "o")])
        assert exc.value.code == 2
        assert "model bare_cell:Bare has no search space: pass --space" in error_line(capsys)
        (tmp_path / "space.yaml").write_text(SPACE)
        with pytest.raises(SystemExit) as exc:  # two models, one --space: whose?
            study_main(["--models", "bare_cell:Bare", "gru", "--space", "space.yaml",
                        "--out", str(tmp_path / "s")])  # fmt: skip
        assert "--space space.yaml: say whose space it is" in error_line(capsys)
    finally:
        del sys.path[:2]
        sys.modules.pop("bare_cell", None)
        forget_example()
