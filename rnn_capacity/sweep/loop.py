"""The search's loop: ask the optimiser for points, hand batches to an executor, tell it
what they scored, and keep the directory current (journal, summary, surrogate, best
model, plots, TensorBoard) after every batch. See :mod:`rnn_capacity.sweep`.
"""

from __future__ import annotations

import math
import pickle
import shutil
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from skopt import Optimizer
from tqdm.auto import tqdm

from ..config import SearchConfig
from ..errors import one_line
from ..files import write_atomic, write_json
from ..interrupt import Interrupted, InterruptGuard
from ..models import model_label
from ..plotting import pyplot, save
from ..progress import bar as progress_bar
from ..progress import write
from ..records import Configuration, SweepSummary
from .batch import train_batch
from .executors import Task, make_executor
from .journal import (
    JOURNAL,
    DirectoryLock,
    append_evaluations,
    experiment,
    prepare_output,
    summarise,
    summarised_wall,
)
from .settings import SweepSettings

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

__all__ = ["make_optimizer", "propose", "run_sweep"]

# ------------------------------------------------------------------------------ search


def make_optimizer(settings: SweepSettings, config: SearchConfig, done: int) -> Optimizer:
    # As gp_minimize(x0=...): x0 comes on top of the random initial points.
    return Optimizer(
        config.skopt_space(),
        base_estimator="GP",
        acq_func="EI",
        n_initial_points=settings.initial_points + 1,
        # A resumed search draws from a fresh stream: the sweep's own seed would replay
        # the random points already evaluated.
        random_state=int(np.random.SeedSequence([settings.seed, done]).generate_state(1)[0]),
        model_queue_size=1,  # only the last surrogate is used; all of them would fill memory
    )


def propose(
    opt: Optimizer, config: SearchConfig, k: int, first: bool, pending: list | None = None
) -> list[list]:
    """The next ``k`` points, as Python values; the very first configuration is x0.

    Points asked with x0 do not know it is pending: they are random ones anyway, unless
    ``--initial-points`` is smaller than the batch. Points still training elsewhere
    (``pending``) are told to a copy of the optimiser with the best objective so far as
    their value (constant liar), so that the new points differ from them.
    """
    head = [config.x0_list()] if first else []
    if pending:
        told = opt.yi
        opt = opt.copy(random_state=opt.rng)
        opt.tell([list(x) for x in pending], [min(told) if told else 0.0] * len(pending))
    n = k - len(head)
    points = [] if n == 0 else [opt.ask()] if n == 1 else opt.ask(n_points=n, strategy="cl_min")
    return head + [[v.item() if hasattr(v, "item") else v for v in x] for x in points]


def describe(record: Configuration) -> str:
    """One line per configuration for the console."""
    hp = " ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.hparams.items()
    )
    stopped = []  # a count of 0 that was not learned nothing, said so
    for name, steps in (("diverged", record.diverged_at), ("pruned", record.pruned_at)):
        if steps and any(s is not None for s in steps):
            stopped.append(f"{name} at {', '.join('-' if s is None else str(s) for s in steps)}")
    note = f" ({'; '.join(stopped)})" if stopped else ""
    return (
        f"{record.index:4d}  p={record.p:<3d} {hp}  counts={record.counts}{note}  "
        f"objective={record.objective:g}  {record.seconds:.1f} s"
    )


def learned(best) -> str:
    """``learned 55.2 of 61``, or ``nothing learned`` where every try counted 0 (a
    configuration that learned nothing is never called "best" as if it had)."""
    if best.mean_count <= 0:
        return "nothing learned"
    return f"learned {best.mean_count:.3g} of {best.p}"


def best_so_far(records: list[Configuration]) -> str:
    """The progress bar's postfix: what the best configuration so far learned."""
    if not records:
        return ""
    best = min(records, key=lambda r: r.objective)
    if best.mean_count <= 0:
        return "nothing learned yet"
    return f"best: {learned(best)}"


def save_best_model(
    earlier: list[Configuration], batch: list[Configuration], models: dict, out: Path
) -> None:
    """``best.ckpt``: the trained model (the better try) of the best configuration so far,
    replaced when a batch improves on it. Reload it with
    ``MODELS[model].load_from_checkpoint(out / "best.ckpt")``; ``best.json`` says which
    configuration it is (for people: the package does not read it back)."""
    best = min(batch, key=lambda r: r.objective)
    before = min((r.objective for r in earlier), default=math.inf)
    if best.objective < before or not (out / "best.ckpt").exists():
        models[best.index].save_checkpoint(out / "best.ckpt")
        which = {"index": best.index, "p": best.p, "hparams": best.hparams}
        write_json(out / "best.json", which | {"counts": best.counts})


def restore_best_model(
    records: list[Configuration], settings: SweepSettings, config: SearchConfig
) -> None:
    """``best.ckpt`` is missing though configurations are recorded (a write that failed in
    an earlier version, a deleted file): train the best one again — its own seeds, alone
    and not logged, which gives its model to float rounding (the replicas are
    independent) — and save it."""
    best = min((r for r in records if not r.failed), key=lambda r: r.objective, default=None)
    if best is None:
        return
    tqdm.write(
        f"{settings.out / 'best.ckpt'} is missing: training configuration {best.index} again"
    )
    _, models = train_batch([best.x], best.index, replace(settings, log_dir=None), config)
    save_best_model([], [best], models, settings.out)


def save_state(
    opt: Optimizer, records: list[Configuration], settings: SweepSettings, wall: float
) -> None:
    """Surrogate and summary, refreshed after every batch."""
    if opt.models:  # the GP is fitted once the initial points are told
        write_atomic(settings.out / "surrogate.pk", pickle.dumps(opt.models[-1]))
    summarise(records, settings, wall).write(settings.out / "summary.json")


def save_plots(opt: Optimizer, out: Path, title: str = "") -> None:
    """``convergence.png`` and ``objective.png`` (partial dependence), atomically, each
    titled with ``title`` (the model and size)."""
    plt = pyplot()  # matplotlib on its Agg backend before skopt imports pyplot
    from skopt.plots import plot_convergence, plot_objective  # imports matplotlib: see pyplot

    result = opt.get_result()
    ax = plot_convergence(result)
    ax.set_title(f"{title}: best objective so far" if title else "best objective so far")
    ax.set_xlabel("configurations measured")
    ax.set_ylabel("best objective  p − 2·count  (lower is better)")
    figures = {"convergence.png": ax.figure}
    if opt.models:  # partial dependence needs a fitted surrogate
        fig = np.atleast_1d(plot_objective(result)).flat[0].figure
        for a in fig.axes:  # skopt's default ticks collide on small panels
            for axis in (a.xaxis, a.yaxis):
                if axis.get_scale() == "linear":
                    axis.set_major_locator(plt.MaxNLocator(nbins=3))
            a.tick_params(labelsize=7)
        head = f"{title}: " if title else ""
        fig.suptitle(f"{head}partial dependence of the objective p − 2·count (surrogate)")
        figures["objective.png"] = fig
    for name, fig in figures.items():
        save(fig, out / name)


def log_search(writer: SummaryWriter, records: list[Configuration], since: int = 0) -> None:
    """Sweep-level scalars of configurations ``since`` onwards (step = configuration index)."""
    best_objective, best_count = math.inf, -math.inf
    for r in records:
        best_objective = min(best_objective, r.objective)
        best_count = max(best_count, r.mean_count)
        if r.index < since:
            continue
        writer.add_scalar("sweep/objective", r.objective, r.index)
        writer.add_scalar("sweep/best_objective", best_objective, r.index)
        writer.add_scalar("sweep/best_mean_count", best_count, r.index)
    writer.flush()


def run_sweep(
    settings: SweepSettings, config: SearchConfig, announce: tuple[str, ...] = ()
) -> SweepSummary:
    """Run (or resume) a sweep to ``settings.calls`` configurations; returns the summary.
    ``announce``: lines for stderr once the output directory is accepted (a refusal is
    then the command's only line).

    Raises :class:`Interrupted` (saying what is recorded) on Ctrl-C or SIGTERM. Holds the
    output directory's lock while it runs: a second sweep on it is refused.
    """
    lock = DirectoryLock(settings.out)
    try:
        with warnings.catch_warnings():
            # skopt then draws a random point instead, as it should; the warning would only
            # break the progress bar (GP proposals often land on a corner already evaluated).
            warnings.filterwarnings("ignore", ".*has been evaluated at point.*", UserWarning)
            return _run_sweep(settings, config, lock, announce)
    finally:
        lock.release()


def _run_sweep(settings, config, lock, announce) -> SweepSummary:
    start = time.perf_counter()
    with InterruptGuard() as guard:
        # Joining a Ray cluster fails on a bad --address: before anything is written.
        executor = make_executor(settings, config)
        records = prepare_output(settings, experiment(settings, config), lock)
        for line in announce:
            write(line)
        earlier = summarised_wall(settings.out) if records else 0.0
        opt = make_optimizer(settings, config, len(records))
        if records:
            opt.tell([r.x for r in records], [r.objective for r in records])
        # Rewritten whole on every start: a kill between two writes leaves no gap or duplicate.
        sweep_dir = settings.log_dir / settings.group / "sweep"
        shutil.rmtree(sweep_dir, ignore_errors=True)
        # tensorboard's writer loads urllib3, which changes the warning filters on import:
        # imported by a sweep that runs, not by every importer of the package.
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(sweep_dir))
        log_search(writer, records)
        if len(records) >= settings.calls:
            done = f"{settings.out} already holds {len(records)} configurations"
            tqdm.write(f"{done} (--calls {settings.calls}): refreshing the summary and plots only")
        bar = progress_bar(
            total=settings.calls, initial=min(len(records), settings.calls), unit="config"
        )
        bar.set_postfix_str(best_so_far(records))
        launched = len(records)
        finished: dict[int, tuple[list[Configuration], dict]] = {}  # by start, not written
        try:
            if records and not (settings.out / "best.ckpt").exists():
                with guard.interruptible():
                    restore_best_model(records, settings, config)
            while len(records) < settings.calls:
                while executor.has_room() and launched < settings.calls:
                    k = min(settings.batch_size, settings.calls - launched)
                    with guard.interruptible():
                        points = propose(
                            opt, config, k, first=launched == 0,
                            pending=executor.pending_points(),
                        )  # fmt: skip
                    executor.submit(Task(points, launched))
                    launched += k
                for task, (batch, models) in executor.collect(guard.interruptible):
                    finished[task.start] = (batch, models)
                    opt.tell([r.x for r in batch], [r.objective for r in batch])
                # The journal stays in index order: a batch that finished early waits for
                # the ones before it (a crash loses it with them: work in flight).
                while len(records) in finished:
                    batch, models = finished.pop(len(records))
                    # The checkpoint first: a recorded best always has its best.ckpt (a
                    # full disk stops the sweep before the journal line, and the resume
                    # trains the batch again).
                    save_best_model(records, batch, models, settings.out)
                    append_evaluations(settings.out / JOURNAL, batch)
                    records += batch
                    save_state(opt, records, settings, earlier + time.perf_counter() - start)
                    log_search(writer, records, since=batch[0].index)
                    for r in batch:
                        tqdm.write(describe(r))
                    bar.set_postfix_str(best_so_far(records), refresh=False)
                    bar.update(len(batch))
                guard.check()
        except Interrupted as exc:
            recorded = f"{len(records)} of {settings.calls} configurations are recorded"
            raise Interrupted(f"{recorded} in {settings.out}", exc.signum) from None
        finally:
            executor.shutdown()
            bar.close()
            writer.close()
        wall = earlier + time.perf_counter() - start
        save_state(opt, records, settings, wall)
        try:
            title = f"{model_label(settings.model)} H = {settings.hidden_size}"
            save_plots(opt, settings.out, title)  # a Ctrl-C now is ignored: the sweep is done
        except OSError as exc:  # e.g. a full disk: the results are saved, the plots are not
            sys.stderr.write(f"warning: plots not written ({one_line(exc)})\n")
    return summarise(records, settings, wall)
