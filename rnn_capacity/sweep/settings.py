"""A sweep's settings: a preset under explicit values, checked, as one typed object.

:func:`resolve_settings` is the one way to them, from typed arguments: the command line
(:mod:`rnn_capacity.sweep.cli`) and the study call it alike. The presets and defaults are
data in :mod:`rnn_capacity.protocol`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, fields
from pathlib import Path

from ..config import SearchConfig, load_search_config
from ..data import load_trajectories
from ..errors import UsageError
from ..measure import MAX_ITERATIONS, validate_run
from ..models import BUILTIN_MODELS, model_slug, resolve_model
from ..models.options import MAX_HIDDEN, MAX_SEED, check_count
from ..protocol import (
    DEFAULT_ACCELERATOR,
    DEFAULT_EXECUTOR,
    DEFAULT_PRESET,
    EXECUTORS,
    LOG_DIR,
    RESULTS_DIR,
    THRESHOLD,
    SweepPreset,
)
from ..protocol import SWEEP_PRESETS as PRESETS
from ..records import SweepSpace
from ..reference import reference_result

__all__ = ["PRESETS", "SweepSettings", "every_core", "ray_address", "require_ray"]
__all__ += ["check_prune", "resolve_settings"]


@dataclass
class SweepSettings:
    """Everything a sweep needs besides its search space."""

    model: str
    hidden_size: int
    calls: int
    tries: int
    iterations: int
    batch_size: int
    initial_points: int
    learn_initial_state: bool
    out: Path
    log_dir: Path
    seed: int = 0
    threshold: float = THRESHOLD
    accelerator: str = DEFAULT_ACCELERATOR
    data: str | None = None
    resume: bool = False
    batch_tries: bool = True  # False: every try is its own Trainer, as in the original
    compile: bool | None = None  # None: where it pays (models.compiled.compile_by_default)
    native: bool = False  # the leaky time loops in C++ where they build (models/native.py)
    prune: bool = False  # stop hopeless tries early (protocol.PRUNE): a departure
    settings: dict | None = None  # protocol settings (paper: the config's paper.settings)
    executor: str = "local"  # or "process", "ray" (rnn_capacity.sweep.executors)
    workers: int | None = 1  # ray: None = the cluster's CPUs
    threads: int | None = None  # torch threads of a process worker (None: cores // workers)
    address: str | None = None  # ray: "auto", "HOST:PORT" or None (a local cluster)

    @property
    def group(self) -> str:
        """The TensorBoard group of this sweep's runs: the output directory's name."""
        return self.out.resolve().name


#: The run options a preset gives and an explicit value overrides.
PRESET_OPTIONS = tuple(
    f.name
    for f in fields(SweepPreset)
    if f.name not in ("variant", "start_at_reference", "concurrent_search", "native_loop")
)
RANGES = {
    "calls": (1, 10**6),
    "tries": (1, 1000),
    "iterations": (1, MAX_ITERATIONS),
    "batch_size": (1, 1000),
    "initial_points": (0, 10**6),
    "hidden_size": (1, MAX_HIDDEN),
    "seed": (0, MAX_SEED),
}


def resolve_settings(
    model: str,
    hidden_size: int,
    *,
    preset: str = DEFAULT_PRESET,
    space: Path | None = None,
    calls: int | None = None,
    tries: int | None = None,
    iterations: int | None = None,
    batch_size: int | None = None,
    initial_points: int | None = None,
    learn_initial_state: bool | None = None,
    batch_tries: bool | None = None,
    seed: int = 0,
    threshold: float = THRESHOLD,
    out: Path | None = None,
    resume: bool = False,
    log_dir: Path = LOG_DIR,
    data: str | None = None,
    accelerator: str = DEFAULT_ACCELERATOR,
    compile: bool | None = None,
    native: bool | None = None,
    prune: bool | None = None,
    executor: str = DEFAULT_EXECUTOR,
    workers: int | None = None,
    address: str | None = None,
    threads: int | None = None,
) -> tuple[SweepSettings, SearchConfig]:
    """The settings of a sweep of ``model`` at ``hidden_size`` and its search space:
    ``preset``'s run options under the ones given (None: the preset's), every value
    checked (a :class:`UsageError` naming its flag) before anything is written.

    ``out`` defaults to ``results/<model>_<H>``; ``workers`` to 1 (the cluster's CPUs
    with ``executor="ray"``; with ``"auto"``, see :func:`every_core`); ``threads`` (torch
    threads of each process worker) to cores // workers; ``space`` to the model's search
    space.
    """
    if preset not in PRESETS:
        raise UsageError(f"--preset {preset!r}: one of {', '.join(PRESETS)}")
    model, _ = resolve_model(model)
    config = load_search_config(model, space=space)
    if "p" not in config.names:
        raise UsageError(f"{config.path}: the space needs the dimension p")
    given = {
        "calls": calls,
        "tries": tries,
        "iterations": iterations,
        "batch_size": batch_size,
        "initial_points": initial_points,
        "learn_initial_state": learn_initial_state,
        "batch_tries": batch_tries,
    }
    chosen = {k: given[k] if given[k] is not None else getattr(PRESETS[preset], k)
              for k in PRESET_OPTIONS}  # fmt: skip
    if chosen["calls"] is None:  # paper: the protocol's count for this model
        chosen["calls"] = config.calls
    protocol = {}
    if PRESETS[preset].variant:  # the variant that reproduces the original for this model
        if chosen["learn_initial_state"] is None:
            chosen["learn_initial_state"] = config.paper.learn_initial_state
        protocol = dict(config.paper.settings)
    elif chosen["learn_initial_state"] is None:
        chosen["learn_initial_state"] = True
    out = out or RESULTS_DIR / f"{model_slug(model)}_{hidden_size}"
    if resume:  # the experiment recorded there, where only the preset chose otherwise
        recorded = recorded_options(out)
        for name in ("tries", "iterations", "learn_initial_state"):
            if given[name] is None and name in recorded:
                chosen[name] = recorded[name]
        protocol = recorded.get("settings", protocol)
        if prune is None:  # a pruned search goes on pruned, an unpruned one unpruned
            prune = recorded.get("prune") is not None
    for name, (low, high) in RANGES.items():
        value = chosen.get(name, {"hidden_size": hidden_size, "seed": seed}.get(name))
        if not low <= value <= high:
            flag = f"--{name.replace('_', '-')}"
            raise UsageError(f"{flag}={value} out of range: {low}..{high}")
    if not 0 < threshold < math.inf:
        raise UsageError(f"--threshold must be positive and finite, got {threshold}")
    validate_run([], accelerator)  # the one accelerator check, before anything is written
    if data is not None:
        load_trajectories(data)  # a bad file fails now, before anything is written
    if executor not in EXECUTORS:
        raise UsageError(f"--executor {executor!r}: one of {', '.join(EXECUTORS)}")
    if threads is not None:
        check_count(threads, "threads", 1, 4096)
    if executor == "auto":
        concurrent = PRESETS[preset].concurrent_search
        executor, workers, threads = every_core(chosen["batch_size"], workers, threads, concurrent)
    if workers is None:
        workers = None if executor == "ray" else 1
    if executor == "local" and workers != 1:
        raise UsageError("--workers needs --executor process or ray")
    if workers is not None and not 1 <= workers <= 4096:
        raise UsageError(f"--workers={workers} out of range: 1..4096")
    if address is not None and executor != "ray":
        raise UsageError("--address needs --executor ray")
    ray_address(address)  # its form; the cluster is joined before anything is written
    if executor == "ray":
        require_ray()
    if prune:
        check_prune(model)
    if PRESETS[preset].start_at_reference and space is None:
        config = start_at_reference(config, hidden_size)
    settings = SweepSettings(
        model=model,
        hidden_size=hidden_size,
        out=out,
        log_dir=log_dir,
        seed=seed,
        threshold=threshold,
        accelerator=accelerator,
        data=data,
        resume=resume,
        compile=compile,
        native=PRESETS[preset].native_loop if native is None else native,
        prune=bool(prune),
        settings=protocol,
        executor=executor,
        workers=workers,
        threads=threads,
        address=address,
        **chosen,
    )
    return settings, config


def check_prune(model: str) -> None:
    """A :class:`UsageError` unless ``--prune``'s rule was validated on ``model``."""
    name, cls = resolve_model(model)
    if not cls.prune_validated:
        ok = ", ".join(n for n, c in BUILTIN_MODELS.items() if c.prune_validated)
        raise UsageError(
            f"--prune: its rule was not validated on {name} (it may stop runs that would "
            f"learn); validated on: {ok}"
        )


def recorded_options(out: Path) -> dict:
    """The run options a sweep in ``out`` was started with (its ``space.json``): a
    resume keeps them where no flag says otherwise, so a directory started under an
    earlier preset's defaults resumes as the experiment it is. Empty where there is no
    readable record (the resume's own checks then say what is wrong)."""
    try:
        saved = SweepSpace.read(out / "space.json")
    except (UsageError, OSError):
        return {}
    keys = ("tries", "iterations", "learn_initial_state", "settings", "prune")
    return {k: getattr(saved, k) for k in keys}


def every_core(
    batch_size: int, workers: int | None, threads: int | None, concurrent: bool = False
) -> tuple[str, int, int | None]:
    """``--executor auto``: (executor, workers, threads). A batch of more than one
    configuration, or a ``concurrent`` search (the quick preset's), on a machine of N > 1
    cores trains on N worker processes of one thread each (N batches in flight, the
    constant liar keeping them apart); ``--workers W`` asks for W of them; anything else
    trains in this process, as the original did."""
    cores = os.cpu_count() or 1
    if workers is None:
        workers = cores if batch_size > 1 or concurrent else 1
    if workers <= 1:
        return "local", 1, threads
    return "process", workers, threads or max(1, cores // workers)


def reference_x0(config: SearchConfig, hidden_size: int) -> dict | None:
    """The original study's optimum at ``hidden_size`` as a point of ``config``'s space (p
    rounded, every value clipped to its bounds), or None where the published table has no
    such (model, size) or its optimum names other dimensions than the space's."""
    try:
        ref = reference_result(config.model, hidden_size)
    except UsageError:  # no published optimum for this model or size (a plug-in, say)
        return None
    if set(ref.surrogate_optimum) != set(config.names):
        return None
    x0 = {}
    for d in config.space:
        value = min(max(ref.surrogate_optimum[d.name], d.low), d.high)
        x0[d.name] = round(value) if d.type == "integer" else float(value)
    return x0


def start_at_reference(config: SearchConfig, hidden_size: int) -> SearchConfig:
    """``config`` with its x0 at the original study's optimum (:func:`reference_x0`), or
    unchanged where there is none."""
    x0 = reference_x0(config, hidden_size)
    return config if x0 is None else dataclasses.replace(config, x0=x0)


def reference_start(config: SearchConfig, hidden_size: int) -> str | None:
    """One line saying that the search starts at the original study's optimum and what
    the original predicts there; None when its x0 is not that optimum."""
    x0 = reference_x0(config, hidden_size)
    if x0 is None or x0 != config.x0:
        return None
    ref = reference_result(config.model, hidden_size)
    values = ", ".join(f"{k}={v:.4g}" for k, v in x0.items())
    return (
        f"starting at the original study's optimum at H={hidden_size} ({values}); its "
        f"surrogate predicts {ref.surrogate_predicted_count:.1f} of {x0['p']} learned there"
    )


#: The forms ``--address`` takes (besides none: a local cluster).
ADDRESS_FORMS = "auto, HOST:PORT or ray://HOST:PORT"
_HOST = re.compile(r"[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]")


def ray_address(address: str | None) -> tuple[str, int] | None:
    """The host and port ``--address`` names (None for ``auto`` or no address); a
    :class:`UsageError` unless it is one of :data:`ADDRESS_FORMS`."""
    if address is None or address == "auto":
        return None
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not (sep and _HOST.fullmatch(host) and port.isdigit() and 1 <= int(port) <= 65535):
        raise UsageError(f"--address {address!r}: expected {ADDRESS_FORMS}")
    return host.strip("[]"), int(port)


def require_ray():
    """Ray, or a one-line hint on how to get it."""
    try:
        import ray  # optional: the ray extra
    except ImportError:
        raise UsageError(
            '--executor ray needs Ray: pip install "rnn_capacity[ray]" (or: pip install ray)'
        ) from None
    return ray
