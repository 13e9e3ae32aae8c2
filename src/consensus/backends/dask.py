"""The Dask backend: partitions live in the workers' memory as futures.

``DaskBackend(client)`` uses an existing :class:`distributed.Client`;
``DaskBackend(scheduler="tcp://host:8786")`` connects to a running scheduler;
``DaskBackend()`` starts a :class:`distributed.LocalCluster` (closed by
:meth:`close`). Every task is submitted with a fresh key (``pure=False``; a
batch of tasks is one ``client.map`` call, one message to the scheduler) and
driver values are scattered with ``hash=False``: re-scattering identical data
under a content hash can hang (dask/distributed issues on scattering the same
data twice). Per-iteration parameters go straight from the driver to the
worker process that holds each partition (:meth:`DaskBackend.scatter_near`),
or once to every process (:meth:`DaskBackend.broadcast`) when that moves
fewer bytes; small results come straight back from the workers (``direct``).
"""

from __future__ import annotations

import os
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

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
        thread runs its kernels with this many). Default: on every host, its
        cores divided by the Dask threads of the workers on it (the smallest
        such share over the hosts, at least 1), so that Dask threads x kernel
        threads <= cores: more threads than cores make the OpenMP threads of
        different workers wait on each other.
    direct : bool, optional
        Send scattered values to, and gather results from, the workers
        directly instead of through the scheduler. Default: True for a cluster
        this backend starts or connects to, the client's own
        ``direct_to_workers`` for a given client.
    """

    name = "dask"

    def __init__(self, client: Any = None, *, scheduler: str | None = None, n_workers: int | None = None,
                 threads_per_worker: int | None = None, processes: bool = True,
                 n_partitions: int | None = None, kernel_threads: int | None = None,
                 direct: bool | None = None) -> None:
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
            except (OSError, ValueError, TypeError) as exc:  # unreachable, or not an address (ValueError)
                raise ParameterError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from exc
        else:
            options: dict[str, Any] = {"processes": processes, "dashboard_address": None}
            if n_workers is not None:
                options["n_workers"] = n_workers
            if threads_per_worker is not None:
                options["threads_per_worker"] = threads_per_worker
            self._cluster = LocalCluster(**options)
            self.client = Client(self._cluster)
        self.direct = (client.direct_to_workers if client is not None else True) if direct is None else direct
        nthreads = self.client.nthreads()
        threads = sum(nthreads.values()) or 1
        if n_partitions is None:
            n_partitions = 2 * threads
        if isinstance(n_partitions, bool) or not isinstance(n_partitions, (int, np.integer)) or n_partitions < 1:
            raise ParameterError(f"The 'n_partitions' parameter of DaskBackend must be a positive integer or None. "
                                 f"Got {n_partitions!r} instead.")
        self.n_partitions = int(n_partitions)
        if kernel_threads is None:
            kernel_threads = _kernel_threads(self.client, nthreads)
        self.kernel_threads = int(kernel_threads)

    def n_holders(self, handles: Sequence[Any]) -> int:
        return max(1, len(set(self._locations(handles))))

    def _keys(self, func: Callable[..., Any], n: int) -> list[str]:
        name = getattr(func, "__name__", "task")
        return [f"consensus-{name}-{uuid.uuid4().hex}" for _ in range(n)]

    def submit(self, func: Callable[..., Any], *args: Any) -> Any:
        key = self._keys(func, 1)[0]
        return self.client.submit(_with_threads, self.kernel_threads, func, *args, key=key, pure=False)

    def submit_many(self, func: Callable[..., Any], arg_lists: Sequence[tuple[Any, ...]],
                    where: Sequence[str | None] | None = None, strict: bool = False) -> list[Any]:
        """One ``client.map`` per target process (``where[i]``: the address the task should run on, or None).

        The restriction is loose (another process may run the task if that one
        is gone) unless ``strict``.
        """
        n = len(arg_lists)
        if n == 0:
            return []
        if len({len(args) for args in arg_lists}) != 1:
            return [self.submit(func, *args) for args in arg_lists]
        groups: dict[str | None, list[int]] = defaultdict(list)
        for i in range(n):
            groups[None if where is None else where[i]].append(i)
        out: list[Any] = [None] * n
        for address, members in groups.items():
            columns = [list(column) for column in zip(*(arg_lists[i] for i in members))]
            options: dict[str, Any] = {} if address is None else {"workers": [address],
                                                                   "allow_other_workers": not strict}
            futures = self.client.map(_with_threads, [self.kernel_threads] * len(members), [func] * len(members),
                                      *columns, key=self._keys(func, len(members)), pure=False, **options)
            for i, future in zip(members, futures):
                out[i] = future
        return out

    def map(self, func: Callable[..., Any], handles: Sequence[Any], *shared: Any,
            per_part: Sequence[tuple[Any, ...]] | None = None, where: Sequence[Any] | None = None) -> list[Any]:
        """Every task runs on the process that holds its partition (no partition moves between processes)."""
        arg_lists = [(handle, *(tuple(per_part[p]) if per_part is not None else ()), *shared)
                     for p, handle in enumerate(handles)]
        if where is None:
            return self.submit_many(func, arg_lists, where=self._locations(handles))
        return self.submit_many(func, arg_lists, where=where, strict=True)

    def spread(self, sizes: Sequence[int]) -> list[Any]:
        """Consecutive runs of partitions, one run per process, sized by its threads.

        Runs (not round-robin) keep the groups that :meth:`map_reduce` combines
        on one process, so only the groups' totals move.
        """
        nthreads = sorted(self.client.nthreads().items())
        if not nthreads or not len(sizes):
            return [None] * len(sizes)
        capacity = np.cumsum([max(n, 1) for _, n in nthreads], dtype=np.float64)
        bounds = capacity / capacity[-1] * max(float(sum(sizes)), 1.0)
        before = np.concatenate([[0.0], np.cumsum(np.asarray(sizes, dtype=np.float64))[:-1]])
        middle = before + np.asarray(sizes, dtype=np.float64) / 2.0
        which = np.minimum(np.searchsorted(bounds, middle, side="right"), len(nthreads) - 1)
        return [nthreads[k][0] for k in which]

    def scatter(self, values: Sequence[Any]) -> list[Any]:
        return list(self.client.scatter(list(values), hash=False, broadcast=False, direct=self.direct))

    def scatter_near(self, values: Sequence[Any], handles: Sequence[Any]) -> list[Any]:
        where = self._locations(handles)
        groups: dict[str | None, list[int]] = defaultdict(list)
        for p, address in enumerate(where):
            groups[address].append(p)
        out: list[Any] = [None] * len(values)
        for address, members in groups.items():
            futures = self.client.scatter([values[p] for p in members], workers=None if address is None else [address],
                                          hash=False, direct=self.direct)
            for p, future in zip(members, futures):
                out[p] = future
        return out

    def _locations(self, handles: Sequence[Any]) -> list[str | None]:
        """A process holding each handle (None: not computed yet, or not a future)."""
        done = [h for h in handles if getattr(h, "status", None) == "finished"]
        where = {key: sorted(addresses)[0] for key, addresses in self.client.who_has(done).items() if addresses} \
            if done else {}
        return [where.get(getattr(h, "key", None)) for h in handles]

    def broadcast(self, value: Any, handles: Sequence[Any]) -> list[Any]:
        """One scatter per process holding ``handles`` (no worker-to-worker replication)."""
        where = self._locations(handles)
        copies = {address: self.client.scatter([value], workers=None if address is None else [address],
                                               hash=False, direct=self.direct)[0] for address in dict.fromkeys(where)}
        return [copies[address] for address in where]

    def gather(self, handles: Sequence[Any]) -> list[Any]:
        return list(self.client.gather(list(handles), direct=self.direct))

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


def _kernel_threads(client: Any, nthreads: dict[str, int]) -> int:
    """Smallest share of cores per Dask thread over the cluster's hosts (at least 1)."""
    if not nthreads:
        return 1
    cores = client.run(os.cpu_count)
    per_host: dict[str, list[int]] = defaultdict(lambda: [0, 1])
    for address, n in nthreads.items():
        host = address.rsplit(":", 1)[0]
        per_host[host][0] += n
        per_host[host][1] = int(cores.get(address) or 1)
    return max(1, min(n_cores // max(threads, 1) for threads, n_cores in per_host.values()))


def _with_threads(n_threads: int, func: Callable[..., Any], *args: Any) -> Any:
    """Run ``func(*args)`` with ``n_threads`` Numba threads in this (Dask) thread."""
    import numba

    numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
    return func(*args)
