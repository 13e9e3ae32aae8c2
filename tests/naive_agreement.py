"""Plain-Python references for the agreement kernels (``consensus.kernels.agreement``).

Written from the textbook definitions rather than from the kernels' count
formulas: agreement and the coincidence matrix enumerate pairs of answers,
sums use exact :class:`fractions.Fraction` arithmetic, and Cohen's kappa is
computed from each annotator pair's contingency table found by comparing every
pair of annotators (the kernels never loop over all pairs). No numba, and
nothing imported from ``consensus``.

``naive_<kernel>`` takes the same arguments as the kernel of the same name and
returns the same layout.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from fractions import Fraction

import numpy as np


def _answers(item_offsets, label, i):
    """Class answers (non-negative labels) of item ``i``, in judgment order."""
    return [int(label[j]) for j in range(int(item_offsets[i]), int(item_offsets[i + 1]))
            if int(label[j]) >= 0]


def naive_item_agreement(item_offsets, label, n_classes):
    """Twin of ``item_agreement``: (n_labels int64, agreement float64, entropy float64).

    Agreement is the share of ordered pairs of distinct answers ``(j, j')`` of
    the item that are equal; entropy is Shannon's (natural log) of the shares.
    """
    n_items = len(item_offsets) - 1
    n_labels = np.zeros(n_items, dtype=np.int64)
    agreement = np.full(n_items, np.nan)
    entropy = np.full(n_items, np.nan)
    for i in range(n_items):
        answers = _answers(item_offsets, label, i)
        m = len(answers)
        n_labels[i] = m
        if m == 0:
            continue
        entropy[i] = -sum((c / m) * math.log(c / m) for c in Counter(answers).values())
        if m >= 2:
            pairs = [(x, y) for a, x in enumerate(answers) for b, y in enumerate(answers) if a != b]
            agreement[i] = sum(x == y for x, y in pairs) / len(pairs)
    return n_labels, agreement, entropy


def naive_coincidence_matrix(item_offsets, label, n_classes):
    """Twin of ``coincidence_matrix``: Krippendorff's o[c, k] (K, K).

    Each unit with ``m >= 2`` values adds ``1 / (m - 1)`` for every ordered pair
    of its values taken from two different positions (Krippendorff 2011, eq. for
    ``o_ck``); exact fractions, converted to float at the end.
    """
    n_items = len(item_offsets) - 1
    o = [[Fraction(0)] * n_classes for _ in range(n_classes)]
    for i in range(n_items):
        values = _answers(item_offsets, label, i)
        m = len(values)
        if m < 2:
            continue
        for a, x in enumerate(values):
            for b, y in enumerate(values):
                if a != b:
                    o[x][y] += Fraction(1, m - 1)
    return np.array([[float(v) for v in row] for row in o], dtype=np.float64).reshape(
        n_classes, n_classes)


def naive_nominal_alpha(coincidence):
    """Twin of ``nominal_alpha``: (alpha, observed D_o, expected D_e), NaN where undefined.

    ``D_o = (1/n) sum_{c != k} o_ck`` and ``D_e = 1/(n(n-1)) sum_{c != k} n_c n_k``.
    """
    o = np.asarray(coincidence, dtype=np.float64)
    K = o.shape[0]
    n_c = [math.fsum(o[c, k] for k in range(K)) for c in range(K)]
    n = math.fsum(n_c)
    if n < 2.0:
        return math.nan, math.nan, math.nan
    d_o = math.fsum(o[c, k] for c in range(K) for k in range(K) if c != k) / n
    d_e = math.fsum(n_c[c] * n_c[k] for c in range(K) for k in range(K) if c != k) / (n * (n - 1))
    if d_e <= 0.0:
        return math.nan, d_o, d_e
    return 1.0 - d_o / d_e, d_o, d_e


def naive_fleiss_kappa(item_offsets, label, n_classes):
    """Twin of ``fleiss_kappa``: (kappa, p_a, p_e) in Gwet's generalised form, exact fractions.

    ``p_a``: mean over items with >= 2 answers of the share of agreeing ordered
    answer pairs; ``pi_k``: mean over items with >= 1 answer of the share of
    class ``k``; ``p_e = sum pi_k^2``.
    """
    n_items = len(item_offsets) - 1
    agree, shares = [], []
    for i in range(n_items):
        values = _answers(item_offsets, label, i)
        m = len(values)
        if m == 0:
            continue
        counts = Counter(values)
        shares.append([Fraction(counts[k], m) for k in range(n_classes)])
        if m >= 2:
            agree.append(Fraction(sum(c * (c - 1) for c in counts.values()), m * (m - 1)))
    if not agree:
        return math.nan, math.nan, math.nan
    p_a = sum(agree) / len(agree)
    pi = [sum(s[k] for s in shares) / len(shares) for k in range(n_classes)]
    p_e = sum(p * p for p in pi)
    if p_e == 1:
        return math.nan, float(p_a), float(p_e)
    return float((p_a - p_e) / (1 - p_e)), float(p_a), float(p_e)


def naive_pair_counts(item_offsets, worker, label):
    """Twin of ``pair_counts``: per item, unordered pairs of class answers of two different workers."""
    n_items = len(item_offsets) - 1
    out = np.zeros(n_items, dtype=np.int64)
    for i in range(n_items):
        rows = [j for j in range(int(item_offsets[i]), int(item_offsets[i + 1])) if label[j] >= 0]
        out[i] = sum(1 for a in range(len(rows)) for b in range(a + 1, len(rows))
                     if worker[rows[a]] != worker[rows[b]])
    return out


def naive_emit_pairs(item_offsets, worker, label, pair_offsets, n_workers):
    """Twin of ``emit_pairs``: (key int64, label_a int32, label_b int32), item by item.

    Within an item the pairs come in the order of the judgment pair ``(j, j')``,
    ``j < j'``; the lower worker code is ``a``.
    """
    keys, first, second = [], [], []
    for i in range(len(item_offsets) - 1):
        rows = [j for j in range(int(item_offsets[i]), int(item_offsets[i + 1])) if label[j] >= 0]
        for a in range(len(rows)):
            for b in range(a + 1, len(rows)):
                (wa, la), (wb, lb) = sorted([(int(worker[rows[a]]), int(label[rows[a]])),
                                             (int(worker[rows[b]]), int(label[rows[b]]))],
                                            key=lambda t: t[0])
                if wa == wb:
                    continue
                keys.append(wa * n_workers + wb)
                first.append(la)
                second.append(lb)
    assert len(keys) == int(pair_offsets[-1])
    return (np.array(keys, dtype=np.int64), np.array(first, dtype=np.int32),
            np.array(second, dtype=np.int32))


def cohen_kappa(answers_a, answers_b, n_classes):
    """Cohen (1960) kappa of two equally long answer lists: (p_o, kappa), exact.

    Built from the ``K x K`` contingency table: ``p_o`` is its diagonal share,
    ``p_e = sum_k row_k col_k / n^2``; kappa is NaN when ``p_e == 1``.
    """
    n = len(answers_a)
    table = [[0] * n_classes for _ in range(n_classes)]
    for x, y in zip(answers_a, answers_b):
        table[x][y] += 1
    p_o = Fraction(sum(table[k][k] for k in range(n_classes)), n)
    rows = [sum(table[k]) for k in range(n_classes)]
    cols = [sum(table[x][k] for x in range(n_classes)) for k in range(n_classes)]
    p_e = Fraction(sum(r * c for r, c in zip(rows, cols)), n * n)
    kappa = math.nan if p_e == 1 else float((p_o - p_e) / (1 - p_e))
    return float(p_o), kappa


def naive_reduce_pairs(group_offsets, label_a, label_b, n_classes):
    """Twin of ``reduce_pairs``: (n_items int64, observed float64, kappa float64) per group."""
    n_groups = len(group_offsets) - 1
    n_items = np.zeros(n_groups, dtype=np.int64)
    observed = np.full(n_groups, np.nan)
    kappa = np.full(n_groups, np.nan)
    for g in range(n_groups):
        rows = range(int(group_offsets[g]), int(group_offsets[g + 1]))
        n_items[g] = len(rows)
        if rows:
            observed[g], kappa[g] = cohen_kappa([int(label_a[r]) for r in rows],
                                                [int(label_b[r]) for r in rows], n_classes)
    return n_items, observed, kappa


def naive_cohen_pairs(item, worker, label, n_classes, min_overlap):
    """Cohen's kappa for every pair of annotators with >= ``min_overlap`` co-labelled items.

    From unsorted triplets, by comparing every pair of annotators:
    ``{(a, b): (n_items, p_o, kappa)}`` with ``a < b``. Assumes one answer per
    (item, annotator); abstentions (negative labels) are ignored.
    """
    answers: dict[int, dict[int, int]] = defaultdict(dict)
    for i, w, l in zip(item, worker, label):
        if int(l) >= 0:
            answers[int(w)][int(i)] = int(l)
    workers = sorted(answers)
    out = {}
    for x, a in enumerate(workers):
        for b in workers[x + 1:]:
            common = sorted(set(answers[a]) & set(answers[b]))
            if len(common) < min_overlap or not common:
                continue
            p_o, kappa = cohen_kappa([answers[a][i] for i in common],
                                     [answers[b][i] for i in common], n_classes)
            out[(a, b)] = (len(common), p_o, kappa)
    return out


def reliability_matrix(item, worker, label, n_items, n_workers):
    """``(n_workers, n_items)`` float matrix of class answers, NaN where none (krippendorff's input)."""
    matrix = np.full((n_workers, n_items), np.nan)
    for i, w, l in zip(item, worker, label):
        if int(l) >= 0:
            matrix[int(w), int(i)] = float(l)
    return matrix
