"""What the detectors share: the fitted consensus (``Context``) and their result types."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from consensus.data import Judgments
from consensus.fraud.config import FraudConfig

#: Smoothing of leave-one-out posteriors: ``(1 - EPS) * p + EPS / K``.
EPS = 0.01
#: Relative tolerance of the Dawid-Skene fit behind the label tests (they need the
#: confusion matrices roughly, not to the last digit).
DS_TOL = 1e-4


@dataclass
class TestResult:
    """One worker-level test: arrays of shape (n_workers,).

    ``p_value`` is NaN where the test was not run for the worker (no data);
    ``effect`` says whether ``statistic`` passes ``threshold`` in the test's
    direction (a flag needs both the effect and a significant p-value).
    """

    name: str
    n: np.ndarray
    statistic: np.ndarray
    threshold: np.ndarray
    p_value: np.ndarray
    effect: np.ndarray


@dataclass
class DetectorOutput:
    """A detector's tests, extra worker columns and per-judgment flags (judgment order)."""

    tests: list[TestResult] = field(default_factory=list)
    columns: dict[str, Any] = field(default_factory=dict)
    judgment_flags: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


class Context:
    """The judgments plus a Dawid-Skene consensus fitted without gold.

    Attributes (computed on first use)
    ----------------------------------
    log_emission, emission : float64 (n_workers, K, K), ``[w, given, true]``
    log_prior : float64 (K,)
    post : float64 (n_items, K)
        Posterior of every item's truth given all its answers.
    factor : float64 (n_workers, K, K)
        Leave-one-out factors (see ``kernels.fraud_labels.leave_out``).
    n_class : int64 (n_items,)
    """

    def __init__(self, judgments: Judgments, config: FraudConfig) -> None:
        self.judgments = judgments
        self.config = config

    @property
    def n_workers(self) -> int:
        return self.judgments.n_workers

    @cached_property
    def model(self):  # noqa: ANN201 - a fitted DawidSkene
        import inspect

        from consensus.models import DawidSkene

        unsupervised = copy.copy(self.judgments)
        unsupervised.gold = None
        options: dict[str, Any] = {}
        if "calibration" in inspect.signature(DawidSkene).parameters:
            options["calibration"] = "none"  # only the confusion matrices and priors are used
        return DawidSkene(max_iter=self.config.max_iter, tol=DS_TOL, random_state=self.config.seed,
                          **options).fit(unsupervised)

    @cached_property
    def log_emission(self) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.ascontiguousarray(np.log(self.model.confusion_).transpose(0, 2, 1))

    @cached_property
    def emission(self) -> np.ndarray:
        return np.ascontiguousarray(self.model.confusion_.transpose(0, 2, 1))

    @cached_property
    def log_prior(self) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.ascontiguousarray(np.log(self.model.priors_))

    @cached_property
    def _posterior(self) -> tuple[np.ndarray, np.ndarray]:
        from consensus.kernels.fraud_labels import item_posterior

        j = self.judgments
        return item_posterior(j.item_offsets, j.worker, j.label, self.log_emission, self.log_prior)

    @property
    def post(self) -> np.ndarray:
        """Posterior over the truth per item, all answers included, float64 (n_items, K)."""
        return self._posterior[0]

    @property
    def n_class(self) -> np.ndarray:
        """Class answers per item, int64 (n_items,)."""
        return self._posterior[1]

    @cached_property
    def factor(self) -> np.ndarray:
        """Leave-one-out factors ``[w, given, true]``: ``1 / P(given | true)`` rescaled so the
        largest per ``(w, given)`` is 1 (0 where the probability is 0)."""
        return leave_out_factor(self.log_emission)

    @cached_property
    def votes(self) -> np.ndarray:
        """Class answers per item and class, float64 (n_items, K)."""
        from consensus.kernels.vote import vote_counts

        j = self.judgments
        return vote_counts(j.item_offsets, j.label, j.n_classes)

    @cached_property
    def typical_confusion(self) -> np.ndarray:
        """A typical annotator's confusion ``[true, given]``: the workers' Dawid-Skene
        confusion matrices averaged with weights = class judgments."""
        j = self.judgments
        weight = np.bincount(j.worker[j.label >= 0], minlength=j.n_workers).astype(np.float64)
        confusion = self.model.confusion_
        if weight.sum() <= 0:
            return np.full((j.n_classes, j.n_classes), 1.0 / max(j.n_classes, 1))
        typical = np.tensordot(weight / weight.sum(), confusion, axes=1)
        return np.ascontiguousarray(typical / typical.sum(axis=1, keepdims=True))

    @cached_property
    def agreement(self) -> tuple[np.ndarray, ...]:
        """``fraud_labels.worker_agreement`` outputs (observed, expected, n_compared, n_agree, chance)."""
        from consensus.kernels.fraud_labels import worker_agreement

        j = self.judgments
        return worker_agreement(j.worker_offsets, j.item_by_worker, j.label_by_worker, self.post,
                                self.factor, self.n_class, self.typical_confusion, EPS)

    @cached_property
    def sequence_order(self) -> np.ndarray:
        """Judgment indices grouped by worker, in submission order within a worker.

        Submission time when known (ties and unknown times by input row),
        otherwise the input row order, otherwise judgment order.
        """
        from consensus.kernels.fraud_labels import order_within_workers

        j = self.judgments
        row = (np.asarray(j.input_row, dtype=np.float64) if j.input_row is not None
               else np.arange(j.n_judgments, dtype=np.float64))
        timed = j.submitted is not None
        primary = np.asarray(j.submitted, dtype=np.float64) if timed else row
        return order_within_workers(j.worker_offsets, j.worker_order, np.ascontiguousarray(primary),
                                    np.ascontiguousarray(row), timed)


def leave_out_factor(log_emission: np.ndarray) -> np.ndarray:
    """``exp(min_t L[w, g, t] - L[w, g, t])`` for ``L = log_emission``, 0 where ``L = -inf``."""
    finite = np.isfinite(log_emission)
    low = np.where(finite, log_emission, np.inf).min(axis=2, keepdims=True)
    with np.errstate(invalid="ignore", over="ignore"):
        factor = np.where(finite, np.exp(np.minimum(low - log_emission, 0.0)), 0.0)
    return np.ascontiguousarray(factor)


def full(n: int, value: float) -> np.ndarray:
    return np.full(n, value, dtype=np.float64)
