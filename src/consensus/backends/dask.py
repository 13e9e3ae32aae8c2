"""The Dask backend: partitions live in the workers' memory as futures.

``DaskBackend(client)`` uses an existing :class:`distributed.Client`;
``DaskBackend(scheduler="tcp://host:8786")`` connects to a running scheduler;
``DaskBackend()`` starts a :class:`distributed.LocalCluster` (closed by
:meth:`close`). Every task is submitted with a fresh key (``pure=False``) and
driver values are scattered with ``hash=False``: re-scattering identical data
under a content hash can hang (dask/distributed issues on scattering the same
data twice), and per-iteration parameters are passed as task arguments, each
partition receiving only the rows of the workers it contains.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from consensus.backends.base import Backend
from consensus.errors import ParameterError


class DaskBackend(Backend):
    """Run partition tasks on a Dask cluster.

    Parameters
    ----------
    client : distributed.Client, optional
        An existing client (not closed by :meth:`close`).
    scheduler : str, optional
        Address of a running scheduler, e.g. ``tcp://host:8786`` (ignored with ``client``).
    n_workers, threads_per_worker : int, optional
        Size of the ``LocalCluster`` started when neither is given (Dask's defaults
        when omitted).
    processes : bool, default True
        Worker processes (True) or threads of this process (False) for the local cluster.
    n_partitions : int, optional
        Partitions made from a frame, or from files not partitioned by item
        (default: twice the cluster's threads).
    kernel_threads : int, optional
        Numba threads each task's kernels use (set per task, so every Dask
        thread runs its kernels with this many). Default: the machine's cores
        divided by the local cluster's threads, or 1 on a remote scheduler
        (one Dask thread per core is the usual layout). More threads than
        cores make OpenMP threads of different workers wait on each other.
    """

    name = "dask"

    def __init__(self, client: Any = None, *, scheduler: str | None = None, n_workers: int | None = None,
                 threads_per_worker: int | None = None, processes: bool = True,
                 n_partitions: int | None = None, kernel_threads: int | None = None) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ParameterError("engine 'dask' needs Dask: pip install 'consensus[dask]'") from exc
        self._cluster = None
        self._owns_client = client is None
        if client is not None:
            self.client = client
        elif scheduler is not None:
            try:
                self.client = Client(scheduler, timeout="20s")
            except OSError as exc:
                raise ParameterError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from exc
        else:
            options: dict[str, Any] = {"processes": processes, "dashboard_address": None}
            if n_workers is not None:
                options["n_workers"] = n_workers
            if threads_per_worker is not None:
                options["threads_per_worker"] = threads_per_worker
            self._cluster = LocalCluster(**options)
            self.client = Client(self._cluster)
        threads = sum(self.client.nthreads().values()) or 1
        if n_partitions is None:
            n_partitions = 2 * threads
        self.n_partitions = int(n_partitions)
        if kernel_threads is None:
            kernel_threads = max(1, (os.cpu_count() or 1) // threads) if self._cluster is not None else 1
        self.kernel_threads = int(kernel_threads)

    def submit(self, func: Callable[..., Any], *args: Any) -> Any:
        key = f"consensus-{getattr(func, '__name__', 'task')}-{uuid.uuid4().hex}"
        return self.client.submit(_with_threads, self.kernel_threads, func, *args, key=key, pure=False)

    def scatter(self, values: Sequence[Any]) -> list[Any]:
        return list(self.client.scatter(list(values), hash=False, broadcast=False))

    def gather(self, handles: Sequence[Any]) -> list[Any]:
        return list(self.client.gather(list(handles)))

    def release(self, handles: Sequence[Any]) -> None:
        for future in handles:
            release = getattr(future, "release", None)
            if release is not None:
                release()

    def describe(self) -> str:
        info = self.client.scheduler_info()
        workers = info.get("workers", {})
        threads = sum(w.get("nthreads", 0) for w in workers.values())
        where = "local cluster" if self._cluster is not None else info.get("address", "scheduler")
        return f"dask ({where}: {len(workers)} workers, {threads} threads, {self.n_partitions} partitions)"

    def close(self) -> None:
        if self._owns_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def _with_threads(n_threads: int, func: Callable[..., Any], *args: Any) -> Any:
    """Run ``func(*args)`` with ``n_threads`` Numba threads in this (Dask) thread."""
    import numba

    numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
    return func(*args)
