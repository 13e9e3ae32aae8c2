"""Plain-Python references of the calibration kernels and estimators (consensus.kernels.calibration).

Written for obviousness: Python loops and :mod:`math`, nothing from ``consensus``.
"""

from __future__ import annotations

import math


def _log_softmax(values):
    top = max(values)
    norm = math.log(math.fsum(math.exp(v - top) for v in values)) + top
    return [v - norm for v in values]


def naive_loo_rows_loglik(groups, log_prior, base, rho):
    """Per group of answer rows: sum over its answers of log P(answer | the others, tempered).

    ``groups`` is a list of lists of rows (each row: K floats, log P(answer | z = k)).
    The posterior from the other ``m = n - 1`` answers is tempered by
    ``base * (1 + rho * max(m - 1, 0))``.
    """
    out = []
    for rows in groups:
        n = len(rows)
        temperature = base * (1.0 + rho * max(n - 2, 0))
        total = 0.0
        for held in range(n):
            logits = list(log_prior)
            for other in range(n):
                if other != held:
                    logits = [a + b for a, b in zip(logits, rows[other])]
            q = _log_softmax([v / temperature for v in logits])
            terms = [a + b for a, b in zip(q, rows[held])]
            top = max(terms)
            total += top + math.log(math.fsum(math.exp(t - top) for t in terms))
        out.append(total)
    return out


def naive_answer_correctness_moments(item, label, posterior, n_items):
    """Per item ``[n, sum y, sum y^2]`` over class answers, ``y = posterior[item, label]``."""
    out = [[0.0, 0.0, 0.0] for _ in range(n_items)]
    for i, lab in zip(item, label):
        if lab < 0:
            continue
        y = float(posterior[i][lab])
        out[i][0] += 1.0
        out[i][1] += y
        out[i][2] += y * y
    return out


def naive_icc(groups):
    """One-way ANOVA intra-class correlation of lists of values (unbalanced), clipped to [0, 1]."""
    groups = [g for g in groups if g]
    k = len(groups)
    total = sum(len(g) for g in groups)
    if k < 2 or total <= k:
        return 0.0
    grand = math.fsum(v for g in groups for v in g) / total
    if math.fsum((v - grand) ** 2 for g in groups for v in g) <= 1e-12 * total:
        return 0.0  # constant values (up to rounding)
    means = [math.fsum(g) / len(g) for g in groups]
    msb = math.fsum(len(g) * (m - grand) ** 2 for g, m in zip(groups, means)) / (k - 1)
    msw = math.fsum((v - m) ** 2 for g, m in zip(groups, means) for v in g) / (total - k)
    n0 = (total - math.fsum(len(g) ** 2 for g in groups) / total) / (k - 1)
    denominator = msb + (n0 - 1) * msw
    if not denominator > 0:
        return 0.0
    return min(max((msb - msw) / denominator, 0.0), 1.0)
