"""Binomial statistics behind a claim check: intervals, exact one-sided bounds, the verdict rule.

Every function broadcasts over numpy arrays of ``k`` (correct answers) and
``n`` (answers checked), so the simulation tests run the same code as the
command line. Distributions come from :mod:`scipy.stats`; nothing is
hand-rolled. ``n == 0`` gives NaN intervals and the verdict ``not_supported``.

The decision rule (documented once, here, and quoted by the README)
-------------------------------------------------------------------
With ``alpha = 1 - confidence``, ``k`` of ``n`` checked answers right and a
claimed accuracy ``a`` with tolerance ``margin``:

``refuted``
    the one-sided exact binomial test of ``H0: accuracy >= a`` rejects,
    ``P(X <= k | n, a) <= alpha`` -- equivalently the one-sided
    ``confidence`` Clopper-Pearson *upper* bound is at or below ``a``.
``supported``
    not refuted, and the one-sided exact test of ``H0: accuracy <= a - margin``
    rejects, ``P(X >= k | n, a - margin) <= alpha`` -- equivalently the
    one-sided ``confidence`` Clopper-Pearson *lower* bound is at least
    ``a - margin``: "with this confidence the accuracy is within ``margin`` of
    the claim, and the data do not contradict the claim".
``not_supported``
    everything else: the data do not contradict the claim, but they are too
    few (or too poor) to show that the accuracy is within ``margin`` of it.

Both tests are exact, so at most ``alpha`` of audits of a vendor whose true
accuracy equals the claim end ``refuted``, and at most ``alpha`` of audits of
a vendor more than ``margin`` below the claim end ``supported``.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

SUPPORTED = "supported"
NOT_SUPPORTED = "not_supported"
REFUTED = "refuted"
#: Verdicts by code: 0 supported, 1 not_supported, 2 refuted (worse is larger).
VERDICTS = (SUPPORTED, NOT_SUPPORTED, REFUTED)


def _kn(k, n):  # noqa: ANN001, ANN202 - array-likes in, float arrays out
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    return np.broadcast_arrays(k, n)


def clopper_pearson_interval(k, n, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided exact (Clopper-Pearson) interval for a binomial proportion.

    ``lower = Beta(alpha/2; k, n-k+1)`` quantile (0 when ``k == 0``),
    ``upper = Beta(1-alpha/2; k+1, n-k)`` quantile (1 when ``k == n``), with
    ``alpha = 1 - confidence``. Coverage is at least ``confidence`` for every
    true proportion, so on average it is higher (conservative).

    Returns ``(lower, upper)`` float64 arrays broadcast from ``k`` and ``n``.
    """
    tail = (1.0 - confidence) / 2.0
    return exact_lower_bound(k, n, 1.0 - tail), exact_upper_bound(k, n, 1.0 - tail)


def exact_lower_bound(k, n, confidence: float = 0.95) -> np.ndarray:
    """One-sided exact lower confidence bound: ``Beta(1 - confidence; k, n-k+1)`` quantile."""
    k, n = _kn(k, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        lower = stats.beta.ppf(1.0 - confidence, np.maximum(k, 1.0), np.maximum(n - k + 1.0, 1.0))
    lower = np.where(k <= 0, 0.0, lower)
    return np.where(n > 0, lower, np.nan)


def exact_upper_bound(k, n, confidence: float = 0.95) -> np.ndarray:
    """One-sided exact upper confidence bound: ``Beta(confidence; k+1, n-k)`` quantile."""
    k, n = _kn(k, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        upper = stats.beta.ppf(confidence, k + 1.0, np.maximum(n - k, 1.0))
    upper = np.where(k >= n, 1.0, upper)
    return np.where(n > 0, upper, np.nan)


def wilson_interval(k, n, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided Wilson score interval, ``z = Phi^-1(1 - alpha/2)``.

    ``(p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)`` with
    ``p = k/n``. Its average coverage is close to ``confidence`` (it is not
    guaranteed for every true proportion: it dips below near 0 and 1 with
    few answers). Returns ``(lower, upper)``; NaN where ``n == 0``.
    """
    k, n = _kn(k, n)
    z = stats.norm.ppf(1.0 - (1.0 - confidence) / 2.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denominator = 1.0 + z * z / n
        centre = (p + z * z / (2.0 * n)) / denominator
        half = z * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denominator
        lower = np.clip(centre - half, 0.0, 1.0)
        upper = np.clip(centre + half, 0.0, 1.0)
    # exact at the ends: the formula gives 0 / 1 up to rounding
    lower = np.where(k <= 0, 0.0, lower)
    upper = np.where(k >= n, 1.0, upper)
    return np.where(n > 0, lower, np.nan), np.where(n > 0, upper, np.nan)


def p_value_below(k, n, claimed) -> np.ndarray:
    """One-sided exact p-value against ``H0: accuracy >= claimed``: ``P(X <= k | n, claimed)``.

    Equals ``scipy.stats.binomtest(k, n, claimed, alternative="less").pvalue``.
    NaN where ``n == 0``.
    """
    k, n = _kn(k, n)
    return np.where(n > 0, stats.binom.cdf(k, n, claimed), np.nan)


def p_value_above(k, n, value) -> np.ndarray:
    """One-sided exact p-value against ``H0: accuracy <= value``: ``P(X >= k | n, value)``.

    Equals ``scipy.stats.binomtest(k, n, value, alternative="greater").pvalue``.
    NaN where ``n == 0``.
    """
    k, n = _kn(k, n)
    return np.where(n > 0, stats.binom.sf(k - 1.0, n, value), np.nan)


def verdict_codes(k, n, claimed, *, confidence: float = 0.95, margin: float = 0.02) -> np.ndarray:
    """The decision rule of this module's docstring as codes (0 supported, 1 not_supported, 2 refuted).

    int8 array broadcast from ``k``, ``n`` and ``claimed``.
    """
    alpha = 1.0 - confidence
    k, n = _kn(k, n)
    refuted = p_value_below(k, n, claimed) <= alpha
    close = p_value_above(k, n, np.maximum(np.asarray(claimed, dtype=np.float64) - margin, 0.0)) <= alpha
    codes = np.where(refuted, 2, np.where(close, 0, 1)).astype(np.int8)
    return np.where(n > 0, codes, 1).astype(np.int8)


def verdict(k: int, n: int, claimed: float, *, confidence: float = 0.95, margin: float = 0.02) -> str:
    """The verdict for one audit: ``supported``, ``not_supported`` or ``refuted``."""
    return VERDICTS[int(verdict_codes(k, n, claimed, confidence=confidence, margin=margin))]


def given_percent(x: float, min_decimals: int = 0) -> str:
    """A user-given share as a percentage with as many decimals (>= ``min_decimals``, <= 4) as it needs.

    ``0.995`` is "99.5%", not "100%"; computed figures keep a fixed precision instead.
    """
    for decimals in range(min_decimals, 5):
        text = f"{100.0 * x:.{decimals}f}"
        if abs(float(text) - 100.0 * x) < 1e-9:
            return text + "%"
    return f"{100.0 * x:.4f}%"
