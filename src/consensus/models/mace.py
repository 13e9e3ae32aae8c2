"""MACE: Multi-Annotator Competence Estimation."""

from __future__ import annotations

import numpy as np

from consensus.data import Judgments
from consensus.errors import check_param
from consensus.kernels import mace
from consensus.models.em import EMAggregator, _non_negative


class MACE(EMAggregator):
    r"""MACE (Hovy, Berg-Kirkpatrick, Vaswani, Hovy 2013), fitted by MAP-EM.

    Each annotator either knows the answer (probability :math:`1-\theta_w`)
    and gives it, or spams (probability :math:`\theta_w`) and draws an answer
    from a personal distribution :math:`\xi_w` that ignores the truth:
    :math:`P(l \mid z) = (1-\theta_w)[l=z] + \theta_w \xi_w[l]`. Good for
    crowds with many spammers; :math:`1-\theta_w` is each annotator's
    competence (``competence_``). Beta prior on :math:`\theta_w` (mean
    ``prior_spam``, weight ``prior_strength``), Dirichlet on :math:`\xi_w`.

    D. Hovy, T. Berg-Kirkpatrick, A. Vaswani, E. Hovy (2013). Learning whom
    to trust with MACE. NAACL-HLT, 1120-1130. https://aclanthology.org/N13-1132

    Parameters
    ----------
    max_iter : int, default 100
    tol : float, default 1e-7
    prior_spam : float, default 0.3
        Prior mean of the spamming probability, in (0, 1).
    prior_strength : float, default 4.0
        Pseudo-judgments behind that prior (>= 0).
    spam_smoothing : float, default 0.5
        Dirichlet pseudo-count per class of the spam distribution (> 0).
    beta : float, default 1.0
    calibration : {"loo", "item", "gold", "item_gold", "none"}, default "loo"
        How ``probas_`` are tempered (labels never change): one temperature or
        a per-item one, fitted without gold or on the gold items; the modes
        are described in :mod:`consensus.calibration`.
    tie_break : {"random", "first"}, default "random"
    random_state : int, default 0

    Examples
    --------
    >>> import polars as pl
    >>> from consensus import MACE
    >>> df = pl.DataFrame({"item": list("aaabbbccc"), "worker": list("xyz") * 3,
    ...                    "label": list("110000111")})
    >>> MACE().fit_predict(df)["label"].to_list()
    ['1', '0', '1']
    """

    _name = "MACE"

    def __init__(self, *, max_iter: int = 100, tol: float = 1e-7, prior_spam: float = 0.3,
                 prior_strength: float = 4.0, spam_smoothing: float = 0.5, beta: float = 1.0,
                 calibration: str = "loo", tie_break: str = "random", random_state: int = 0) -> None:
        self.max_iter = max_iter
        self.tol = tol
        self.prior_spam = prior_spam
        self.prior_strength = prior_strength
        self.spam_smoothing = spam_smoothing
        self.beta = beta
        self.calibration = calibration
        self.tie_break = tie_break
        self.random_state = random_state

    def _check_params(self) -> None:
        self._check_common_params()
        check_param(self._name, "prior_spam", self.prior_spam,
                    isinstance(self.prior_spam, (int, float)) and 0.0 < self.prior_spam < 1.0,
                    "a float in the range (0.0, 1.0)")
        check_param(self._name, "prior_strength", self.prior_strength,
                    _non_negative(self.prior_strength), "a float in the range [0.0, inf)")
        check_param(self._name, "spam_smoothing", self.spam_smoothing,
                    _non_negative(self.spam_smoothing) and self.spam_smoothing > 0,
                    "a float in the range (0.0, inf)")

    def _prepare(self, judgments: Judgments) -> None:
        strength = float(self.prior_strength)
        self._a = strength * self.prior_spam + 1e-6
        self._b = strength * (1.0 - self.prior_spam) + 1e-6
        self.spamming_ = np.full(judgments.n_workers, 0.5)
        self.spam_distribution_ = np.full((judgments.n_workers, judgments.n_classes), 1.0 / judgments.n_classes)

    def _m_step(self, judgments: Judgments, posterior: np.ndarray) -> None:
        self.spamming_, self.spam_distribution_ = mace.m_step_spamming(
            judgments.worker_offsets, judgments.item_by_worker, judgments.label_by_worker, posterior,
            self.spamming_, self.spam_distribution_, self._a, self._b, float(self.spam_smoothing))
        self._log_emission = mace.emission_from_spamming(self.spamming_, self.spam_distribution_)

    def _penalty(self) -> float:
        return float(self._a * np.log(self.spamming_).sum() + self._b * np.log1p(-self.spamming_).sum()
                     + self.spam_smoothing * np.log(self.spam_distribution_).sum())

    @property
    def competence_(self) -> np.ndarray:
        """``1 - spamming_``: probability each annotator answers from knowledge, (n_workers,)."""
        return 1.0 - self.spamming_
