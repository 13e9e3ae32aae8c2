"""Redundancy kernels: when does an item's posterior reach its target, if labels keep coming?

The model (see :mod:`consensus.redundancy`): an item's true class ``t`` is
drawn from its current posterior ``post[i]``; given ``t``, future labels are
independent draws from the pool's confusion row ``draw[t]``; after each label
``l`` the log-posterior of every class ``k`` gains ``update[k, l]``; labelling
stops as soon as the top class's posterior reaches ``target[i]``. The kernels
return, per item, the probability that the target is reached within ``m``
more labels, for ``m = 0 .. n_steps``.

``stop_cdf_exact`` enumerates vote-count states (the posterior after any
sequence of labels depends only on how many of each class it holds), so it is
exact; ``stop_cdf_simulated`` draws sequences with a counter-based generator
keyed by ``(seed, item, run, step)``, so results do not depend on the thread
count. Both loop with ``prange`` over items and write only their own rows.
"""

from __future__ import annotations

import numpy as np

from consensus._jit import kernel, parallel_kernel, prange
from consensus.kernels.vote import _mix

#: Tolerance of the target comparison (a posterior within it of the target counts as reaching it).
REACH_TOL = 1e-9


def count_states(n_classes: int, n_steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every vote-count vector over ``n_classes`` classes with at most ``n_steps`` votes.

    Returns
    -------
    counts : int32 (n_states, n_classes)
        States ordered by their total (state 0 is all zeros).
    child : int64 (n_states, n_classes)
        Index of the state with one more vote for class ``l``; ``-1`` past ``n_steps``.
    level_offsets : int64 (n_steps + 2,)
        States with total ``m`` are ``level_offsets[m]:level_offsets[m + 1]``.
    """
    levels: list[list[tuple[int, ...]]] = [[(0,) * n_classes]]
    for _ in range(n_steps):
        seen: dict[tuple[int, ...], None] = {}
        for state in levels[-1]:
            for l in range(n_classes):
                seen[state[:l] + (state[l] + 1,) + state[l + 1:]] = None
        levels.append(sorted(seen))
    flat = [state for level in levels for state in level]
    index = {state: s for s, state in enumerate(flat)}
    counts = np.array(flat, dtype=np.int32).reshape(len(flat), n_classes)
    child = np.full((len(flat), n_classes), -1, dtype=np.int64)
    for s, state in enumerate(flat):
        for l in range(n_classes):
            child[s, l] = index.get(state[:l] + (state[l] + 1,) + state[l + 1:], -1)
    level_offsets = np.zeros(n_steps + 2, dtype=np.int64)
    np.cumsum([len(level) for level in levels], out=level_offsets[1:])
    return counts, child, level_offsets


def n_count_states(n_classes: int, n_steps: int) -> int:
    """Number of states :func:`count_states` would enumerate: C(n_steps + K, K)."""
    from math import comb

    return comb(n_steps + n_classes, n_classes)


@kernel
def _reached(log_post, target):
    """True when the largest normalised probability of ``log_post`` is >= ``target`` (within tolerance)."""
    best = -np.inf
    for k in range(log_post.size):
        if log_post[k] > best:
            best = log_post[k]
    if best == -np.inf:
        return False
    total = 0.0
    for k in range(log_post.size):
        total += np.exp(log_post[k] - best)
    return 1.0 / total >= target - REACH_TOL


@parallel_kernel
def stop_cdf_exact(post, target, draw, update, prior_scale, vote_scale, counts, child, level_offsets):
    """Exact probability of reaching the target within ``m`` more labels.

    Parameters
    ----------
    post : float64 (n_items, K)
        Current posterior per item (rows sum to one; zeros allowed).
    target : float64 (n_items,)
        Posterior the top class must reach, per item.
    draw : float64 (K, K)
        ``draw[t, l]``: probability that the next label is ``l`` when the truth is ``t``.
    update : float64 (K, K)
        ``update[k, l]``: finite log-evidence for class ``k`` of a label ``l``.
    prior_scale, vote_scale : float64 (n_items, n_steps + 1), > 0
        After ``m`` more labels with vote counts ``c``, the log-posterior of
        class ``k`` is ``prior_scale[i, m] * log(post[i, k]) + vote_scale[i, m]
        * sum_l c[l] * update[k, l]`` (all ones: plain Bayes updating; a
        per-item temperature ``T_i(m)`` growing with the labels is
        ``prior_scale = T_i(0) / T_i(m)``, ``vote_scale = 1 / T_i(m)``).
    counts, child, level_offsets
        The state table of :func:`count_states` for ``n_steps`` labels.

    Returns
    -------
    cdf : float64 (n_items, n_steps + 1)
        ``cdf[i, m]``: probability that the target is reached after at most ``m``
        more labels (non-decreasing in ``m``).
    """
    n_items, n_classes = post.shape
    n_states = counts.shape[0]
    n_steps = level_offsets.size - 2
    cdf = np.zeros((n_items, n_steps + 1), dtype=np.float64)
    for i in prange(n_items):
        stopped = np.zeros(n_states, dtype=np.bool_)
        log_post = np.empty(n_classes, dtype=np.float64)
        for m in range(n_steps + 1):
            a = prior_scale[i, m]
            b = vote_scale[i, m]
            for s in range(level_offsets[m], level_offsets[m + 1]):
                for k in range(n_classes):
                    if post[i, k] > 0.0:
                        votes = 0.0
                        for l in range(n_classes):
                            c = counts[s, l]
                            if c > 0:
                                votes += c * update[k, l]
                        log_post[k] = a * np.log(post[i, k]) + b * votes
                    else:
                        log_post[k] = -np.inf
                stopped[s] = _reached(log_post, target[i])
        mass = np.zeros(n_steps + 1, dtype=np.float64)
        reach = np.zeros(n_states, dtype=np.float64)
        for t in range(n_classes):
            weight = post[i, t]
            if weight <= 0.0:
                continue
            reach[:] = 0.0
            reach[0] = weight
            for m in range(n_steps + 1):
                for s in range(level_offsets[m], level_offsets[m + 1]):
                    p = reach[s]
                    if p == 0.0:
                        continue
                    if stopped[s]:
                        mass[m] += p
                    elif m < n_steps:
                        for l in range(n_classes):
                            reach[child[s, l]] += p * draw[t, l]
        total = 0.0
        for m in range(n_steps + 1):
            total += mass[m]
            cdf[i, m] = min(total, 1.0)
    return cdf


@kernel
def _uniform(seed, counter):
    """A uniform double in [0, 1) from the splitmix64 hash of ``(seed, counter)``."""
    return np.float64(_mix(seed, counter) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@kernel
def _sample(cumulative, u):
    """Smallest index whose cumulative probability exceeds ``u`` (the last index as a fallback)."""
    n = cumulative.size
    for k in range(n):
        if u < cumulative[k]:
            return k
    return n - 1


@parallel_kernel
def stop_cdf_simulated(post, target, draw, update, prior_scale, vote_scale, n_steps, n_runs, seed):
    """Monte-Carlo estimate of :func:`stop_cdf_exact` (same model, same layout).

    Run ``r`` of item ``i`` uses the uniforms numbered ``(i * n_runs + r) *
    (n_steps + 1) + step`` of the stream ``seed``, so the estimate depends only
    on the inputs and the seed.

    Parameters
    ----------
    post, target, draw, update, prior_scale, vote_scale
        As in :func:`stop_cdf_exact` (scales with at least ``n_steps + 1`` columns).
    n_steps : int
        Largest number of further labels simulated.
    n_runs : int
        Simulated label sequences per item (>= 1).
    seed : int
        Non-negative seed.

    Returns
    -------
    cdf : float64 (n_items, n_steps + 1)
    """
    n_items, n_classes = post.shape
    cdf = np.zeros((n_items, n_steps + 1), dtype=np.float64)
    draw_cum = np.empty((n_classes, n_classes), dtype=np.float64)
    for t in range(n_classes):
        acc = 0.0
        for l in range(n_classes):
            acc += draw[t, l]
            draw_cum[t, l] = acc
    for i in prange(n_items):
        post_cum = np.empty(n_classes, dtype=np.float64)
        start = np.empty(n_classes, dtype=np.float64)
        acc = 0.0
        for k in range(n_classes):
            acc += post[i, k]
            post_cum[k] = acc
            start[k] = np.log(post[i, k]) if post[i, k] > 0.0 else -np.inf
        hits = np.zeros(n_steps + 1, dtype=np.int64)
        log_post = np.empty(n_classes, dtype=np.float64)
        votes = np.empty(n_classes, dtype=np.float64)
        for k in range(n_classes):
            log_post[k] = prior_scale[i, 0] * start[k]
        if _reached(log_post, target[i]):
            hits[0] = n_runs
        else:
            for r in range(n_runs):
                base = (np.uint64(i) * np.uint64(n_runs) + np.uint64(r)) * np.uint64(n_steps + 1)
                t = _sample(post_cum, _uniform(seed, base))
                for k in range(n_classes):
                    votes[k] = 0.0
                for m in range(1, n_steps + 1):
                    l = _sample(draw_cum[t], _uniform(seed, base + np.uint64(m)))
                    for k in range(n_classes):
                        votes[k] += update[k, l]
                        log_post[k] = prior_scale[i, m] * start[k] + vote_scale[i, m] * votes[k]
                    if _reached(log_post, target[i]):
                        hits[m] += 1
                        break
        total = 0
        for m in range(n_steps + 1):
            total += hits[m]
            cdf[i, m] = total / n_runs
    return cdf


@parallel_kernel
def excess_disagreement(item_offsets, worker, label, confusion, post):
    """How surprising an item's disagreement is, given its annotators' reliability.

    For each class ``t``, ``X_t`` (the number of the item's class judgments equal
    to ``t`` if the truth were ``t``) is a sum of independent Bernoullis with
    probabilities ``confusion[w_j, t, t]`` (Poisson-binomial). The p-value is
    ``sum_t post[i, t] * P(X_t <= observed count of t)``: small when the item
    gets far fewer votes for its likely classes than its annotators' accuracy
    predicts.

    Parameters
    ----------
    item_offsets : int64 (n_items + 1,)
    worker, label : int32 (n_judgments,)
        Item-sorted; negative labels (abstentions) are skipped.
    confusion : float64 (n_workers, K, K)
        ``[w, true, given]``; finite.
    post : float64 (n_items, K)

    Returns
    -------
    p_value : float64 (n_items,)
        1.0 for items without class judgments.
    """
    n_items, n_classes = post.shape
    p_value = np.ones(n_items, dtype=np.float64)
    for i in prange(n_items):
        lo = item_offsets[i]
        hi = item_offsets[i + 1]
        n = 0
        for j in range(lo, hi):
            if label[j] >= 0:
                n += 1
        if n == 0:
            continue
        dist = np.empty(n + 1, dtype=np.float64)
        total = 0.0
        for t in range(n_classes):
            weight = post[i, t]
            if weight <= 0.0:
                continue
            observed = 0
            dist[:] = 0.0
            dist[0] = 1.0
            seen = 0
            for j in range(lo, hi):
                if label[j] < 0:
                    continue
                if label[j] == t:
                    observed += 1
                q = confusion[worker[j], t, t]
                seen += 1
                for x in range(seen, 0, -1):
                    dist[x] = dist[x] * (1.0 - q) + dist[x - 1] * q
                dist[0] *= 1.0 - q
            tail = 0.0
            for x in range(observed + 1):
                tail += dist[x]
            total += weight * min(tail, 1.0)
        p_value[i] = min(total, 1.0)
    return p_value
