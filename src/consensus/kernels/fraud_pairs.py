"""Co-labelled annotator pairs: shared answers, shared errors and co-timed submissions.

Pairs are found from the item -> workers lists, never by looping over all pairs
of workers: worker ``w`` walks its own items and, on each, the other workers
``v > w`` who judged it. Counts per partner go into a sparse accumulator (a
dense scratch row indexed by partner, reset through a list of touched
partners), one per chunk of workers, so the work is ``sum_i m_i^2`` over items
with ``m_i`` judgments and memory is ``O(n_workers)`` per chunk. The outer
``prange`` runs over chunks of workers; each pair is owned by its smaller
worker code, so results do not depend on the thread count or the chunking.

Per pair and co-labelled item (both gave a class answer), with ``s`` the
other annotators' vote shares on the item (pseudo-count ``SHARE_PRIOR`` per
class; deliberately less confident than a Dawid-Skene posterior, which assumes
independent annotators and is overconfident on hard items) and
``theta_w[t, l] = emission[w, l, t]``:

* ``P(agree) = sum_t s[t] sum_l theta_w[t, l] theta_v[t, l]``, the chance that
  two independent annotators with these confusions give the same answer;
* on items where the others agree strongly on a class ``c`` (at least
  ``MIN_OTHERS`` other class answers, a share ``STRONG`` of them for ``c``):
  whether the two give the same answer other than ``c`` (a *shared error*),
  and the chance of that for independent annotators taking ``c`` as the truth,
  ``sum_{l != c} theta_w[c, l] theta_v[c, l]``. Two good annotators who both
  contradict a split crowd are right together, not copying, so split items
  do not count.
"""

from __future__ import annotations

import numpy as np

from consensus._jit import parallel_kernel, prange

#: Integer statistics per pair, in the rows of ``pair_stats``'s ``counts``.
ANY, COMMON, AGREE, CONSENSUS, SHARED_WRONG, TIMED, CO_TIMED, W_LATER = range(8)
N_COUNTS = 8
#: Float statistics per pair, in the rows of ``pair_stats``'s ``sums``.
LOG_P_AGREE, EXP_AGREE, EXP_SHARED_WRONG, EXP_CO_TIMED = range(4)
N_SUMS = 4
#: Pseudo-count per class of the others' vote shares.
SHARE_PRIOR = 0.5
#: A shared error is a shared answer against a strong majority of the others: at least
#: MIN_OTHERS other class answers, at least STRONG of them for one class.
MIN_OTHERS = 3
STRONG = 0.7


@parallel_kernel
def pair_stats(item_offsets, worker, label, worker_offsets, worker_order, item_by_worker,
               label_by_worker, emission, n_class, votes, submitted,
               window, min_common, chunk_bounds):
    """Statistics of every pair of workers with at least ``min_common`` co-judged items.

    Parameters
    ----------
    item_offsets : int64 (n_items + 1,)
    worker, label : int32 (n_judgments,)
        Item-sorted judgments (label ``-1`` = abstention).
    worker_offsets : int64 (n_workers + 1,)
    worker_order : int64 (n_judgments,)
    item_by_worker, label_by_worker : int32 (n_judgments,)
    emission : float64 (n_workers, K, K)
        ``P(given | true)``, indexed ``[w, given, true]``.
    n_class : int64 (n_items,)
        Class judgments per item.
    votes : float64 (n_items, K)
        Class answers per item and class.
    submitted : float64 (n_judgments,) or (0,)
        Submission times in judgment order (NaN = unknown); an empty array
        switches the timing statistics off.
    window : float
        Two submissions within ``window`` seconds are co-timed.
    min_common : int
        Least co-judged items for a pair to be reported.
    chunk_bounds : int64 (n_chunks + 1,)
        Worker codes splitting the workers into chunks (0 first, n_workers last).

    Returns
    -------
    pair_offsets : int64 (n_workers + 1,)
        CSR offsets: the pairs owned by worker ``w`` are rows
        ``pair_offsets[w]:pair_offsets[w + 1]``, partners in increasing code.
    partner : int32 (n_pairs,)
    counts : int64 (N_COUNTS, n_pairs)
        Rows ``ANY`` (co-judged items), ``COMMON`` (both class answers),
        ``AGREE``, ``CONSENSUS`` (common items with a strong majority among the
        others), ``SHARED_WRONG`` (same answer, not that majority's), ``TIMED``
        (co-judged items with both times), ``CO_TIMED`` (within ``window``),
        ``W_LATER`` (timed items where the owner submitted later).
    sums : float64 (N_SUMS, n_pairs)
        Rows ``LOG_P_AGREE`` (sum of log P(agree) over the common items where the
        two agree: the log-probability of the pair's identical answers),
        ``EXP_AGREE``, ``EXP_SHARED_WRONG`` and ``EXP_CO_TIMED`` (left at 0: it
        needs a binary search per co-judged item, so :func:`expected_co_timed`
        computes it for the few pairs that can be flagged).
    """
    n_workers = worker_offsets.size - 1
    n_chunks = chunk_bounds.size - 1
    has_time = submitted.size > 0
    n_partners = np.zeros(n_workers, dtype=np.int64)

    # pass 1: how many partners with enough co-judged items does each worker own?
    for c in prange(n_chunks):
        seen = np.zeros(n_workers, dtype=np.int64)
        touched = np.empty(n_workers, dtype=np.int64)
        for w in range(chunk_bounds[c], chunk_bounds[c + 1]):
            n_touched = 0
            for p in range(worker_offsets[w], worker_offsets[w + 1]):
                i = item_by_worker[p]
                for q in range(item_offsets[i], item_offsets[i + 1]):
                    v = worker[q]
                    if v <= w:
                        continue
                    if seen[v] == 0:
                        touched[n_touched] = v
                        n_touched += 1
                    seen[v] += 1
            k = 0
            for t in range(n_touched):
                v = touched[t]
                if seen[v] >= min_common:
                    k += 1
                seen[v] = 0
            n_partners[w] = k

    pair_offsets = np.zeros(n_workers + 1, dtype=np.int64)
    for w in range(n_workers):
        pair_offsets[w + 1] = pair_offsets[w] + n_partners[w]
    n_pairs = pair_offsets[n_workers]
    partner = np.empty(n_pairs, dtype=np.int32)
    counts = np.zeros((N_COUNTS, n_pairs), dtype=np.int64)
    sums = np.zeros((N_SUMS, n_pairs), dtype=np.float64)
    n_classes = votes.shape[1]

    # pass 2: accumulate per partner, then keep the partners with enough co-judged items
    for c in prange(n_chunks):
        acc_n = np.zeros((n_workers, N_COUNTS), dtype=np.int64)
        acc_s = np.zeros((n_workers, N_SUMS), dtype=np.float64)
        agree_by_truth = np.empty((n_workers, n_classes), dtype=np.float64)
        touched = np.empty(n_workers, dtype=np.int64)
        base = np.empty(n_classes, dtype=np.float64)
        for w in range(chunk_bounds[c], chunk_bounds[c + 1]):
            n_touched = 0
            for p in range(worker_offsets[w], worker_offsets[w + 1]):
                i = item_by_worker[p]
                l_w = label_by_worker[p]
                t_w = submitted[worker_order[p]] if has_time else np.nan
                inv = 0.0
                strong = -1
                if l_w >= 0:
                    # the others' vote shares are (base - [k == l_v]) * inv
                    inv = 1.0 / (n_class[i] - 2.0 + SHARE_PRIOR * n_classes)
                    for k in range(n_classes):
                        base[k] = votes[i, k] - (l_w == k) + SHARE_PRIOR
                    # a class with a strong majority among the others (before removing v):
                    # at least MIN_OTHERS other answers, STRONG of them for one class
                    if n_class[i] - 2 >= MIN_OTHERS:
                        for k in range(n_classes):
                            if votes[i, k] - (l_w == k) >= STRONG * (n_class[i] - 2.0):
                                strong = k
                for q in range(item_offsets[i], item_offsets[i + 1]):
                    v = worker[q]
                    if v <= w:
                        continue
                    if acc_n[v, ANY] == 0:
                        touched[n_touched] = v
                        n_touched += 1
                        # P(both answer the same | truth t), once per partner
                        for t in range(n_classes):
                            a = 0.0
                            for g in range(n_classes):
                                a += emission[w, g, t] * emission[v, g, t]
                            agree_by_truth[v, t] = a
                    acc_n[v, ANY] += 1
                    if has_time:
                        t_v = submitted[q]
                        if np.isfinite(t_w) and np.isfinite(t_v):
                            acc_n[v, TIMED] += 1
                            close = abs(t_w - t_v) <= window
                            if close:
                                acc_n[v, CO_TIMED] += 1
                            if t_w > t_v:
                                acc_n[v, W_LATER] += 1
                    l_v = label[q]
                    if l_w < 0 or l_v < 0:
                        continue
                    acc_n[v, COMMON] += 1
                    s_agree = -agree_by_truth[v, l_v]
                    for t in range(n_classes):
                        s_agree += base[t] * agree_by_truth[v, t]
                    p_agree = s_agree * inv
                    if p_agree > 1.0:
                        p_agree = 1.0
                    acc_s[v, EXP_AGREE] += p_agree
                    if l_w == l_v:
                        acc_n[v, AGREE] += 1
                        acc_s[v, LOG_P_AGREE] += np.log(p_agree) if p_agree > 0.0 else -np.inf
                    if strong >= 0:
                        # the others' strong majority answer is `strong` (votes minus the pair's)
                        cons = strong if l_v != strong else -1
                        if cons < 0:
                            # removing v's vote may weaken the majority below STRONG
                            if (votes[i, strong] - (l_w == strong) - 1.0) < STRONG * (n_class[i] - 2.0):
                                continue
                            cons = strong
                        acc_n[v, CONSENSUS] += 1
                        e = 0.0
                        for g in range(n_classes):
                            if g != cons:
                                e += emission[w, g, cons] * emission[v, g, cons]
                        acc_s[v, EXP_SHARED_WRONG] += e
                        if l_w == l_v and l_w != cons:
                            acc_n[v, SHARED_WRONG] += 1
            kept = np.sort(touched[:n_touched])
            out = pair_offsets[w]
            for t in range(n_touched):
                v = kept[t]
                if acc_n[v, ANY] >= min_common:
                    partner[out] = v
                    for r in range(N_COUNTS):
                        counts[r, out] = acc_n[v, r]
                    for r in range(N_SUMS):
                        sums[r, out] = acc_s[v, r]
                    out += 1
                for r in range(N_COUNTS):
                    acc_n[v, r] = 0
                for r in range(N_SUMS):
                    acc_s[v, r] = 0.0
    return pair_offsets, partner, counts, sums


@parallel_kernel
def expected_co_timed(a, b, worker_offsets, worker_order, item_by_worker, submitted,
                      time_offsets, time_sorted, window):
    """Expected co-timed items of chosen pairs under "the partner's submission on an
    item is any one of its other submissions".

    For each co-judged item with both times, the chance is the share of ``b``'s
    *other* submissions within ``window`` seconds of ``a``'s submission on it
    (and symmetrically; the two are averaged).

    Parameters
    ----------
    a, b : int32 (n_pairs,)
        Worker codes of the pairs.
    worker_offsets : int64 (n_workers + 1,)
    worker_order : int64 (n_judgments,)
    item_by_worker : int32 (n_judgments,)
        Items in worker order (ascending within a worker).
    submitted : float64 (n_judgments,)
    time_offsets : int64 (n_workers + 1,)
    time_sorted : float64 (n_timed,)
        Each worker's finite submission times, sorted, CSR by ``time_offsets``.
    window : float

    Returns
    -------
    expected : float64 (n_pairs,)
    """
    n_pairs = a.size
    expected = np.zeros(n_pairs, dtype=np.float64)
    for k in prange(n_pairs):
        total = 0.0
        for side in range(2):
            x = a[k] if side == 0 else b[k]
            y = b[k] if side == 0 else a[k]
            lo = time_offsets[y]
            hi = time_offsets[y + 1]
            if hi - lo <= 1:
                continue
            # merge the two workers' (ascending) item lists
            p = worker_offsets[x]
            p_end = worker_offsets[x + 1]
            r = worker_offsets[y]
            r_end = worker_offsets[y + 1]
            while p < p_end and r < r_end:
                ix = item_by_worker[p]
                iy = item_by_worker[r]
                if ix < iy:
                    p += 1
                    continue
                if iy < ix:
                    r += 1
                    continue
                t_x = submitted[worker_order[p]]
                t_y = submitted[worker_order[r]]
                p += 1
                r += 1
                if not (np.isfinite(t_x) and np.isfinite(t_y)):
                    continue
                # entries of y within [t_x - window, t_x + window], by two binary searches
                lo_a = lo
                hi_a = hi
                bound = t_x + window
                while lo_a < hi_a:
                    mid = (lo_a + hi_a) // 2
                    if time_sorted[mid] <= bound:
                        lo_a = mid + 1
                    else:
                        hi_a = mid
                near = lo_a
                lo_a = lo
                hi_a = hi
                bound = t_x - window
                while lo_a < hi_a:
                    mid = (lo_a + hi_a) // 2
                    if time_sorted[mid] < bound:
                        lo_a = mid + 1
                    else:
                        hi_a = mid
                near -= lo_a
                if abs(t_x - t_y) <= window:
                    near -= 1  # the co-judged item itself
                total += near / (hi - lo - 1.0)
        expected[k] = 0.5 * total
    return expected
