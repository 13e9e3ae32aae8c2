"""Inter-annotator agreement kernels: per-item agreement and entropy, Krippendorff's
alpha (nominal), Fleiss' kappa, and the pair tables behind pairwise Cohen's kappa.

All kernels read the item-sorted judgments (``item_offsets`` CSR, ``worker`` and
``label`` codes) and skip abstentions (negative labels). An item's *class
answers* are its non-negative labels; ``m_i`` is their number.

Whole-data sums (the coincidence matrix, Fleiss' shares) are accumulated in
fixed blocks of consecutive items whose size depends only on ``n_items``:
``prange`` runs over blocks, each block sums its items serially into its own
row, and the rows are merged serially in block order. The floating-point
result is therefore the same for every thread count.
"""

from __future__ import annotations

import numpy as np

from consensus._jit import kernel, parallel_kernel, prange

#: Items per block at least; at most this many blocks beyond that size.
MIN_BLOCK = 256
MAX_BLOCKS = 64


@kernel
def block_size(n_items):
    """Items per block for ``n_items`` items (depends on ``n_items`` only)."""
    size = (n_items + MAX_BLOCKS - 1) // MAX_BLOCKS
    return max(MIN_BLOCK, size)


@parallel_kernel
def item_agreement(item_offsets, label, n_classes):
    """Per-item agreement and answer entropy.

    Parameters
    ----------
    item_offsets : int64 (n_items + 1,)
    label : int32 (n_judgments,)
        Item-sorted class codes; negative codes (abstentions) are skipped.
    n_classes : int

    Returns
    -------
    n_labels : int64 (n_items,)
        Class answers per item (``m_i``).
    agreement : float64 (n_items,)
        Share of the ``m_i (m_i - 1)`` ordered pairs of answers that agree:
        ``sum_k n_ik (n_ik - 1) / (m_i (m_i - 1))``; NaN when ``m_i < 2``.
    entropy : float64 (n_items,)
        ``-sum_k p_ik log p_ik`` (natural log, nats) of the answer shares
        ``p_ik = n_ik / m_i``; NaN when ``m_i == 0``.
    """
    n_items = item_offsets.size - 1
    n_labels = np.zeros(n_items, dtype=np.int64)
    agreement = np.full(n_items, np.nan)
    entropy = np.full(n_items, np.nan)
    size = block_size(n_items)
    n_blocks = (n_items + size - 1) // size
    for b in prange(n_blocks):
        counts = np.zeros(n_classes, dtype=np.int64)
        touched = np.empty(n_classes, dtype=np.int64)
        for i in range(b * size, min(n_items, (b + 1) * size)):
            n_touched = 0
            m = 0
            for j in range(item_offsets[i], item_offsets[i + 1]):
                code = label[j]
                if code < 0:
                    continue
                if counts[code] == 0:
                    touched[n_touched] = code
                    n_touched += 1
                counts[code] += 1
                m += 1
            n_labels[i] = m
            if m == 0:
                continue
            same = 0
            h = 0.0
            for t in range(n_touched):
                c = counts[touched[t]]
                same += c * (c - 1)
                p = c / m
                h -= p * np.log(p)
                counts[touched[t]] = 0
            entropy[i] = h
            if m >= 2:
                agreement[i] = same / (m * (m - 1))
    return n_labels, agreement, entropy


@parallel_kernel
def coincidence_matrix(item_offsets, label, n_classes):
    """Krippendorff's coincidence matrix of nominal values.

    Every item (unit) with ``m_i >= 2`` class answers adds, for each ordered
    pair of its answers from different judgments, ``1 / (m_i - 1)`` to
    ``o[c, k]``; items with fewer answers are not pairable and add nothing.
    Computed from the class counts ``n_ic`` of the item:
    ``o[c, c] += n_ic (n_ic - 1) / (m_i - 1)`` and
    ``o[c, k] += n_ic n_ik / (m_i - 1)`` for ``c != k``.

    Parameters
    ----------
    item_offsets : int64 (n_items + 1,)
    label : int32 (n_judgments,)
        Item-sorted class codes; negative codes are skipped.
    n_classes : int

    Returns
    -------
    coincidence : float64 (n_classes, n_classes)
        Symmetric; its total is the number of pairable answers.
    """
    n_items = item_offsets.size - 1
    size = block_size(n_items)
    n_blocks = (n_items + size - 1) // size
    partial = np.zeros((n_blocks, n_classes, n_classes), dtype=np.float64)
    for b in prange(n_blocks):
        counts = np.zeros(n_classes, dtype=np.int64)
        touched = np.empty(n_classes, dtype=np.int64)
        o = partial[b]
        for i in range(b * size, min(n_items, (b + 1) * size)):
            n_touched = 0
            m = 0
            for j in range(item_offsets[i], item_offsets[i + 1]):
                code = label[j]
                if code < 0:
                    continue
                if counts[code] == 0:
                    touched[n_touched] = code
                    n_touched += 1
                counts[code] += 1
                m += 1
            if m >= 2:
                scale = 1.0 / (m - 1)
                for s in range(n_touched):
                    c = touched[s]
                    o[c, c] += counts[c] * (counts[c] - 1) * scale
                    for t in range(n_touched):
                        k = touched[t]
                        if k != c:
                            o[c, k] += counts[c] * counts[k] * scale
            for s in range(n_touched):
                counts[touched[s]] = 0
    coincidence = np.zeros((n_classes, n_classes), dtype=np.float64)
    for b in range(n_blocks):
        coincidence += partial[b]
    return coincidence


@kernel
def nominal_alpha(coincidence):
    """Krippendorff's alpha for nominal data from a coincidence matrix.

    ``alpha = 1 - D_o / D_e`` with observed disagreement
    ``D_o = (n - sum_c o_cc) / n`` and expected disagreement
    ``D_e = (n^2 - sum_c n_c^2) / (n (n - 1))``, where ``n_c`` are the row sums
    and ``n`` the total (Krippendorff 2011, "Computing Krippendorff's
    Alpha-Reliability").

    Returns
    -------
    alpha, observed, expected : float
        NaN when undefined (fewer than two pairable answers, or every pairable
        answer in one class so that ``D_e == 0``).
    """
    n_classes = coincidence.shape[0]
    n = 0.0
    diagonal = 0.0
    squares = 0.0
    for c in range(n_classes):
        row = 0.0
        for k in range(n_classes):
            row += coincidence[c, k]
        n += row
        diagonal += coincidence[c, c]
        squares += row * row
    if n < 2.0:
        return np.nan, np.nan, np.nan
    observed = (n - diagonal) / n
    expected = (n * n - squares) / (n * (n - 1.0))
    if expected <= 0.0:
        return np.nan, observed, expected
    return 1.0 - observed / expected, observed, expected


@parallel_kernel
def fleiss_kappa(item_offsets, label, n_classes):
    """Fleiss' kappa, generalised to a varying number of answers per item.

    Gwet (2014, Handbook of Inter-Rater Reliability, ch. 5; irrCAC's
    ``fleiss.kappa.raw``): with ``r_ik`` answers of class ``k`` on item ``i``
    and ``r_i = sum_k r_ik``,

    * ``p_a`` = mean over items with ``r_i >= 2`` of
      ``sum_k r_ik (r_ik - 1) / (r_i (r_i - 1))``;
    * ``pi_k`` = mean over items with ``r_i >= 1`` of ``r_ik / r_i``;
    * ``p_e = sum_k pi_k^2`` and ``kappa = (p_a - p_e) / (1 - p_e)``.

    When every item has the same number of answers this is exactly Fleiss
    (1971).

    Returns
    -------
    kappa, p_a, p_e : float
        NaN when undefined (no item with two answers, or ``p_e == 1``).
    """
    n_items = item_offsets.size - 1
    size = block_size(n_items)
    n_blocks = (n_items + size - 1) // size
    agree_sum = np.zeros(n_blocks, dtype=np.float64)
    n_pairable = np.zeros(n_blocks, dtype=np.int64)
    n_answered = np.zeros(n_blocks, dtype=np.int64)
    share_sum = np.zeros((n_blocks, n_classes), dtype=np.float64)
    for b in prange(n_blocks):
        counts = np.zeros(n_classes, dtype=np.int64)
        touched = np.empty(n_classes, dtype=np.int64)
        for i in range(b * size, min(n_items, (b + 1) * size)):
            n_touched = 0
            m = 0
            for j in range(item_offsets[i], item_offsets[i + 1]):
                code = label[j]
                if code < 0:
                    continue
                if counts[code] == 0:
                    touched[n_touched] = code
                    n_touched += 1
                counts[code] += 1
                m += 1
            if m == 0:
                continue
            n_answered[b] += 1
            same = 0
            for t in range(n_touched):
                c = touched[t]
                same += counts[c] * (counts[c] - 1)
                share_sum[b, c] += counts[c] / m
                counts[c] = 0
            if m >= 2:
                n_pairable[b] += 1
                agree_sum[b] += same / (m * (m - 1))
    total_agree = 0.0
    total_pairable = 0
    total_answered = 0
    shares = np.zeros(n_classes, dtype=np.float64)
    for b in range(n_blocks):
        total_agree += agree_sum[b]
        total_pairable += n_pairable[b]
        total_answered += n_answered[b]
        for k in range(n_classes):
            shares[k] += share_sum[b, k]
    if total_pairable == 0:
        return np.nan, np.nan, np.nan
    p_a = total_agree / total_pairable
    p_e = 0.0
    for k in range(n_classes):
        pi = shares[k] / total_answered
        p_e += pi * pi
    if p_e >= 1.0:
        return np.nan, p_a, p_e
    return (p_a - p_e) / (1.0 - p_e), p_a, p_e


# ---------------------------------------------------------------------------------------
# Pairwise Cohen's kappa: pairs are emitted per item, then sorted and reduced per pair
# ---------------------------------------------------------------------------------------
@parallel_kernel
def pair_counts(item_offsets, worker, label):
    """Annotator pairs per item: int64 (n_items,).

    The number of pairs ``j < j'`` of class answers of the item with
    ``worker[j] != worker[j']`` (repeated answers of one worker never pair).
    """
    n_items = item_offsets.size - 1
    counts = np.zeros(n_items, dtype=np.int64)
    for i in prange(n_items):
        start = item_offsets[i]
        stop = item_offsets[i + 1]
        n = 0
        for j in range(start, stop):
            if label[j] < 0:
                continue
            for jj in range(j + 1, stop):
                if label[jj] >= 0 and worker[jj] != worker[j]:
                    n += 1
        counts[i] = n
    return counts


@parallel_kernel
def emit_pairs(item_offsets, worker, label, pair_offsets, n_workers):
    """One row per (item, annotator pair), in the slice ``pair_offsets[i]:pair_offsets[i+1]``.

    Parameters
    ----------
    item_offsets : int64 (n_items + 1,)
    worker, label : int32 (n_judgments,)
        Judgments sorted by item, then worker (as :class:`~consensus.data.Judgments` keeps them).
    pair_offsets : int64 (n_items + 1,)
        Cumulative sum of :func:`pair_counts`.
    n_workers : int

    Returns
    -------
    key : int64 (n_pairs,)
        ``a * n_workers + b`` with ``a < b`` the two worker codes.
    label_a, label_b : int32 (n_pairs,)
        The answers of ``a`` and of ``b`` on the item.
    """
    n_items = item_offsets.size - 1
    n_pairs = pair_offsets[n_items]
    key = np.empty(n_pairs, dtype=np.int64)
    label_a = np.empty(n_pairs, dtype=np.int32)
    label_b = np.empty(n_pairs, dtype=np.int32)
    for i in prange(n_items):
        start = item_offsets[i]
        stop = item_offsets[i + 1]
        out = pair_offsets[i]
        for j in range(start, stop):
            if label[j] < 0:
                continue
            for jj in range(j + 1, stop):
                if label[jj] < 0 or worker[jj] == worker[j]:
                    continue
                # sorted by worker within the item, so worker[j] < worker[jj]
                key[out] = np.int64(worker[j]) * n_workers + worker[jj]
                label_a[out] = label[j]
                label_b[out] = label[jj]
                out += 1
    return key, label_a, label_b


@parallel_kernel
def reduce_pairs(group_offsets, label_a, label_b, n_classes):
    """Cohen's kappa per annotator pair from pair rows grouped by pair.

    Parameters
    ----------
    group_offsets : int64 (n_groups + 1,)
        CSR offsets of the groups: rows of one annotator pair are contiguous.
    label_a, label_b : int32 (n_pairs,)
        Answers of the first and second annotator on each co-labelled item.
    n_classes : int

    Returns
    -------
    n_items : int64 (n_groups,)
        Co-labelled items of the pair.
    observed : float64 (n_groups,)
        Share of those items on which the two answers agree (``p_o``).
    kappa : float64 (n_groups,)
        ``(p_o - p_e) / (1 - p_e)`` with ``p_e = sum_k p_ak p_bk`` from each
        annotator's answer shares on the co-labelled items, evaluated as
        ``(n * agree - s) / (n^2 - s)`` with ``s = sum_k n_ak n_bk`` (integer
        arithmetic until the last division); NaN when ``p_e == 1``.
    """
    n_groups = group_offsets.size - 1
    n_items = np.zeros(n_groups, dtype=np.int64)
    observed = np.full(n_groups, np.nan)
    kappa = np.full(n_groups, np.nan)
    for g in prange(n_groups):
        count_a = np.zeros(n_classes, dtype=np.int64)
        count_b = np.zeros(n_classes, dtype=np.int64)
        start = group_offsets[g]
        stop = group_offsets[g + 1]
        n = stop - start
        agree = 0
        for r in range(start, stop):
            count_a[label_a[r]] += 1
            count_b[label_b[r]] += 1
            if label_a[r] == label_b[r]:
                agree += 1
        n_items[g] = n
        if n == 0:
            continue
        s = 0
        for k in range(n_classes):
            s += count_a[k] * count_b[k]
        observed[g] = agree / n
        denominator = n * n - s
        if denominator > 0:
            kappa[g] = (n * agree - s) / denominator
    return n_items, observed, kappa
