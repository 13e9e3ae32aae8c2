"""Execution engines for data that does not fit one process: partitions by item (by image for boxes), kept resident.

:class:`Backend` is the small interface (load partitions, map a function over
them, sum per-worker partials on the driver, write Parquet, close);
:class:`LocalBackend` runs it in process and :class:`DaskBackend` on a Dask
cluster (``pip install 'consensus[dask]'``). ``DawidSkene().fit(source,
engine="dask")`` and ``consensus aggregate ... --engine dask`` use them;
:func:`worker_statistics` computes the fraud count statistics and
:func:`box_agreement` the per-image box agreement on them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from consensus.backends.base import Backend, resolve_engine
    from consensus.backends.boxes import BoxAgreement, box_agreement
    from consensus.backends.dask import DaskBackend
    from consensus.backends.fraud import worker_statistics
    from consensus.backends.loader import PartitionedJudgments, from_codes, load_partitions
    from consensus.backends.local import LocalBackend

_LAZY = {
    "Backend": "consensus.backends.base",
    "resolve_engine": "consensus.backends.base",
    "LocalBackend": "consensus.backends.local",
    "DaskBackend": "consensus.backends.dask",
    "PartitionedJudgments": "consensus.backends.loader",
    "load_partitions": "consensus.backends.loader",
    "from_codes": "consensus.backends.loader",
    "worker_statistics": "consensus.backends.fraud",
    "box_agreement": "consensus.backends.boxes",
    "BoxAgreement": "consensus.backends.boxes",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'consensus.backends' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
