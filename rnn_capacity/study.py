"""``python -m rnn_capacity.study``: the whole study in one command.

For every (model, size) — by default every model of the registry at the sizes its
config lists (protocol.md: H ∈ {30, 40, 60}; the ESN 1000–4000) — three stages, then
the report:

1. **sweep** — the Bayesian search (``rnn_capacity.sweep``) in ``<out>/sweeps/<model>_<H>/``;
2. **optimum** — the grid optimum of its surrogate (``rnn_capacity.optimum``; the
   ``quick`` preset takes the best configuration measured instead, ``--optimum``),
   ``<out>/evaluations/<model>_<H>/optimum.json``;
3. **evaluation** — S seeds at that optimum (``rnn_capacity.evaluate``),
   ``<out>/evaluations/<model>_<H>/evaluation.json`` and its plots;
4. **report** — ``<out>/report/``: the figure of count against size for every model,
   beside the original study's (``rnn_capacity.report``).

Resumable at every stage: a finished stage (a sweep with all its calls, an
``optimum.json``, an ``evaluation.json``) is not redone, an unfinished sweep is resumed,
so a killed study continues where it stopped by running the same command again.
One overall progress bar (in training iterations, with an ETA) sits above the bar of the
stage at work.

Presets (``rnn_capacity.protocol.STUDY_PRESETS``): ``paper`` is protocol.md (each
model's ``paper`` sweep preset: 300 calls, 500 for the ESN, 2 tries, 3000 iterations; 10
evaluation seeds; optimum on the res-50 grid) — days of CPU for the whole study;
``quick`` is a demonstration (each cell's ``quick`` sweep: 2 configurations of the
protocol's measurement with 3 tries, the original's optimum where there is one and a
random one; 3 evaluation seeds) that runs a few models and sizes in minutes; with so few calls
its optimum is rough. Every stage is a typed call: the sweep's settings come from
:func:`rnn_capacity.sweep.settings.resolve_settings`, the records it reads back are those
of :mod:`rnn_capacity.records`.

For example::

    python -m rnn_capacity.study --preset quick --models pc_rnn_hc_a gru --sizes 30 60
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .cli import add_data, add_executor, add_iterations, add_log_dir, add_prune, quiet_lightning
from .config import SearchConfig, load_search_config
from .errors import (
    ArgumentParser,
    UsageError,
    check_directory,
    cli_main,
    ensure_directory,
    write_failed,
)
from .evaluate import evaluate, sweep_plan
from .files import DirectoryLock, write_json
from .interrupt import Interrupted, interruptible_command, report_interrupted
from .models import MODELS, SPACE_HELP, model_help, model_slug, resolve_model
from .models.options import MAX_HIDDEN
from .optimum import check_grid, find_optimum, observed_optimum
from .progress import add_progress, apply_progress
from .progress import bar as progress_bar
from .protocol import (
    DEFAULT_EXECUTOR,
    DEFAULT_PRESET,
    LOG_DIR,
    MAX_EVALUATION_SEEDS,
    OPTIMA,
    RESULTS_DIR,
    StudyOptions,
)
from .protocol import STUDY_PRESETS as PRESETS
from .records import Optimum, SweepSummary
from .report import build_report
from .sweep.loop import run_sweep
from .sweep.settings import SweepSettings, check_prune, resolve_settings

__all__ = ["Cell", "PRESETS", "StudyOptions", "cells_of", "main", "resolve", "run_study"]

PROG = "python -m rnn_capacity.study"


@dataclass
class Cell:
    """One (model, size) of the study, where its stages write, and its sweep's settings
    (resolved once, at the study's start: resuming a sweep that was started before)."""

    model: str
    hidden_size: int
    root: Path
    settings: SweepSettings | None = None
    config: SearchConfig | None = None
    space: Path | None = None  # --space: the search-space file of a model

    @property
    def name(self) -> str:
        return f"{model_slug(self.model)}_{self.hidden_size}"

    @property
    def sweep_dir(self) -> Path:  # its name is the sweep's TensorBoard group
        return self.root / "sweeps" / self.name

    @property
    def evaluation_dir(self) -> Path:
        return self.root / "evaluations" / self.name

    @property
    def optimum_file(self) -> Path:
        return self.evaluation_dir / "optimum.json"


def sweep_settings(
    cell: Cell, opts: StudyOptions, log_dir: Path, data: str | None
) -> tuple[SweepSettings, SearchConfig]:
    """The cell's sweep settings, resuming a sweep that was started before."""
    return resolve_settings(
        cell.model,
        cell.hidden_size,
        preset=opts.sweep_preset,
        space=cell.space,
        calls=opts.calls,
        tries=opts.tries,
        iterations=opts.iterations,
        batch_size=opts.batch_size,
        initial_points=opts.initial_points,
        seed=opts.seed,
        out=cell.sweep_dir,
        resume=(cell.sweep_dir / "space.json").is_file(),
        log_dir=log_dir,
        data=data or None,
        executor=opts.executor or DEFAULT_EXECUTOR,
        workers=opts.workers,
        address=opts.address,
        threads=opts.threads,
        prune=opts.prune,
    )


def sweep_done(cell: Cell, calls: int) -> bool:
    """Whether the cell's sweep has all its calls (and its plots, written last); an
    unreadable summary is an unfinished sweep, whose resume rewrites it."""
    try:
        summary = SweepSummary.read(cell.sweep_dir / "summary.json")
    except UsageError:
        return False
    return summary.calls_done >= calls and (cell.sweep_dir / "convergence.png").is_file()


def stage_costs(settings: SweepSettings, seeds: int) -> tuple[int, int]:
    """Training iterations of a cell's sweep and of its evaluation (progress units)."""
    sweep = settings.calls * settings.tries * settings.iterations
    return sweep, seeds * settings.iterations


def run_cell_sweep(cell: Cell, opts: StudyOptions, bar) -> None:
    """The cell's sweep, unless it is finished (an unfinished one resumes)."""
    if not sweep_done(cell, cell.settings.calls):
        bar.set_description(f"{cell.name}: sweep")
        run_sweep(cell.settings, cell.config)
    bar.update(stage_costs(cell.settings, opts.seeds)[0])


def run_cell(cell: Cell, opts: StudyOptions, log_dir: Path, bar) -> None:
    """Optimum and evaluation of one cell whose sweep is done, skipping finished stages."""
    eval_cost = stage_costs(cell.settings, opts.seeds)[1]

    if not cell.optimum_file.is_file():
        bar.set_description(f"{cell.name}: optimum")
        if opts.optimum == "observed":
            optimum = observed_optimum(cell.sweep_dir)
        else:
            optimum = find_optimum(cell.sweep_dir, resolution=opts.resolution, progress=False)
        ensure_directory(cell.evaluation_dir, "evaluation directory")
        optimum.write(cell.optimum_file)
    optimum = Optimum.read(cell.optimum_file)

    if not (cell.evaluation_dir / "evaluation.json").is_file():
        bar.set_description(f"{cell.name}: evaluation")
        plan = sweep_plan(cell.sweep_dir, opts.resolution, progress=False, optimum=optimum)
        seeds = list(range(opts.seeds))
        group = f"{cell.name}_evaluation"
        for s in seeds:  # runs of an evaluation that was stopped: replaced, not mixed with
            shutil.rmtree(log_dir / group / f"seed{s}", ignore_errors=True)
        evaluate(plan, seeds, cell.evaluation_dir, log_dir, group, progress=False)
    bar.update(eval_cost)


def cells_of(
    models: list[str], sizes: list[int] | None, root: Path, spaces: dict | None = None
) -> list[Cell]:
    """The (model, size) cells; ``spaces``: model -> search-space file (``--space``).

    Examples:
        >>> from pathlib import Path
        >>> from rnn_capacity.study import cells_of
        >>> cells = cells_of(["pc_rnn_hc_a", "esn"], None, Path("results/study"))
        >>> [cell.name for cell in cells]  # each config's sizes  # doctest: +NORMALIZE_WHITESPACE
        ['pc_rnn_hc_a_30', 'pc_rnn_hc_a_40', 'pc_rnn_hc_a_60',
         'esn_1000', 'esn_2000', 'esn_3000', 'esn_4000']
        >>> cells[0].sweep_dir.as_posix()  # each cell's stages write below the root
        'results/study/sweeps/pc_rnn_hc_a_30'
        >>> cells[0].optimum_file.as_posix()
        'results/study/evaluations/pc_rnn_hc_a_30/optimum.json'
    """
    cells = []
    spaces = spaces or {}
    for model in models:
        space = spaces.get(model)
        for h in sizes or load_search_config(model, space=space).sizes:
            cells.append(Cell(model, h, root, space=space))
    return cells


def run_study(
    cells: list[Cell], opts: StudyOptions, out: Path, log_dir: Path, data: str | None = None
) -> dict:
    """Every cell's stages, then the report; returns what the report wrote.

    Examples:
        A tiny study (the ``quick`` preset cut to 2 configurations of 5 iterations and one
        evaluation seed: the machinery, not a measurement), as the command builds it:

        >>> import contextlib, io, shutil, tempfile
        >>> from pathlib import Path
        >>> from rnn_capacity.study import build_parser, resolve, run_study
        >>> out = Path(tempfile.mkdtemp())
        >>> args = build_parser().parse_args(["--models", "srnn", "--sizes", "4", "--calls",
        ...     "2", "--iterations", "5", "--seeds", "1", "--out", str(out)])
        >>> cells, opts = resolve(args)
        >>> with contextlib.redirect_stdout(io.StringIO()):  # the sweep's line per configuration
        ...     written = run_study(cells, opts, out, out / "lightning_logs")
        >>> [cell.name for cell in cells], (out / "report" / "report.md").is_file()
        (['srnn_4'], True)
        >>> sorted(path.name for path in (out / "evaluations" / "srnn_4").glob("*.json"))
        ['evaluation.json', 'optimum.json']
        >>> shutil.rmtree(out)
    """
    for cell in cells:
        if cell.settings is None:
            cell.settings, cell.config = sweep_settings(cell, opts, log_dir, data)
    total = sum(sum(stage_costs(c.settings, opts.seeds)) for c in cells)
    start = time.perf_counter()
    with progress_bar(total=total, unit="it", unit_scale=True, position=0, desc="study") as bar:
        run_sweeps(cells, opts, bar)
        for cell in cells:
            run_cell(cell, opts, log_dir, bar)
        bar.set_description("study: report")
    written = build_report([out / "evaluations"], out / "report", force=True)
    write_json(
        out / "study.json",
        {
            "cells": [c.name for c in cells],
            "options": dataclasses.asdict(opts),
            "report": str(out / "report"),
            "seconds_this_run": round(time.perf_counter() - start, 1),
        },
    )  # for people: the study does not read it back
    return written


def run_sweeps(cells: list[Cell], opts: StudyOptions, bar) -> None:
    """Every cell's sweep: one after the other, or ``--concurrent`` of them at once, each in
    a driver thread of its own (the training happens on the executor's workers, so the
    threads only ask, tell and write)."""
    if opts.concurrent == 1:
        for cell in cells:
            run_cell_sweep(cell, opts, bar)
        return
    with ThreadPoolExecutor(opts.concurrent, thread_name_prefix="sweep") as pool:
        futures = [pool.submit(run_cell_sweep, c, opts, bar) for c in cells]
        for future in futures:
            future.result()  # the first failure stops the study with its error


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("--preset", choices=list(PRESETS), default=DEFAULT_PRESET, help="default: quick")
    p.add_argument(
        "--models",
        nargs="+",
        metavar="MODEL",
        help=model_help("the models (default: all registered)"),
    )
    p.add_argument(
        "--space", action="append", default=[], metavar="[MODEL=]FILE.yaml",
        help=f"{SPACE_HELP}. MODEL= says whose (needed unless --models names one); "
        "repeatable",
    )  # fmt: skip
    p.add_argument("--sizes", type=int, nargs="+", help="default: each model's config sizes")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "study", help="study directory")
    add_log_dir(p, None, help=f"TensorBoard root (default <out>/{LOG_DIR})")
    add_data(p, "trajectory file (default: the built-in one)")
    p.add_argument("--seed", type=int, default=0, help="seeds every sweep")
    p.add_argument("--calls", type=int, help="configurations per sweep")
    add_iterations(p)
    for flag, text in [
        ("--tries", "measurements per configuration"),
        ("--batch-size", "configurations trained at once"),
        ("--seeds", "evaluation seeds at the optimum"),
        ("--resolution", "grid resolution of the optimum"),
    ]:
        p.add_argument(flag, type=int, help=text)
    add_executor(
        p, None, help="where each sweep trains its batches (rnn_capacity.sweep --executor)"
    )
    add_prune(p)
    p.add_argument(
        "--concurrent",
        type=int,
        help="sweeps run at once (needs --executor process or ray; default 1)",
    )
    p.add_argument(
        "--optimum",
        choices=list(OPTIMA),
        help="evaluate at the surrogate's grid optimum (protocol.md; paper) or at the best "
        "configuration the sweep measured (quick: 2 calls make no useful surrogate)",
    )
    add_progress(p)
    return p


def resolve(args) -> tuple[list[Cell], StudyOptions]:
    try:
        models = [resolve_model(m)[0] for m in args.models or list(MODELS)]
    except UsageError as exc:
        raise UsageError(f"--models: {exc}") from None
    if len(set(models)) != len(models):
        raise UsageError("--models: a model is named twice")
    spaces = space_files(args.space, models)
    for h in args.sizes or []:
        if not 1 <= h <= MAX_HIDDEN:
            raise UsageError(f"--sizes: {h} out of range: 1..{MAX_HIDDEN}")
    given = {"seed": args.seed, "executor": args.executor, "workers": args.workers}
    given |= {"address": args.address, "prune": args.prune}
    if args.optimum:
        given["optimum"] = args.optimum
    if args.concurrent is not None:
        if not 1 <= args.concurrent <= 256:
            raise UsageError(f"--concurrent={args.concurrent} out of range: 1..256")
        if args.concurrent > 1 and args.executor not in ("process", "ray"):
            raise UsageError(
                "--concurrent needs --executor process or ray (training off the driver)"
            )
        given["concurrent"] = args.concurrent
    for name in ("calls", "iterations", "tries", "batch_size", "seeds", "resolution"):
        value = getattr(args, name)
        if value is not None:
            low = 2 if name == "resolution" else 1
            if value < low:
                raise UsageError(f"--{name.replace('_', '-')} must be at least {low}")
            given[name] = value
    if args.seed < 0:
        raise UsageError(f"--seed must be non-negative, got {args.seed}")
    if args.seeds is not None and args.seeds > MAX_EVALUATION_SEEDS:
        raise UsageError(f"--seeds must be in 1..{MAX_EVALUATION_SEEDS}, got {args.seeds}")
    if args.prune:  # every model, now: not after hours of other cells
        for model in models:
            check_prune(model)
    cells = cells_of(models, args.sizes, args.out, spaces)
    if args.executor is None and args.concurrent is None and args.workers is None:
        given |= every_cell(len(cells))
    opts = dataclasses.replace(PRESETS[args.preset], **given)
    if opts.optimum == "surrogate":  # the grid each cell's optimum stage will search
        for model in models:
            dims = len(load_search_config(model, space=spaces.get(model)).space)
            check_grid(opts.resolution, dims)
    if opts.calls is not None:
        # The optimum needs a fitted surrogate: at least one GP point after the random ones
        # (the sweep's presets draw 5 or 10 random points after x0).
        opts = dataclasses.replace(opts, initial_points=max(0, min(5, opts.calls - 2)))
    return cells, opts


def every_cell(cells: int) -> dict:
    """The study's default on a machine of N > 1 cores: min(N, cells) sweeps at once,
    each training on one worker process of one thread (a sweep's own search stays
    sequential, as the original's was); with one cell, the sweep's own default
    (``--executor auto``)."""
    cores = os.cpu_count() or 1
    if cells < 2 or cores < 2:
        return {}
    return {"concurrent": min(cores, cells), "executor": "process", "workers": 1, "threads": 1}


def space_files(given: list[str], models: list[str]) -> dict[str, Path]:
    """``--space [MODEL=]FILE`` as model (resolved, as in ``models``) -> file."""
    spaces: dict[str, Path] = {}
    for item in given:
        model, sep, file = item.partition("=")
        if not sep:
            if len(models) != 1:
                raise UsageError(f"--space {item}: say whose space it is, --space MODEL={item}")
            model, file = models[0], item
        else:
            try:
                model = resolve_model(model)[0]
            except UsageError as exc:
                raise UsageError(f"--space {item}: {exc}") from None
            if model not in models:
                raise UsageError(f"--space {item}: {model} is not one of the study's --models")
        if model in spaces:
            raise UsageError(f"--space: two files for {model}")
        spaces[model] = Path(file)
    return spaces


@cli_main
def main(argv=None) -> int:
    """``python -m rnn_capacity.study``: the study's command line (``argv``: its flags).

    Returns 0 when the study is done, 130 (SIGTERM: 143) when interrupted, 1 when a write
    fails (a full disk); what is finished is kept.

    Examples:
        Bad input is one ``error:`` line on stderr and exit status 2:

        >>> from rnn_capacity.study import main
        >>> main(["--models", "srnn", "--sizes", "0"])
        Traceback (most recent call last):
        ...
        SystemExit: 2
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    apply_progress(args)
    cells, opts = resolve(args)
    log_dir = args.log_dir or args.out / LOG_DIR
    check_directory(args.out, "study directory")
    check_directory(log_dir, "TensorBoard log directory")
    for cell in cells:  # every cell's settings checked before the first directory is made
        cell.settings, cell.config = sweep_settings(cell, opts, log_dir, args.data)
    ensure_directory(args.out, "study directory")
    again = shlex.join([*PROG.split(), *argv])
    try:
        with DirectoryLock(args.out, "study"), quiet_lightning(), interruptible_command():
            written = run_study(cells, opts, args.out, log_dir, args.data)
    except (Interrupted, KeyboardInterrupt) as exc:
        where = f" ({exc.kept})" if getattr(exc, "kept", None) else ""
        return report_interrupted(exc, f"finished stages are kept in {args.out}{where}", again)
    except OSError as exc:  # a full disk, say: every finished stage is on disk
        return write_failed(exc, args.out, "finished stages are kept", f"continue with: {again}")
    print(f"study of {len(cells)} (model, size) cells done; report in {args.out / 'report'}")
    for path in written.get("files", []):
        print(f"  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
