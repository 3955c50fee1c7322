"""Tests for rnn_capacity.data: generator, loader, data module and command line."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rnn_capacity.data import (
    DEFAULT_DATA,
    DEFAULT_STYLE,
    RAW_SHAPE,
    STYLES,
    TrajectoryDataModule,
    character,
    generate_polylines,
    generate_trajectories,
    load_trajectories,
    main,
)
from rnn_capacity.errors import UsageError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def generated() -> np.ndarray:
    """The default data set, generated once for the whole module."""
    return STYLES[DEFAULT_STYLE]()


# ------------------------------------------------------------------------------ generator


def test_committed_file_matches_generator_bit_for_bit(generated, tmp_path):
    assert DEFAULT_DATA.is_file(), "run: python -m rnn_capacity.data generate"
    committed = np.load(DEFAULT_DATA)
    assert committed.dtype == np.dtype("<f4") and committed.shape == RAW_SHAPE
    assert np.array_equal(committed, generated)
    fresh = tmp_path / "fresh.npy"
    np.save(fresh, generated)
    assert fresh.read_bytes() == DEFAULT_DATA.read_bytes()


def test_generator_statistics(generated):
    kept = generated[:, ::20].astype(np.float64)
    assert kept.shape == (250, 60, 2)
    assert -1.5 <= kept.min() and kept.max() <= 1.5
    steps = np.linalg.norm(np.diff(kept, axis=1), axis=-1)
    assert 0.1 <= steps.mean() <= 0.6
    # Not periodic: a path does not come back to where it started after a "period".
    assert np.linalg.norm(kept[:, -1] - kept[:, 0], axis=-1).mean() > 0.1


@pytest.mark.parametrize("style", list(STYLES))
def test_generator_paths_are_independent_of_n(style):
    gen = STYLES[style]
    first = gen(n=5)
    assert np.array_equal(gen(n=3), first[:3])
    assert not np.array_equal(gen(seed=1, n=3), first[:3])
    assert np.array_equal(gen(n=5), first)  # deterministic


def test_polylines_are_constant_speed_runs_between_corners():
    arr = generate_polylines(n=40).astype(np.float64)
    assert arr.shape == (40, 1200, 2) and arr.dtype == np.float64
    assert np.abs(arr).max() <= 1.1 + 1e-6  # vertices inside the box, so the whole path
    fine = np.linalg.norm(np.diff(arr, axis=1), axis=-1)  # (40, 1199)
    # Equal arc length between samples: a step is that length, or a chord across a corner.
    arc = fine.max(axis=1, keepdims=True)
    assert (fine <= arc * (1 + 1e-5)).all()
    assert np.median(fine / arc) > 0.999
    kept = arr[:, ::20].transpose(1, 0, 2)  # (T, N, 2)
    stats = character(kept)
    # The published example's look: long straight runs (the spline scribbles have ~4%).
    assert stats["straight_fraction"] > 0.12
    assert 20 <= stats["corners_per_path"] <= 45
    steps = np.linalg.norm(np.diff(kept, axis=0), axis=-1)
    assert 0.18 <= steps.mean() <= 0.3


def test_polyline_knobs():
    def corners(**kw) -> float:
        return character(generate_polylines(n=30, **kw)[:, ::20].transpose(1, 0, 2))[
            "corners_per_path"
        ]

    assert corners(vertices=(10, 12)) < corners(vertices=(40, 50))
    smooth = generate_polylines(n=5)
    shaky = generate_polylines(n=5, tremor=0.05)
    assert 0 < np.abs(shaky - smooth).max() <= 0.05 + 1e-6
    with pytest.raises(ValueError):
        generate_polylines(n=2, vertices=1)
    with pytest.raises(ValueError):
        generate_polylines(n=2, run=(0.0, 0.5))


def test_corner_slowing_keeps_the_path_and_slows_into_corners():
    steady = generate_polylines(n=20).astype(np.float64)
    hand = generate_polylines(n=20, slowing=1.0).astype(np.float64)
    assert np.array_equal(
        generate_polylines(n=20, slowing=1.0), generate_polylines(n=20, slowing=1.0)
    )
    assert np.array_equal(generate_polylines(n=20, slowing=0.0), generate_polylines(n=20))
    # The same polyline, only traversed at another pace: ends and bounding box stay.
    assert np.allclose(hand[:, [0, -1]], steady[:, [0, -1]], atol=1e-6)
    assert np.abs(hand).max() <= 1.1 + 1e-6
    fine = np.linalg.norm(np.diff(hand, axis=1), axis=-1)
    # Minimum-jerk at a = 1: the pen stops at corners and runs 1.875x the mean speed.
    mean = np.linalg.norm(np.diff(steady, axis=1), axis=-1).max(axis=1, keepdims=True)
    assert fine.min() < 0.05 * mean.min() and (fine <= 1.875 * mean * (1 + 1e-3)).all()
    kept = lambda a: a[:, ::20].transpose(1, 0, 2)  # noqa: E731
    assert character(kept(hand))["speed_cv"] > character(kept(steady))["speed_cv"] + 0.1
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="slowing"):
            generate_polylines(n=2, slowing=bad)


KNOBS = {"turn": 2.0, "arc": 0.8, "accel": 0.7, "pause": 1.0, "speed_jitter": 0.5}


@pytest.mark.parametrize("knob", sorted(KNOBS))
def test_each_knob_is_reproducible_off_by_default_and_changes_the_data(knob):
    value = KNOBS[knob]
    a = generate_polylines(n=12, **{knob: value})
    assert np.array_equal(a, generate_polylines(n=12, **{knob: value}))  # bit for bit
    assert np.array_equal(generate_polylines(n=12, **{knob: 0.0}), generate_polylines(n=12))
    assert not np.array_equal(a, generate_polylines(n=12))
    assert a.shape == (12, 1200, 2) and np.isfinite(a).all()
    # The first k paths do not depend on n.
    assert np.array_equal(generate_polylines(n=5, **{knob: value}), a[:5])


def test_knobs_move_data_info_statistics_as_documented():
    def stats(**kw):
        return character(generate_polylines(n=40, **kw)[:, ::20].transpose(1, 0, 2))

    base = stats()
    assert stats(turn=3.0)["mean_turn_deg"] < base["mean_turn_deg"] - 10  # gentler turns
    assert stats(turn=-1.0)["mean_turn_deg"] > base["mean_turn_deg"] + 5  # hairpins
    assert stats(arc=1.0)["straight_fraction"] < base["straight_fraction"] / 2  # curves
    assert stats(pause=2.0)["speed_cv"] > base["speed_cv"] + 0.2  # stops
    assert stats(accel=1.0)["speed_cv"] > base["speed_cv"] + 0.05
    assert stats(speed_jitter=0.5)["speed_cv"] > base["speed_cv"] + 0.05


def test_pauses_and_speed_profiles_keep_the_path_and_its_ends():
    steady = generate_polylines(n=10).astype(np.float64)
    for kw in ({"pause": 1.5}, {"accel": 1.0}, {"speed_jitter": 0.9}):
        moved = generate_polylines(n=10, **kw).astype(np.float64)
        assert np.allclose(moved[:, [0, -1]], steady[:, [0, -1]], atol=1e-5)
        assert np.abs(moved).max() <= 1.1 + 1e-6
    rest = np.linalg.norm(np.diff(generate_polylines(n=10, pause=1.0), axis=1), axis=-1)
    assert (rest < 1e-7).mean() > 0.2  # the pen stands still for a while at each vertex


def test_turn_bias_cannot_stall_in_a_corner_of_the_box():
    # A strong bias heading into a corner has no direction inside: the draw falls back.
    arr = generate_polylines(n=30, turn=10.0, run=(0.5, 0.8))
    assert np.abs(arr).max() <= 1.1 + 1e-6


@pytest.mark.parametrize(
    "knob, bad", [("accel", 1.5), ("speed_jitter", 1.0), ("arc", -0.1), ("pause", -1.0)]
)
def test_knobs_out_of_range_are_refused(knob, bad):
    with pytest.raises(ValueError, match=knob):
        generate_polylines(n=2, **{knob: bad})


def test_cli_generate_takes_the_generator_knobs(tmp_path, capsys):
    out = tmp_path / "hand.npy"
    assert (
        main(["generate", "--out", str(out), "--set", "vertices=10,12", "--set", "slowing=0.5"])
        == 0
    )
    assert np.array_equal(np.load(out), generate_polylines(vertices=(10, 12), slowing=0.5))
    for item, message in (
        ("bogus=1", "NAME one of vertices"),
        ("slowing=x", "a number or LOW,HIGH"),
        ("slowing=nan", "finite"),
        ("slowing=3", "slowing must lie in [0, 1]"),
        ("vertices=1,2,3", "LOW,HIGH"),
    ):
        with pytest.raises(SystemExit) as exc:
            main(["generate", "--out", str(tmp_path / "x.npy"), "--set", item])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "x.npy").exists()


def test_generator_knobs_change_difficulty():
    def mean_step(arr: np.ndarray) -> float:
        return float(np.linalg.norm(np.diff(arr[:, ::20], axis=1), axis=-1).mean())

    slow = generate_trajectories(n=20, n_control=10, tremor=0.0)
    fast = generate_trajectories(n=20, n_control=40, tremor=0.0)
    assert mean_step(slow) < mean_step(fast)


# --------------------------------------------------------------------------------- loader


def test_load_default_shape_and_dtype(generated):
    data = load_trajectories()
    assert data.shape == (60, 250, 2) and data.dtype == np.float32
    assert data.flags.c_contiguous
    np.testing.assert_array_equal(data[:, 7], generated[7, ::20])


def test_load_default_regenerates_when_file_missing(monkeypatch, tmp_path):
    import rnn_capacity.trajectories as data

    monkeypatch.setattr(data, "DEFAULT_DATA", tmp_path / "absent.npy")
    np.testing.assert_array_equal(
        data.load_trajectories(), np.load(DEFAULT_DATA)[:, ::20].swapaxes(0, 1)
    )


def test_load_pickle(generated, tmp_path):
    path = tmp_path / "hard_trajectories_250.pk"
    with path.open("wb") as f:
        pickle.dump(generated.astype(np.float64), f)
    data = load_trajectories(path)
    assert data.shape == (60, 250, 2) and data.dtype == np.float32
    np.testing.assert_array_equal(data, load_trajectories())


def test_load_npy_path_as_string(tmp_path, generated):
    path = tmp_path / "copy.npy"
    np.save(path, generated)
    np.testing.assert_array_equal(load_trajectories(str(path)), load_trajectories())


def _write_npy(path: Path, arr: np.ndarray) -> Path:
    np.save(path, arr)
    return path


def _with_nan() -> np.ndarray:
    arr = np.zeros(RAW_SHAPE)
    arr[17, 300, 1] = np.nan
    return arr


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("missing.npy", lambda p: p, "no such file"),
        ("corrupt.npy", lambda p: p.write_bytes(b"\x93NUMPY garbage") and p, "cannot read"),
        ("corrupt.pk", lambda p: p.write_bytes(b"not a pickle") and p, "cannot read"),
        ("shape.npy", lambda p: _write_npy(p, np.zeros((250, 600, 2))), "(250, 600, 2)"),
        ("nan.npy", lambda p: _write_npy(p, _with_nan()), "non-finite"),
        # Finite in float64 but infinite once the models' float32 reads it.
        ("huge.npy", lambda p: _write_npy(p, np.full(RAW_SHAPE, 1e39)), "float32's range"),
        ("data.csv", lambda p: p.write_text("1,2\n") and p, "unknown file type"),
    ],
)
def test_load_errors(tmp_path, name, make, message):
    path = tmp_path / name
    make(path)
    with pytest.raises(UsageError) as info:
        load_trajectories(path)
    text = str(info.value)
    assert str(path) in text and message in text
    assert "\n" not in text
    if name == "shape.npy":
        assert "(250, 1200, 2)" in text  # says what was expected, too


# ---------------------------------------------------------------------------- data module


def test_datamodule_single_replica():
    dm = TrajectoryDataModule(5, seed=3)
    dm.setup()
    assert dm.num_replicas == 1 and dm.num_sequences == [5]
    assert dm.targets.shape == (60, 1, 5, 2) and dm.targets.dtype == torch.float32
    assert dm.mask.shape == (1, 5) and dm.mask.dtype == torch.bool and bool(dm.mask.all())
    idx = dm.indices[0]
    assert len(set(idx.tolist())) == 5 and idx.min() >= 0 and idx.max() < 250
    np.testing.assert_array_equal(dm.targets[:, 0].numpy(), load_trajectories()[:, idx])
    targets = dm.targets
    dm.setup("fit")  # idempotent: nothing redrawn
    assert dm.targets is targets


def test_datamodule_reproducible_and_seed_dependent():
    a, b, c = TrajectoryDataModule(40, 7), TrajectoryDataModule(40, 7), TrajectoryDataModule(40, 8)
    for dm in (a, b, c):
        dm.setup()
    np.testing.assert_array_equal(a.indices[0], b.indices[0])
    assert not np.array_equal(a.indices[0], c.indices[0])


def test_datamodule_all_250_distinct():
    dm = TrajectoryDataModule(250, seed=1)
    dm.setup()
    assert sorted(dm.indices[0].tolist()) == list(range(250))


@pytest.mark.parametrize("p", [0, 251, -3])
def test_datamodule_rejects_p_out_of_range(p):
    with pytest.raises(UsageError, match=rf"num_sequences={p} out of range: 1\.\.250"):
        TrajectoryDataModule(p)


def test_datamodule_rejects_bad_lists():
    with pytest.raises(UsageError, match="entries"):
        TrajectoryDataModule([3, 4, 5], seed=[0, 1])
    with pytest.raises(UsageError, match="integer"):
        TrajectoryDataModule(5.5)
    with pytest.raises(UsageError, match="num_sequences=251 out of range"):
        TrajectoryDataModule([3, 251], seed=[0, 1])


def test_datamodule_padding_and_mask_for_replicas():
    ps, seeds = [3, 7, 1], [10, 11, 12]
    dm = TrajectoryDataModule(ps, seed=seeds)
    dm.setup()
    data = load_trajectories()
    assert dm.num_replicas == 3 and dm.num_sequences == ps
    assert dm.targets.shape == (60, 3, 7, 2) and dm.mask.shape == (3, 7)
    for k, (p, seed) in enumerate(zip(ps, seeds, strict=True)):
        expected = np.random.default_rng(seed).choice(250, p, replace=False)
        np.testing.assert_array_equal(dm.indices[k], expected)
        assert dm.mask[k].tolist() == [True] * p + [False] * (7 - p)
        np.testing.assert_array_equal(dm.targets[:, k, :p].numpy(), data[:, expected])
        assert not dm.targets[:, k, p:].any()  # zero padding


def test_datamodule_broadcasts_num_sequences():
    dm = TrajectoryDataModule(4, seed=[0, 1, 2])
    dm.setup()
    assert dm.num_sequences == [4, 4, 4] and dm.targets.shape == (60, 3, 4, 2)
    assert not np.array_equal(dm.indices[0], dm.indices[1])


def test_dataloader_repeats_the_same_batch():
    dm = TrajectoryDataModule([2, 5], seed=[0, 1])
    dm.setup()
    it = iter(dm.train_dataloader())
    batches = [next(it) for _ in range(5)]
    for batch in batches:
        assert set(batch) == {"targets", "mask"}
        assert batch["targets"].shape == (60, 2, 5, 2) and batch["mask"].shape == (2, 5)
        assert torch.equal(batch["targets"], dm.targets) and torch.equal(batch["mask"], dm.mask)


def test_dataloader_runs_many_steps_in_one_epoch():
    import pytorch_lightning as pl

    class Probe(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))
            self.epochs_started = 0

        def on_train_epoch_start(self) -> None:
            self.epochs_started += 1

        def training_step(self, batch, batch_idx):
            return ((batch["targets"] - self.w) ** 2).mean()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    probe = Probe()
    trainer = pl.Trainer(
        max_steps=20,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        accelerator="cpu",
        devices=1,
    )
    trainer.fit(probe, datamodule=TrajectoryDataModule(3))
    assert trainer.global_step == 20 and probe.epochs_started == 1


# ------------------------------------------------------------------------------------ CLI
#
# Each `python -m rnn_capacity.data` subprocess spends ~5 s importing torch and Lightning,
# so the three end-to-end runs start together in one fixture; everything else about the
# command line is checked in-process through main(argv).


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory) -> dict:
    """Start the subprocess runs concurrently; return {name: (CompletedProcess, path)}."""
    tmp = tmp_path_factory.mktemp("cli")
    existing = tmp / "existing.npy"
    existing.write_bytes(b"precious")
    png = tmp / "traj.png"
    commands = {
        "refuse": (["generate", "--out", str(existing)], existing),
        "info": (["info"], None),
        "plot": (["plot", "--out", str(png), "--n", "4"], png),
    }
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "rnn_capacity.data", *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, (args, _) in commands.items()
    }
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=180)
        result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        results[name] = (result, commands[name][1])
    return results


def test_cli_generate_refuses_to_overwrite(cli_runs):
    result, existing = cli_runs["refuse"]
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(existing) in lines[0]
    assert existing.read_bytes() == b"precious"


def test_cli_info_prints_shape(cli_runs):
    result, _ = cli_runs["info"]
    assert result.returncode == 0, result.stderr
    assert "(60, 250, 2)" in result.stdout and "(250, 1200, 2)" in result.stdout


def test_cli_plot_writes_png(cli_runs):
    result, png = cli_runs["plot"]
    assert result.returncode == 0, result.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_main_generate_writes_and_forces(tmp_path, capsys):
    out = tmp_path / "sub" / "t.npy"
    assert main(["generate", "--out", str(out), "--seed", "5"]) == 0
    assert np.array_equal(np.load(out), STYLES[DEFAULT_STYLE](seed=5))
    with pytest.raises(SystemExit) as exc:
        main(["generate", "--out", str(out)])
    assert exc.value.code == 2
    assert main(["generate", "--out", str(out), "--force"]) == 0
    assert out.read_bytes() == DEFAULT_DATA.read_bytes()
    assert [p.name for p in out.parent.iterdir()] == ["t.npy"]  # no temporary left over


def test_main_bad_usage_is_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["plot"])  # --out is required
    assert exc.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--out" in lines[0]


def test_main_usage_error_is_one_line(capsys):
    """cli_main turns a UsageError into exit 2 with one line and no traceback."""
    with pytest.raises(SystemExit) as exc:
        main(["info", "--path", "/nonexistent/x.npy"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == "error: /nonexistent/x.npy: no such file\n"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("existing.png", "exists: pass --force"),
        ("traj.txt", "unknown image format '.txt'"),
        pytest.param(
            "traj.pgf",
            "cannot write",
            marks=pytest.mark.skipif(shutil.which("xelatex") is not None, reason="has LaTeX"),
        ),
    ],
)
def test_main_plot_refuses_to_overwrite_or_guess_a_format(tmp_path, capsys, name, message):
    out = tmp_path / name
    if name.startswith("existing"):
        out.write_bytes(b"precious")
    with pytest.raises(SystemExit) as exc:
        main(["plot", "--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert [p.name for p in tmp_path.iterdir()] == ([name] if out.exists() else [])
    assert not out.exists() or out.read_bytes() == b"precious"


def test_the_generator_and_loader_import_numpy_only():
    """The trajectories module is usable without torch or Lightning."""
    code = (
        "import sys, rnn_capacity.trajectories as t; t.generate_polylines(n=2); "
        "print('torch' in sys.modules or 'pytorch_lightning' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.parametrize("dtype", [np.complex64, np.bool_])
def test_load_refuses_non_real_arrays(tmp_path, dtype):
    path = tmp_path / "odd.npy"
    np.save(path, np.zeros(RAW_SHAPE, dtype=dtype))
    with pytest.raises(UsageError, match="expected real coordinates"):
        load_trajectories(path)
