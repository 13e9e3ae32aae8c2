"""Vectorised test statistics, exact tails and multiple-testing control (scipy.stats).

Every function takes arrays, returns float64 arrays of the same shape and
gives NaN where a test cannot be computed (no observations), never an error.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def _f(x) -> np.ndarray:  # noqa: ANN001
    return np.asarray(x, dtype=np.float64)


def binom_upper(k, n, p) -> np.ndarray:  # noqa: ANN001
    """Exact ``P(X >= k)`` for ``X ~ Binomial(n, p)``; NaN where ``n == 0``."""
    k, n, p = np.broadcast_arrays(_f(k), _f(n), _f(p))
    out = stats.binom.sf(k - 1.0, n, np.clip(p, 0.0, 1.0))
    return np.where(n > 0, out, np.nan)


def binom_lower(k, n, p) -> np.ndarray:  # noqa: ANN001
    """Exact ``P(X <= k)`` for ``X ~ Binomial(n, p)``; NaN where ``n == 0``."""
    k, n, p = np.broadcast_arrays(_f(k), _f(n), _f(p))
    out = stats.binom.cdf(k, n, np.clip(p, 0.0, 1.0))
    return np.where(n > 0, out, np.nan)


def poisson_upper(k, mean) -> np.ndarray:  # noqa: ANN001
    """``P(X >= k)`` for ``X ~ Poisson(mean)``: for ``k`` above the mean, a conservative
    tail for a sum of independent Bernoulli variables with that mean (their variance is smaller)."""
    k, mean = np.broadcast_arrays(_f(k), _f(mean))
    out = stats.poisson.sf(k - 1.0, np.maximum(mean, 1e-300))
    return np.where(k <= 0, 1.0, out)


def poisson_lower(k, mean) -> np.ndarray:  # noqa: ANN001
    """``P(X <= k)`` for ``X ~ Poisson(mean)``: for ``k`` below the mean, conservative for the
    lower tail of a sum of independent Bernoulli variables with that mean."""
    k, mean = np.broadcast_arrays(_f(k), _f(mean))
    return np.where(mean > 0, stats.poisson.cdf(k, np.maximum(mean, 1e-300)), 1.0)


def normal_upper(z) -> np.ndarray:  # noqa: ANN001
    """``P(Z >= z)`` for a standard normal ``Z``."""
    return stats.norm.sf(_f(z))


def clopper_pearson(k, n, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """Exact (Clopper-Pearson) two-sided ``level`` interval of a binomial proportion.

    Returns ``(lower, upper)``; NaN where ``n == 0``.
    """
    k, n = np.broadcast_arrays(_f(k), _f(n))
    tail = (1.0 - level) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        lower = np.where(k > 0, stats.beta.ppf(tail, np.maximum(k, 1e-300), n - k + 1.0), 0.0)
        upper = np.where(k < n, stats.beta.ppf(1.0 - tail, k + 1.0, np.maximum(n - k, 1e-300)), 1.0)
    empty = n <= 0
    return np.where(empty, np.nan, lower), np.where(empty, np.nan, upper)


def g_test(observed: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Likelihood-ratio (G) goodness-of-fit test per row, with Williams' correction.

    Parameters
    ----------
    observed : (n_rows, K) counts
    expected : (n_rows, K) positive expected counts (rescaled to the observed total)

    Returns
    -------
    kl : float64 (n_rows,)
        ``KL(observed share || expected share)`` in nats (``G / 2n``).
    g : float64 (n_rows,)
        The G statistic ``2 sum o log(o / e)``.
    p_value : float64 (n_rows,)
        ``P(chi2_{K-1} >= G / q)`` with Williams' small-sample factor
        ``q = 1 + (K^2 - 1) / (6 n (K - 1))``; NaN for rows without observations.
    """
    observed = _f(observed)
    expected = _f(expected)
    n = observed.sum(axis=1)
    k = observed.shape[1]
    e_total = expected.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        e = expected * (n / np.where(e_total > 0, e_total, 1.0))[:, None]
        terms = np.where(observed > 0, observed * np.log(observed / np.where(e > 0, e, 1e-300)), 0.0)
        g = np.maximum(2.0 * terms.sum(axis=1), 0.0)
        kl = np.where(n > 0, g / (2.0 * n), np.nan)
        if k < 2:
            return kl, g, np.where(n > 0, 1.0, np.nan)
        q = 1.0 + (k * k - 1.0) / (6.0 * np.maximum(n, 1.0) * (k - 1.0))
        p = stats.chi2.sf(g / q, k - 1)
    return kl, g, np.where(n > 0, p, np.nan)


def benjamini_hochberg(p_values: np.ndarray) -> tuple[np.ndarray, int]:
    """Benjamini-Hochberg adjusted p-values (q-values).

    NaN entries are not tests: they are left out of the count ``m`` and get
    NaN. Returns ``(q, m)``; ``q <= fdr`` rejects at false discovery rate ``fdr``.
    """
    p = _f(p_values)
    q = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    m = tested.size
    if m == 0:
        return q, 0
    order = tested[np.argsort(p[tested], kind="stable")]
    ranked = p[order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    q[order] = np.minimum(ranked, 1.0)
    return q, m
