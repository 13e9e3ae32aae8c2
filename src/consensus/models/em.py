"""The EM loop every latent-class model shares.

A subclass supplies the M-step (parameters from posteriors), the E-step
(posteriors and per-item log-likelihood from parameters), and the log-prior
penalty of its parameters. The loop records the penalised log-likelihood,
which MAP-EM never decreases, and stops on relative tolerance.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

import numpy as np

from consensus import calibration
from consensus.data import Judgments
from consensus.errors import ParameterError, check_param
from consensus.kernels import dawid_skene as ds
from consensus.kernels import vote
from consensus.models.base import Aggregator
from consensus.models.majority_vote import TIE_POLICIES, check_tie_params


class EMAggregator(Aggregator):
    """Base of the EM models. Subclasses set ``_name`` and implement the hooks.

    Fitted attributes (besides :class:`Aggregator`'s)
    -----------------------------------------------
    priors_ : ndarray of float64, shape (n_classes,)
    raw_probas_ : ndarray of float64, shape (n_items, n_classes)
        Posteriors before calibration, gold not clamped.
    temperature_ : float
        Calibration temperature (``probas_`` = tempered ``raw_probas_``,
        gold items clamped); with ``calibration="item"`` / ``"item_gold"``
        the base ``T0`` of the per-item temperatures. See
        :mod:`consensus.calibration`.
    item_temperature_ : ndarray of float64, shape (n_items,)
        The temperature each item's posterior was tempered by (all equal to
        ``temperature_`` except in the per-item modes).
    answer_correlation_ : float
        ``rho`` of the per-item temperature ``T0 * (1 + rho * (n - 1))``
        (0 outside the per-item modes).
    log_likelihood_history_ : list of float
        Penalised log-likelihood after each iteration (never decreases).
    n_iter_ : int
    converged_ : bool
    """

    max_iter: int
    tol: float
    beta: float
    tie_break: str
    random_state: int
    calibration: str = "loo"

    def _check_common_params(self) -> None:
        name = self._name
        check_param(name, "max_iter", self.max_iter,
                    isinstance(self.max_iter, (int, np.integer)) and not isinstance(self.max_iter, bool)
                    and self.max_iter >= 1,
                    "an int in the range [1, inf)")
        for param in ("tol", "beta"):
            value = getattr(self, param)
            check_param(name, param, value, _non_negative(value), "a float in the range [0.0, inf)")
        check_param(name, "calibration", self.calibration, self.calibration in calibration.CALIBRATIONS,
                    f"one of {list(calibration.CALIBRATIONS)}")
        check_tie_params(name, self.tie_break, self.random_state)

    def fit(self, data, gold=None, *, engine="local"):  # noqa: ANN001, ANN201 - see Aggregator.fit
        """Fit on ``data``; return self.

        ``engine="local"`` (default) fits in memory. ``engine="dask"`` (a local
        Dask cluster) or a :class:`consensus.backends.Backend` (e.g.
        ``DaskBackend(client)``) loads ``data`` (a Parquet glob, a polars frame,
        a dask DataFrame, or a ``PartitionedJudgments`` already loaded) as
        partitions by item and runs EM on them; see :mod:`consensus.backends`.
        """
        if engine is None or (isinstance(engine, str) and engine == "local"):
            return super().fit(data, gold)
        from consensus.backends.base import engine_name
        from consensus.backends.em import fit_with_engine

        if self.calibration in calibration.PER_ITEM:
            raise ParameterError(
                f"The 'calibration' parameter of {self._name} must be one of ['loo', 'gold', 'none'] with "
                f"engine={engine_name(engine)!r} (the partitioned engine fits one temperature). Got {self.calibration!r} "
                "instead; fit in memory (engine='local') for the per-item temperature.")
        fitted = fit_with_engine(self, data, gold, engine)
        fitted.item_temperature_ = np.full(fitted.raw_probas_.shape[0], fitted.temperature_)
        fitted.answer_correlation_ = 0.0
        return fitted

    # hooks ------------------------------------------------------------------------------
    def _check_params(self) -> None:
        self._check_common_params()

    def _prepare(self, judgments: Judgments) -> None:
        """Set up anything fixed for the whole fit (priors tables, initial parameters)."""

    def _m_step(self, judgments: Judgments, posterior: np.ndarray) -> None:  # pragma: no cover
        raise NotImplementedError

    def _e_step(self, judgments: Judgments, gold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Default: the Dawid-Skene E-step on ``self._log_emission``."""
        return ds.e_step(judgments.item_offsets, judgments.worker, judgments.label,
                         self._log_emission, self._log_prior, gold)

    def _log_e_step(self, judgments: Judgments, gold: np.ndarray) -> np.ndarray:
        """The E-step's log-posterior (no underflow to -inf): float64 (n_items, K)."""
        return ds.e_step(judgments.item_offsets, judgments.worker, judgments.label,
                         self._log_emission, self._log_prior, gold, True)[0]

    def _underflowed_log_rows(self, judgments: Judgments, no_gold: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """``(rows, log-posteriors)`` of the items whose ``raw_probas_`` row has an entry below
        :data:`calibration.UNDERFLOW`, from one log-space E-step; None when there is none (the usual case)."""
        rows = np.flatnonzero((self.raw_probas_ < calibration.UNDERFLOW).any(axis=1))
        if rows.size == 0:
            return None
        return rows, np.ascontiguousarray(self._log_e_step(judgments, no_gold)[rows])

    def _penalty(self) -> float:  # pragma: no cover
        raise NotImplementedError

    def _finish(self, judgments: Judgments, posterior: np.ndarray) -> None:
        """Set ``confusion_`` (default: from ``self._log_emission``)."""
        self.confusion_ = np.exp(self._log_emission).transpose(0, 2, 1).copy()

    def _out_of_fold_posteriors(self, judgments: Judgments, gold: np.ndarray) -> np.ndarray:
        """``raw_probas_`` with every gold item's row replaced by its out-of-fold posterior.

        The gold items are split into :func:`calibration.gold_folds` (seeded by
        ``random_state``); for each fold the same model (same parameters,
        ``calibration="none"``) is refitted with only the other folds' gold
        clamped, and its unclamped posterior of the fold's items is kept. So
        the gold calibrations see, for each gold item, a posterior from
        annotator parameters that were not learnt from that item's gold.
        Costs one fit per fold, once per fit: the result is kept for the
        redundancy advice's gold ``rho``. Shape (n_items, n_classes).
        """
        cached = getattr(self, "_out_of_fold", None)
        if cached is not None and cached[0] is judgments and np.array_equal(cached[1], gold):
            return cached[2]
        posterior = self.raw_probas_.copy()
        params = {name: getattr(self, name) for name in inspect.signature(type(self).__init__).parameters
                  if name != "self"}
        params["calibration"] = "none"
        for fold in calibration.gold_folds(gold, int(self.random_state)):
            other_gold = gold.copy()
            other_gold[fold] = -1
            subset = copy.copy(judgments)
            subset.gold = other_gold
            refit = type(self)(**params)
            refit.fit(subset)
            posterior[fold] = refit.raw_probas_[fold]
        self._out_of_fold = (judgments, gold.copy(), posterior)
        return posterior

    def _calibrate(self, judgments: Judgments, gold: np.ndarray) -> None:
        """Set ``raw_probas_`` (unclamped posteriors), ``temperature_``, ``item_temperature_``, ``answer_correlation_``."""
        no_gold = np.full(judgments.n_items, -1, dtype=np.int32)
        self.raw_probas_, _ = self._e_step(judgments, no_gold)
        self._raw_log_rows = self._underflowed_log_rows(judgments, no_gold)
        method = self.calibration
        self.answer_correlation_ = 0.0
        if method in calibration.PER_ITEM:
            n_answers = judgments.n_labels_per_item
            if method == "item_gold" and (gold >= 0).any():
                base, rho = calibration.fit_item_temperature_gold(
                    self._out_of_fold_posteriors(judgments, gold), gold, n_answers)
            else:
                rho = calibration.answer_correlation(judgments, self.raw_probas_)
                row_offsets, rows = calibration.answer_rows(judgments, calibration.loo_items(judgments.n_items))
                log_rows = self._answer_log_emission(judgments, rows)
                base = 1.0 if log_rows is None else \
                    calibration.fit_item_temperature_loo(row_offsets, log_rows, self._log_prior, rho)
            self.temperature_, self.answer_correlation_ = base, rho
            self.item_temperature_ = calibration.item_temperature(n_answers, base, rho)
            return
        if method == "gold" and (gold >= 0).any():
            self.temperature_ = calibration.fit_temperature_gold(self._out_of_fold_posteriors(judgments, gold), gold)
        elif method in ("gold", "loo") and hasattr(self, "_log_emission"):
            self.temperature_ = calibration.fit_temperature_loo(judgments, self._log_emission, self._log_prior)
        else:
            self.temperature_ = 1.0
        self.item_temperature_ = np.full(judgments.n_items, self.temperature_)

    def _answer_log_emission(self, judgments: Judgments, rows: np.ndarray) -> np.ndarray | None:
        """``log P(answer | z = k)`` of the class answers at positions ``rows``: float64 (len(rows), K).

        From the emission tables (Dawid-Skene, one-coin, MACE) or from GLAD's
        ability times easiness; ``None`` for a model with neither.
        """
        worker, label = judgments.worker[rows], judgments.label[rows]
        if hasattr(self, "_log_emission"):
            return np.ascontiguousarray(self._log_emission[worker, label])
        ability, log_beta = getattr(self, "ability_", None), getattr(self, "_log_beta", None)
        if ability is None or log_beta is None:
            return None
        # GLAD (kernels/glad.py e_step): right w.p. sigmoid(a_w b_i), else one of K - 1 others uniformly
        x = ability[worker] * np.exp(log_beta[judgments.item[rows]])
        n_classes = judgments.n_classes
        wrong = -np.logaddexp(0.0, x) - (np.log(n_classes - 1.0) if n_classes > 1 else 0.0)
        out = np.repeat(wrong[:, None], n_classes, axis=1)
        out[np.arange(rows.size), label] = -np.logaddexp(0.0, -x)
        return out

    # loop -------------------------------------------------------------------------------
    def _fit(self, judgments: Judgments) -> None:
        self._check_params()
        self.__dict__.pop("_out_of_fold", None)
        gold = judgments.gold if judgments.gold is not None else np.full(judgments.n_items, -1, np.int32)
        gold = np.ascontiguousarray(gold, dtype=np.int32)
        self._prepare(judgments)
        posterior = initial_posterior(judgments, gold)
        history: list[float] = []
        converged = False
        for _ in range(int(self.max_iter)):
            self._m_step(judgments, posterior)
            self._log_prior = ds.class_log_prior(posterior, float(self.beta))
            posterior, item_loglik = self._e_step(judgments, gold)
            objective = float(item_loglik.sum()) + self._penalty() + _prior_penalty(self._log_prior, self.beta)
            history.append(objective)
            if len(history) > 1 and history[-1] - history[-2] <= self.tol * abs(history[-2]):
                converged = True
                break
        labels, n_tied = vote.pick_labels(posterior, TIE_POLICIES[self.tie_break], int(self.random_state),
                                          judgments.item_keys)
        self._calibrate(judgments, gold)
        known = np.flatnonzero(gold >= 0)
        per_item = self.calibration in calibration.PER_ITEM
        posterior = calibration.temper(self.raw_probas_, self.item_temperature_ if per_item else self.temperature_,
                                       self._raw_log_rows)
        posterior[known] = 0.0
        posterior[known, gold[known]] = 1.0
        self.probas_ = posterior
        self.labels_ = labels
        self.n_tied_ = n_tied
        self.priors_ = np.exp(self._log_prior)
        self.log_likelihood_history_ = history
        self.n_iter_ = len(history)
        self.converged_ = converged
        self._finish(judgments, posterior)
        self.worker_accuracy_ = ds.worker_accuracy_by_item(  # item-sorted: no worker-sorted copy
            judgments.item_offsets, judgments.worker, judgments.label, posterior, judgments.n_workers)
        hide_unanswered(self, judgments.n_labels_per_item, gold)


def hide_unanswered(model: Any, n_labels_per_item: np.ndarray, gold: np.ndarray | None) -> None:
    """Items without any class answer (and no gold) get no label: ``labels_`` -1, ``probas_`` NaN.

    EM gives such an item the class prior as its posterior, which is not evidence about it (an item
    whose only annotator was excluded, or whose answers are all n/a); majority vote leaves it
    unlabelled the same way. The fitted parameters are untouched.
    """
    unanswered = np.asarray(n_labels_per_item) == 0
    if gold is not None:
        unanswered &= np.asarray(gold) < 0
    if not unanswered.any():
        return
    model.probas_ = model.probas_.copy()
    model.probas_[unanswered] = np.nan
    model.labels_ = np.where(unanswered, -1, model.labels_).astype(model.labels_.dtype)
    model.n_tied_ = np.where(unanswered, 0, model.n_tied_).astype(model.n_tied_.dtype)


def _non_negative(value: object) -> bool:
    return isinstance(value, (int, float, np.floating, np.integer)) and bool(np.isfinite(value)) \
        and float(value) >= 0  # type: ignore[arg-type]


def _prior_penalty(log_prior: np.ndarray, beta: float) -> float:
    return float(beta * log_prior.sum()) if beta > 0 else 0.0


def initial_posterior(judgments: Judgments, gold: np.ndarray) -> np.ndarray:
    """Majority-vote shares per item (uniform where no class answer), gold clamped.

    Returns float64 ``(n_items, n_classes)`` with rows summing to one.
    """
    counts = vote.vote_counts(judgments.item_offsets, judgments.label, judgments.n_classes)
    totals = counts.sum(axis=1, keepdims=True)
    posterior = np.where(totals > 0, counts / np.maximum(totals, 1.0), 1.0 / judgments.n_classes)
    known = np.flatnonzero(gold >= 0)
    posterior[known] = 0.0
    posterior[known, gold[known]] = 1.0
    return np.ascontiguousarray(posterior)
