"""Plain-Python twins of :mod:`consensus.kernels.partitioned` (per-partition partial sums).

Loops over the item-sorted judgments with dicts and :mod:`math`; nothing from ``consensus``.
"""

from __future__ import annotations

import math

import numpy as np


def naive_worker_answer_stats(item, worker, label, posterior, n_workers):
    K = posterior.shape[1]
    counts = np.zeros((n_workers, K, K))
    correct = np.zeros(n_workers)
    n = np.zeros(n_workers, dtype=np.int64)
    for i, w, g in zip(item, worker, label):
        if g < 0:
            continue
        for k in range(K):
            counts[w, g, k] += posterior[i, k]
        correct[w] += posterior[i, g]
        n[w] += 1
    return counts, correct, n


def naive_mace_spam_stats(item, worker, label, posterior, theta, xi):
    W, K = xi.shape
    spammed = np.zeros(W)
    spam_answers = np.zeros((W, K))
    n = np.zeros(W, dtype=np.int64)
    for i, w, g in zip(item, worker, label):
        if g < 0:
            continue
        e = 0.0
        for k in range(K):
            p_answer = (1.0 - theta[w]) * (g == k) + theta[w] * xi[w, g]
            e += posterior[i, k] * theta[w] * xi[w, g] / p_answer
        spammed[w] += e
        spam_answers[w, g] += e
        n[w] += 1
    return spammed, spam_answers, n


def naive_agreement_stats(item, worker, label, log_emission, log_prior, answer, eps):
    """Leave-one-out consensus by subtracting the worker's log-emission from the item's log-joint."""
    W, K = log_emission.shape[0], len(log_prior)
    n_items = int(max(item)) + 1
    joint = [list(log_prior) for _ in range(n_items)]
    n_class = [0] * n_items
    for i, w, g in zip(item, worker, label):
        if g >= 0:
            n_class[i] += 1
            for k in range(K):
                joint[i][k] += log_emission[w, g, k]
    observed, expected = np.zeros((W, K)), np.zeros((W, K))
    answered, agreed = np.zeros((W, K)), np.zeros((W, K))
    n_compared, n_agree = np.zeros(W, dtype=np.int64), np.zeros(W, dtype=np.int64)
    for i, w, g in zip(item, worker, label):
        if g < 0:
            continue
        rest = [joint[i][k] - log_emission[w, g, k] for k in range(K)]
        top = max(rest)
        p = [math.exp(v - top) for v in rest]
        s = sum(p)
        q = [(1 - eps) * v / s + eps / K for v in p]
        best = max(range(K), key=lambda k: (p[k], -k))
        observed[w, g] += 1
        for h in range(K):
            expected[w, h] += sum(q[t] * answer[t, h] for t in range(K))
        if n_class[i] >= 2:
            n_compared[w] += 1
            answered[w, g] += 1
            agreed[w, best] += 1
            n_agree[w] += best == g
    return observed, expected, n_compared, n_agree, answered, agreed
