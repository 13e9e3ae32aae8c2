"""Honeypot kernels: answers on gold items per worker, and crowd support per gold item."""

from __future__ import annotations

import math

import numpy as np

from consensus._jit import kernel, parallel_kernel, prange

#: Above this many answers on one item the Poisson-binomial tail uses a normal approximation.
EXACT_MAX = 400


@parallel_kernel
def worker_gold_counts(worker_offsets, item_by_worker, label_by_worker, gold, trusted):
    """Class answers on trusted gold items, and how many of them are right, per worker.

    Parameters
    ----------
    worker_offsets : int64 (n_workers + 1,)
    item_by_worker, label_by_worker : int32 (n_judgments,)
    gold : int32 (n_items,)
        Gold class per item, ``-1`` where none.
    trusted : uint8 or bool (n_items,)
        Gold items to use (the others, e.g. ones the crowd contradicts, are skipped).

    Returns
    -------
    n_gold, n_correct : int64 (n_workers,)
    """
    n_workers = worker_offsets.size - 1
    n_gold = np.zeros(n_workers, dtype=np.int64)
    n_correct = np.zeros(n_workers, dtype=np.int64)
    for w in prange(n_workers):
        a = 0
        b = 0
        for p in range(worker_offsets[w], worker_offsets[w + 1]):
            given = label_by_worker[p]
            i = item_by_worker[p]
            if given < 0 or gold[i] < 0 or not trusted[i]:
                continue
            a += 1
            if given == gold[i]:
                b += 1
        n_gold[w] = a
        n_correct[w] = b
    return n_gold, n_correct


@kernel
def _normal_cdf(z):
    return 0.5 * math.erfc(-z / np.sqrt(2.0))


@parallel_kernel
def gold_item_support(item_offsets, worker, label, gold, accuracy):
    """How strongly the crowd contradicts each gold item.

    Under "the gold is right", worker ``w`` gives the gold answer with
    probability ``accuracy[w]``, independently, so the number of gold answers
    on an item follows a Poisson-binomial distribution. Its lower tail at the
    observed count is the p-value of "the crowd contradicts this gold item".

    Parameters
    ----------
    item_offsets : int64 (n_items + 1,)
    worker, label : int32 (n_judgments,)
    gold : int32 (n_items,)
    accuracy : float64 (n_workers,)
        Probability of a right answer per worker, in (0, 1).

    Returns
    -------
    n_answers : int64 (n_items,)
        Class answers on the item (0 for items without gold).
    n_gold_answers : int64 (n_items,)
        Of those, answers equal to the gold class.
    expected : float64 (n_items,)
        Expected gold answers under the null (NaN for items without gold).
    p_value : float64 (n_items,)
        ``P(X <= n_gold_answers)``: exact up to ``EXACT_MAX`` answers, a
        continuity-corrected normal approximation above; NaN without gold or answers.
    """
    n_items = item_offsets.size - 1
    n_answers = np.zeros(n_items, dtype=np.int64)
    n_gold_answers = np.zeros(n_items, dtype=np.int64)
    expected = np.full(n_items, np.nan, dtype=np.float64)
    p_value = np.full(n_items, np.nan, dtype=np.float64)
    for i in prange(n_items):
        g = gold[i]
        if g < 0:
            continue
        m = 0
        x = 0
        mean = 0.0
        var = 0.0
        for j in range(item_offsets[i], item_offsets[i + 1]):
            if label[j] < 0:
                continue
            m += 1
            a = accuracy[worker[j]]
            mean += a
            var += a * (1.0 - a)
            if label[j] == g:
                x += 1
        n_answers[i] = m
        n_gold_answers[i] = x
        if m == 0:
            continue
        expected[i] = mean
        if m > EXACT_MAX:
            sd = np.sqrt(var)
            p_value[i] = _normal_cdf((x + 0.5 - mean) / sd) if sd > 0.0 else (1.0 if x >= mean else 0.0)
            continue
        dist = np.zeros(m + 1, dtype=np.float64)
        dist[0] = 1.0
        n = 0
        for j in range(item_offsets[i], item_offsets[i + 1]):
            if label[j] < 0:
                continue
            a = accuracy[worker[j]]
            n += 1
            for k in range(n, 0, -1):
                dist[k] = dist[k] * (1.0 - a) + dist[k - 1] * a
            dist[0] *= 1.0 - a
        tail = 0.0
        for k in range(x + 1):
            tail += dist[k]
        p_value[i] = tail if tail < 1.0 else 1.0
    return n_answers, n_gold_answers, expected, p_value
