"""Speed-trap and burst kernels: per-group medians, per-worker shares, submission bursts.

Layouts follow :class:`consensus.data.Judgments`: per-judgment arrays are in
judgment (item-sorted) order; ``worker_offsets`` / ``worker_order`` group the
judgments by worker. Every kernel loops with ``prange`` over owners (groups or
workers) and writes only what that owner owns, so results do not depend on the
thread count. No kernel writes into its inputs or raises on valid input.
"""

from __future__ import annotations

import numpy as np

from consensus._jit import parallel_kernel, prange


@parallel_kernel
def group_median(offsets, values):
    """Median of the finite values of every CSR group.

    Parameters
    ----------
    offsets : int64 (n_groups + 1,)
        CSR offsets into ``values``.
    values : float64 (n,)
        NaN (or +-inf) marks a missing value; it is skipped.

    Returns
    -------
    median : float64 (n_groups,)
        NaN for a group without finite values.
    count : int64 (n_groups,)
        Finite values per group.
    """
    n_groups = offsets.size - 1
    median = np.full(n_groups, np.nan, dtype=np.float64)
    count = np.zeros(n_groups, dtype=np.int64)
    for g in prange(n_groups):
        lo = offsets[g]
        hi = offsets[g + 1]
        buf = np.empty(hi - lo, dtype=np.float64)
        m = 0
        for j in range(lo, hi):
            v = values[j]
            if np.isfinite(v):
                buf[m] = v
                m += 1
        count[g] = m
        if m > 0:
            s = np.sort(buf[:m])
            median[g] = 0.5 * (s[(m - 1) // 2] + s[m // 2])
    return median, count


@parallel_kernel
def worker_flag_counts(worker_offsets, worker_order, flag, valid):
    """Per worker: judgments with ``valid`` set, and those of them with ``flag`` set.

    Parameters
    ----------
    worker_offsets : int64 (n_workers + 1,)
    worker_order : int64 (n_judgments,)
        Judgment indices grouped by worker.
    flag, valid : uint8 or bool (n_judgments,)
        In judgment order.

    Returns
    -------
    n_valid, n_flagged : int64 (n_workers,)
    """
    n_workers = worker_offsets.size - 1
    n_valid = np.zeros(n_workers, dtype=np.int64)
    n_flagged = np.zeros(n_workers, dtype=np.int64)
    for w in prange(n_workers):
        a = 0
        b = 0
        for p in range(worker_offsets[w], worker_offsets[w + 1]):
            j = worker_order[p]
            if valid[j]:
                a += 1
                if flag[j]:
                    b += 1
        n_valid[w] = a
        n_flagged[w] = b
    return n_valid, n_flagged


@parallel_kernel
def burst_flags(worker_offsets, worker_order, submitted, window, min_size):
    """Judgments submitted inside a burst: ``min_size`` or more submissions of one
    worker within ``window`` seconds.

    Parameters
    ----------
    worker_offsets : int64 (n_workers + 1,)
    worker_order : int64 (n_judgments,)
    submitted : float64 (n_judgments,)
        Submission time (seconds) in judgment order; NaN where unknown.
    window : float
        Width of the sliding window in seconds (>= 0).
    min_size : int
        Submissions that make a burst (>= 2).

    Returns
    -------
    in_burst : uint8 (n_judgments,)
        1 for a judgment inside some window holding ``min_size`` submissions
        of its worker, in judgment order.
    n_timed : int64 (n_workers,)
        Judgments with a known submission time.
    n_burst : int64 (n_workers,)
        Of those, judgments inside a burst.
    """
    n_workers = worker_offsets.size - 1
    in_burst = np.zeros(worker_order.size, dtype=np.uint8)
    n_timed = np.zeros(n_workers, dtype=np.int64)
    n_burst = np.zeros(n_workers, dtype=np.int64)
    for w in prange(n_workers):
        lo = worker_offsets[w]
        hi = worker_offsets[w + 1]
        times = np.empty(hi - lo, dtype=np.float64)
        index = np.empty(hi - lo, dtype=np.int64)
        m = 0
        for p in range(lo, hi):
            j = worker_order[p]
            t = submitted[j]
            if np.isfinite(t):
                times[m] = t
                index[m] = j
                m += 1
        n_timed[w] = m
        if m < min_size:
            continue
        order = np.argsort(times[:m], kind="mergesort")
        left = 0
        marked = -1  # last sorted position already marked
        count = 0
        for right in range(m):
            t_right = times[order[right]]
            while t_right - times[order[left]] > window:
                left += 1
            if right - left + 1 >= min_size:
                start = left if left > marked else marked + 1
                for r in range(start, right + 1):
                    in_burst[index[order[r]]] = 1
                    count += 1
                marked = right
        n_burst[w] = count
    return in_burst, n_timed, n_burst
