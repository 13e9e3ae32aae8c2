"""The in-process backend: partitions are plain objects, tasks are function calls.

It runs exactly the partitioned algorithm the Dask backend runs (same tasks,
same reduction order), without any scheduler, so it is the reference the Dask
results are compared with and a way to run the partitioned code path on one
machine. ``engine="local"`` (the default of ``fit``) does not use it: that
keeps the in-memory code path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from consensus.backends.base import Backend
from consensus.errors import check_param


class LocalBackend(Backend):
    """Run partition tasks in this process, one after the other.

    Parameters
    ----------
    n_partitions : int, default 4
        Partitions made from a frame, or from files that are not partitioned by item.
    """

    name = "local"

    def __init__(self, n_partitions: int = 4) -> None:
        check_param("LocalBackend", "n_partitions", n_partitions,
                    isinstance(n_partitions, int) and n_partitions >= 1, "an int in the range [1, inf)")
        self.n_partitions = n_partitions

    def submit(self, func: Callable[..., Any], *args: Any) -> Any:
        return func(*args)

    def scatter(self, values: Sequence[Any]) -> list[Any]:
        return list(values)

    def gather(self, handles: Sequence[Any]) -> list[Any]:
        return list(handles)

    def describe(self) -> str:
        return f"local (in-process, {self.n_partitions} partitions)"
