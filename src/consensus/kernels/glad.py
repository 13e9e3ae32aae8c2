"""GLAD kernels (Whitehill et al. 2009): item difficulty times annotator ability.

Worker ``w`` answers item ``i`` correctly with probability
``sigmoid(alpha[w] * exp(log_beta[i]))`` and otherwise picks one of the other
``K - 1`` classes uniformly. ``alpha`` is the ability (negative = adversarial),
``exp(log_beta)`` the inverse difficulty. Everything is on item-sorted
judgments; per-worker sums go through the worker CSR (``worker_order``).
"""

from __future__ import annotations

import numpy as np

from consensus._jit import kernel, parallel_kernel, prange
from consensus.kernels.dawid_skene import finish_item


@kernel
def _log_sigmoid(x):
    if x >= 0:
        return -np.log1p(np.exp(-x))
    return x - np.log1p(np.exp(x))


@parallel_kernel
def e_step(item_offsets, worker, label, alpha, log_beta, log_prior, gold, log_space=False):
    """Posterior over true classes (its logarithm with ``log_space``) and per-item log-likelihood
    (see DS ``e_step``).

    Returns
    -------
    posterior : float64 (n_items, K)
    item_loglik : float64 (n_items,)
    """
    n_items = item_offsets.size - 1
    n_classes = log_prior.size
    log_wrong_share = np.log(n_classes - 1.0) if n_classes > 1 else 0.0
    posterior = np.empty((n_items, n_classes), dtype=np.float64)
    item_loglik = np.empty(n_items, dtype=np.float64)
    for i in prange(n_items):
        row = posterior[i]
        for k in range(n_classes):
            row[k] = log_prior[k]
        beta = np.exp(log_beta[i])
        for j in range(item_offsets[i], item_offsets[i + 1]):
            given = label[j]
            if given < 0:
                continue
            x = alpha[worker[j]] * beta
            right = _log_sigmoid(x)
            wrong = _log_sigmoid(-x) - log_wrong_share
            for k in range(n_classes):
                row[k] += wrong
            row[given] += right - wrong
        item_loglik[i] = finish_item(row, gold[i], log_space)
    return posterior, item_loglik


@parallel_kernel
def expected_q(item_offsets, worker, label, posterior, alpha, log_beta, n_classes):
    """Expected complete-data log-likelihood of the answers, per item: float64 (n_items,).

    ``sum_j p_j log s_j + (1 - p_j) log((1 - s_j) / (K - 1))`` with
    ``p_j = posterior[i, label_j]`` and ``s_j = sigmoid(alpha_w beta_i)``.
    """
    n_items = item_offsets.size - 1
    log_wrong_share = np.log(n_classes - 1.0) if n_classes > 1 else 0.0
    per_item = np.zeros(n_items, dtype=np.float64)
    for i in prange(n_items):
        beta = np.exp(log_beta[i])
        acc = 0.0
        for j in range(item_offsets[i], item_offsets[i + 1]):
            given = label[j]
            if given < 0:
                continue
            x = alpha[worker[j]] * beta
            p = posterior[i, given]
            acc += p * _log_sigmoid(x) + (1.0 - p) * (_log_sigmoid(-x) - log_wrong_share)
        per_item[i] = acc
    return per_item


@parallel_kernel
def residuals(item_offsets, worker, label, posterior, alpha, log_beta):
    """``p_j - sigmoid(alpha_w beta_i)`` per judgment (0 for abstentions): float64 (n_judgments,)."""
    n_items = item_offsets.size - 1
    out = np.zeros(worker.size, dtype=np.float64)
    for i in prange(n_items):
        beta = np.exp(log_beta[i])
        for j in range(item_offsets[i], item_offsets[i + 1]):
            given = label[j]
            if given < 0:
                continue
            x = alpha[worker[j]] * beta
            out[j] = posterior[i, given] - 1.0 / (1.0 + np.exp(-x))
    return out


@parallel_kernel
def gradients(item_offsets, worker_offsets, worker_order, item, worker, residual, alpha, log_beta,
              alpha_mean, alpha_precision, log_beta_precision):
    """Gradients of Q plus Gaussian log-priors with respect to ``alpha`` and ``log_beta``.

    Returns
    -------
    grad_alpha : float64 (n_workers,)
    grad_log_beta : float64 (n_items,)
    """
    n_items = item_offsets.size - 1
    n_workers = worker_offsets.size - 1
    grad_log_beta = np.empty(n_items, dtype=np.float64)
    for i in prange(n_items):
        beta = np.exp(log_beta[i])
        acc = 0.0
        for j in range(item_offsets[i], item_offsets[i + 1]):
            acc += residual[j] * alpha[worker[j]] * beta
        grad_log_beta[i] = acc - log_beta_precision * log_beta[i]
    grad_alpha = np.empty(n_workers, dtype=np.float64)
    for w in prange(n_workers):
        acc = 0.0
        for t in range(worker_offsets[w], worker_offsets[w + 1]):
            j = worker_order[t]
            acc += residual[j] * np.exp(log_beta[item[j]])
        grad_alpha[w] = acc - alpha_precision * (alpha[w] - alpha_mean)
    return grad_alpha, grad_log_beta
