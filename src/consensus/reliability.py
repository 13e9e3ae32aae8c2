"""Annotator reliability with uncertainty: intervals, spammer score, minimum evidence.

From any fitted model's item posteriors, each annotator's *expected* confusion
counts ``n[w, true, given]`` are accumulated. Accuracy gets a Bayesian
interval from ``Beta(correct + 1, wrong + 1)`` (uniform prior) and every
confusion cell a marginal ``Beta`` interval of the row's ``Dirichlet(counts + 1)``
posterior. Expected counts are not integers; treating them as counts is the
usual approximation and is exact when posteriors are one-hot.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from consensus.kernels.reliability import expected_confusion_counts

#: Annotators with fewer class judgments than this are marked ``too_few`` and
#: ranked by the lower bound of their interval, not by the point estimate.
MIN_JUDGMENTS = 20


def confusion_counts(judgments, posterior: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """Expected ``[w, true, given]`` counts, float64 (n_workers, K, K); NaN rows count as zero."""
    clean = np.ascontiguousarray(np.nan_to_num(posterior, nan=0.0))
    return expected_confusion_counts(judgments.worker_offsets, judgments.item_by_worker,
                                     judgments.label_by_worker, clean)


def accuracy_interval(correct: np.ndarray, total: np.ndarray, level: float = 0.95
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior mean and a ``level`` interval of accuracy under a uniform prior.

    The posterior is ``Beta(correct + 1, wrong + 1)``; its mode is the observed
    share ``correct / total``, the models' ``accuracy``. The interval is the
    equal-tailed one, except where the share lies beyond it (every or almost
    every answer right, or wrong, on few answers: 3 of 3 right has the share 1.0
    above the equal-tailed upper end 0.994); there it is the one-sided interval
    on the share's side, ``[q(1 - level), 1]`` or ``[0, q(level)]``, also of
    posterior mass ``level``, so an estimate never lies outside its own interval.
    Returns ``(mean, lower, upper)``, each float64 like ``total``; NaN where ``total == 0``.
    """
    wrong = np.maximum(total - correct, 0.0)
    a, b = correct + 1.0, wrong + 1.0
    tail = (1.0 - level) / 2.0
    mean = a / (a + b)
    lower = stats.beta.ppf(tail, a, b)
    upper = stats.beta.ppf(1.0 - tail, a, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = correct / total
    above = share > upper
    below = share < lower
    if above.any():
        lower[above] = stats.beta.ppf(1.0 - level, a[above], b[above])
        upper[above] = 1.0
    if below.any():
        lower[below] = 0.0
        upper[below] = stats.beta.ppf(level, a[below], b[below])
    empty = total <= 0
    for array in (mean, lower, upper):
        array[empty] = np.nan
    return mean, lower, upper


def spammer_score(confusion: np.ndarray) -> np.ndarray:
    """How close each confusion matrix is to rank one (answers independent of the truth).

    ``1 - D`` with Raykar & Yu's (2012) distance
    ``D = sum_{c<c'} sum_k (A[c,k] - A[c',k])^2 / (K (K - 1))``, which is 0 when
    all rows are equal (a spammer) and 1 for a permutation matrix. So the score
    is 1 for a perfect spammer and 0 for a perfect (or perfectly adversarial)
    annotator. Input ``[w, true, given]``; output float64 (n_workers,).
    Rows that are not defined (NaN: with a voting model, a true class the
    worker never met) are left out, the ``K'`` defined rows standing for
    ``K``; with fewer than two defined rows the score is NaN.

    V. C. Raykar and S. Yu (2012). Eliminating spammers and ranking annotators
    for crowdsourced labeling tasks. JMLR 13, 491-518.
    """
    n_classes = confusion.shape[1]
    if n_classes < 2:
        return np.zeros(confusion.shape[0])
    # only the rows defined for the worker count (a voting model leaves the row of a true class the
    # worker never met NaN): K' defined rows stand for K; fewer than 2 defined rows give NaN
    defined = np.isfinite(confusion).all(axis=2)
    filled = np.where(defined[:, :, None], confusion, 0.0)
    diff = filled[:, :, None, :] - filled[:, None, :, :]
    pairs = defined[:, :, None] & defined[:, None, :]
    n_defined = defined.sum(axis=1)
    total = (np.square(diff).sum(axis=3) * pairs).sum(axis=(1, 2)) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        distance = total / (n_defined * (n_defined - 1))
    return np.where(n_defined >= 2, 1.0 - distance, np.nan)


def rank_by_lower_bound(lower: np.ndarray) -> np.ndarray:
    """1-based rank (1 = most reliable) by the interval's lower bound; NaN last. int64."""
    order = np.argsort(np.where(np.isnan(lower), np.inf, -lower), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(1, order.size + 1)
    return rank
