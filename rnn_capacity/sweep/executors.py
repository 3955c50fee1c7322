"""Where a sweep's configurations train: in the driver's process, or in worker processes.

The sweep's ask/tell loop hands each batch of configurations (one constant-liar batch,
its tries included, trained as one ensemble) to an executor and collects finished ones
in whatever order they finish:

* :class:`LocalExecutor` (``--executor local``; what ``auto``, the default, picks for a
  batch of one configuration): in the sweep's own process,
  one batch at a time — exactly the sequential search of the original protocol.
* :class:`ProcessExecutor` (``--executor process --workers N``; ``auto``'s pick, one
  worker of one thread per core, for batches of several configurations): N worker processes
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
  The cluster is joined before the sweep writes anything: an address where no cluster
  answers is one ``error: --address ...`` line, in seconds (about 40 s where something
  else listens on the port: Ray's one attempt). Ctrl-C and SIGTERM stop it like the
  other executors (Ray's own SIGTERM handler is put aside; the tasks in flight are
  cancelled, a local cluster ends with the sweep).

While batches are in flight the next points are asked of a copy of the optimiser told a
lie for every pending point (``cl_min``), so that workers do not train the same point.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context

import torch

from ..errors import UsageError, one_line
from ..protocol import EXECUTORS
from .batch import failed_records, train_batch
from .settings import ray_address, require_ray

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
        self.threads = settings.threads or max(1, (os.cpu_count() or 1) // workers)
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
        done: set = set()
        while not done:  # in slices: a study's sweep thread sees a signal at each
            with interruptible():
                done, _ = wait(
                    [t.future for t in self.pending], timeout=0.5, return_when=FIRST_COMPLETED
                )
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

    POLL = 0.5  # seconds: how long a Ctrl-C or SIGTERM may wait for ray.wait

    def __init__(self, settings, config, workers: int | None, address: str | None) -> None:
        ray = require_ray()
        with _RAY_INIT:  # concurrent sweeps of a study share one connection
            if not ray.is_initialized():
                with _keeping_signal_handlers():
                    connect(ray, address)
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
        # In slices, a signal taken between them: an exception raised by a signal handler
        # inside ray.wait (whose C++ runs the handlers) comes out as a SystemError.
        ready = []
        while not ready:
            with interruptible():  # raises Interrupted for a signal that came meanwhile
                pass
            ready, _ = self.ray.wait(
                [t.future for t in self.pending], num_returns=1, timeout=self.POLL
            )
        out = []
        for task in [t for t in self.pending if t.future in ready]:
            self.pending.remove(task)
            try:
                out.append((task, self.ray.get(task.future)))
            except (self.ray.exceptions.WorkerCrashedError,
                    self.ray.exceptions.NodeDiedError,
                    self.ray.exceptions.ObjectLostError,  # its result, with its node
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


#: Seconds to wait for the cluster's port to accept a connection before joining it.
CONNECT_TIMEOUT = 5.0
_GCS_WAIT = "RAY_gcs_server_port_wait_time_s"  # read by ray.init (ray._private.node)


def connect(ray, address: str | None) -> None:
    """``ray.init``: a local cluster (``address`` None), or the cluster at ``address``,
    which fails in bounded time as one :class:`UsageError` where there is none.

    Ray itself would retry an address where nothing answers for minutes: the port must
    first accept a plain TCP connection within :data:`CONNECT_TIMEOUT`, and Ray makes one
    attempt at the cluster's GCS (about 40 s where the port is not a Ray cluster's)."""
    if address is None:
        ray.init(include_dashboard=False, log_to_driver=False, object_store_memory=256 * 1024**2)
        return
    where = ray_address(address)
    if where is not None:  # "auto": Ray finds the cluster, or says at once that there is none
        host, port = where
        try:
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
        except OSError as exc:
            why = exc.strerror or str(exc) or type(exc).__name__
            raise UsageError(
                f"--address {address!r}: no Ray cluster reachable at {host}:{port} ({why})"
            ) from None
    ours = _GCS_WAIT not in os.environ  # a value of the user's stands
    if ours:
        os.environ[_GCS_WAIT] = "1"  # one attempt at the GCS, not 20 of ~30 s each
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    except (ConnectionError, TimeoutError, ValueError, RuntimeError) as exc:
        raise UsageError(f"--address {address!r}: {one_line(exc)}") from None
    finally:
        if ours:
            os.environ.pop(_GCS_WAIT, None)


@contextmanager
def _keeping_signal_handlers():
    """``ray.init`` installs its own SIGTERM handlers (C++ and Python; a SIGTERM then
    aborts the process with a stack dump, status 134): put back the Python handlers that
    were there (the sweep's :class:`~rnn_capacity.interrupt.InterruptGuard`), so that a
    SIGTERM stops the sweep like Ctrl-C. Only in the main thread (signal's restriction)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in saved.items():
            if callable(handler):  # a Python handler; Ray's own stay where there was none
                signal.signal(s, handler)


def make_executor(settings, config):
    if settings.executor == "process":
        return ProcessExecutor(settings, config, settings.workers)
    if settings.executor == "ray":
        return RayExecutor(settings, config, settings.workers, settings.address)
    return LocalExecutor(settings, config)


__all__ = ["EXECUTORS", "LocalExecutor", "ProcessExecutor", "RayExecutor", "Task"]
__all__ += ["make_executor", "require_ray"]
