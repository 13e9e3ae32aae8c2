"""The small interface the partitioned EM loop and fraud statistics are written against.

A backend runs plain Python functions next to data it keeps resident (a
*handle* is whatever the backend uses to name a result: the object itself in
process, a future on Dask). Everything the algorithms need is built from five
primitives: :meth:`~Backend.submit`, :meth:`~Backend.scatter`,
:meth:`~Backend.gather`, :meth:`~Backend.release` and :meth:`~Backend.close`.
On top of them this class provides :meth:`~Backend.load` (partitions by item,
resident), :meth:`~Backend.map` (a function over partitions, results resident),
:meth:`~Backend.map_gather` (small results back to the driver, in partition
order), :meth:`~Backend.reduce_by_worker` (sparse per-worker partial sums added
on the driver in partition order, so the result does not depend on which task
finished first) and :meth:`~Backend.write_parquet`.

Tasks receive the functions of :mod:`consensus.backends.tasks` (module-level,
so they pickle by reference) and small numpy arrays as arguments; nothing is
re-scattered under a content hash (each ``submit`` gets a fresh key).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


class Backend:
    """Base class of the execution engines (see the module docstring)."""

    name = "backend"
    #: Partitions ``load`` makes from a frame or from files that are not partitioned by item.
    n_partitions: int = 4

    # -- primitives (subclasses implement) ---------------------------------------------
    def submit(self, func: Callable[..., Any], *args: Any) -> Any:  # pragma: no cover - abstract
        """Run ``func(*args)`` (handles in ``args`` replaced by their values); return a handle."""
        raise NotImplementedError

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
            per_part: Sequence[tuple[Any, ...]] | None = None) -> list[Any]:
        """``func(part, *per_part[p], *shared)`` for every partition; results stay resident."""
        out = []
        for p, handle in enumerate(handles):
            extra = tuple(per_part[p]) if per_part is not None else ()
            out.append(self.submit(func, handle, *extra, *shared))
        return out

    def map_gather(self, func: Callable[..., Any], handles: Sequence[Any], *shared: Any,
                   per_part: Sequence[tuple[Any, ...]] | None = None) -> list[Any]:
        """Like :meth:`map`, but bring the (small) results back, in partition order."""
        futures = self.map(func, handles, *shared, per_part=per_part)
        try:
            return self.gather(futures)
        finally:
            self.release(futures)

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
