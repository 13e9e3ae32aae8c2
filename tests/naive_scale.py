"""Plain-Python references for the scale kernels (consensus.kernels.sort and the
single-pass Dawid-Skene kernels)."""

from __future__ import annotations

import numpy as np


def naive_counting_order(codes, n_groups):
    order = sorted(range(len(codes)), key=lambda j: int(codes[j]))  # Python's sort is stable
    offsets = [0] * (n_groups + 1)
    for c in codes:
        offsets[int(c) + 1] += 1
    for g in range(n_groups):
        offsets[g + 1] += offsets[g]
    return np.array(order, dtype=np.int64), np.array(offsets, dtype=np.int64)


def naive_order_within_groups(offsets, order, primary, secondary, use_secondary):
    out = list(order)
    for g in range(len(offsets) - 1):
        lo, hi = int(offsets[g]), int(offsets[g + 1])
        key = (lambda p: (int(primary[p]), int(secondary[p]))) if use_secondary else (lambda p: int(primary[p]))
        out[lo:hi] = sorted(out[lo:hi], key=key)
    return np.array(out, dtype=np.int64)


def naive_dense_remap(values, low, size):
    distinct = sorted({int(v) for v in values})
    rank = {v: r for r, v in enumerate(distinct)}
    return np.array([rank[int(v)] for v in values], dtype=np.int32), np.array(distinct, dtype=np.int64)


def naive_adjacent_duplicates(item, worker):
    return np.array([0] + [int(item[j] == item[j - 1] and worker[j] == worker[j - 1])
                           for j in range(1, len(item))], dtype=np.uint8)[:len(item)]


def naive_emission_counts(item_offsets, worker, label, posterior, n_workers):
    K = posterior.shape[1]
    counts = np.zeros((n_workers, K, K))
    for i in range(len(item_offsets) - 1):
        for j in range(item_offsets[i], item_offsets[i + 1]):
            if label[j] >= 0:
                for k in range(K):
                    counts[worker[j], label[j], k] += posterior[i, k]
    return counts


def naive_worker_accuracy_by_item(item_offsets, worker, label, posterior, n_workers):
    total = [0.0] * n_workers
    n = [0] * n_workers
    for i in range(len(item_offsets) - 1):
        for j in range(item_offsets[i], item_offsets[i + 1]):
            if label[j] >= 0:
                total[worker[j]] += posterior[i, label[j]]
                n[worker[j]] += 1
    return np.array([t / c if c else np.nan for t, c in zip(total, n)])


def naive_worker_vote_counts(item_offsets, worker, label, reference, n_workers, n_classes):
    counts = np.zeros((n_workers, n_classes, n_classes), dtype=np.int64)
    answered = np.zeros(n_workers, dtype=np.int64)
    for i in range(len(item_offsets) - 1):
        for j in range(item_offsets[i], item_offsets[i + 1]):
            if label[j] >= 0:
                answered[worker[j]] += 1
                if reference[i] >= 0:
                    counts[worker[j], reference[i], label[j]] += 1
    return counts, answered
