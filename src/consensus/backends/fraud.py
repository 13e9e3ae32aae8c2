"""The per-worker count statistics of :func:`consensus.fraud.detect_fraud`, on partitions.

What runs partitioned (map over partitions, per-worker sums added on the
driver in partition order): the Dawid-Skene consensus fit (as the fraud
``Context`` fits it: no gold, ``max_iter`` and ``seed`` from the config,
tolerance ``DS_TOL``, no calibration), every item's posterior, and each
worker's answers against the leave-one-out consensus: answers per class
(``observed``, the *skewed_labels* counts), the answers a typical annotator
would give on the same items (``expected``), compared answers, agreements and
chance agreement (*random_clicking*); with a fixed ``min_seconds`` floor, timed
and too-fast judgments per worker (*too_fast* counts).

What stays local (:func:`consensus.fraud.detect_fraud` on one machine): the
learned speed floor (medians of all durations), bursts and runs (submission
order per worker across partitions), collusion (worker pairs), honeypots and
the tests, FDR control and tables built from these counts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from consensus.backends import tasks
from consensus.backends.loader import PartitionedJudgments
from consensus.kernels import partitioned as kp

#: The per-worker arrays :func:`agreement_task` returns (added by worker code across partitions).
PER_WORKER = ("observed", "expected", "n_compared", "n_agree", "answered", "agreed", "n_timed", "n_fast")


def agreement_task(part: tasks.Partition, rows: Any, sliced: bool, log_prior: np.ndarray,
                   answer: np.ndarray, eps: float, min_seconds: float | None) -> dict[str, Any]:
    """Per local worker: the additive parts of the agreement statistics (and speed counts)."""
    from consensus.kernels.fraud_labels import item_posterior

    log_emission, factor = tasks.local_rows(part, rows, sliced)
    j = part.judgments
    post, n_class = item_posterior(j.item_offsets, j.worker, j.label, log_emission, log_prior)
    names = ("observed", "expected", "n_compared", "n_agree", "answered", "agreed")
    out: dict[str, Any] = {"workers": part.workers.astype(np.int32)}
    out.update(zip(names, kp.agreement_stats(j.worker_offsets, j.item_by_worker, j.label_by_worker, post,
                                             factor, n_class, answer, eps)))
    if min_seconds is not None and j.duration is not None:
        duration = np.asarray(j.duration, dtype=np.float64)
        valid = np.isfinite(duration) & (duration >= 0)
        out["n_timed"] = np.bincount(j.worker[valid], minlength=j.n_workers).astype(np.int64)
        out["n_fast"] = np.bincount(j.worker[valid & (duration < min_seconds)], minlength=j.n_workers).astype(np.int64)
    return out


def worker_statistics(data: Any, engine: Any = "dask", *, config: Any = None) -> pl.DataFrame:
    """Per-worker fraud count statistics computed on partitions.

    Parameters
    ----------
    data : PartitionedJudgments, or a source for :meth:`Backend.load`
    engine : "dask", or a :class:`consensus.backends.Backend` (ignored for PartitionedJudgments)
    config : FraudConfig, optional
        ``max_iter``, ``seed`` and ``min_seconds`` are used.

    Returns
    -------
    polars.DataFrame
        One row per worker (global code order): ``worker``, ``n_judgments``,
        ``n_na``, ``n_compared``, ``n_agree``, ``consensus_agreement``,
        ``chance_agreement``, ``observed_<class>``, ``expected_<class>`` and,
        with ``config.min_seconds`` and durations, ``n_timed``, ``n_fast``.
        Each equals what the in-memory fraud ``Context`` computes (to rounding).
    """
    from consensus.backends.base import resolve_engine

    if isinstance(data, PartitionedJudgments):
        return _statistics(data, config)
    backend, owned = resolve_engine(engine)
    assert backend is not None
    try:
        loaded = backend.load(data)
        try:
            return _statistics(loaded, config)
        finally:
            loaded.release()
    finally:
        if owned:
            backend.close()


def _statistics(data: PartitionedJudgments, config: Any) -> pl.DataFrame:
    from consensus.backends.em import fit_partitioned
    from consensus.fraud._base import DS_TOL, EPS, leave_out_factor
    from consensus.fraud.config import FraudConfig
    from consensus.models import DawidSkene

    config = config or FraudConfig()
    model = DawidSkene(max_iter=config.max_iter, tol=DS_TOL, random_state=config.seed, calibration="none")
    fit_partitioned(model, data)
    with np.errstate(divide="ignore"):
        log_emission = np.ascontiguousarray(np.log(model.confusion_).transpose(0, 2, 1))
        log_prior = np.ascontiguousarray(np.log(model.priors_))
    factor = leave_out_factor(log_emission)
    n_classes = data.n_classes
    weight = (data.n_judgments_per_worker - data.n_na_per_worker).astype(np.float64)
    if weight.sum() <= 0:
        answer = np.full((n_classes, n_classes), 1.0 / max(n_classes, 1))
    else:
        typical = np.tensordot(weight / weight.sum(), model.confusion_, axes=1)
        answer = np.ascontiguousarray(typical / typical.sum(axis=1, keepdims=True))
    totals = data.map_rows(agreement_task, (log_emission, factor), log_prior, answer, EPS, config.min_seconds,
                           per_worker=PER_WORKER)

    n_compared = totals["n_compared"]
    n_agree = totals["n_agree"]
    agreed = totals["agreed"]
    answered = totals["answered"]
    with np.errstate(invalid="ignore", divide="ignore"):
        chance = np.where(n_compared > 0, (answered * agreed).sum(axis=1) / (n_compared.astype(np.float64) ** 2),
                          np.nan)
        rate = np.where(n_compared > 0, n_agree / np.maximum(n_compared, 1), np.nan)
    columns: dict[str, Any] = {
        "worker": data.worker_ids,
        "n_judgments": pl.Series(data.n_judgments_per_worker, dtype=pl.Int64),
        "n_na": pl.Series(data.n_na_per_worker, dtype=pl.Int64),
        "n_compared": pl.Series(n_compared, dtype=pl.Int64),
        "n_agree": pl.Series(n_agree, dtype=pl.Int64),
        "consensus_agreement": pl.Series(rate).fill_nan(None),
        "chance_agreement": pl.Series(chance).fill_nan(None),
    }
    observed, expected = totals["observed"], totals["expected"]
    for k, name in enumerate(data.classes):
        columns[f"observed_{name}"] = pl.Series(observed[:, k])
    for k, name in enumerate(data.classes):
        columns[f"expected_{name}"] = pl.Series(expected[:, k])
    if "n_timed" in totals:
        columns["n_timed"] = pl.Series(totals["n_timed"], dtype=pl.Int64)
        columns["n_fast"] = pl.Series(totals["n_fast"], dtype=pl.Int64)
    return pl.DataFrame(columns)
