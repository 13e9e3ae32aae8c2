"""Dawid-Skene EM kernels (log space, Dirichlet pseudo-counts, gold clamping).

Array layout: the per-worker emission table is ``log_emission[w, given, true]``
(shape ``(n_workers, K, K)``) so the E-step's inner loop over the true class is
contiguous. Users see its transpose, ``confusion[w, true, given]``.

Pseudo-counts: every cell of every worker's count table starts at ``alpha``;
workers with a prior confusion matrix (``prior_index[w] >= 0``) add
``prior_counts[prior_index[w]]`` (shape ``(K, K)``, ``[given, true]``).
This is MAP-EM under Dirichlet priors, so the objective that never decreases
is the *penalised* log-likelihood: data log-likelihood plus
``sum(pseudo_count * log parameter)`` (see :func:`log_prior_penalty`).
"""

from __future__ import annotations

import numba
import numpy as np

from consensus._jit import kernel, parallel_kernel, prange

if numba.config.DISABLE_JIT:
    def _prefetch(array, index):  # noqa: ARG001 - pure-Python run (NUMBA_DISABLE_JIT=1): nothing to do
        """Hint the CPU to load ``array[index]`` into cache (no-op without the JIT)."""
else:
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    @intrinsic
    def _prefetch(typingctx, array, index):  # noqa: ARG001 - numba's intrinsic signature
        """Hint the CPU to load ``array[index]`` into cache (``llvm.prefetch``: read, high locality).

        Only a hint: it never faults, so an index past the end is harmless; results do not depend
        on it. The scatter kernels use it to fetch worker tables a few hundred judgments ahead,
        which matters once the tables outgrow the L2 cache (about 10k workers x K=5, 100k x K=2).
        """
        if not isinstance(array, types.Array) or not isinstance(index, types.Integer):
            return None

        def codegen(context, builder, signature, args):
            data = context.make_array(signature.args[0])(context, builder, args[0]).data
            offset = context.cast(builder, args[1], signature.args[1], types.intp)
            byte_ptr = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32]), "llvm.prefetch.p0")
            builder.call(fn, [builder.bitcast(builder.gep(data, [offset]), byte_ptr), i32(0), i32(3), i32(1)])
            return context.get_dummy_value()

        return types.void(array, index), codegen


@kernel
def finish_item(row, truth, log_space=False):
    """Turn one item's log-joint row into its posterior, in place; return the item log-likelihood.

    ``row`` (float64 (K,)) holds ``log p(labels, z = k)``. With a known
    ``truth`` (>= 0) the row becomes one-hot and ``log p(labels, z = truth)`` is
    returned; otherwise the row is normalised (log-sum-exp) and
    ``log p(labels)`` is returned. A row that is ``-inf`` everywhere (possible
    only without pseudo-counts) becomes uniform with log-likelihood ``-inf``.
    With ``log_space`` the row holds the log-posterior instead (no exponential:
    a class more than ~745 nats behind keeps its value instead of becoming 0).
    """
    n_classes = row.size
    if truth >= 0:
        loglik = row[truth]
        for k in range(n_classes):
            row[k] = -np.inf if log_space else 0.0
        row[truth] = 0.0 if log_space else 1.0
        return loglik
    top = row[0]
    for k in range(1, n_classes):
        if row[k] > top:
            top = row[k]
    if top == -np.inf:
        for k in range(n_classes):
            row[k] = -np.log(n_classes) if log_space else 1.0 / n_classes
        return -np.inf
    total = 0.0
    for k in range(n_classes):
        total += np.exp(row[k] - top)
    log_norm = top + np.log(total)
    for k in range(n_classes):
        row[k] = row[k] - log_norm if log_space else np.exp(row[k] - log_norm)
    return log_norm


@parallel_kernel
def e_step(item_offsets, worker, label, log_emission, log_prior, gold, log_space=False):
    """Posterior over the true class of every item (its logarithm with ``log_space``).

    Parameters
    ----------
    item_offsets : int64 (n_items + 1,)
    worker, label : int32 (n_judgments,)
        Item-sorted judgments; negative labels (abstentions) are skipped.
    log_emission : float64 (n_workers, K, K)
        ``log P(given | true)`` per worker, indexed ``[w, given, true]``.
    log_prior : float64 (K,)
        Log class priors.
    gold : int32 (n_items,)
        Known class per item, ``-1`` where unknown; known items are clamped.

    log_space : bool, default False
        Return ``log posterior`` (exact where the posterior underflows to 0).

    Returns
    -------
    posterior : float64 (n_items, K)
        Rows sum to one (log-sum-exp to zero with ``log_space``).
    item_loglik : float64 (n_items,)
        ``log p(labels of i)`` (unknown truth) or ``log p(labels of i, truth)`` (gold).
    """
    n_items = item_offsets.size - 1
    n_classes = log_prior.size
    posterior = np.empty((n_items, n_classes), dtype=np.float64)
    item_loglik = np.empty(n_items, dtype=np.float64)
    for i in prange(n_items):
        row = posterior[i]
        for k in range(n_classes):
            row[k] = log_prior[k]
        for j in range(item_offsets[i], item_offsets[i + 1]):
            given = label[j]
            if given < 0:
                continue
            emission = log_emission[worker[j], given]
            for k in range(n_classes):
                row[k] += emission[k]
        item_loglik[i] = finish_item(row, gold[i], log_space)
    return posterior, item_loglik


@kernel
def _log_normalise_columns(table):
    """In place: each column ``[:, k]`` of pseudo-counts becomes log shares (``-log K`` for an
    empty column, ``-inf`` for a zero cell). float64 (K, K)."""
    n_classes = table.shape[0]
    for k in range(n_classes):
        total = 0.0
        for given in range(n_classes):
            total += table[given, k]
        # log(c) - log(total), not log(c / total): a fastmath 'arcp' build turned a
        # division into a multiplication by 1/total, which overflows for subnormal totals
        log_total = np.log(total) if total > 0.0 else 0.0
        for given in range(n_classes):
            if total <= 0.0:
                table[given, k] = -np.log(n_classes)
            elif table[given, k] > 0.0:
                table[given, k] = np.log(table[given, k]) - log_total
            else:
                table[given, k] = -np.inf


@parallel_kernel
def m_step_emission(worker_offsets, item_by_worker, label_by_worker, posterior,
                    alpha, prior_index, prior_counts):
    """Per-worker emission tables from expected counts plus pseudo-counts.

    Parameters
    ----------
    worker_offsets : int64 (n_workers + 1,)
    item_by_worker, label_by_worker : int32 (n_judgments,)
        Judgments grouped by worker.
    posterior : float64 (n_items, K)
    alpha : float
        Pseudo-count added to every cell (>= 0).
    prior_index : int32 (n_workers,)
        Row of ``prior_counts`` for each worker, ``-1`` for none.
    prior_counts : float64 (n_priors, K, K)
        Extra pseudo-counts ``[given, true]`` for workers with a known prior.

    Returns
    -------
    log_emission : float64 (n_workers, K, K)
        ``log P(given | true)``, indexed ``[w, given, true]``.
    """
    n_workers = worker_offsets.size - 1
    n_classes = posterior.shape[1]
    log_emission = np.empty((n_workers, n_classes, n_classes), dtype=np.float64)
    for w in prange(n_workers):
        counts = log_emission[w]
        p = prior_index[w]
        for given in range(n_classes):
            for k in range(n_classes):
                counts[given, k] = alpha
                if p >= 0:
                    counts[given, k] += prior_counts[p, given, k]
        for j in range(worker_offsets[w], worker_offsets[w + 1]):
            given = label_by_worker[j]
            if given < 0:
                continue
            item_posterior = posterior[item_by_worker[j]]
            for k in range(n_classes):
                counts[given, k] += item_posterior[k]
        _log_normalise_columns(counts)
    return log_emission


@parallel_kernel
def class_log_prior(posterior, beta):
    """Log class priors from posteriors plus pseudo-count ``beta``: float64 (K,).

    The column sums run over 16 fixed blocks of items (in parallel) added in
    block order, so the result does not depend on the thread count.
    """
    n_items, n_classes = posterior.shape
    n_blocks = 16
    partial = np.zeros((n_blocks, n_classes), dtype=np.float64)
    for b in prange(n_blocks):
        for i in range((n_items * b) // n_blocks, (n_items * (b + 1)) // n_blocks):
            for k in range(n_classes):
                partial[b, k] += posterior[i, k]
    totals = np.full(n_classes, beta, dtype=np.float64)
    for b in range(n_blocks):
        for k in range(n_classes):
            totals[k] += partial[b, k]
    grand = 0.0
    for k in range(n_classes):  # a loop, not totals.sum(): numba parallelises array sums
        grand += totals[k]
    log_grand = np.log(grand) if grand > 0.0 else 0.0
    out = np.empty(n_classes, dtype=np.float64)
    for k in range(n_classes):
        if grand <= 0.0:
            out[k] = -np.log(n_classes)
        elif totals[k] > 0.0:
            out[k] = np.log(totals[k]) - log_grand
        else:
            out[k] = -np.inf
    return out


@kernel
def log_prior_penalty(log_emission, alpha, prior_index, prior_counts, log_prior, beta):
    """``sum(pseudo_count * log parameter)`` over emissions and class priors: float.

    Serial: K*K multiply-adds per worker (under a millisecond at 100k workers) cost less than
    waking the threads once per EM iteration, which takes milliseconds on a loaded machine.
    """
    n_workers, n_classes, _ = log_emission.shape
    per_worker = np.zeros(n_workers, dtype=np.float64)
    for w in range(n_workers):
        p = prior_index[w]
        acc = 0.0
        for given in range(n_classes):
            for k in range(n_classes):
                count = alpha
                if p >= 0:
                    count += prior_counts[p, given, k]
                if count > 0.0:
                    acc += count * log_emission[w, given, k]
        per_worker[w] = acc
    total = 0.0
    for w in range(n_workers):
        total += per_worker[w]
    if beta > 0.0:
        for k in range(n_classes):
            total += beta * log_prior[k]
    return total


@parallel_kernel
def worker_expected_accuracy(worker_offsets, item_by_worker, label_by_worker, posterior):
    """Mean posterior probability that each worker's answer is right.

    Returns
    -------
    accuracy : float64 (n_workers,)
        NaN for workers without class judgments.
    """
    n_workers = worker_offsets.size - 1
    accuracy = np.full(n_workers, np.nan, dtype=np.float64)
    for w in prange(n_workers):
        total = 0.0
        n = 0
        for j in range(worker_offsets[w], worker_offsets[w + 1]):
            given = label_by_worker[j]
            if given < 0:
                continue
            total += posterior[item_by_worker[j], given]
            n += 1
        if n > 0:
            accuracy[w] = total / n
    return accuracy


# -- single-pass EM over the item-sorted judgments ------------------------------------------
#
# The per-worker M-step used to walk a worker-sorted copy of the judgments and gather each
# item's posterior at random. Here the expected counts are scattered instead, while walking the
# item-sorted arrays in order: the per-worker tables (n_workers x K x K) are small enough to stay
# in cache, so one EM iteration streams the judgments once. Sums are deterministic on any
# thread count: the judgments are cut into a fixed number of chunks that does not depend on the
# threads, each chunk sums into its own table, and the tables are added in chunk order.

#: Upper bound on the reduction chunks (parallel work units) of the scatter kernels.
MAX_CHUNKS = 16


@kernel
def reduction_chunks(item_offsets, n_workers, n_classes):
    """Item boundaries of the fixed reduction chunks: int64 (n_chunks + 1,).

    The number of chunks depends only on the data's shape (at most
    :data:`MAX_CHUNKS`, and few enough that the per-chunk count tables stay
    smaller than the judgments); each chunk holds about the same number of judgments.
    """
    n_items = item_offsets.size - 1
    n_judgments = item_offsets[n_items]
    table = max(1, n_workers * n_classes * n_classes)
    n_chunks = min(MAX_CHUNKS, max(1, n_judgments // (2 * table)), max(1, n_items))
    bounds = np.empty(n_chunks + 1, dtype=np.int64)
    bounds[0] = 0
    for c in range(1, n_chunks):
        target = (n_judgments * c) // n_chunks
        cut = min(np.int64(np.searchsorted(item_offsets, target, side="left")), n_items)
        bounds[c] = max(bounds[c - 1], cut)
    bounds[n_chunks] = n_items
    return bounds


@parallel_kernel
def _combine_chunks(partial):
    """Sum ``partial[c]`` over chunks in chunk order: (n_workers, a, b)."""
    n_chunks, n_workers, n_rows, n_cols = partial.shape
    out = np.empty((n_workers, n_rows, n_cols), dtype=np.float64)
    for w in prange(n_workers):
        for given in range(n_rows):
            for k in range(n_cols):
                acc = partial[0, w, given, k]
                for c in range(1, n_chunks):
                    acc += partial[c, w, given, k]
                out[w, given, k] = acc
    return out


@parallel_kernel
def emission_counts(item_offsets, worker, label, posterior, n_workers):
    """Expected per-worker counts ``sum_j [l_j = given] posterior[i_j, true]`` by a scatter.

    Parameters
    ----------
    item_offsets : int64 (n_items + 1,)
    worker, label : int32 (n_judgments,)
        Item-sorted judgments; negative labels are skipped.
    posterior : float64 (n_items, K)
    n_workers : int

    Returns
    -------
    counts : float64 (n_workers, K, K)
        Indexed ``[w, given, true]``, without pseudo-counts (see :func:`emission_from_counts`).
    """
    n_classes = posterior.shape[1]
    bounds = reduction_chunks(item_offsets, n_workers, n_classes)
    n_chunks = bounds.size - 1
    partial = np.zeros((n_chunks, n_workers, n_classes, n_classes), dtype=np.float64)
    for c in prange(n_chunks):
        table = partial[c].reshape(-1)
        for i in range(bounds[c], bounds[c + 1]):
            for j in range(item_offsets[i], item_offsets[i + 1]):
                given = label[j]
                if given >= 0:
                    base = (worker[j] * n_classes + given) * n_classes
                    for k in range(n_classes):
                        table[base + k] += posterior[i, k]
    return _combine_chunks(partial)


@kernel
def _finish_row(posterior, i, gold_class):
    """:func:`finish_item` on ``posterior[i]`` with K exponentials instead of 2K (same result to rounding)."""
    n_classes = posterior.shape[1]
    if gold_class >= 0:
        loglik = posterior[i, gold_class]
        for k in range(n_classes):
            posterior[i, k] = 0.0
        posterior[i, gold_class] = 1.0
        return loglik
    top = posterior[i, 0]
    for k in range(1, n_classes):
        if posterior[i, k] > top:
            top = posterior[i, k]
    if top == -np.inf:
        for k in range(n_classes):
            posterior[i, k] = 1.0 / n_classes
        return -np.inf
    total = 0.0
    for k in range(n_classes):
        e = np.exp(posterior[i, k] - top)
        posterior[i, k] = e
        total += e
    for k in range(n_classes):  # total lies in [1, K]: dividing is exact enough and cannot overflow
        posterior[i, k] = posterior[i, k] / total
    return top + np.log(total)


#: Items per block of the two-class path: the exponentials and logarithms of a block run in
#: loops without calls or branches that the compiler vectorises.
TWO_CLASS_BLOCK = 256
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.4426950408889634
#: Below this log-ratio the block path leaves the item to ``np.exp``/``np.log1p`` (subnormal range).
_FAST_FLOOR = -700.0
#: How many judgments ahead the E-step gathers prefetch worker table rows (a fixed distance:
#: large enough to cover a DRAM round trip at a few ns per judgment, small enough that the rows
#: are still in L1/L2 when their judgment comes; best of 16-1024 at 100k workers, K=2).
PREFETCH_DISTANCE = 256
#: Tables (float64 values per reduction chunk) up to this size stay in a core's L2 cache (1 MiB
#: here): the gathers skip the prefetch, whose index arithmetic would cost more than it saves.
PREFETCH_MIN_TABLE = 1 << 17


@kernel
def _two_class_math(sa, sb, bits, scale, e, hi, lo, loglik, n):
    """For ``t < n``: with ``d = min(a, b) - max(a, b)`` (clamped to [-700, 0]; 0 if both are
    ``-inf``): ``e = exp(d)``, ``hi = 1 / (1 + e)``, ``lo = e * hi`` and
    ``loglik = max(a, b) + log1p(e)``, to a few ulps, without library calls.

    ``exp`` by :func:`_exp_block`. ``log1p(e) = 2 atanh(s)`` with
    ``s = e / (2 + e)`` in [0, 1/3], a series in ``s**2`` to ``s**33``.
    """
    for t in range(n):  # lo holds d until the exponentials are done
        top = max(sa[t], sb[t])
        d = min(sa[t], sb[t]) - top
        d = 0.0 if top == -np.inf else d
        lo[t] = max(d, _FAST_FLOOR)
    _exp_block(lo, bits, scale, e, n)
    # the two divisions go through np.divide: a scalar '/' carries numba's zero-division check,
    # a branch that stops the loop from being vectorised (the divisors are >= 1 here)
    for t in range(n):
        x = e[t]
        lo[t] = 2.0 + x
        hi[t] = 1.0 + x
    np.divide(e, lo, loglik)
    np.divide(1.0, hi, hi)
    for t in range(n):
        s = loglik[t]
        s2 = s * s
        q = 1.0 / 33.0
        q = q * s2 + 1.0 / 31.0
        q = q * s2 + 1.0 / 29.0
        q = q * s2 + 1.0 / 27.0
        q = q * s2 + 1.0 / 25.0
        q = q * s2 + 1.0 / 23.0
        q = q * s2 + 1.0 / 21.0
        q = q * s2 + 1.0 / 19.0
        q = q * s2 + 1.0 / 17.0
        q = q * s2 + 1.0 / 15.0
        q = q * s2 + 1.0 / 13.0
        q = q * s2 + 1.0 / 11.0
        q = q * s2 + 1.0 / 9.0
        q = q * s2 + 1.0 / 7.0
        q = q * s2 + 1.0 / 5.0
        q = q * s2 + 1.0 / 3.0
        q = q * s2 + 1.0
        loglik[t] = max(sa[t], sb[t]) + 2.0 * s * q
        lo[t] = e[t] * hi[t]


@kernel
def _two_class_chunk(item_offsets, worker, label, log_prior, gold, first, last, table, posterior,
                     item_loglik):
    """The two-class E-step and count scatter of :func:`em_pass` over items ``[first, last)``.

    ``table`` interleaves per (worker, given) the 2 log-emissions and the 2 counts. Items go
    in blocks: gather the two log-joints, the vectorised :func:`_two_class_math`, then write
    the posteriors and scatter them; gold items, items without any possible class and log-ratios
    below -700 (subnormal probabilities) take the scalar formulas. The gather prefetches the
    table row of the judgment :data:`PREFETCH_DISTANCE` places ahead when the table outgrows L2
    (:data:`PREFETCH_MIN_TABLE`); the scatter of a block
    finds the rows its gather just read still in cache.
    """
    block = TWO_CLASS_BLOCK
    sa = np.empty(block, dtype=np.float64)
    sb = np.empty(block, dtype=np.float64)
    bits = np.empty(block, dtype=np.int64)
    scale = bits.view(np.float64)
    e = np.ones(block, dtype=np.float64)
    hi = np.ones(block, dtype=np.float64)
    lo = np.ones(block, dtype=np.float64)
    loglik = np.ones(block, dtype=np.float64)
    stop = item_offsets[last] if table.size > PREFETCH_MIN_TABLE else 0  # 0: no prefetch
    for begin in range(first, last, block):
        n = min(block, last - begin)
        for t in range(n):
            a = log_prior[0]
            b = log_prior[1]
            for j in range(item_offsets[begin + t], item_offsets[begin + t + 1]):
                ahead = j + PREFETCH_DISTANCE
                if ahead < stop:
                    _prefetch(table, (worker[ahead] * 2 + max(label[ahead], 0)) * 4)
                given = label[j]
                if given >= 0:
                    base = (worker[j] * 2 + given) * 4
                    a += table[base]
                    b += table[base + 1]
            sa[t] = a
            sb[t] = b
        _two_class_math(sa, sb, bits, scale, e, hi, lo, loglik, n)
        for t in range(n):
            i = begin + t
            a = sa[t]
            b = sb[t]
            truth = gold[i]
            if truth < 0 and min(a, b) - max(a, b) > _FAST_FLOOR:
                # the common case, without a branch on the data-dependent a >= b (a select)
                first = a >= b
                p0 = hi[t] if first else lo[t]
                p1 = lo[t] if first else hi[t]
                item_loglik[i] = loglik[t]
            elif truth >= 0:
                item_loglik[i] = a if truth == 0 else b
                p0 = 1.0 if truth == 0 else 0.0
                p1 = 1.0 - p0
            elif a == -np.inf and b == -np.inf:
                item_loglik[i] = -np.inf
                p0 = 0.5
                p1 = 0.5
            elif a >= b:
                if b - a > _FAST_FLOOR:
                    p0 = hi[t]
                    p1 = lo[t]
                    item_loglik[i] = loglik[t]
                else:
                    x = np.exp(b - a)  # may be subnormal: keep it, never 1 - p0
                    p0 = 1.0 / (1.0 + x)
                    p1 = x / (1.0 + x)
                    item_loglik[i] = a + np.log1p(x)
            else:
                if a - b > _FAST_FLOOR:
                    p0 = lo[t]
                    p1 = hi[t]
                    item_loglik[i] = loglik[t]
                else:
                    x = np.exp(a - b)
                    p0 = x / (1.0 + x)
                    p1 = 1.0 / (1.0 + x)
                    item_loglik[i] = b + np.log1p(x)
            posterior[i, 0] = p0
            posterior[i, 1] = p1
            for j in range(item_offsets[i], item_offsets[i + 1]):
                given = label[j]
                if given >= 0:
                    base = (worker[j] * 2 + given) * 4
                    table[base + 2] += p0
                    table[base + 3] += p1


@kernel
def _exp_block(d, bits, scale, out, n):
    """``out[t] = exp(d[t])`` for ``t < n`` and ``-700 <= d[t] <= 0``, to a few ulps, in loops the
    compiler vectorises (no library call): ``d = k ln2 + r``, a degree-13 Taylor polynomial for
    ``exp(r)`` and ``2**k`` from its exponent bits (``scale`` is ``bits`` viewed as float64)."""
    for t in range(n):
        m = np.int64(0.5 - d[t] * _INV_LN2)  # round(-d / ln2): non-negative, so truncation is floor
        kf = -np.float64(m)
        r = (d[t] - kf * _LN2_HI) - kf * _LN2_LO
        q = 1.0 / 6227020800.0
        q = q * r + 1.0 / 479001600.0
        q = q * r + 1.0 / 39916800.0
        q = q * r + 1.0 / 3628800.0
        q = q * r + 1.0 / 362880.0
        q = q * r + 1.0 / 40320.0
        q = q * r + 1.0 / 5040.0
        q = q * r + 1.0 / 720.0
        q = q * r + 1.0 / 120.0
        q = q * r + 1.0 / 24.0
        q = q * r + 1.0 / 6.0
        q = q * r + 0.5
        q = q * r + 1.0
        q = q * r + 1.0
        bits[t] = (1023 - m) << 52
        out[t] = q
    for t in range(n):
        out[t] = out[t] * scale[t]


@kernel
def _general_chunk(item_offsets, worker, label, log_prior, gold, first, last, table, posterior,
                   item_loglik, n_classes):
    """The E-step and count scatter of :func:`em_pass` over items ``[first, last)`` for any K.

    Same arithmetic as :func:`_finish_row`, with the K exponentials of a block of items in the
    vectorised :func:`_exp_block` (``np.exp`` only for log-ratios below -700) and one ``np.log`` per item.
    ``n_classes`` (= ``log_prior.size``) is an argument so that callers can pass a constant: numba
    then compiles a copy for that K whose loops over the classes are unrolled (see :func:`_chunk`).
    The gather prefetches both cache lines of the table row :data:`PREFETCH_DISTANCE` judgments ahead
    when the table outgrows L2 (:data:`PREFETCH_MIN_TABLE`).
    """
    width = 2 * n_classes
    stop = item_offsets[last] if table.size > PREFETCH_MIN_TABLE else 0  # 0: no prefetch
    block = TWO_CLASS_BLOCK
    d = np.zeros(block * n_classes, dtype=np.float64)
    bits = np.zeros(block * n_classes, dtype=np.int64)
    scale = bits.view(np.float64)
    e = np.ones(block * n_classes, dtype=np.float64)
    tops = np.empty(block, dtype=np.float64)
    totals = np.ones(block, dtype=np.float64)
    log_bits = np.zeros(block, dtype=np.int64)
    log_work = np.ones(block, dtype=np.float64)
    log_totals = np.zeros(block, dtype=np.float64)
    for begin in range(first, last, block):
        n = min(block, last - begin)
        for t in range(n):
            i = begin + t
            for k in range(n_classes):
                posterior[i, k] = log_prior[k]
            for j in range(item_offsets[i], item_offsets[i + 1]):
                ahead = j + PREFETCH_DISTANCE
                if ahead < stop:
                    row = (worker[ahead] * n_classes + max(label[ahead], 0)) * width
                    _prefetch(table, row)
                    _prefetch(table, row + width - 1)
                given = label[j]
                if given >= 0:
                    base = (worker[j] * n_classes + given) * width
                    for k in range(n_classes):
                        posterior[i, k] += table[base + k]
            top = posterior[i, 0]
            for k in range(1, n_classes):
                if posterior[i, k] > top:
                    top = posterior[i, k]
            tops[t] = top
            for k in range(n_classes):
                d[t * n_classes + k] = 0.0 if top == -np.inf else max(posterior[i, k] - top, _FAST_FLOOR)
        _exp_block(d, bits, scale, e, n * n_classes)
        for t in range(n):
            i = begin + t
            truth = gold[i]
            top = tops[t]
            totals[t] = 1.0  # log 1 = 0 exactly: the loop after the block adds nothing
            if truth >= 0:
                item_loglik[i] = posterior[i, truth]
                for k in range(n_classes):
                    posterior[i, k] = 0.0
                posterior[i, truth] = 1.0
            elif top == -np.inf:
                for k in range(n_classes):
                    posterior[i, k] = 1.0 / n_classes
                item_loglik[i] = -np.inf
            else:
                total = 0.0
                for k in range(n_classes):
                    x = posterior[i, k] - top
                    v = e[t * n_classes + k] if x > _FAST_FLOOR else np.exp(x)
                    posterior[i, k] = v
                    total += v
                for k in range(n_classes):  # total lies in [1, K]
                    posterior[i, k] = posterior[i, k] / total
                item_loglik[i] = top  # + log(total), vectorised after the block
                totals[t] = total
            for j in range(item_offsets[i], item_offsets[i + 1]):
                given = label[j]
                if given >= 0:
                    base = (worker[j] * n_classes + given) * width + n_classes
                    for k in range(n_classes):
                        table[base + k] += posterior[i, k]
        _log_block(totals, log_bits, log_work, log_totals, n)
        for t in range(n):
            item_loglik[begin + t] += log_totals[t]


_SQRT2 = 1.4142135623730951


@kernel
def _log_block(x, bits, work, out, n):
    """``out[t] = log(x[t])`` for ``t < n`` and positive normal ``x[t]``, to a few ulps, in loops
    the compiler vectorises (no library call; ``log(1) = 0`` exactly).

    ``x = 2**m f`` with ``f`` in [sqrt(1/2), sqrt(2)) from the exponent bits, then
    ``log f = 2 atanh(s)`` with ``s = (f - 1) / (f + 1)``, ``|s| <= 0.172``, a series in ``s**2``
    to ``s**23`` (truncation below 1e-19). ``bits`` and ``work`` are scratch of at least ``n``.
    """
    x_bits = x.view(np.int64)
    f = bits.view(np.float64)
    for t in range(n):
        b = x_bits[t]
        bits[t] = (b & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000  # the mantissa as a float in [1, 2)
        out[t] = np.float64((b >> 52) - 1023)  # the exponent, as a float
    for t in range(n):
        big = f[t] > _SQRT2
        m = out[t] + 1.0 if big else out[t]
        g = f[t] * 0.5 if big else f[t]
        out[t] = m
        work[t] = g + 1.0
        f[t] = g - 1.0
    np.divide(f, work, work)  # s; np.divide: no zero-division branch (the divisors are >= 1.7)
    for t in range(n):
        s = work[t]
        s2 = s * s
        q = 1.0 / 23.0
        q = q * s2 + 1.0 / 21.0
        q = q * s2 + 1.0 / 19.0
        q = q * s2 + 1.0 / 17.0
        q = q * s2 + 1.0 / 15.0
        q = q * s2 + 1.0 / 13.0
        q = q * s2 + 1.0 / 11.0
        q = q * s2 + 1.0 / 9.0
        q = q * s2 + 1.0 / 7.0
        q = q * s2 + 1.0 / 5.0
        q = q * s2 + 1.0 / 3.0
        q = q * s2 + 1.0
        m = out[t]
        out[t] = m * _LN2_HI + (2.0 * s * q + m * _LN2_LO)


@kernel
def _chunk(item_offsets, worker, label, log_prior, gold, first, last, table, posterior, item_loglik):
    """One reduction chunk of :func:`em_pass_into`: the two-class path, or the general one with
    K passed as a constant for K = 3, 4, 5 (their class loops unrolled: about 1.7x faster at K=5)."""
    n_classes = log_prior.size
    if n_classes == 2:
        _two_class_chunk(item_offsets, worker, label, log_prior, gold, first, last, table, posterior,
                         item_loglik)
    elif n_classes == 3:
        _general_chunk(item_offsets, worker, label, log_prior, gold, first, last, table, posterior,
                       item_loglik, 3)
    elif n_classes == 4:
        _general_chunk(item_offsets, worker, label, log_prior, gold, first, last, table, posterior,
                       item_loglik, 4)
    elif n_classes == 5:
        _general_chunk(item_offsets, worker, label, log_prior, gold, first, last, table, posterior,
                       item_loglik, 5)
    else:
        _general_chunk(item_offsets, worker, label, log_prior, gold, first, last, table, posterior,
                       item_loglik, n_classes)


@parallel_kernel
def em_pass_into(item_offsets, worker, label, log_emission, log_prior, gold, bounds, workspace,
                 out_posterior, out_item_loglik, out_counts):
    """:func:`em_pass` into arrays the caller owns (reused across EM iterations: no allocation,
    no page faults, and numpy's large arrays are backed by huge pages where the OS allows).

    Parameters
    ----------
    item_offsets, worker, label, log_emission, log_prior, gold
        As in :func:`em_pass` (read only).
    bounds : int64 (n_chunks + 1,)
        :func:`reduction_chunks` of ``(item_offsets, n_workers, K)``.
    workspace : float64 (n_chunks, n_workers * K, 2 * K)
        Scratch: overwritten.
    out_posterior : float64 (n_items, K)
    out_item_loglik : float64 (n_items,)
    out_counts : float64 (n_workers, K, K)
        Overwritten with :func:`em_pass`'s three results (the same values, bit for bit).
    """
    n_workers = log_emission.shape[0]
    n_classes = log_prior.size
    n_chunks = bounds.size - 1
    emission = log_emission.reshape(n_workers * n_classes, n_classes)
    for c in prange(n_chunks):
        local = workspace[c]
        for r in range(n_workers * n_classes):
            for k in range(n_classes):
                local[r, k] = emission[r, k]
                local[r, n_classes + k] = 0.0
        _chunk(item_offsets, worker, label, log_prior, gold, bounds[c], bounds[c + 1], local.reshape(-1),
               out_posterior, out_item_loglik)
    # the chunk tables are summed serially, in chunk order: a second parallel region costs a
    # thread wake-up and a barrier (milliseconds on a loaded machine) for a few adds per worker
    for w in range(n_workers):
        for given in range(n_classes):
            r = w * n_classes + given
            for k in range(n_classes):
                acc = workspace[0, r, n_classes + k]
                for c in range(1, n_chunks):
                    acc += workspace[c, r, n_classes + k]
                out_counts[w, given, k] = acc


@kernel
def em_pass(item_offsets, worker, label, log_emission, log_prior, gold):
    """One E-step plus the next M-step's expected counts, in a single pass.

    Computes what :func:`e_step` computes (equal to rounding) and, from the
    new posteriors, the counts :func:`emission_counts` would compute, so the
    next M-step needs no second pass over the judgments. Two classes take a
    blocked path (:func:`_two_class_chunk`): the exponential and logarithm of
    each item run in vectorised loops instead of library calls.

    Each reduction chunk works on its own table that interleaves, per (worker,
    given label), the K log-emissions it reads and the K counts it adds to: a
    judgment touches one cache line of worker state instead of two, which
    matters once the worker tables outgrow the L2 cache (~100k workers).
    Allocates its outputs and scratch, then runs :func:`em_pass_into`
    (which the EM loop calls directly with buffers it reuses).

    Returns
    -------
    posterior : float64 (n_items, K)
    item_loglik : float64 (n_items,)
    counts : float64 (n_workers, K, K)
        ``[w, given, true]`` expected counts under ``posterior`` (gold clamped).
    """
    n_items = item_offsets.size - 1
    n_workers = log_emission.shape[0]
    n_classes = log_prior.size
    bounds = reduction_chunks(item_offsets, n_workers, n_classes)
    workspace = np.empty((bounds.size - 1, n_workers * n_classes, 2 * n_classes), dtype=np.float64)
    posterior = np.empty((n_items, n_classes), dtype=np.float64)
    item_loglik = np.empty(n_items, dtype=np.float64)
    counts = np.empty((n_workers, n_classes, n_classes), dtype=np.float64)
    em_pass_into(item_offsets, worker, label, log_emission, log_prior, gold, bounds, workspace, posterior,
                 item_loglik, counts)
    return posterior, item_loglik, counts


@kernel
def emission_from_counts(counts, alpha, prior_index, prior_counts):
    """Log emission tables from expected counts plus pseudo-counts (the M-step's second half).

    Same result as :func:`m_step_emission` given the counts of :func:`emission_counts`.

    Parameters
    ----------
    counts : float64 (n_workers, K, K)
        ``[w, given, true]`` expected counts.
    alpha, prior_index, prior_counts
        As in :func:`m_step_emission`.

    Returns
    -------
    log_emission : float64 (n_workers, K, K)
    """
    n_workers, n_classes, _ = counts.shape
    log_emission = np.empty((n_workers, n_classes, n_classes), dtype=np.float64)
    for w in range(n_workers):  # serial: K*K logs per worker cost less than waking a thread
        table = log_emission[w]
        p = prior_index[w]
        for given in range(n_classes):
            for k in range(n_classes):
                value = alpha
                if p >= 0:
                    value += prior_counts[p, given, k]
                table[given, k] = value + counts[w, given, k]
        _log_normalise_columns(table)
    return log_emission


@parallel_kernel
def worker_accuracy_by_item(item_offsets, worker, label, posterior, n_workers):
    """:func:`worker_expected_accuracy` from the item-sorted judgments (no worker-sorted copy).

    Returns
    -------
    accuracy : float64 (n_workers,)
        Mean posterior probability of each worker's class answers; NaN for
        workers without class judgments.
    """
    bounds = reduction_chunks(item_offsets, n_workers, 1)
    n_chunks = bounds.size - 1
    partial = np.zeros((n_chunks, n_workers, 1, 2), dtype=np.float64)
    for c in prange(n_chunks):
        table = partial[c]
        for i in range(bounds[c], bounds[c + 1]):
            for j in range(item_offsets[i], item_offsets[i + 1]):
                given = label[j]
                if given < 0:
                    continue
                cell = table[worker[j], 0]
                cell[0] += posterior[i, given]
                cell[1] += 1.0
    totals = _combine_chunks(partial)
    accuracy = np.full(n_workers, np.nan, dtype=np.float64)
    for w in range(n_workers):
        if totals[w, 0, 1] > 0.0:
            accuracy[w] = totals[w, 0, 0] / totals[w, 0, 1]
    return accuracy
