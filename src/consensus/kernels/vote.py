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
def fnv1a_keys(offsets, data):
    """64-bit FNV-1a hash of each string: uint64 (n,).

    String ``i`` is the UTF-8 bytes ``data[offsets[i]:offsets[i + 1]]`` (``offsets``
    int64 (n + 1,), ``data`` uint8). The key of an id depends on nothing else,
    so a seeded per-item draw keyed by it is the same in any delivery.
    """
    n = offsets.size - 1
    keys = np.empty(n, dtype=np.uint64)
    for i in prange(n):
        h = np.uint64(0xCBF29CE484222325)
        for b in range(offsets[i], offsets[i + 1]):
            h = (h ^ np.uint64(data[b])) * np.uint64(0x100000001B3)
        keys[i] = h
    return keys


@parallel_kernel
def fnv1a_decimal_keys(values):
    """:func:`fnv1a_keys` of each integer's decimal text (``-12`` hashes as the bytes ``"-12"``): uint64 (n,).

    ``values`` int64 or uint64 (n,). No string is built: the digits are hashed from the most
    significant down, so an integer id and the same id read as text get the same key.
    """
    n = values.size
    keys = np.empty(n, dtype=np.uint64)
    ten = np.uint64(10)
    for i in prange(n):
        v = values[i]
        h = np.uint64(0xCBF29CE484222325)
        if v < 0:
            h = (h ^ np.uint64(45)) * np.uint64(0x100000001B3)  # "-"
            magnitude = np.uint64(-(v + 1)) + np.uint64(1)
        else:
            magnitude = np.uint64(v)
        power = np.uint64(1)
        while magnitude // power >= ten:
            power *= ten
        while power > np.uint64(0):
            digit = (magnitude // power) % ten
            h = (h ^ (np.uint64(48) + digit)) * np.uint64(0x100000001B3)
            power //= ten
        keys[i] = h
    return keys


@parallel_kernel
def pick_labels(scores, tie_policy, seed, item_keys):
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
    item_keys : uint64 (n_items,)
        A key per item that depends only on its id (:func:`consensus.data.id_keys`):
        the random pick is ``splitmix64(seed, key) % n_tied``, so an item keeps its
        tie-break whatever other items the delivery holds.

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
            pick = np.int64(_mix(seed, item_keys[i]) % np.uint64(ties))
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


@parallel_kernel
def worker_vote_counts(item_offsets, worker, label, reference, n_workers, n_classes):
    """Per-worker (reference label, given label) counts, by a scatter over the item-sorted judgments.

    Parameters
    ----------
    item_offsets : int64 (n_items + 1,)
    worker, label : int32 (n_judgments,)
        Item-sorted judgments; negative labels (abstentions) are skipped.
    reference : int32 (n_items,)
        Reference class per item (e.g. the majority label), ``-1`` for none.
    n_workers, n_classes : int

    Returns
    -------
    counts : int64 (n_workers, n_classes, n_classes)
        ``[w, reference, given]``, judgments whose item has a reference.
    answered : int64 (n_workers,)
        Class (non-abstention) judgments per worker.
    """
    from_chunks = _chunk_bounds(item_offsets, n_workers * n_classes * n_classes + 1)
    n_chunks = from_chunks.size - 1
    partial = np.zeros((n_chunks, n_workers, n_classes * n_classes + 1), dtype=np.int64)
    for c in prange(n_chunks):
        table = partial[c]
        for i in range(from_chunks[c], from_chunks[c + 1]):
            ref = reference[i]
            for j in range(item_offsets[i], item_offsets[i + 1]):
                given = label[j]
                if given < 0:
                    continue
                w = worker[j]
                table[w, n_classes * n_classes] += 1
                if ref >= 0:
                    table[w, ref * n_classes + given] += 1
    counts = np.zeros((n_workers, n_classes, n_classes), dtype=np.int64)
    answered = np.zeros(n_workers, dtype=np.int64)
    for w in prange(n_workers):
        for c in range(n_chunks):
            for r in range(n_classes):
                for g in range(n_classes):
                    counts[w, r, g] += partial[c, w, r * n_classes + g]
            answered[w] += partial[c, w, n_classes * n_classes]
    return counts, answered


@kernel
def _chunk_bounds(item_offsets, table_size):
    """Item boundaries of at most 16 chunks with about equal judgments (independent of threads)."""
    n_items = item_offsets.size - 1
    n_judgments = item_offsets[n_items]
    n_chunks = min(16, max(1, n_judgments // (2 * max(1, table_size))), max(1, n_items))
    bounds = np.empty(n_chunks + 1, dtype=np.int64)
    bounds[0] = 0
    for c in range(1, n_chunks):
        cut = min(np.int64(np.searchsorted(item_offsets, (n_judgments * c) // n_chunks, side="left")), n_items)
        bounds[c] = max(bounds[c - 1], cut)
    bounds[n_chunks] = n_items
    return bounds
