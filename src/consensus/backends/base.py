"""The small interface the partitioned EM loop, fraud statistics and box agreement are written against.

A backend runs plain Python functions next to data it keeps resident (a
*handle* is whatever the backend uses to name a result: the object itself in
process, a future on Dask). Everything the algorithms need is built from a few
primitives: :meth:`~Backend.submit_many` (one batch of tasks),
:meth:`~Backend.scatter`, :meth:`~Backend.scatter_near` (values placed next to
given partitions), :meth:`~Backend.broadcast` (one value every process can
read), :meth:`~Backend.gather`, :meth:`~Backend.release` and
:meth:`~Backend.close`. On top of them this class provides :meth:`~Backend.load`
(partitions by item, resident), :meth:`~Backend.map` (a function over
partitions, results resident), :meth:`~Backend.map_gather` (small results back
to the driver, in partition order), :meth:`~Backend.reduce_by_worker` (sparse
per-worker partial sums added on the driver in partition order, so the result
does not depend on which task finished first) and :meth:`~Backend.write_parquet`.

Tasks receive the functions of :mod:`consensus.backends.tasks` (module-level,
so they pickle by reference) and small numpy arrays as arguments; nothing is
re-scattered under a content hash (every task and scattered value gets a fresh key).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: Partial results combined per task in :meth:`Backend.map_reduce` (a fixed tree: the order of the sums
#: depends on the number of partitions only, never on the cluster).
FANOUT = 4


class Backend:
    """Base class of the execution engines (see the module docstring)."""

    name = "backend"
    #: Partitions ``load`` makes from a frame or from files that are not partitioned by item.
    n_partitions: int = 4

    # -- primitives (subclasses implement) ---------------------------------------------
    def submit(self, func: Callable[..., Any], *args: Any) -> Any:  # pragma: no cover - abstract
        """Run ``func(*args)`` (handles in ``args`` replaced by their values); return a handle."""
        raise NotImplementedError

    def submit_many(self, func: Callable[..., Any], arg_lists: Sequence[tuple[Any, ...]]) -> list[Any]:
        """``func(*args)`` for every tuple of ``arg_lists``, submitted as one batch; one handle each."""
        return [self.submit(func, *args) for args in arg_lists]

    def broadcast(self, value: Any, handles: Sequence[Any]) -> list[Any]:
        """One copy of ``value`` per worker process holding ``handles``; per handle, the copy next to it."""
        return [value] * len(handles)

    def scatter_near(self, values: Sequence[Any], handles: Sequence[Any]) -> list[Any]:
        """Place ``values[p]`` where ``handles[p]`` lives (so a task using both moves nothing)."""
        return self.scatter(values)

    def n_holders(self, handles: Sequence[Any]) -> int:
        """How many worker processes hold ``handles`` (a broadcast value is copied to each)."""
        return 1

    def scatter(self, values: Sequence[Any]) -> list[Any]:  # pragma: no cover - abstract
        """Place driver-side values next to the workers; return one handle per value."""
        raise NotImplementedError

    def gather(self, handles: Sequence[Any]) -> list[Any]:  # pragma: no cover - abstract
        """Values of ``handles``, in the same order."""
        raise NotImplementedError

    def release(self, handles: Sequence[Any]) -> None:
        """Let the backend drop results nobody needs any more."""

    def close(self) -> None:
        """Shut down what the backend started (a local cluster)."""

    def describe(self) -> str:
        return self.name

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- built on the primitives -------------------------------------------------------
    def map(self, func: Callable[..., Any], handles: Sequence[Any], *shared: Any,
            per_part: Sequence[tuple[Any, ...]] | None = None, where: Sequence[Any] | None = None) -> list[Any]:
        """``func(part, *per_part[p], *shared)`` for every partition; results stay resident.

        Tasks run where their partition lives, or on ``where[p]`` (from :meth:`spread`) when given.
        """
        return self.submit_many(func, [(handle, *(tuple(per_part[p]) if per_part is not None else ()), *shared)
                                       for p, handle in enumerate(handles)])

    def spread(self, sizes: Sequence[int]) -> list[Any]:
        """Where to place partitions of these sizes so every process gets a near-equal share (for :meth:`map`)."""
        return [None] * len(sizes)

    def map_gather(self, func: Callable[..., Any], handles: Sequence[Any], *shared: Any,
                   per_part: Sequence[tuple[Any, ...]] | None = None) -> list[Any]:
        """Like :meth:`map`, but bring the (small) results back, in partition order."""
        futures = self.map(func, handles, *shared, per_part=per_part)
        try:
            return self.gather(futures)
        finally:
            self.release(futures)

    def ship_rows(self, handles: Sequence[Any], workers: Sequence[np.ndarray], n_workers: int,
                  rows: tuple[np.ndarray, ...] | None) -> tuple[list[Any], bool, list[Any]]:
        """Per partition a handle of its rows of the per-worker arrays ``rows``; whether they are sliced;
        the shipped handles (to :meth:`release` when the tasks are done).

        ``workers[p]`` lists the global worker codes of partition ``p`` (sorted).
        Each partition gets only its workers' rows, placed where it lives
        (:meth:`scatter_near`), unless one copy of the whole tables per process
        (:meth:`broadcast`) moves fewer rows; tasks then take their rows
        themselves (:func:`consensus.backends.tasks.local_rows` does either).
        """
        n = len(handles)
        if rows is None:
            return [None] * n, True, []
        if self.n_holders(handles) * n_workers < sum(int(w.size) for w in workers):
            shipped = self.broadcast(tuple(rows), handles)
            return shipped, False, list({id(h): h for h in shipped}.values())
        shipped = self.scatter_near([tuple(np.ascontiguousarray(a[w]) for a in rows) for w in workers], handles)
        return shipped, True, shipped

    def map_reduce(self, func: Callable[..., Any], handles: Sequence[Any], *shared: Any,
                   per_part: Sequence[tuple[Any, ...]] | None = None,
                   per_worker: tuple[str, ...] = ()) -> dict[str, Any]:
        """Like :meth:`map_gather` for tasks returning dicts of sums, but the sums are added next to the
        data, in a fixed tree, and only the total reaches the driver.

        Every task returns a dict with ``"workers"`` (sorted global worker codes
        of its rows) and, under the keys ``per_worker``, arrays with one row per
        such worker; every other value is a plain sum. Groups of
        :data:`FANOUT` consecutive results are combined by
        :func:`consensus.backends.tasks.combine_sums` (rows matched by worker
        code, partition order kept), then groups of groups, down to one dict:
        its ``"workers"`` lists every worker present. The tree depends only on
        the number of partitions, so every backend adds the same numbers in the
        same order; with a cluster the combining tasks run where the partial
        sums are, and the driver receives one set of arrays instead of one per partition.
        """
        from consensus.backends import tasks

        level = self.map(func, handles, *shared, per_part=per_part)
        made = list(level)
        while len(level) > 1:
            groups = [list(level[i:i + FANOUT]) for i in range(0, len(level), FANOUT)]
            level = self.submit_many(tasks.combine_sums, [(group, per_worker) for group in groups])
            made.extend(level)
        root = level[0]
        self.release(made[:-1])  # the cluster keeps what the pending combining tasks still need
        try:
            return self.gather([root])[0]
        finally:
            self.release([root])

    @staticmethod
    def dense_by_worker(total: dict[str, Any], key: str, n_workers: int) -> np.ndarray:
        """``total[key]`` (rows of the workers ``total["workers"]``) as one row per worker, zeros elsewhere."""
        rows = np.asarray(total[key])
        codes = np.asarray(total["workers"])
        out = np.zeros((n_workers, *rows.shape[1:]), dtype=rows.dtype)
        if codes.size and codes[-1] - codes[0] == codes.size - 1:
            out[codes[0]:codes[-1] + 1] = rows
        else:
            out[codes] = rows
        return out

    @staticmethod
    def reduce_by_worker(partials: Sequence[np.ndarray], workers: Sequence[np.ndarray],
                         n_workers: int) -> np.ndarray:
        """Add sparse per-worker partial arrays into one dense array, in partition order.

        ``partials[p]`` has one row per worker of partition ``p`` (global codes
        ``workers[p]``, unique); the result has ``n_workers`` rows.
        """
        if not partials:
            raise ValueError("reduce_by_worker needs at least one partial")
        first = np.asarray(partials[0])
        out = np.zeros((n_workers, *first.shape[1:]), dtype=first.dtype)
        for part, codes in zip(partials, workers):
            if codes.size and codes[-1] - codes[0] == codes.size - 1:  # sorted, unique: a contiguous range
                out[codes[0]:codes[-1] + 1] += part
            else:
                out[codes] += part
        return out

    def load(self, source: Any, **options: Any):  # noqa: ANN201 - a PartitionedJudgments
        """Read, validate and integer-code ``source`` into resident partitions by item.

        See :func:`consensus.backends.loader.load_partitions` for the sources and options.
        """
        from consensus.backends.loader import load_partitions

        return load_partitions(self, source, **options)

    def write_parquet(self, func: Callable[..., Any], handles: Sequence[Any], directory: str,
                      *shared: Any) -> list[str]:
        """Write ``func(part, *shared)`` (a polars frame) of every partition to ``directory/part-NNNNN.parquet``.

        The files are written by the tasks (no data goes through the driver);
        returns their paths in partition order.
        """
        from pathlib import Path

        from consensus.backends import tasks

        Path(directory).mkdir(parents=True, exist_ok=True)
        paths = [str(Path(directory) / f"part-{p:05d}.parquet") for p in range(len(handles))]
        self.map_gather(tasks.write_frame, handles, func, *shared, per_part=[(path,) for path in paths])
        return paths


def engine_name(engine: Any) -> str:
    """How an ``engine`` argument is named in messages: the string, or the backend's ``name`` ("dask")."""
    return engine if isinstance(engine, str) else str(getattr(engine, "name", type(engine).__name__))


def resolve_engine(engine: Any, scheduler: str | None = None) -> tuple[Backend | None, bool]:
    """``(backend, owned)`` for an ``engine`` argument; ``(None, False)`` for the in-memory path.

    ``"local"`` or None keep today's in-memory code path; ``"dask"`` starts a
    Dask backend (a ``LocalCluster`` unless ``scheduler`` names one), which the
    caller owns and must close; a :class:`Backend` instance is used as is.
    """
    from consensus.errors import ParameterError

    if engine is None or (isinstance(engine, str) and engine == "local"):
        if scheduler is not None:
            raise ParameterError("a scheduler address needs engine='dask' (--engine dask)")
        return None, False
    if isinstance(engine, Backend):
        return engine, False
    if isinstance(engine, str) and engine == "dask":
        from consensus.backends.dask import DaskBackend

        return DaskBackend(scheduler=scheduler), True
    raise ParameterError(
        f"The 'engine' parameter must be 'local', 'dask' or a consensus.backends.Backend. Got {engine!r} instead.")
