"""Dawid-Skene: one full confusion matrix per annotator, fitted by EM."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from consensus.data import Judgments
from consensus.errors import ParameterError, check_param
from consensus.kernels import dawid_skene as ds
from consensus.models.em import EMAggregator, _non_negative, initial_posterior  # noqa: F401


class DawidSkene(EMAggregator):
    r"""Dawid-Skene truth inference by (MAP) expectation-maximisation.

    Each item ``i`` has an unknown true class :math:`z_i \sim \pi`; worker
    ``w`` answers class ``l`` with probability :math:`\theta_w[z_i, l]` (a full
    confusion matrix per worker). EM alternates the posterior of every
    :math:`z_i` (E-step) with the priors and confusion matrices (M-step),
    in log space. Dirichlet pseudo-counts keep every probability positive, so
    rare answers never give :math:`\log 0`; the objective maximised, and
    recorded in ``log_likelihood_history_``, is the penalised log-likelihood

    .. math:: \sum_i \log p(\text{labels}_i \mid \theta, \pi)
              + \alpha \sum_{w,t,l} \log \theta_w[t,l] + \beta \sum_k \log \pi_k,

    which EM never decreases. Initialisation is the majority-vote share of
    each class. Gold items are clamped to their gold class throughout
    (semi-supervised EM).

    The default prior on each worker's confusion row for true class ``t`` is
    a Dirichlet with ``prior_strength`` pseudo-judgments: a share
    ``prior_accuracy`` on the right answer, the rest spread evenly over the
    wrong ones, plus ``alpha`` on every cell. It says "a worker is probably
    better than chance" without saying how much better: it breaks EM's
    label-switching symmetry, and annotators with few judgments are shrunk
    toward a typical annotator instead of toward a perfect or a random one.
    ``prior_strength=0`` and a tiny ``alpha`` give classical maximum-likelihood
    Dawid-Skene.

    A. P. Dawid and A. M. Skene (1979). Maximum likelihood estimation of
    observer error-rates using the EM algorithm. Applied Statistics 28(1),
    20-28. https://doi.org/10.2307/2346806

    Parameters
    ----------
    max_iter : int, default 100
        Maximum number of EM iterations (one M-step and one E-step each).
    tol : float, default 1e-7
        Stop when an iteration improves the objective by less than
        ``tol * |objective|`` (relative change).
    alpha : float, default 0.01
        Pseudo-count added to every cell of every confusion matrix (>= 0).
    beta : float, default 1.0
        Pseudo-count added to every class prior (>= 0).
    prior_accuracy : float, default 0.8
        Mean of the default prior on the diagonal of each confusion matrix,
        in [0, 1].
    prior_strength : float, default 4.0
        How many judgments per true class a prior confusion matrix (the
        default one, or a ``worker_priors`` entry) is worth (>= 0).
    worker_priors : mapping of worker id to (K, K) array, optional
        Known confusion matrices (rows = true class, columns = given; rows sum
        to one) for workers whose quality is known, e.g. from an earlier
        batch; they replace the default prior for those workers.
    calibration : {"loo", "item", "gold", "item_gold", "none"}, default "loo"
        How ``probas_`` are tempered (labels never change): one temperature or
        a per-item one, fitted without gold or on the gold items; the modes
        are described in :mod:`consensus.calibration`.
    tie_break : {"random", "first"}, default "random"
        How to pick the label when classes have exactly equal posteriors.
    random_state : int, default 0
        Seed of the tie-break.

    Examples
    --------
    >>> import polars as pl
    >>> from consensus import DawidSkene
    >>> df = pl.DataFrame({
    ...     "item":   ["a", "a", "a", "b", "b", "b", "c", "c", "c"],
    ...     "worker": ["x", "y", "z", "x", "y", "z", "x", "y", "z"],
    ...     "label":  ["1", "1", "0", "0", "0", "0", "1", "1", "1"]})
    >>> DawidSkene().fit_predict(df)["label"].to_list()
    ['1', '0', '1']
    """

    _name = "DawidSkene"

    def __init__(
        self,
        *,
        max_iter: int = 100,
        tol: float = 1e-7,
        alpha: float = 0.01,
        beta: float = 1.0,
        prior_accuracy: float = 0.8,
        prior_strength: float = 4.0,
        worker_priors: Mapping[Any, Any] | None = None,
        calibration: str = "loo",
        tie_break: str = "random",
        random_state: int = 0,
    ) -> None:
        self.max_iter = max_iter
        self.tol = tol
        self.alpha = alpha
        self.beta = beta
        self.prior_accuracy = prior_accuracy
        self.prior_strength = prior_strength
        self.worker_priors = worker_priors
        self.calibration = calibration
        self.tie_break = tie_break
        self.random_state = random_state

    def _prior_tables(self, judgments: Judgments) -> tuple[np.ndarray, np.ndarray]:
        """Per-worker index into a stack of (K, K) pseudo-count tables, kernel layout [given, true]."""
        n_classes = judgments.n_classes
        strength = float(self.prior_strength)
        default = np.full((n_classes, n_classes),
                          (1.0 - self.prior_accuracy) / max(n_classes - 1, 1), dtype=np.float64)
        np.fill_diagonal(default, self.prior_accuracy if n_classes > 1 else 1.0)
        tables = [strength * default.T]
        prior_index = np.zeros(judgments.n_workers, dtype=np.int32)
        if self.worker_priors:
            ids = judgments.worker_ids.cast(str).to_list()
            position = {worker_id: code for code, worker_id in enumerate(ids)}
            for worker_id, matrix in self.worker_priors.items():
                code = position.get(str(worker_id))
                if code is None:
                    continue  # a known worker who is not in this delivery
                matrix = np.asarray(matrix, dtype=np.float64)
                if matrix.shape != (n_classes, n_classes) or (matrix < 0).any() \
                        or not np.allclose(matrix.sum(axis=1), 1.0, atol=1e-6):
                    raise ParameterError(
                        f"The 'worker_priors' entry for worker {worker_id!r} of DawidSkene must be a "
                        f"({n_classes}, {n_classes}) matrix of probabilities with rows summing to 1 "
                        f"(rows = true class, columns = given, classes {judgments.classes}). "
                        f"Got shape {matrix.shape} instead."
                    )
                prior_index[code] = len(tables)
                tables.append(strength * matrix.T)
        return prior_index, np.ascontiguousarray(np.stack(tables))

    def _check_params(self) -> None:
        self._check_common_params()
        name = self._name
        for param in ("alpha", "prior_strength"):
            value = getattr(self, param)
            check_param(name, param, value, _non_negative(value), "a float in the range [0.0, inf)")
        check_param(name, "prior_accuracy", self.prior_accuracy,
                    isinstance(self.prior_accuracy, (int, float, np.floating))
                    and 0.0 <= self.prior_accuracy <= 1.0, "a float in the range [0.0, 1.0]")

    def _prepare(self, judgments: Judgments) -> None:
        self._prior_index, self._prior_counts = self._prior_tables(judgments)
        self._buffers = None  # em_pass_into's arrays, allocated by the first E-step of this fit

    def _em_buffers(self, judgments: Judgments) -> dict[str, Any]:
        """Arrays :func:`ds.em_pass_into` writes, allocated once per fit and reused every iteration.

        Two posterior / log-likelihood pairs alternate, so the posterior an E-step returned stays
        intact while the next one is computed (the loop and the tie-break may still read it); the
        second pair is allocated by the second E-step, once the initial posterior is gone. numpy
        allocates them (large arrays are backed by huge pages where the OS allows: fewer TLB misses
        in the random worker-table accesses), and no page is faulted in again per iteration.
        """
        buffers = getattr(self, "_buffers", None)
        if buffers is None or buffers["judgments"] is not judgments:
            n_items, n_workers, n_classes = judgments.n_items, judgments.n_workers, judgments.n_classes
            bounds = ds.reduction_chunks(judgments.item_offsets, n_workers, n_classes)
            buffers = {
                "judgments": judgments, "bounds": bounds, "next": 0,
                "workspace": np.empty((bounds.size - 1, n_workers * n_classes, 2 * n_classes), dtype=np.float64),
                "posterior": [None, None], "item_loglik": [None, None],
                "counts": np.empty((n_workers, n_classes, n_classes), dtype=np.float64),
            }
            self._buffers = buffers
        return buffers

    def _m_step(self, judgments: Judgments, posterior: np.ndarray) -> None:
        # The E-step (ds.em_pass_into) already scattered the expected counts of the posteriors it
        # returned; other posteriors (the initial ones) get a scatter pass of their own. Both walk
        # the item-sorted judgments: no worker-sorted copy is built.
        pending = getattr(self, "_pending_counts", None)
        self._pending_counts = None
        if pending is not None and pending[0] is posterior:
            counts = pending[1]
        else:
            counts = ds.emission_counts(judgments.item_offsets, judgments.worker, judgments.label,
                                        posterior, judgments.n_workers)
        self._log_emission = ds.emission_from_counts(counts, float(self.alpha), self._prior_index,
                                                     self._prior_counts)

    def _e_step(self, judgments: Judgments, gold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        last = getattr(self, "_last_e_step", None)
        if last is not None and last[0] is judgments and last[1] is self._log_emission \
                and last[2] is self._log_prior and np.array_equal(last[3], gold):
            # the same parameters and gold as the last E-step (the unclamped posteriors asked for
            # after the loop when there is no gold): the same result, without another pass. The
            # loop is over, so the reused arrays can go (the loop still holds the one returned).
            self._buffers = None
            return last[4].copy(), last[5]
        buffers = self._em_buffers(judgments)
        slot = buffers["next"]
        buffers["next"] = 1 - slot
        if buffers["posterior"][slot] is None:
            buffers["posterior"][slot] = np.empty((judgments.n_items, judgments.n_classes), dtype=np.float64)
            buffers["item_loglik"][slot] = np.empty(judgments.n_items, dtype=np.float64)
        posterior, item_loglik = buffers["posterior"][slot], buffers["item_loglik"][slot]
        counts = buffers["counts"]
        ds.em_pass_into(judgments.item_offsets, judgments.worker, judgments.label, self._log_emission,
                        self._log_prior, gold, buffers["bounds"], buffers["workspace"], posterior, item_loglik,
                        counts)
        self._pending_counts = (posterior, counts)
        self._last_e_step = (judgments, self._log_emission, self._log_prior, gold, posterior, item_loglik)
        return posterior, item_loglik

    def _finish(self, judgments: Judgments, posterior: np.ndarray) -> None:
        super()._finish(judgments, posterior)
        self._last_e_step = self._pending_counts = self._buffers = None  # fit-time caches: do not keep them alive

    def _penalty(self) -> float:
        # the class-prior term is added by the EM loop
        return ds.log_prior_penalty(self._log_emission, float(self.alpha), self._prior_index,
                                    self._prior_counts, self._log_prior, 0.0)
