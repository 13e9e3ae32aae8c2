"""Plain-Python references for the redundancy kernels (``consensus.kernels.redundancy``).

Written for obviousness: the kernels enumerate vote-count states and run a
Poisson-binomial recursion; the twins here take the long way round and
enumerate every label *sequence* (K ** n_steps of them) and every subset of
judgments (2 ** n), with :mod:`math` and Python lists, nothing from ``consensus``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import strategies as st

REACH_TOL = 1e-9  # must equal consensus.kernels.redundancy.REACH_TOL


def _reached(log_post, target):
    finite = [v for v in log_post if v != -math.inf]
    if not finite:
        return False
    top = max(finite)
    total = sum(math.exp(v - top) for v in finite)
    return 1.0 / total >= target - REACH_TOL


def naive_stop_cdf(post, target, draw, update, n_steps, prior_scale=None, vote_scale=None, min_steps=0):
    """Twin of ``stop_cdf_exact`` / ``stop_cdf_simulated``: (n_items, n_steps + 1) cdf of the stopping time.

    For each item, truth ``t`` and full-length label sequence, walk the sequence,
    summing the labels' evidence, and note the first step ``m`` at which
    ``prior_scale[i][m] * log post + vote_scale[i][m] * evidence`` reaches the
    target (scales default to ones); the sequence's probability given ``t`` is
    the product of ``draw``. Stopping before ``min_steps`` labels is not allowed
    (a new item gets at least one label: ``min_steps=1``).
    """
    n_items, n_classes = len(post), len(post[0])
    if prior_scale is None:
        prior_scale = [[1.0] * (n_steps + 1) for _ in range(n_items)]
    if vote_scale is None:
        vote_scale = [[1.0] * (n_steps + 1) for _ in range(n_items)]
    cdf = np.zeros((n_items, n_steps + 1))
    for i in range(n_items):
        mass = [0.0] * (n_steps + 1)
        for t in range(n_classes):
            if post[i][t] <= 0:
                continue
            for seq in itertools.product(range(n_classes), repeat=n_steps):
                prob = post[i][t]
                for l in seq:
                    prob *= draw[t][l]
                base = [math.log(p) if p > 0 else -math.inf for p in post[i]]
                evidence = [0.0] * n_classes

                def log_post(m):
                    return [prior_scale[i][m] * b + vote_scale[i][m] * e if b != -math.inf else b
                            for b, e in zip(base, evidence)]

                stop = 0 if min_steps == 0 and _reached(log_post(0), target[i]) else None
                for m, l in enumerate(seq, start=1):
                    if stop is not None:
                        break
                    evidence = [e + update[k][l] for k, e in enumerate(evidence)]
                    if m >= min_steps and _reached(log_post(m), target[i]):
                        stop = m
                if stop is not None:
                    mass[stop] += prob
        running = 0.0
        for m in range(n_steps + 1):
            running += mass[m]
            cdf[i, m] = min(running, 1.0)
    return cdf


def naive_excess_disagreement(item_offsets, worker, label, confusion, post):
    """Twin of ``excess_disagreement``: sum_t post[t] * P(#judgments equal to t <= observed | truth t).

    The Poisson-binomial probability is summed over every subset of the item's
    class judgments (the subset that says ``t``).
    """
    n_items, n_classes = len(post), len(post[0])
    out = np.ones(n_items)
    for i in range(n_items):
        js = [j for j in range(int(item_offsets[i]), int(item_offsets[i + 1])) if label[j] >= 0]
        if not js:
            continue
        total = 0.0
        for t in range(n_classes):
            if post[i][t] <= 0:
                continue
            observed = sum(1 for j in js if label[j] == t)
            tail = 0.0
            for says_t in itertools.product((False, True), repeat=len(js)):
                if sum(says_t) > observed:
                    continue
                prob = 1.0
                for j, yes in zip(js, says_t):
                    q = confusion[worker[j]][t][t]
                    prob *= q if yes else 1.0 - q
                tail += prob
            total += post[i][t] * min(tail, 1.0)
        out[i] = min(total, 1.0)
    return out


def naive_pool_confusion(confusion, weights, smoothing=1e-3):
    """Work-weighted mean of the defined confusion rows, uniform if none, then smoothed."""
    n_workers, n_classes = len(confusion), len(confusion[0])
    pool = []
    for t in range(n_classes):
        num = [0.0] * n_classes
        den = 0.0
        for w in range(n_workers):
            row = confusion[w][t]
            if weights[w] > 0 and all(math.isfinite(x) for x in row):
                num = [a + weights[w] * x for a, x in zip(num, row)]
                den += weights[w]
        row = [x / den for x in num] if den > 0 else [1.0 / n_classes] * n_classes
        s = sum(row)
        pool.append([(1 - smoothing) * x / s + smoothing / n_classes for x in row])
    return np.array(pool)


# ---------------------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------------------
def _simplex(draw, n, low=0.0):
    raw = draw(st.lists(st.floats(low, 1.0, allow_nan=False, allow_infinity=False), min_size=n, max_size=n))
    raw = [x + 1e-3 for x in raw]
    s = sum(raw)
    return [x / s for x in raw]


@st.composite
def stop_problems(draw, max_classes=3, max_steps=4, max_items=3):
    """(post, target, draw, update, n_steps) with rows of ``post`` possibly holding zeros."""
    k = draw(st.integers(2, max_classes))
    n_items = draw(st.integers(1, max_items))
    n_steps = draw(st.integers(0, max_steps))
    post = []
    for _ in range(n_items):
        row = _simplex(draw, k)
        if draw(st.booleans()) and k > 2:
            row[draw(st.integers(0, k - 1))] = 0.0
            s = sum(row)
            row = [x / s for x in row]
        post.append(row)
    confusion = [_simplex(draw, k) for _ in range(k)]
    accuracy = draw(st.floats(0.3, 0.99))
    confusion = [[accuracy * (t == l) + (1 - accuracy) * confusion[t][l] for l in range(k)] for t in range(k)]
    temperature = draw(st.floats(1.0, 4.0))
    update = [[math.log(confusion[t][l]) / temperature for l in range(k)] for t in range(k)]
    target = [draw(st.floats(0.5, 0.999)) for _ in range(n_items)]
    return (np.array(post), np.array(target), np.array(confusion), np.array(update), n_steps)


@st.composite
def scales(draw, n_items, n_steps):
    """(prior_scale, vote_scale) of a per-item temperature ``T0 + rho * m`` (or arbitrary positive scales)."""
    if draw(st.booleans()):
        t0 = np.array([draw(st.floats(1.0, 5.0)) for _ in range(n_items)])
        rho = draw(st.floats(0.0, 1.0))
        later = t0[:, None] + rho * np.arange(n_steps + 1)[None, :]
        return t0[:, None] / later, 1.0 / later
    shape = (n_items, n_steps + 1)
    flat = draw(st.lists(st.floats(0.05, 3.0), min_size=2 * shape[0] * shape[1], max_size=2 * shape[0] * shape[1]))
    arr = np.array(flat).reshape((2,) + shape)
    return arr[0], arr[1]


def naive_loo_design_loglik(item_offsets, worker, label, log_emission, log_prior, rho, items):
    """Twin of ``loo_design_loglik``: for each answer, the other answers' posterior at T(n - 1) predicts it."""
    k_classes = len(log_prior)
    out = []
    for i in items:
        js = [j for j in range(int(item_offsets[i]), int(item_offsets[i + 1])) if label[j] >= 0]
        temperature = 1.0 + rho * max(len(js) - 2, 0)
        acc = 0.0
        for j in js:
            scores = []
            for k in range(k_classes):
                s = log_prior[k] + sum(log_emission[worker[o]][label[o]][k] for o in js if o != j)
                scores.append(s / temperature)
            weights = [math.exp(s - max(scores)) for s in scores]
            q = [w / sum(weights) for w in weights]
            acc += math.log(sum(q[k] * math.exp(log_emission[worker[j]][label[j]][k]) for k in range(k_classes)))
        out.append(acc)
    return np.array(out)


@st.composite
def disagreement_problems(draw, max_classes=3, max_items=4, max_per_item=6, max_workers=4):
    k = draw(st.integers(2, max_classes))
    n_workers = draw(st.integers(1, max_workers))
    n_items = draw(st.integers(1, max_items))
    worker, label, offsets = [], [], [0]
    for _ in range(n_items):
        n = draw(st.integers(0, max_per_item))
        for _ in range(n):
            worker.append(draw(st.integers(0, n_workers - 1)))
            label.append(draw(st.integers(-1, k - 1)))
        offsets.append(len(worker))
    confusion = np.array([[_simplex(draw, k) for _ in range(k)] for _ in range(n_workers)])
    post = np.array([_simplex(draw, k) for _ in range(n_items)])
    return (np.array(offsets, dtype=np.int64), np.array(worker, dtype=np.int32),
            np.array(label, dtype=np.int32), confusion, post)
