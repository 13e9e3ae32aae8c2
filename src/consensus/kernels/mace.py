"""MACE kernels (Hovy et al. 2013): each worker either knows the answer or spams.

Worker ``w`` spams with probability ``theta[w]``; a spammed answer is drawn from
the worker's own answer distribution ``xi[w]`` regardless of the truth. So
``P(given | true) = (1 - theta) [given == true] + theta xi[given]``, a structured
confusion matrix that the Dawid-Skene E-step consumes in its usual layout.
"""

from __future__ import annotations

import numpy as np

from consensus._jit import parallel_kernel, prange


@parallel_kernel
def emission_from_spamming(theta, xi):
    """``log P(given | true)`` for MACE workers.

    Parameters
    ----------
    theta : float64 (n_workers,)
        Spamming probability per worker, in (0, 1).
    xi : float64 (n_workers, K)
        Answer distribution when spamming; rows sum to one, entries > 0.

    Returns
    -------
    log_emission : float64 (n_workers, K, K), indexed ``[w, given, true]``.
    """
    n_workers, n_classes = xi.shape
    log_emission = np.empty((n_workers, n_classes, n_classes), dtype=np.float64)
    for w in prange(n_workers):
        for given in range(n_classes):
            spam = theta[w] * xi[w, given]
            for k in range(n_classes):
                value = spam + (1.0 - theta[w]) if given == k else spam
                log_emission[w, given, k] = np.log(value)
    return log_emission


@parallel_kernel
def mace_spam_stats(worker_offsets, item_by_worker, label_by_worker, posterior, theta, xi):
    """Expected spam indicators per worker (the sums behind MACE's M-step).

    For an answer ``l`` on item ``i`` the probability that it was spammed is
    ``sum_k q_i(k) theta xi_l / P(l | k)`` with ``P(l | k) = (1 - theta)[l = k]
    + theta xi_l`` (see :func:`m_step_spamming`).

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


def m_step_spamming(worker_offsets, item_by_worker, label_by_worker, posterior, theta, xi,
                    spam_a, spam_b, xi_pseudo):
    """MAP update of ``theta`` and ``xi`` from the expected spam indicators.

    For a judgment with answer ``l`` on item ``i``, the probability that it was
    spammed is ``sum_k q_i(k) * theta xi_l / P(l | k)`` with the current
    parameters. ``theta`` gets a Beta(spam_a + 1, spam_b + 1) prior and ``xi``
    a Dirichlet(xi_pseudo + 1) prior.

    Returns
    -------
    theta_new : float64 (n_workers,)
    xi_new : float64 (n_workers, K)
    """
    spammed, spam_answers, n_answers = mace_spam_stats(worker_offsets, item_by_worker, label_by_worker,
                                                       posterior, theta, xi)
    theta_new = (spammed + spam_a) / (n_answers + spam_a + spam_b)
    xi_new = xi_pseudo + spam_answers
    return theta_new, np.ascontiguousarray(xi_new / xi_new.sum(axis=1, keepdims=True))
