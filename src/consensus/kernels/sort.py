"""O(n) grouping of integer codes: stable counting sorts and CSR offsets.

``np.lexsort`` / ``np.argsort`` are O(n log n) and single-threaded; at 100M
judgments they dominate loading. Codes here are dense (``0 <= code < n_groups``),
so a counting sort (one histogram, one scatter) groups them in O(n), and the
short runs inside each group (an item's few workers) are ordered in parallel.
Every kernel is stable, so the result is one well-defined permutation whatever
the thread count.
"""

from __future__ import annotations

import numpy as np

from consensus._jit import kernel, parallel_kernel, prange

#: Groups longer than this are ordered with a merge sort instead of an insertion sort.
_INSERTION_MAX = 32


@kernel
def counting_order(codes, n_groups):
    """Stable counting sort of dense codes.

    Parameters
    ----------
    codes : int32 or int64 (n,)
        Values in ``[0, n_groups)``.
    n_groups : int

    Returns
    -------
    order : int64 (n,)
        Positions grouped by code, ascending; input order kept within a code
        (the same permutation as ``np.argsort(codes, kind="stable")``).
    offsets : int64 (n_groups + 1,)
        CSR offsets: code ``g`` occupies ``order[offsets[g]:offsets[g + 1]]``.
    """
    n = codes.size
    offsets = np.zeros(n_groups + 1, dtype=np.int64)
    for j in range(n):
        offsets[codes[j] + 1] += 1
    for g in range(n_groups):
        offsets[g + 1] += offsets[g]
    cursor = offsets[:-1].copy()
    order = np.empty(n, dtype=np.int64)
    for j in range(n):
        code = codes[j]
        order[cursor[code]] = j
        cursor[code] += 1
    return order, offsets


@kernel
def _key(primary, secondary, use_secondary, j, width):
    if use_secondary:
        return np.int64(primary[j]) * width + np.int64(secondary[j])
    return np.int64(primary[j])


@parallel_kernel
def order_within_groups(offsets, order, primary, secondary, use_secondary):
    """Stable sort of every group of ``order`` by ``(primary, secondary)``.

    Parameters
    ----------
    offsets : int64 (n_groups + 1,)
    order : int64 (n,)
        Positions grouped by ``offsets`` (e.g. from :func:`counting_order`).
    primary : int32 (n_input,)
        Non-negative key per input position (e.g. the worker code).
    secondary : int32 (n_input,)
        Second key (e.g. the label code, ``>= -1``); used when ``use_secondary``.
    use_secondary : bool

    Returns
    -------
    sorted_order : int64 (n,)
        ``order`` with each group sorted by the keys; ties keep their order in
        ``order`` (so an ``order`` from a stable sort gives a full lexicographic sort).
    """
    out = order.copy()
    _sort_groups(offsets, out, primary, secondary, use_secondary)
    return out


@kernel
def grouped_order(primary_group, n_groups, key):
    """Positions sorted by ``(primary_group, key)``, stable, in O(n) plus short in-group sorts.

    The permutation of ``np.lexsort((key, primary_group))`` without its
    intermediate copies: a counting sort on ``primary_group`` then each group
    ordered by ``key`` in place (in the kernel's own output array).

    Returns
    -------
    order : int64 (n,)
    offsets : int64 (n_groups + 1,)
    """
    order, offsets = counting_order(primary_group, n_groups)
    _sort_groups(offsets, order, key, key, False)
    return order, offsets


@parallel_kernel
def _sort_groups(offsets, out, primary, secondary, use_secondary):
    """Sort each group of ``out`` (this module's own array) in place; see :func:`order_within_groups`."""
    n_groups = offsets.size - 1
    width = np.int64(1)
    if use_secondary:
        top = np.int64(0)
        for j in range(secondary.size):
            if secondary[j] > top:
                top = np.int64(secondary[j])
        width = top + 2  # secondary + 1 lies in [0, top + 1]
    for g in prange(n_groups):
        lo = offsets[g]
        hi = offsets[g + 1]
        if hi - lo < 2:
            continue
        if hi - lo <= _INSERTION_MAX:
            for a in range(lo + 1, hi):
                pos = out[a]
                key = _key(primary, secondary, use_secondary, pos, width)
                b = a - 1
                while b >= lo and _key(primary, secondary, use_secondary, out[b], width) > key:
                    out[b + 1] = out[b]
                    b -= 1
                out[b + 1] = pos
        else:
            keys = np.empty(hi - lo, dtype=np.int64)
            for a in range(lo, hi):
                keys[a - lo] = _key(primary, secondary, use_secondary, out[a], width)
            local = np.argsort(keys, kind="mergesort")
            chunk = out[lo:hi].copy()
            for a in range(hi - lo):
                out[lo + a] = chunk[local[a]]


@kernel
def group_offsets(sorted_codes, n_groups):
    """CSR offsets of a sorted code array: int64 (n_groups + 1,) (a histogram and a prefix sum)."""
    offsets = np.zeros(n_groups + 1, dtype=np.int64)
    for j in range(sorted_codes.size):
        offsets[sorted_codes[j] + 1] += 1
    for g in range(n_groups):
        offsets[g + 1] += offsets[g]
    return offsets


@parallel_kernel
def gather_int32(values, order):
    """``values[order]`` as a new contiguous int32 array, gathered in parallel."""
    out = np.empty(order.size, dtype=np.int32)
    for j in prange(order.size):
        out[j] = values[order[j]]
    return out


@parallel_kernel
def gather_float64(values, order):
    """``values[order]`` as a new contiguous float64 array, gathered in parallel."""
    out = np.empty(order.size, dtype=np.float64)
    for j in prange(order.size):
        out[j] = values[order[j]]
    return out


@kernel
def dense_remap(values, low, size):
    """Codes for integer ids that lie in ``[low, low + size)``: O(n + size).

    Parameters
    ----------
    values : int (n,)
        Ids, every one in ``[low, low + size)``.
    low, size : int

    Returns
    -------
    codes : int32 (n,)
        Rank of each id among the distinct ids (ascending), i.e. the inverse of
        ``np.unique(values, return_inverse=True)``.
    present : int64 (n_distinct,)
        The distinct ids, ascending (``np.unique(values)``).
    """
    seen = np.zeros(size, dtype=np.int32)
    for j in range(values.size):
        seen[values[j] - low] = 1
    n_distinct = 0
    for v in range(size):
        if seen[v]:
            seen[v] = n_distinct
            n_distinct += 1
        else:
            seen[v] = -1
    present = np.empty(n_distinct, dtype=np.int64)
    for v in range(size):
        if seen[v] >= 0:
            present[seen[v]] = v + low
    codes = np.empty(values.size, dtype=np.int32)
    for j in range(values.size):
        codes[j] = seen[values[j] - low]
    return codes, present


@kernel
def adjacent_duplicates(sorted_item, sorted_worker):
    """Flags of judgments that repeat the (item, worker) pair of the previous one.

    Returns uint8 (n,): 1 where ``(item, worker)`` equals the previous position's.
    """
    n = sorted_item.size
    flags = np.zeros(n, dtype=np.uint8)
    for j in range(1, n):
        if sorted_item[j] == sorted_item[j - 1] and sorted_worker[j] == sorted_worker[j - 1]:
            flags[j] = 1
    return flags


@kernel
def gather_count(values, order, n_values):
    """``values[order]`` and how often each value occurs in it, in one pass.

    Parameters
    ----------
    values : int32 (n,)
        Codes in ``[0, n_values)``.
    order : int64 (m,)
        Positions into ``values``.
    n_values : int

    Returns
    -------
    gathered : int32 (m,)
        ``values[order]``.
    counts : int64 (n_values,)
        ``np.bincount(values[order], minlength=n_values)``.
    """
    gathered = np.empty(order.size, dtype=np.int32)
    counts = np.zeros(n_values, dtype=np.int64)
    for j in range(order.size):
        v = values[order[j]]
        gathered[j] = v
        counts[v] += 1
    return gathered, counts
