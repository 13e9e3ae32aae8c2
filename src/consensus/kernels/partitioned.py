"""Per-partition partial sums for the partitioned (distributed) engines.

A partition holds every judgment of its items (items never span partitions)
with *local* worker codes ``0 .. n_local - 1`` (the partition's workers, in
global-code order). Each kernel returns per-local-worker partial sums that the
driver adds, in partition order, into the global per-worker arrays
(:meth:`consensus.backends.base.Backend.reduce_by_worker`); the M-step then
runs on the driver exactly as in the in-memory models. Layouts follow
:mod:`consensus.kernels.dawid_skene` (``[w, given, true]``).
"""

from __future__ import annotations

import numpy as np

from consensus._jit import parallel_kernel, prange
# re-exported for the partitioned engine: the additive parts of the fraud agreement statistic
from consensus.kernels.fraud_labels import agreement_stats  # noqa: F401


@parallel_kernel
def worker_answer_stats(worker_offsets, item_by_worker, label_by_worker, posterior):
    """Expected answer counts per worker under the item posteriors.

    Parameters
    ----------
    worker_offsets : int64 (n_workers + 1,)
    item_by_worker, label_by_worker : int32 (n_judgments,)
        Judgments grouped by worker; abstentions (negative labels) are skipped.
    posterior : float64 (n_items, K)

    Returns
    -------
    counts : float64 (n_workers, K, K)
        ``sum posterior[i, true]`` over the worker's answers ``given``, indexed
        ``[w, given, true]`` (Dawid-Skene's expected counts without pseudo-counts).
    correct : float64 (n_workers,)
        ``sum posterior[i, given]`` over the worker's class answers (one-coin
        M-step, expected accuracy).
    n_answers : int64 (n_workers,)
        Class answers per worker.
    """
    n_workers = worker_offsets.size - 1
    n_classes = posterior.shape[1]
    counts = np.zeros((n_workers, n_classes, n_classes), dtype=np.float64)
    correct = np.zeros(n_workers, dtype=np.float64)
    n_answers = np.zeros(n_workers, dtype=np.int64)
    for w in prange(n_workers):
        right = 0.0
        n = 0
        for j in range(worker_offsets[w], worker_offsets[w + 1]):
            given = label_by_worker[j]
            if given < 0:
                continue
            row = posterior[item_by_worker[j]]
            for k in range(n_classes):
                counts[w, given, k] += row[k]
            right += row[given]
            n += 1
        correct[w] = right
        n_answers[w] = n
    return counts, correct, n_answers


@parallel_kernel
def mace_spam_stats(worker_offsets, item_by_worker, label_by_worker, posterior, theta, xi):
    """Expected spam indicators per worker (the sums behind MACE's M-step).

    For an answer ``l`` on item ``i`` the probability that it was spammed is
    ``sum_k q_i(k) theta xi_l / P(l | k)`` with ``P(l | k) = (1 - theta)[l = k]
    + theta xi_l`` (see :func:`consensus.kernels.mace.m_step_spamming`).

    Parameters
    ----------
    worker_offsets : int64 (n_workers + 1,)
    item_by_worker, label_by_worker : int32 (n_judgments,)
    posterior : float64 (n_items, K)
    theta : float64 (n_workers,)
        Current spamming probability of each (local) worker.
    xi : float64 (n_workers, K)
        Current spam answer distribution of each (local) worker.

    Returns
    -------
    spammed : float64 (n_workers,)
        Expected number of spammed answers.
    spam_answers : float64 (n_workers, K)
        Expected spammed answers per answered class.
    n_answers : int64 (n_workers,)
    """
    n_workers, n_classes = xi.shape
    spammed = np.zeros(n_workers, dtype=np.float64)
    spam_answers = np.zeros((n_workers, n_classes), dtype=np.float64)
    n_answers = np.zeros(n_workers, dtype=np.int64)
    for w in prange(n_workers):
        total = 0.0
        n = 0
        for j in range(worker_offsets[w], worker_offsets[w + 1]):
            given = label_by_worker[j]
            if given < 0:
                continue
            spam = theta[w] * xi[w, given]
            row = posterior[item_by_worker[j]]
            expected = 0.0
            for k in range(n_classes):
                likelihood = spam + (1.0 - theta[w]) if given == k else spam
                expected += row[k] * spam / likelihood
            total += expected
            spam_answers[w, given] += expected
            n += 1
        spammed[w] = total
        n_answers[w] = n
    return spammed, spam_answers, n_answers
