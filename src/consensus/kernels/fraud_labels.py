"""Label-based fraud kernels: leave-one-out consensus, agreement with it, label
distributions and runs of repeated answers.

The consensus is a fitted Dawid-Skene model given as ``log_emission[w, given, true]``
(``log P(given | true)`` per worker). :func:`item_posterior` gives each item's
posterior over the truth, ``post[i, t] ~ prior[t] * prod_j P(l_j | t)`` over its
class judgments. Dividing out a worker's own factor gives the exact leave-one-out
posterior under the fitted parameters (:func:`leave_out`), so a worker is never
compared with a consensus that contains their own answer. The division uses
``factor[w, g, t] = P(g | t)^-1`` rescaled per ``(w, g)`` to at most 1
(:func:`leave_out_factor` in ``consensus.fraud._base``), so no kernel calls
``exp`` per judgment. Posteriors are smoothed as ``(1 - eps) * p + eps / K``.
"""

from __future__ import annotations

import math

import numpy as np

from consensus._jit import kernel, parallel_kernel, prange
from consensus.kernels.dawid_skene import e_step


def item_posterior(item_offsets, worker, label, log_emission, log_prior):
    """Per item: posterior over the truth given all its class judgments.

    The Dawid-Skene E-step without gold (:func:`consensus.kernels.dawid_skene.e_step`)
    plus the count of class judgments, so fraud checks score against exactly the
    posterior the aggregation model computes.

    Parameters
    ----------
    item_offsets : int64 (n_items + 1,)
    worker, label : int32 (n_judgments,)
        Item-sorted judgments; negative labels (abstentions) are skipped.
    log_emission : float64 (n_workers, K, K)
        ``log P(given | true)``, indexed ``[w, given, true]``.
    log_prior : float64 (K,)

    Returns
    -------
    post : float64 (n_items, K)
        Rows sum to one (uniform when every class is impossible).
    n_class : int64 (n_items,)
        Class (non-abstention) judgments per item.
    """
    n_items = item_offsets.size - 1
    no_gold = np.full(n_items, -1, dtype=np.int32)
    post, _ = e_step(item_offsets, worker, label, log_emission, log_prior, no_gold)
    item_of = np.repeat(np.arange(n_items, dtype=np.int64), np.diff(item_offsets))
    n_class = np.bincount(item_of[label >= 0], minlength=n_items).astype(np.int64)
    return post, n_class


@kernel
def leave_out(post, i, factor, w1, l1, w2, l2, eps, out):
    """Posterior of item ``i``'s truth without the answers ``(w1, l1)`` and ``(w2, l2)``.

    ``post[i]`` is the item's posterior with every answer (:func:`item_posterior`),
    ``factor[w, g, t]`` is proportional to ``1 / P(g | t)`` for worker ``w``.
    ``w2 < 0`` removes only the first answer; a negative label removes nothing.
    Writes the smoothed posterior into ``out`` (float64 (K,), scratch owned by
    the caller) and returns the most probable class (lowest code on ties).
    The kernels below repeat this arithmetic inline: a call to a compiled
    function that takes arrays costs reference counting on every call, which
    made the per-judgment loops four times slower (the tests check the inline
    copies against the plain-Python twin of this function).
    """
    n_classes = post.shape[1]
    total = 0.0
    top = -1.0
    best = 0
    for k in range(n_classes):
        v = post[i, k]
        if w1 >= 0 and l1 >= 0:
            v *= factor[w1, l1, k]
        if w2 >= 0 and l2 >= 0:
            v *= factor[w2, l2, k]
        if not v >= 0.0:  # nan from a degenerate (zero-probability) model
            v = 0.0
        out[k] = v
        total += v
        if v > top:
            top = v
            best = k
    if not (total > 0.0 and total < np.inf):
        for k in range(n_classes):
            out[k] = 1.0 / n_classes
        return 0
    for k in range(n_classes):
        out[k] = (1.0 - eps) * out[k] / total + eps / n_classes
    return best


@parallel_kernel
def agreement_stats(worker_offsets, item_by_worker, label_by_worker, post, factor, n_class, answer, eps):
    """The additive parts of :func:`worker_agreement`.

    Same arguments and arithmetic (leave-one-out consensus of each answer's
    item); ``chance`` is not additive, so its two per-class factors are
    returned instead and the driver forms
    ``chance = sum_k answered[k] agreed[k] / n_compared^2`` from the totals.

    Returns
    -------
    observed, expected : float64 (n_workers, K)
    n_compared, n_agree : int64 (n_workers,)
    answered : float64 (n_workers, K)
        Compared answers per answered class.
    agreed : float64 (n_workers, K)
        Compared answers per leave-one-out consensus class.
    """
    n_workers = worker_offsets.size - 1
    n_classes = post.shape[1]
    observed = np.zeros((n_workers, n_classes), dtype=np.float64)
    expected = np.zeros((n_workers, n_classes), dtype=np.float64)
    n_compared = np.zeros(n_workers, dtype=np.int64)
    n_agree = np.zeros(n_workers, dtype=np.int64)
    answered = np.zeros((n_workers, n_classes), dtype=np.float64)
    agreed = np.zeros((n_workers, n_classes), dtype=np.float64)
    for w in prange(n_workers):
        q = np.empty(n_classes, dtype=np.float64)
        n = 0
        a = 0
        for p in range(worker_offsets[w], worker_offsets[w + 1]):
            given = label_by_worker[p]
            if given < 0:
                continue
            i = item_by_worker[p]
            total = 0.0
            top = -1.0
            best = 0
            for k in range(n_classes):
                v = post[i, k] * factor[w, given, k]
                if not v >= 0.0:
                    v = 0.0
                q[k] = v
                total += v
                if v > top:
                    top = v
                    best = k
            if total > 0.0 and total < np.inf:
                for k in range(n_classes):
                    q[k] = (1.0 - eps) * q[k] / total + eps / n_classes
            else:
                best = 0
                for k in range(n_classes):
                    q[k] = 1.0 / n_classes
            observed[w, given] += 1.0
            for g in range(n_classes):
                e = 0.0
                for t in range(n_classes):
                    e += q[t] * answer[t, g]
                expected[w, g] += e
            if n_class[i] >= 2:
                n += 1
                answered[w, given] += 1.0
                agreed[w, best] += 1.0
                if best == given:
                    a += 1
        n_compared[w] = n
        n_agree[w] = a
    return observed, expected, n_compared, n_agree, answered, agreed


def worker_agreement(worker_offsets, item_by_worker, label_by_worker, post, factor,
                     n_class, answer, eps):
    """Each worker's answers against the leave-one-out consensus.

    Parameters
    ----------
    worker_offsets : int64 (n_workers + 1,)
    item_by_worker, label_by_worker : int32 (n_judgments,)
        Judgments grouped by worker; abstentions are skipped.
    post : float64 (n_items, K)
        From :func:`item_posterior`.
    factor : float64 (n_workers, K, K)
        Leave-one-out factors (see :func:`leave_out`).
    n_class : int64 (n_items,)
        Class judgments per item (from :func:`item_posterior`).
    answer : float64 (K, K)
        A typical annotator's confusion matrix ``[true, given]`` (rows sum to one).
    eps : float
        Smoothing of the leave-one-out posteriors, in [0, 1).

    Returns
    -------
    observed : float64 (n_workers, K)
        The worker's answers per class (all class judgments).
    expected : float64 (n_workers, K)
        The answers a typical annotator would give on the same items: the sum
        over the worker's class judgments of ``a[g] = sum_t q[t] answer[t, g]``
        (``q`` the leave-one-out posterior).
    n_compared : int64 (n_workers,)
        Class judgments on items with at least one other class judgment.
    n_agree : int64 (n_workers,)
        Of those, answers equal to the leave-one-out consensus class.
    chance : float64 (n_workers,)
        Agreement expected if the worker's answers were shuffled across the
        same items: ``sum_k share_answered[k] * share_consensus[k]`` over the
        compared judgments; NaN when ``n_compared == 0``.
    """
    observed, expected, n_compared, n_agree, answered, agreed = agreement_stats(
        worker_offsets, item_by_worker, label_by_worker, post, factor, n_class, answer, eps)
    chance = np.full(n_compared.size, np.nan)
    compared = n_compared > 0
    n = n_compared[compared].astype(np.float64)
    chance[compared] = (answered[compared] * agreed[compared]).sum(axis=1) / (n * n)
    return observed, expected, n_compared, n_agree, chance


@parallel_kernel
def worker_repeats(worker_offsets, item_seq, label_seq, post, factor, emission, eps, exact_max):
    """Repeated answers in each worker's submission order, against chance.

    Under the null, the answer on each class judgment is drawn independently
    from the worker's *own* answer distribution on that item,
    ``a[g] = sum_t q[t] P_w(g | t)`` (``q`` the leave-one-out posterior of the
    item's truth, ``P_w`` the worker's fitted confusion). Runs that follow the
    items' truths (items sorted by class) or the worker's own bias are expected;
    what remains is dependence on the previous answer: blocks of one answer,
    anchoring, a script. (A pure straight-liner's own confusion predicts its
    runs; ``skewed_labels`` and ``random_clicking`` catch it.) Consecutive class judgments ``(x, y)`` of
    a worker (abstentions skipped) then repeat with probability
    ``P_xy = sum_k a_x[k] a_y[k]``, and the number of repeats ``R`` has mean
    ``sum P_xy`` and, with the lag-one covariances ``sum_k a_x a_y a_z - P_xy P_yz``,
    an exact variance. Up to ``exact_max`` pairs the upper tail ``P(R >= r)``
    is exact (dynamic programme over (last answer, repeats so far)); above,
    a continuity-corrected normal approximation.

    Parameters
    ----------
    worker_offsets : int64 (n_workers + 1,)
    item_seq, label_seq : int32 (n_judgments,)
        Judgments grouped by worker, in submission order within a worker.
    post : float64 (n_items, K)
    factor : float64 (n_workers, K, K)
    emission : float64 (n_workers, K, K)
        ``P(given | true)`` per worker, indexed ``[w, given, true]``.
    eps : float
    exact_max : int

    Returns
    -------
    n_pairs : int64 (n_workers,)
        Consecutive pairs of class judgments.
    repeats : int64 (n_workers,)
        Pairs with the same answer.
    expected : float64 (n_workers,)
    variance : float64 (n_workers,)
    p_value : float64 (n_workers,)
        ``P(R >= repeats)`` under the null; NaN without pairs.
    longest : int64 (n_workers,)
        Longest run of one answer (0 for a worker without class judgments).
    """
    n_workers = worker_offsets.size - 1
    n_classes = post.shape[1]
    n_pairs = np.zeros(n_workers, dtype=np.int64)
    repeats = np.zeros(n_workers, dtype=np.int64)
    expected = np.zeros(n_workers, dtype=np.float64)
    variance = np.zeros(n_workers, dtype=np.float64)
    p_value = np.full(n_workers, np.nan, dtype=np.float64)
    longest = np.zeros(n_workers, dtype=np.int64)
    for w in prange(n_workers):
        n_seen = 0
        for p in range(worker_offsets[w], worker_offsets[w + 1]):
            if label_seq[p] >= 0:
                n_seen += 1
        exact = 1 <= n_seen - 1 <= exact_max
        size = n_seen if exact else 1
        dist = np.zeros((n_classes, size), dtype=np.float64)  # P(last answer k, r repeats)
        step = np.zeros((n_classes, size), dtype=np.float64)
        level = np.zeros(size, dtype=np.float64)  # P(r repeats), summed over the last answer
        q = np.empty(n_classes, dtype=np.float64)
        a_prev2 = np.empty(n_classes, dtype=np.float64)
        a_prev = np.empty(n_classes, dtype=np.float64)
        a_cur = np.empty(n_classes, dtype=np.float64)
        seen = 0
        last = -1
        run = 0
        best_run = 0
        p_prev = 0.0  # P(repeat) of the previous pair
        pairs = 0
        same = 0
        mean = 0.0
        var = 0.0
        for p in range(worker_offsets[w], worker_offsets[w + 1]):
            given = label_seq[p]
            if given < 0:
                continue
            # leave_out(post, i, factor, w, given, -1, -1, eps, q), then the
            # worker's answer distribution a_cur[g] = sum_t q[t] P_w(g | t), inline
            i = item_seq[p]
            total = 0.0
            for k in range(n_classes):
                v = post[i, k] * factor[w, given, k]
                if not v >= 0.0:
                    v = 0.0
                q[k] = v
                total += v
            if total > 0.0 and total < np.inf:
                for k in range(n_classes):
                    q[k] = (1.0 - eps) * q[k] / total + eps / n_classes
            else:
                for k in range(n_classes):
                    q[k] = 1.0 / n_classes
            for g in range(n_classes):
                e = 0.0
                for t in range(n_classes):
                    e += q[t] * emission[w, g, t]
                a_cur[g] = e
            if seen >= 1:
                pr = 0.0
                for k in range(n_classes):
                    pr += a_prev[k] * a_cur[k]
                pairs += 1
                mean += pr
                var += pr * (1.0 - pr)
                if seen >= 2:
                    triple = 0.0
                    for k in range(n_classes):
                        triple += a_prev2[k] * a_prev[k] * a_cur[k]
                    var += 2.0 * (triple - p_prev * pr)
                p_prev = pr
                if given == last:
                    same += 1
            if exact:
                if seen == 0:
                    for k in range(n_classes):
                        dist[k, 0] = a_cur[k]
                else:
                    for r in range(seen + 1):
                        s = 0.0
                        for k in range(n_classes):
                            s += dist[k, r]
                        level[r] = s
                    for k in range(n_classes):
                        for r in range(seen + 1):
                            v = level[r] - dist[k, r]
                            if r > 0:
                                v += dist[k, r - 1]
                            step[k, r] = a_cur[k] * v
                    dist, step = step, dist
            if given == last:
                run += 1
            else:
                run = 1
            if run > best_run:
                best_run = run
            last = given
            seen += 1
            a_prev2, a_prev, a_cur = a_prev, a_cur, a_prev2
        n_pairs[w] = pairs
        repeats[w] = same
        expected[w] = mean
        variance[w] = var if var > 0.0 else 0.0
        longest[w] = best_run
        if pairs == 0:
            continue
        if exact:
            tail = 0.0
            for r in range(same, pairs + 1):
                for k in range(n_classes):
                    tail += dist[k, r]
            p_value[w] = tail if tail < 1.0 else 1.0
        elif var > 0.0:
            z = (same - 0.5 - mean) / np.sqrt(var)
            p_value[w] = 0.5 * math.erfc(z / np.sqrt(2.0))
        else:
            p_value[w] = 1.0 if same <= mean else 0.0
    return n_pairs, repeats, expected, variance, p_value, longest


@parallel_kernel
def order_within_workers(worker_offsets, worker_order, primary, secondary, use_secondary):
    """Judgment indices grouped by worker, sorted within a worker by ``primary``
    then (if ``use_secondary``) ``secondary``, both float64 in judgment order; NaN
    sorts last, remaining ties keep ``worker_order``.

    Returns int64 (n_judgments,), the same grouping as ``worker_order``.
    """
    n_workers = worker_offsets.size - 1
    out = np.empty(worker_order.size, dtype=np.int64)
    for w in prange(n_workers):
        lo = worker_offsets[w]
        hi = worker_offsets[w + 1]
        idx = worker_order[lo:hi].copy()
        key = np.empty(hi - lo, dtype=np.float64)
        if use_secondary:
            for r in range(hi - lo):
                v = secondary[idx[r]]
                key[r] = v if v == v else np.inf
            idx = idx[np.argsort(key, kind="mergesort")]
        for r in range(hi - lo):
            v = primary[idx[r]]
            key[r] = v if v == v else np.inf
        idx = idx[np.argsort(key, kind="mergesort")]
        for r in range(hi - lo):
            out[lo + r] = idx[r]
    return out
