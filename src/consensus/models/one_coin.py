"""One-coin Dawid-Skene: one accuracy per annotator."""

from __future__ import annotations

import numpy as np

from consensus.data import Judgments
from consensus.errors import check_param
from consensus.kernels import one_coin
from consensus.models.em import EMAggregator, _non_negative


class OneCoinDawidSkene(EMAggregator):
    r"""Dawid-Skene with one parameter per annotator ("one-coin" model).

    Worker ``w`` answers the true class with probability :math:`p_w` and any
    other class with probability :math:`(1 - p_w)/(K - 1)`. With far fewer
    parameters than full Dawid-Skene it suits sparse annotators and many
    classes. MAP-EM with a Beta prior on :math:`p_w` whose mean is
    ``prior_accuracy`` and whose weight is ``prior_strength`` judgments; the
    penalised log-likelihood in ``log_likelihood_history_`` never decreases.

    Parameters
    ----------
    max_iter : int, default 100
    tol : float, default 1e-7
        Relative objective change that stops EM.
    prior_accuracy : float, default 0.7
        Prior mean of each annotator's accuracy, in (0, 1).
    prior_strength : float, default 4.0
        Pseudo-judgments behind that prior (>= 0; 0 = maximum likelihood).
    beta : float, default 1.0
        Pseudo-count per class prior.
    calibration : {"loo", "item", "gold", "item_gold", "none"}, default "loo"
        How ``probas_`` are tempered (labels never change): one temperature or
        a per-item one, fitted without gold or on the gold items; the modes
        are described in :mod:`consensus.calibration`.
    tie_break : {"random", "first"}, default "random"
    random_state : int, default 0

    Examples
    --------
    >>> import polars as pl
    >>> from consensus import OneCoinDawidSkene
    >>> df = pl.DataFrame({"item": list("aaabbbccc"), "worker": list("xyz") * 3,
    ...                    "label": list("110000111")})
    >>> OneCoinDawidSkene().fit_predict(df)["label"].to_list()
    ['1', '0', '1']
    """

    _name = "OneCoinDawidSkene"

    def __init__(self, *, max_iter: int = 100, tol: float = 1e-7, prior_accuracy: float = 0.7,
                 prior_strength: float = 4.0, beta: float = 1.0, calibration: str = "loo", tie_break: str = "random",
                 random_state: int = 0) -> None:
        self.max_iter = max_iter
        self.tol = tol
        self.prior_accuracy = prior_accuracy
        self.prior_strength = prior_strength
        self.beta = beta
        self.calibration = calibration
        self.tie_break = tie_break
        self.random_state = random_state

    def _check_params(self) -> None:
        self._check_common_params()
        check_param(self._name, "prior_accuracy", self.prior_accuracy,
                    isinstance(self.prior_accuracy, (int, float)) and 0.0 < self.prior_accuracy < 1.0,
                    "a float in the range (0.0, 1.0)")
        check_param(self._name, "prior_strength", self.prior_strength, _non_negative(self.prior_strength),
                    "a float in the range [0.0, inf)")

    def _prepare(self, judgments: Judgments) -> None:
        strength = float(self.prior_strength)
        # Beta(a + 1, b + 1) prior; a tiny floor keeps p strictly inside (0, 1)
        self._a = strength * self.prior_accuracy + 1e-6
        self._b = strength * (1.0 - self.prior_accuracy) + 1e-6

    def _m_step(self, judgments: Judgments, posterior: np.ndarray) -> None:
        self.accuracy_ = one_coin.m_step_accuracy(
            judgments.worker_offsets, judgments.item_by_worker, judgments.label_by_worker,
            posterior, self._a, self._b)
        self._log_emission = one_coin.emission_from_accuracy(self.accuracy_, judgments.n_classes)

    def _penalty(self) -> float:
        return float(self._a * np.log(self.accuracy_).sum() + self._b * np.log1p(-self.accuracy_).sum())
