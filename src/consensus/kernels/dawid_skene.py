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

import numpy as np

from consensus._jit import kernel, parallel_kernel, prange


@kernel
def finish_item(row, truth):
    """Turn one item's log-joint row into its posterior, in place; return the item log-likelihood.

    ``row`` (float64 (K,)) holds ``log p(labels, z = k)``. With a known
    ``truth`` (>= 0) the row becomes one-hot and ``log p(labels, z = truth)`` is
    returned; otherwise the row is normalised (log-sum-exp) and
    ``log p(labels)`` is returned. A row that is ``-inf`` everywhere (possible
    only without pseudo-counts) becomes uniform with log-likelihood ``-inf``.
    """
    n_classes = row.size
    if truth >= 0:
        loglik = row[truth]
        for k in range(n_classes):
            row[k] = 0.0
        row[truth] = 1.0
        return loglik
    top = row[0]
    for k in range(1, n_classes):
        if row[k] > top:
            top = row[k]
    if top == -np.inf:
        for k in range(n_classes):
            row[k] = 1.0 / n_classes
        return -np.inf
    total = 0.0
    for k in range(n_classes):
        total += np.exp(row[k] - top)
    log_norm = top + np.log(total)
    for k in range(n_classes):
        row[k] = np.exp(row[k] - log_norm)
    return log_norm


@parallel_kernel
def e_step(item_offsets, worker, label, log_emission, log_prior, gold):
    """Posterior over the true class of every item.

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

    Returns
    -------
    posterior : float64 (n_items, K)
        Rows sum to one.
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
        item_loglik[i] = finish_item(row, gold[i])
    return posterior, item_loglik


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
        for k in range(n_classes):
            total = 0.0
            for given in range(n_classes):
                total += counts[given, k]
            # log(c) - log(total), not log(c / total): fastmath 'arcp' turns a
            # division into a multiplication by 1/total, which overflows for subnormal totals
            log_total = np.log(total) if total > 0.0 else 0.0
            for given in range(n_classes):
                if total <= 0.0:
                    counts[given, k] = -np.log(n_classes)
                elif counts[given, k] > 0.0:
                    counts[given, k] = np.log(counts[given, k]) - log_total
                else:
                    counts[given, k] = -np.inf
    return log_emission


@kernel
def class_log_prior(posterior, beta):
    """Log class priors from posteriors plus pseudo-count ``beta``: float64 (K,)."""
    n_items, n_classes = posterior.shape
    totals = np.full(n_classes, beta, dtype=np.float64)
    for i in range(n_items):
        for k in range(n_classes):
            totals[k] += posterior[i, k]
    grand = totals.sum()
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


@parallel_kernel
def log_prior_penalty(log_emission, alpha, prior_index, prior_counts, log_prior, beta):
    """``sum(pseudo_count * log parameter)`` over emissions and class priors: float."""
    n_workers, n_classes, _ = log_emission.shape
    per_worker = np.zeros(n_workers, dtype=np.float64)
    for w in prange(n_workers):
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
