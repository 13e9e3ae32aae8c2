"""Vote counting and label picking with a seeded, thread-count-independent tie policy."""

from __future__ import annotations

import numpy as np

from consensus._jit import kernel, parallel_kernel, prange

TIE_RANDOM = 0
TIE_FIRST = 1


@parallel_kernel
def vote_counts(item_offsets, label, n_classes):
    """Votes per item and class.

    Parameters
    ----------
    item_offsets : int64 (n_items + 1,)
        CSR offsets of the item-sorted judgments.
    label : int32 (n_judgments,)
        Class code per judgment; negative codes (abstentions) are skipped.
    n_classes : int

    Returns
    -------
    counts : float64 (n_items, n_classes)
    """
    n_items = item_offsets.size - 1
    counts = np.zeros((n_items, n_classes), dtype=np.float64)
    for i in prange(n_items):
        for j in range(item_offsets[i], item_offsets[i + 1]):
            code = label[j]
            if code >= 0:
                counts[i, code] += 1.0
    return counts


@kernel
def _mix(seed, index):
    """splitmix64 of (seed, index): a per-item random number independent of thread order."""
    z = (np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(index) + np.uint64(1))
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@parallel_kernel
def pick_labels(scores, tie_policy, seed):
    """Arg-max per row with an explicit tie policy.

    Parameters
    ----------
    scores : float64 (n_items, n_classes)
        Votes or probabilities; a row of zeros means "no label".
    tie_policy : int
        ``TIE_RANDOM`` (seeded uniform choice among the tied classes) or
        ``TIE_FIRST`` (lowest class code).
    seed : int
        Non-negative seed for ``TIE_RANDOM``.

    Returns
    -------
    labels : int32 (n_items,)
        Chosen class code, ``-1`` where the row is all zeros.
    n_tied : int32 (n_items,)
        Number of classes sharing the top score (1 = no tie, 0 = no label).
    """
    n_items, n_classes = scores.shape
    labels = np.full(n_items, -1, dtype=np.int32)
    n_tied = np.zeros(n_items, dtype=np.int32)
    for i in prange(n_items):
        best = 0.0
        ties = 0
        for k in range(n_classes):
            value = scores[i, k]
            if value > best:
                best = value
                ties = 1
            elif value == best and value > 0.0:
                ties += 1
        n_tied[i] = ties
        if ties == 0:
            continue
        pick = 0
        if ties > 1 and tie_policy == TIE_RANDOM:
            pick = np.int64(_mix(seed, i) % np.uint64(ties))
        seen = 0
        for k in range(n_classes):
            if scores[i, k] == best:
                if seen == pick:
                    labels[i] = k
                    break
                seen += 1
    return labels, n_tied


@parallel_kernel
def weighted_vote_counts(item_offsets, worker, label, worker_weight, n_classes):
    """Sum of worker weights per item and class: float64 (n_items, n_classes).

    Abstentions (negative labels) are skipped; ``worker_weight`` is float64 (n_workers,).
    """
    n_items = item_offsets.size - 1
    counts = np.zeros((n_items, n_classes), dtype=np.float64)
    for i in prange(n_items):
        for j in range(item_offsets[i], item_offsets[i + 1]):
            code = label[j]
            if code >= 0:
                counts[i, code] += worker_weight[worker[j]]
    return counts
