"""Temperature calibration kernels for table-emission models (DS, one-coin, MACE)."""

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
