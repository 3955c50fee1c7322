"""Where a sweep's configurations train: in the driver's process, or in worker processes.

The sweep's ask/tell loop hands each batch of configurations (one constant-liar batch,
its tries included, trained as one ensemble) to an executor and collects finished ones
in whatever order they finish:

* :class:`LocalExecutor` (``--executor local``, the default): in the sweep's own process,
  one batch at a time — exactly the sequential search of the original protocol.
* :class:`ProcessExecutor` (``--executor process --workers N``): N worker processes
  (spawned, each with ``cores // N`` torch threads so that N × threads ≤ cores), N
  batches in flight. A worker that dies (kill -9, out of memory) breaks the pool; the
  pool is rebuilt and the batches it held are retried, at most ``retries`` times each,
  after which they are recorded as failed (count 0, like a diverged run) and the sweep
  goes on. Workers write their TensorBoard runs into the sweep's log directory.

* :class:`RayExecutor` (``--executor ray [--address auto|HOST:PORT]``): every batch is a
  Ray task on a cluster you run (or a local one Ray starts), as many in flight as
  ``--workers`` (default: the cluster's CPUs); results stream back through ``ray.wait``
  into the ask/tell loop. A task whose worker dies (kill -9, out of memory, a lost node)
  is retried by Ray (``max_retries``), then recorded as failed. Tasks ask for GPUs where
  the cluster has them. Outputs go to absolute paths: the driver's output and log
  directories must be reachable from the workers (one machine, or a shared filesystem).

While batches are in flight the next points are asked of a copy of the optimiser told a
lie for every pending point (``cl_min``), so that workers do not train the same point.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context

import torch

from ..protocol import EXECUTORS
from .batch import failed_records, train_batch
from .settings import require_ray

_RAY_INIT = threading.Lock()


@dataclass
class Task:
    """One batch of configurations: indices ``start``, ``start + 1``, ..."""

    points: list[list]
    start: int
    attempts: int = 0
    future: Future | None = field(default=None, repr=False)


class LocalExecutor:
    """One batch at a time, in this process."""

    workers = 1

    def __init__(self, settings, config) -> None:
        self.settings, self.config = settings, config
        self.done: list[tuple[Task, tuple]] = []
        self.pending: list[Task] = []

    def submit(self, task: Task) -> None:
        self.pending.append(task)

    def has_room(self) -> bool:
        return not self.pending

    def pending_points(self) -> list[list]:
        return []  # nothing is ever in flight while points are asked

    def collect(self, interruptible) -> list[tuple[Task, tuple]]:
        out = []
        while self.pending:
            task = self.pending.pop(0)
            with interruptible():
                out.append((task, train_batch(task.points, task.start, self.settings, self.config)))
        return out

    def busy(self) -> bool:
        return bool(self.pending)

    def shutdown(self) -> None:
        self.pending.clear()


def _worker_init(threads: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    torch.set_num_threads(threads)


class InFlight:
    """What the remote executors share: up to ``workers`` batches in flight."""

    workers: int
    pending: list[Task]

    def has_room(self) -> bool:
        return len(self.pending) < self.workers

    def pending_points(self) -> list[list]:
        return [x for t in self.pending for x in t.points]

    def busy(self) -> bool:
        return bool(self.pending)


class ProcessExecutor(InFlight):
    """N worker processes, N batches in flight, retries after a worker dies."""

    def __init__(self, settings, config, workers: int, retries: int = 2) -> None:
        self.settings, self.config = settings, config
        self.workers, self.retries = workers, retries
        self.threads = max(1, (os.cpu_count() or 1) // workers)
        self.pending: list[Task] = []
        self.failed: list[tuple[Task, str]] = []
        self.pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.workers,
            mp_context=get_context("spawn"),  # no fork of a process holding OpenMP threads
            initializer=_worker_init,
            initargs=(self.threads,),
        )

    def submit(self, task: Task) -> None:
        task.future = self.pool.submit(
            train_batch, task.points, task.start, self.settings, self.config
        )
        self.pending.append(task)

    def collect(self, interruptible) -> list[tuple[Task, tuple]]:
        """Wait for at least one batch; returns the finished ones (and failed ones, as
        records of count 0, once their retries are spent)."""
        with interruptible():
            wait([t.future for t in self.pending], return_when=FIRST_COMPLETED)
        out, retry = [], []
        for task in list(self.pending):
            if not task.future.done():
                continue
            self.pending.remove(task)
            try:
                out.append((task, task.future.result()))
            except BrokenProcessPool as exc:  # a worker died: every task it held is lost
                retry.append((task, f"worker died ({type(exc).__name__})"))
        if retry:
            # The broken pool fails all its futures: collect the others too, then rebuild.
            for task in list(self.pending):
                self.pending.remove(task)
                retry.append((task, "worker pool broken"))
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._new_pool()
            for task, why in retry:
                task.attempts += 1
                if task.attempts > self.retries:
                    records = failed_records(
                        task.points, task.start, self.settings, self.config, why
                    )
                    out.append((task, (records, {})))
                else:
                    self.submit(task)
        return out

    def shutdown(self) -> None:
        """Stop at once: cancel what waits, end the workers (their batches are lost)."""
        processes = list(getattr(self.pool, "_processes", {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            if proc.is_alive():
                proc.kill()
        self.pending.clear()


class RayExecutor(InFlight):
    """Batches as Ray tasks on a Ray cluster (Ray Core; Tune has no skopt searcher)."""

    def __init__(self, settings, config, workers: int | None, address: str | None) -> None:
        ray = require_ray()
        with _RAY_INIT:  # concurrent sweeps of a study share one connection
            if not ray.is_initialized():
                local = {} if address else {"object_store_memory": 256 * 1024**2}
                ray.init(address=address, include_dashboard=False, log_to_driver=False, **local)
        resources = ray.cluster_resources()
        self.ray = ray
        self.workers = workers or max(1, int(resources.get("CPU", 1)))
        gpus = 1 if resources.get("GPU", 0) >= 1 and settings.accelerator != "cpu" else 0
        # Workers run elsewhere: every path they write must be absolute.
        self.settings = dataclasses.replace(
            settings, out=settings.out.resolve(), log_dir=settings.log_dir.resolve(),
            data=str(os.path.abspath(settings.data)) if settings.data else None,
        )  # fmt: skip
        self.config = config
        self.remote = ray.remote(train_batch).options(
            num_cpus=1, num_gpus=gpus, max_retries=2, retry_exceptions=False
        )
        self.pending: list[Task] = []

    def submit(self, task: Task) -> None:
        task.future = self.remote.remote(task.points, task.start, self.settings, self.config)
        self.pending.append(task)

    def collect(self, interruptible) -> list[tuple[Task, tuple]]:
        with interruptible():
            ready, _ = self.ray.wait([t.future for t in self.pending], num_returns=1)
        out = []
        for task in [t for t in self.pending if t.future in ready]:
            self.pending.remove(task)
            try:
                out.append((task, self.ray.get(task.future)))
            except (self.ray.exceptions.WorkerCrashedError,
                    self.ray.exceptions.NodeDiedError,
                    self.ray.exceptions.OutOfMemoryError) as exc:  # fmt: skip
                why = f"worker lost after retries ({type(exc).__name__})"
                out.append(
                    (
                        task,
                        (
                            failed_records(
                                task.points, task.start, self.settings, self.config, why
                            ),
                            {},
                        ),
                    )
                )
        return out

    def shutdown(self) -> None:
        for task in self.pending:
            self.ray.cancel(task.future, force=True)
        self.pending.clear()


def make_executor(settings, config):
    if settings.executor == "process":
        return ProcessExecutor(settings, config, settings.workers)
    if settings.executor == "ray":
        return RayExecutor(settings, config, settings.workers, settings.address)
    return LocalExecutor(settings, config)


__all__ = ["EXECUTORS", "LocalExecutor", "ProcessExecutor", "RayExecutor", "Task"]
__all__ += ["make_executor", "require_ray"]
