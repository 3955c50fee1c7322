"""``python -m rnn_capacity.sweep``: Bayesian search of one model's capacity at one size.

Resumable, monitored in TensorBoard. The README's main command::

    python -m rnn_capacity.sweep --model pc_rnn_hc_a --hidden-size 60 --preset quick

Scikit-optimize's ask/tell ``Optimizer`` (its own GP, expected improvement) proposes
configurations ``x`` — the dimensions of ``configs/<model>.yaml`` in their order — starting
from ``x0``. Each configuration is measured ``tries`` times and scores ``p − 2·mean_count``
(minimised). With ``--batch-size k`` it asks ``k`` points at once (constant liar) and
trains all of them, tries included, as one ensemble. The ``paper`` preset keeps the
original protocol: one configuration at a time; its two tries train as one ensemble of
two replicas, numerically the same measurement as two runs (each replica equals the
single run with its seed; tested) and faster; ``--sequential-tries`` trains each try on
its own, as the original code did. The output directory (default
``results/<model>_<H>/``) holds:

- ``space.json``: what defines the experiment (model, size, dimensions, x0, fixed
  settings, tries, iterations, initial states, threshold, data); a resume must match it;
- ``evaluations.jsonl``: one JSON line per finished configuration (index, ``x``, ``p``,
  hparams, seeds, counts, mean_count, objective, final_losses, seconds, ensemble),
  fsync'ed as soon as its batch finishes;
- ``surrogate.pk``: the last fitted GP (skopt ``GaussianProcessRegressor`` on normalised
  coordinates, the form of the original study's ``<MODEL>_model_<H>.pk``);
- ``summary.json``, ``convergence.png`` and ``objective.png`` (partial dependence);
- ``best.ckpt`` (and ``best.json``): the trained model of the best configuration so far,
  for ``resolve_model(model)[1].load_from_checkpoint`` (``MODELS[model]`` for a built-in);
- ``.lock`` (held while a sweep runs: a second sweep on the directory is refused) and
  ``.sweep-id`` (the id that marks this sweep's TensorBoard group as its own).

``--executor process --workers N`` trains N batches at once in worker processes
(rnn_capacity/executors.py).

Every measurement is a TensorBoard run ``<log-dir>/<out name>/call<i>_try<t>``; the search
itself logs to ``<log-dir>/<out name>/sweep``. Bad input prints one line ``error: ...``
and exits 2; Ctrl-C (SIGTERM) exits 130 (143) and says how to resume; ``kill -9`` loses at
most the batches in flight.
"""

from __future__ import annotations

import io
import json
import math
import pickle
import shlex
import shutil
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from skopt import Optimizer
from torch.utils.tensorboard import SummaryWriter
from tqdm.auto import tqdm

from .capacity import DEFAULT_THRESHOLD, objective
from .config import SearchConfig, load_search_config
from .data import load_trajectories
from .errors import ArgumentParser, UsageError, cli_main, one_line
from .executors import EXECUTORS, Task, make_executor
from .files import append_records, write_atomic, write_json
from .interrupt import Interrupted, InterruptGuard
from .journal import DirectoryLock, prepare_output, summarise, summarised_wall
from .measure import MAX_ITERATIONS, Replica, measure_ensemble, validate_run
from .models import SPACE_HELP, model_help, model_slug, resolve_model
from .models.options import MAX_HIDDEN

PROG = "python -m rnn_capacity.sweep"
# "paper" is protocol.md exactly (calls=None: the config's own count, 300 or 500;
# learn_initial_state=None: the model's reproducing variant, its config's `paper:`, which
# also brings settings such as LSTM/GRU teacher forcing).
# "quick", the default, takes ~3 minutes for pc_rnn_hc_a at H=60 on 2 CPU cores; fewer
# iterations learn nothing on the built-in data, so the search would only see p.
PRESETS: dict[str, dict] = {
    "paper": dict(
        calls=None, tries=2, iterations=3000, batch_size=1, initial_points=10,
        learn_initial_state=None, batch_tries=True,
    ),
    "quick": dict(
        calls=16, tries=2, iterations=800, batch_size=4, initial_points=5,
        learn_initial_state=True, batch_tries=True,
    ),
}  # fmt: skip


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
    threshold: float = DEFAULT_THRESHOLD
    accelerator: str = "auto"
    data: str | None = None
    resume: bool = False
    batch_tries: bool = True  # False: every try is its own Trainer, as in the original
    compile: bool = False
    settings: dict | None = None  # protocol settings (paper: the config's paper.settings)
    executor: str = "local"  # or "process", "ray" (rnn_capacity/executors.py)
    workers: int | None = 1  # ray: None = the cluster's CPUs
    address: str | None = None  # ray: "auto", "HOST:PORT" or None (a local cluster)

    @property
    def group(self) -> str:
        """The TensorBoard group of this sweep's runs: the output directory's name."""
        return self.out.resolve().name


def derive_seed(seed: int, index: int, try_: int) -> int:
    """The seed of try ``try_`` of configuration ``index``: a sweep is reproducible."""
    return int(np.random.SeedSequence([seed, index, try_]).generate_state(1)[0])


def run_name(index: int, try_: int) -> str:
    return f"call{index:04d}_try{try_}"


def experiment(settings: SweepSettings, config: SearchConfig) -> dict:
    """The content of ``space.json``: what a resumed sweep must share with the first run."""
    data = str(Path(settings.data).resolve()) if settings.data else None
    desc = config.describe() | {"hidden_size": settings.hidden_size, "tries": settings.tries}
    desc |= {"iterations": settings.iterations, "learn_initial_state": settings.learn_initial_state}
    desc |= {"threshold": settings.threshold, "data": data, "settings": settings.settings or {}}
    desc |= {"seed": settings.seed}  # a resume with another seed would mix two searches
    return json.loads(json.dumps(desc))  # as it reads back from the file


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


def evaluate(
    points: list[list],
    start: int,
    settings: SweepSettings,
    config: SearchConfig,
    guard: InterruptGuard,
) -> tuple[list[dict], dict]:
    """Measure ``points`` (configurations ``start``, ``start + 1``, ...) as one ensemble, or
    one try after the other when ``settings.batch_tries`` is off.

    Returns the records and, by configuration index, the trained model of its best try
    (a single model, ``module.replica(k)``), for ``best.ckpt``."""
    replicas = []
    for i, x in enumerate(points):
        values = dict(zip(config.names, x, strict=True))
        p = int(values.pop("p"))
        for t in range(settings.tries):
            seed = derive_seed(settings.seed, start + i, t)
            options = values | config.fixed | (settings.settings or {})
            replicas.append(Replica(p, seed, options, name=run_name(start + i, t)))
    groups = [replicas] if settings.batch_tries else [[r] for r in replicas]
    results = []
    with guard.interruptible():
        for group in groups:
            results += measure_ensemble(
                settings.model,
                settings.hidden_size,
                group,
                iterations=settings.iterations,
                learn_initial_state=settings.learn_initial_state,
                threshold=settings.threshold,
                accelerator=settings.accelerator,
                log_dir=settings.log_dir,
                log_group=settings.group,
                progress_bar=False,
                data_path=settings.data,
                compile=settings.compile,
                keep_module=True,
            )
    records, models = [], {}
    for i, x in enumerate(points):
        tries = results[i * settings.tries : (i + 1) * settings.tries]
        counts = [r.count for r in tries]
        best = max(tries, key=lambda r: r.count)
        models[start + i] = best.module.replica(best.replica_index)
        mean = sum(counts) / len(counts)
        p = tries[0].num_sequences
        records.append(
            {
                "index": start + i,
                "x": x,
                "p": p,
                "hparams": tries[0].hparams,
                "seeds": [r.seed for r in tries],
                "counts": counts,
                "mean_count": mean,
                "objective": objective(p, mean),
                "final_losses": [
                    r.final_loss if math.isfinite(r.final_loss) else None for r in tries
                ],
                "seconds": round(sum(r.seconds for r in tries) / tries[0].replicas, 3),
                "ensemble": tries[0].replicas,  # replicas trained together
                "parameters": tries[0].parameters,  # the same for every try (same p)
            }
        )
    return records, models


def describe(record: dict) -> str:
    """One line per configuration for the console."""
    hp = " ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in record["hparams"].items()
    )
    return (
        f"{record['index']:4d}  p={record['p']:<3d} {hp}  counts={record['counts']}  "
        f"objective={record['objective']:g}  {record['seconds']:.1f} s"
    )


def best_so_far(records: list[dict]) -> str:
    """The progress bar's postfix."""
    if not records:
        return ""
    best = min(records, key=lambda r: r["objective"])
    return f"best {best['objective']:g} (count {best['mean_count']:g})"


def save_best_model(earlier: list[dict], batch: list[dict], models: dict, out: Path) -> None:
    """``best.ckpt``: the trained model (the better try) of the best configuration so far,
    replaced when a batch improves on it. Reload it with
    ``MODELS[model].load_from_checkpoint(out / "best.ckpt")``."""
    best = min(batch, key=lambda r: r["objective"])
    before = min((r["objective"] for r in earlier), default=math.inf)
    if best["objective"] < before or not (out / "best.ckpt").exists():
        models[best["index"]].save_checkpoint(out / "best.ckpt")
        write_json(out / "best.json", {k: best[k] for k in ("index", "p", "hparams", "counts")})


def save_state(opt: Optimizer, records: list[dict], settings: SweepSettings, wall: float) -> None:
    """Surrogate and summary, refreshed after every batch."""
    if opt.models:  # the GP is fitted once the initial points are told
        write_atomic(settings.out / "surrogate.pk", pickle.dumps(opt.models[-1]))
    write_json(settings.out / "summary.json", summarise(records, settings, wall))


def save_plots(opt: Optimizer, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, also without a display
    import matplotlib.pyplot as plt
    from skopt.plots import plot_convergence, plot_objective

    result = opt.get_result()
    figures = {"convergence.png": plot_convergence(result).figure}
    if opt.models:  # partial dependence needs a fitted surrogate
        figures["objective.png"] = np.atleast_1d(plot_objective(result)).flat[0].figure
    for name, fig in figures.items():
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        write_atomic(out / name, buf.getvalue())


def log_search(writer: SummaryWriter, records: list[dict], since: int = 0) -> None:
    """Sweep-level scalars of configurations ``since`` onwards (step = configuration index)."""
    best_objective, best_count = math.inf, -math.inf
    for r in records:
        best_objective = min(best_objective, r["objective"])
        best_count = max(best_count, r["mean_count"])
        if r["index"] < since:
            continue
        writer.add_scalar("sweep/objective", r["objective"], r["index"])
        writer.add_scalar("sweep/best_objective", best_objective, r["index"])
        writer.add_scalar("sweep/best_mean_count", best_count, r["index"])
    writer.flush()


def run_sweep(settings: SweepSettings, config: SearchConfig) -> dict:
    """Run (or resume) a sweep to ``settings.calls`` configurations; returns the summary.

    Raises :class:`Interrupted` (saying what is recorded) on Ctrl-C or SIGTERM. Holds the
    output directory's lock while it runs: a second sweep on it is refused.
    """
    lock = DirectoryLock(settings.out)
    try:
        with warnings.catch_warnings():
            # skopt then draws a random point instead, as it should; the warning would only
            # break the progress bar (GP proposals often land on a corner already evaluated).
            warnings.filterwarnings("ignore", ".*has been evaluated at point.*", UserWarning)
            return _run_sweep(settings, config, lock)
    finally:
        lock.release()


def _run_sweep(settings: SweepSettings, config: SearchConfig, lock: DirectoryLock) -> dict:
    start = time.perf_counter()
    with InterruptGuard() as guard:
        records = prepare_output(settings, experiment(settings, config), lock)
        earlier = summarised_wall(settings.out) if records else 0.0
        opt = make_optimizer(settings, config, len(records))
        if records:
            opt.tell([r["x"] for r in records], [r["objective"] for r in records])
        # Rewritten whole on every start: a kill between two writes leaves no gap or duplicate.
        sweep_dir = settings.log_dir / settings.group / "sweep"
        shutil.rmtree(sweep_dir, ignore_errors=True)
        writer = SummaryWriter(str(sweep_dir))
        log_search(writer, records)
        if len(records) >= settings.calls:
            done = f"{settings.out} already holds {len(records)} configurations"
            tqdm.write(f"{done} (--calls {settings.calls}): refreshing the summary and plots only")
        bar = tqdm(total=settings.calls, initial=min(len(records), settings.calls), unit="config")
        bar.set_postfix_str(best_so_far(records))
        executor = make_executor(settings, config)
        launched = len(records)
        finished: dict[int, tuple[list[dict], dict]] = {}  # by start index, not yet written
        try:
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
                    opt.tell([r["x"] for r in batch], [r["objective"] for r in batch])
                # The journal stays in index order: a batch that finished early waits for
                # the ones before it (a crash loses it with them: work in flight).
                while len(records) in finished:
                    batch, models = finished.pop(len(records))
                    append_records(settings.out / "evaluations.jsonl", batch)
                    save_best_model(records, batch, models, settings.out)
                    records += batch
                    save_state(opt, records, settings, earlier + time.perf_counter() - start)
                    log_search(writer, records, since=batch[0]["index"])
                    for r in batch:
                        tqdm.write(describe(r))
                    bar.set_postfix_str(best_so_far(records), refresh=False)
                    bar.update(len(batch))
                guard.check()
        except Interrupted as exc:
            recorded = f"{len(records)} of {settings.calls} configurations are recorded"
            raise Interrupted(f"{exc} received; {recorded} in {settings.out}") from None
        finally:
            executor.shutdown()
            bar.close()
            writer.close()
        wall = earlier + time.perf_counter() - start
        save_state(opt, records, settings, wall)
        try:
            save_plots(opt, settings.out)  # a Ctrl-C now is ignored: the sweep is done
        except OSError as exc:  # e.g. a full disk: the results are saved, the plots are not
            sys.stderr.write(f"warning: plots not written ({one_line(exc)})\n")
    return summarise(records, settings, wall)


# --------------------------------------------------------------------------------- CLI


def build_parser() -> ArgumentParser:
    presets = "; ".join(
        f"{name}: " + ", ".join(f"{k}={'config' if v is None else v}" for k, v in values.items())
        for name, values in PRESETS.items()
    )
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n")[0], epilog=f"presets: {presets}")
    p.add_argument("--model", required=True, help=model_help())
    p.add_argument("--space", type=Path, metavar="FILE.yaml", help=SPACE_HELP)
    p.add_argument("--hidden-size", type=int, required=True, help="H, recurrent units")
    p.add_argument("--preset", choices=list(PRESETS), default="quick", help="default: quick")
    # Unset flags stay None, so that the preset fills them in.
    for flag, text in [
        ("--calls", "configurations in all (paper: the config's calls)"),
        ("--tries", "measurements per configuration"),
        ("--iterations", "training steps per measurement"),
        ("--batch-size", "configurations asked at once and trained as one ensemble"),
        ("--initial-points", "random configurations after x0 before the GP leads"),
    ]:
        p.add_argument(flag, type=int, help=text)
    init = p.add_mutually_exclusive_group()
    init.add_argument(
        "--fixed-initial-state",
        dest="learn_initial_state",
        action="store_false",
        help="keep the initial states at their random draw (the original protocol; paper)",
    )
    init.add_argument(
        "--learn-initial-state",
        dest="learn_initial_state",
        action="store_true",
        help="train the initial states with the weights (quick)",
    )
    tries = p.add_mutually_exclusive_group()
    tries.add_argument(
        "--sequential-tries",
        dest="batch_tries",
        action="store_false",
        help="train each try on its own Trainer, as the original code did",
    )
    tries.add_argument(
        "--batched-tries",
        dest="batch_tries",
        action="store_true",
        help="train the tries of a batch as one ensemble (both presets)",
    )
    p.set_defaults(learn_initial_state=None, batch_tries=None)
    p.add_argument("--seed", type=int, default=0, help="seeds the search and every measurement")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, help="learned if below")
    p.add_argument("--out", type=Path, help="output directory (default results/<model>_<H>)")
    p.add_argument("--resume", action="store_true", help="continue the sweep in --out")
    p.add_argument("--log-dir", type=Path, default=Path("lightning_logs"), help="TensorBoard root")
    p.add_argument("--data", default=None, help="trajectory file (.npy, or the original .pk)")
    p.add_argument("--accelerator", default="auto", choices=["auto", "cpu", "gpu"])
    p.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the time loop (p padded to multiples of 16 to reuse graphs)",
    )
    p.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        help="local: in this process (default); process: --workers worker processes",
    )
    p.add_argument("--workers", type=int, default=None, help="batches in flight (process, ray)")
    p.add_argument(
        "--address",
        default=None,
        help="ray: the cluster to join (auto, HOST:PORT); default: start a local one",
    )
    return p


def resolve_settings(args) -> tuple[SweepSettings, SearchConfig]:
    """Apply the preset under the explicit flags and check every value."""
    model, _ = resolve_model(args.model)
    config = load_search_config(model, space=args.space)
    if "p" not in config.names:
        raise UsageError(f"{config.path}: the space needs the dimension p")
    chosen = PRESETS[args.preset] | {
        k: v for k in PRESETS[args.preset] if (v := getattr(args, k)) is not None
    }
    if chosen["calls"] is None:  # paper: the protocol's count for this model
        chosen["calls"] = config.calls
    protocol = {}
    if args.preset == "paper":  # the variant that reproduces the original for this model
        if chosen["learn_initial_state"] is None:
            chosen["learn_initial_state"] = config.paper.learn_initial_state
        protocol = dict(config.paper.settings)
    ranges = {"calls": (1, 10**6), "tries": (1, 1000), "iterations": (1, MAX_ITERATIONS)}
    ranges |= {"batch_size": (1, 1000), "initial_points": (0, 10**6)}
    ranges |= {"hidden_size": (1, MAX_HIDDEN), "seed": (0, 2**63 - 1)}
    for name, (low, high) in ranges.items():
        value = chosen.get(name, getattr(args, name))
        if not low <= value <= high:
            flag = f"--{name.replace('_', '-')}"
            raise UsageError(f"{flag}={value} out of range: {low}..{high}")
    if not 0 < args.threshold < math.inf:
        raise UsageError(f"--threshold must be positive and finite, got {args.threshold}")
    validate_run([], args.accelerator)  # the one accelerator check, before anything is written
    if args.data is not None:
        load_trajectories(args.data)  # a bad file fails now, before anything is written
    workers = args.workers if args.workers is not None else (None if args.executor == "ray" else 1)
    if args.executor == "local" and workers != 1:
        raise UsageError("--workers needs --executor process or ray")
    if workers is not None and not 1 <= workers <= 4096:
        raise UsageError(f"--workers={workers} out of range: 1..4096")
    if args.address is not None and args.executor != "ray":
        raise UsageError("--address needs --executor ray")
    if args.executor == "ray":
        from .executors import require_ray

        require_ray()
    settings = SweepSettings(
        model=model,
        hidden_size=args.hidden_size,
        out=args.out or Path("results") / f"{model_slug(model)}_{args.hidden_size}",
        log_dir=args.log_dir,
        seed=args.seed,
        threshold=args.threshold,
        accelerator=args.accelerator,
        data=args.data,
        resume=args.resume,
        compile=args.compile,
        settings=protocol,
        executor=args.executor,
        workers=workers,
        address=args.address,
        **chosen,
    )
    return settings, config


@cli_main
def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    settings, config = resolve_settings(build_parser().parse_args(argv))
    from .measure import quiet_lightning

    try:
        with quiet_lightning():
            summary = run_sweep(settings, config)
    except Interrupted as exc:
        again = shlex.join([*PROG.split(), *argv, *([] if settings.resume else ["--resume"])])
        sys.stderr.write(f"interrupted: {exc}; resume with: {again}\n")
        return 143 if "SIGTERM" in str(exc) else 130
    except OSError as exc:  # a full disk, say: what is recorded stays readable
        sys.stderr.write(
            f"error: cannot write in {settings.out} ({one_line(exc)}); the configurations "
            f"finished before are recorded: free space, then resume with --resume\n"
        )
        return 1
    best = summary["best"]
    print(
        f"{settings.model} H={settings.hidden_size}: best objective {summary['best_objective']:g} "
        f"(p={best['p']}, mean count {best['mean_count']:g}, configuration {best['index']}) "
        f"after {summary['calls_done']} configurations; results in {settings.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
