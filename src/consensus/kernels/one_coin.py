"""One-coin Dawid-Skene kernels: one accuracy per worker, errors spread evenly.

The emission table is built in the layout of :mod:`consensus.kernels.dawid_skene`
(``log_emission[w, given, true]``) so the Dawid-Skene E-step is reused as is.
"""

from __future__ import annotations

import numpy as np

from consensus._jit import parallel_kernel, prange


@parallel_kernel
def emission_from_accuracy(accuracy, n_classes):
    """``log P(given | true)`` per worker for one-coin workers.

    Parameters
    ----------
    accuracy : float64 (n_workers,)
        Probability that each worker answers the true class, in (0, 1).
    n_classes : int

    Returns
    -------
    log_emission : float64 (n_workers, K, K), indexed ``[w, given, true]``.
    """
    n_workers = accuracy.size
    log_emission = np.empty((n_workers, n_classes, n_classes), dtype=np.float64)
    for w in prange(n_workers):
        right = np.log(accuracy[w])
        wrong = np.log((1.0 - accuracy[w]) / (n_classes - 1)) if n_classes > 1 else -np.inf
        for given in range(n_classes):
            for k in range(n_classes):
                log_emission[w, given, k] = right if given == k else wrong
    return log_emission


@parallel_kernel
def m_step_accuracy(worker_offsets, item_by_worker, label_by_worker, posterior, a, b):
    """MAP accuracy per worker under a Beta(a + 1, b + 1) prior.

    ``(expected correct + a) / (class judgments + a + b)``: float64 (n_workers,).
    """
    n_workers = worker_offsets.size - 1
    accuracy = np.empty(n_workers, dtype=np.float64)
    for w in prange(n_workers):
        correct = 0.0
        n = 0
        for j in range(worker_offsets[w], worker_offsets[w + 1]):
            given = label_by_worker[j]
            if given < 0:
                continue
            correct += posterior[item_by_worker[j], given]
            n += 1
        accuracy[w] = (correct + a) / (n + a + b)
    return accuracy
