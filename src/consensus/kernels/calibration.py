"""Calibration kernels: leave-one-out predictive likelihoods and the answers' correctness moments."""

from __future__ import annotations

import numpy as np

from consensus._jit import parallel_kernel, prange


@parallel_kernel
def loo_predictive_loglik(item_offsets, worker, label, log_emission, log_prior, temperature, items):
    """Leave-one-judgment-out predictive log-likelihood per item.

    For each class answer ``j`` on item ``i``, the tempered posterior of the
    truth from the item's *other* answers,
    ``q(k) ∝ exp((log_prior[k] + sum_{j' != j} log_emission[w_j', l_j', k]) / temperature)``,
    predicts ``j``'s answer: ``log sum_k q(k) emission[w_j, l_j, k]``.

    ``items`` (int64) lists the items to evaluate (all of them, or a
    deterministic subsample on large data).

    Returns
    -------
    per_item : float64 (len(items),)
        Sum over each listed item's class answers (0 for items without any).
    """
    n_classes = log_prior.size
    per_item = np.zeros(items.size, dtype=np.float64)
    for t in prange(items.size):
        i = items[t]
        total = np.empty(n_classes, dtype=np.float64)
        tempered = np.empty(n_classes, dtype=np.float64)
        for k in range(n_classes):
            total[k] = log_prior[k]
        for j in range(item_offsets[i], item_offsets[i + 1]):
            given = label[j]
            if given >= 0:
                for k in range(n_classes):
                    total[k] += log_emission[worker[j], given, k]
        acc = 0.0
        for j in range(item_offsets[i], item_offsets[i + 1]):
            given = label[j]
            if given < 0:
                continue
            emission = log_emission[worker[j], given]
            top = -np.inf
            for k in range(n_classes):
                tempered[k] = (total[k] - emission[k]) / temperature
                if tempered[k] > top:
                    top = tempered[k]
            norm = 0.0
            for k in range(n_classes):
                norm += np.exp(tempered[k] - top)
            predictive = 0.0
            for k in range(n_classes):
                predictive += np.exp(tempered[k] - top + emission[k])
            acc += np.log(predictive) - np.log(norm)
        per_item[t] = acc
    return per_item


@parallel_kernel
def loo_rows_loglik(row_offsets, log_rows, log_prior, base, rho):
    """Leave-one-judgment-out predictive log-likelihood per item under a per-item temperature.

    ``log_rows[r]`` is the log-likelihood of one class answer under each true
    class (``log P(answer | z = k)``, k < K); an item's answers are the rows
    ``row_offsets[t]:row_offsets[t + 1]`` (any model: a worker's confusion
    column for Dawid-Skene, one-coin and MACE, ability times easiness for GLAD).
    For each answer ``j`` of an item with ``n`` answers, the truth posterior
    from the item's *other* ``n - 1`` answers, tempered by
    ``T(n - 1) = base * (1 + rho * max(n - 2, 0))``,
    ``q(k) ∝ exp((log_prior[k] + sum_{j' != j} log_rows[j', k]) / T(n - 1))``,
    predicts ``j``: ``log sum_k q(k) exp(log_rows[j, k])``.

    Parameters
    ----------
    row_offsets : int64 (n_eval + 1,)
    log_rows : float64 (n_rows, K)
        Finite.
    log_prior : float64 (K,)
    base : float
        ``>= 1``.
    rho : float
        In [0, 1].

    Returns
    -------
    per_item : float64 (n_eval,)
        Sum over each item's answers (0 for items without any).
    """
    n_classes = log_prior.size
    n_eval = row_offsets.size - 1
    per_item = np.zeros(n_eval, dtype=np.float64)
    for t in prange(n_eval):
        start, stop = row_offsets[t], row_offsets[t + 1]
        total = np.empty(n_classes, dtype=np.float64)
        tempered = np.empty(n_classes, dtype=np.float64)
        for k in range(n_classes):
            total[k] = log_prior[k]
        for r in range(start, stop):
            for k in range(n_classes):
                total[k] += log_rows[r, k]
        temperature = base * (1.0 + rho * max(stop - start - 2, 0))
        acc = 0.0
        for r in range(start, stop):
            top = -np.inf
            for k in range(n_classes):
                tempered[k] = (total[k] - log_rows[r, k]) / temperature
                if tempered[k] > top:
                    top = tempered[k]
            norm = 0.0
            predictive = 0.0
            for k in range(n_classes):
                e = np.exp(tempered[k] - top)
                norm += e
                predictive += e * np.exp(log_rows[r, k])
            acc += np.log(predictive) - np.log(norm)
        per_item[t] = acc
    return per_item


@parallel_kernel
def answer_correctness_moments(item_offsets, label, posterior):
    """Per item: class answers ``n``, and sums of ``y`` and ``y**2`` with ``y_j = posterior[i, label_j]``.

    ``y_j`` is the probability that answer ``j`` is right; the sums feed the
    one-way ANOVA estimate of the intra-item correlation of correctness
    (:func:`consensus.calibration.answer_correlation`). Abstentions are skipped.

    Returns
    -------
    moments : float64 (n_items, 3)
        ``[n, sum y, sum y**2]`` per item.
    """
    n_items = item_offsets.size - 1
    moments = np.zeros((n_items, 3), dtype=np.float64)
    for i in prange(n_items):
        n = 0.0
        s = 0.0
        ss = 0.0
        for j in range(item_offsets[i], item_offsets[i + 1]):
            given = label[j]
            if given >= 0:
                y = posterior[i, given]
                n += 1.0
                s += y
                ss += y * y
        moments[i, 0] = n
        moments[i, 1] = s
        moments[i, 2] = ss
    return moments
