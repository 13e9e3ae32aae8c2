"""Plain-Python references for the one-coin, MACE, GLAD, weighted-vote and reliability
kernels, whole naive fits of OneCoinDawidSkene, MACE and Wawa, and shared test helpers.

Written for obviousness, not speed: Python loops and :mod:`math`, no numba, and nothing
imported from ``consensus`` (so a bug there cannot leak into the reference).

* ``naive_<kernel>`` functions take the same arguments as the kernel of the same name and
  return the same layout (``log_emission[w, given, true]``, counts ``[w, true, given]``).
* ``naive_one_coin``, ``naive_mace`` and ``naive_wawa`` are whole fits written from the
  model descriptions (judgments grouped per item in dicts, textbook ``[w][true][given]``
  tables), with the same initialisation, priors and stopping rule as ``models/em.py``:
  initial posterior = majority-vote shares (uniform for an item without class answers,
  gold one-hot); each iteration = M-step (worker parameters, then class priors
  ``(beta + sum_i q_i) / total`` from the same posterior), E-step (gold items clamped),
  objective = data log-likelihood + log-prior terms; stop after ``max_iter`` iterations
  or once an iteration gains ``<= tol * |previous objective|``.
* The last section has helpers shared by the test modules.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numba
import numpy as np
from hypothesis import strategies as st

from naive import _log_space_rows, shown_posterior

NEG_INF = -math.inf


def _log(x: float) -> float:
    return math.log(x) if x > 0.0 else NEG_INF


def _log_sigmoid(x: float) -> float:
    """``log(1 / (1 + exp(-x)))`` = ``-logaddexp(0, -x)``."""
    return -float(np.logaddexp(0.0, -x))


def _sigmoid(x: float) -> float:
    return math.exp(_log_sigmoid(x))


# ---------------------------------------------------------------------------------------
# one-coin kernels
# ---------------------------------------------------------------------------------------
def naive_emission_from_accuracy(accuracy, n_classes):
    """Twin of ``one_coin.emission_from_accuracy``: ``[w, given, true]``."""
    n_workers = len(accuracy)
    out = np.zeros((n_workers, n_classes, n_classes))
    for w in range(n_workers):
        p = float(accuracy[w])
        for given in range(n_classes):
            for true in range(n_classes):
                if given == true:
                    out[w, given, true] = math.log(p)
                else:  # the other K - 1 classes share 1 - p evenly
                    out[w, given, true] = _log((1.0 - p) / (n_classes - 1))
    return out


def naive_m_step_accuracy(worker_offsets, item_by_worker, label_by_worker, posterior, a, b):
    """Twin of ``one_coin.m_step_accuracy``: ``(E[correct] + a) / (n + a + b)``."""
    n_workers = len(worker_offsets) - 1
    out = np.zeros(n_workers)
    for w in range(n_workers):
        correct, n = 0.0, 0
        for j in range(int(worker_offsets[w]), int(worker_offsets[w + 1])):
            given = int(label_by_worker[j])
            if given >= 0:
                correct += float(posterior[int(item_by_worker[j]), given])
                n += 1
        out[w] = (correct + a) / (n + a + b)
    return out


# ---------------------------------------------------------------------------------------
# MACE kernels
# ---------------------------------------------------------------------------------------
def _mace_likelihood(theta: float, xi_given: float, given: int, true: int) -> float:
    """P(given | true) = (1 - theta) [given == true] + theta xi[given]."""
    return (1.0 - theta) * (1.0 if given == true else 0.0) + theta * xi_given


def naive_emission_from_spamming(theta, xi):
    """Twin of ``mace.emission_from_spamming``: ``[w, given, true]``."""
    n_workers, n_classes = np.shape(xi)
    out = np.zeros((n_workers, n_classes, n_classes))
    for w in range(n_workers):
        for given in range(n_classes):
            for true in range(n_classes):
                out[w, given, true] = math.log(
                    _mace_likelihood(float(theta[w]), float(xi[w, given]), given, true))
    return out


def naive_m_step_spamming(worker_offsets, item_by_worker, label_by_worker, posterior, theta, xi,
                          spam_a, spam_b, xi_pseudo):
    """Twin of ``mace.m_step_spamming``: MAP (theta, xi) from expected spam indicators.

    P(spam | answer l, truth t) = theta xi_l / P(l | t); averaged over the item posterior.
    theta ~ Beta(spam_a + 1, spam_b + 1), xi ~ Dirichlet(xi_pseudo + 1).
    """
    n_workers, n_classes = np.shape(xi)
    theta_new = np.zeros(n_workers)
    xi_new = np.zeros((n_workers, n_classes))
    for w in range(n_workers):
        th = float(theta[w])
        counts = [float(xi_pseudo)] * n_classes
        spammed, n = 0.0, 0
        for j in range(int(worker_offsets[w]), int(worker_offsets[w + 1])):
            given = int(label_by_worker[j])
            if given < 0:
                continue
            i = int(item_by_worker[j])
            spam = th * float(xi[w, given])
            e = 0.0
            for true in range(n_classes):
                e += float(posterior[i, true]) * spam / _mace_likelihood(th, float(xi[w, given]),
                                                                         given, true)
            spammed += e
            counts[given] += e
            n += 1
        theta_new[w] = (spammed + spam_a) / (n + spam_a + spam_b)
        total = sum(counts)
        for k in range(n_classes):
            xi_new[w, k] = counts[k] / total
    return theta_new, xi_new


# ---------------------------------------------------------------------------------------
# GLAD kernels
# ---------------------------------------------------------------------------------------
def _glad_log_p(alpha_w: float, log_beta_i: float, given: int, true: int, n_classes: int) -> float:
    """log P(given | true) = log s if right, log((1 - s) / (K - 1)) if wrong; s = sigmoid(a b)."""
    x = alpha_w * math.exp(log_beta_i)
    if given == true:
        return _log_sigmoid(x)
    return _log_sigmoid(-x) - math.log(n_classes - 1)


def naive_glad_e_step(item_offsets, worker, label, alpha, log_beta, log_prior, gold, log_space=False):
    """Twin of ``glad.e_step``: (posterior (n_items, K), item_loglik (n_items,))."""
    n_items = len(item_offsets) - 1
    n_classes = len(log_prior)
    posterior = np.zeros((n_items, n_classes))
    loglik = np.zeros(n_items)
    joints = []
    for i in range(n_items):
        joint = []
        for t in range(n_classes):
            value = float(log_prior[t])
            for j in range(int(item_offsets[i]), int(item_offsets[i + 1])):
                given = int(label[j])
                if given >= 0:
                    value += _glad_log_p(float(alpha[int(worker[j])]), float(log_beta[i]),
                                         given, t, n_classes)
            joint.append(value)
        joints.append(joint)
        if int(gold[i]) >= 0:
            posterior[i, int(gold[i])] = 1.0
            loglik[i] = joint[int(gold[i])]
            continue
        top = max(joint)
        weights = [math.exp(v - top) for v in joint]
        total = math.fsum(weights)
        loglik[i] = top + math.log(total)
        for t in range(n_classes):
            posterior[i, t] = weights[t] / total
    if log_space:
        return _log_space_rows(posterior, loglik, joints, gold), loglik
    return posterior, loglik


def naive_expected_q(item_offsets, worker, label, posterior, alpha, log_beta, n_classes):
    """Twin of ``glad.expected_q``: ``sum_j p log s + (1 - p) log((1 - s)/(K - 1))`` per item.

    (For K = 1 the wrong-answer share is taken as 1, as in the kernel; p is then 1.)
    """
    n_items = len(item_offsets) - 1
    out = np.zeros(n_items)
    log_share = math.log(n_classes - 1) if n_classes > 1 else 0.0
    for i in range(n_items):
        acc = 0.0
        for j in range(int(item_offsets[i]), int(item_offsets[i + 1])):
            given = int(label[j])
            if given < 0:
                continue
            x = float(alpha[int(worker[j])]) * math.exp(float(log_beta[i]))
            p = float(posterior[i, given])
            acc += p * _log_sigmoid(x) + (1.0 - p) * (_log_sigmoid(-x) - log_share)
        out[i] = acc
    return out


def naive_residuals(item_offsets, worker, label, posterior, alpha, log_beta):
    """Twin of ``glad.residuals``: ``posterior[i, l_j] - sigmoid(alpha_w beta_i)``, 0 for n/a."""
    n_items = len(item_offsets) - 1
    out = np.zeros(len(worker))
    for i in range(n_items):
        for j in range(int(item_offsets[i]), int(item_offsets[i + 1])):
            given = int(label[j])
            if given >= 0:
                x = float(alpha[int(worker[j])]) * math.exp(float(log_beta[i]))
                out[j] = float(posterior[i, given]) - _sigmoid(x)
    return out


def naive_gradients(item_offsets, worker_offsets, worker_order, item, worker, residual, alpha,
                    log_beta, alpha_mean, alpha_precision, log_beta_precision):
    """Twin of ``glad.gradients``: d/d alpha and d/d log_beta of Q + Gaussian log-priors.

    dQ/d alpha_w = sum_j r_j beta_i, dQ/d log_beta_i = sum_j r_j alpha_w beta_i (chain rule
    through x = alpha beta, dQ/dx = p - s = r); priors add -lambda (alpha - mu) and
    -lambda_b log_beta. Walks the judgments once in item order (``worker_offsets`` and
    ``worker_order`` are accepted for the same signature but not needed).
    """
    n_items = len(item_offsets) - 1
    n_workers = len(worker_offsets) - 1
    g_alpha = [0.0] * n_workers
    g_log_beta = [0.0] * n_items
    for j in range(len(item)):
        i, w = int(item[j]), int(worker[j])
        beta = math.exp(float(log_beta[i]))
        g_alpha[w] += float(residual[j]) * beta
        g_log_beta[i] += float(residual[j]) * float(alpha[w]) * beta
    for w in range(n_workers):
        g_alpha[w] -= alpha_precision * (float(alpha[w]) - alpha_mean)
    for i in range(n_items):
        g_log_beta[i] -= log_beta_precision * float(log_beta[i])
    return np.array(g_alpha), np.array(g_log_beta)


def glad_log_prior_density(alpha, log_beta, alpha_mean, alpha_precision, log_beta_precision):
    """Gaussian log-priors up to a constant: -lam/2 (alpha - mu)^2 - lam_b/2 log_beta^2."""
    return (-0.5 * alpha_precision * sum((float(a) - alpha_mean) ** 2 for a in alpha)
            - 0.5 * log_beta_precision * sum(float(b) ** 2 for b in log_beta))


# ---------------------------------------------------------------------------------------
# vote and reliability kernels
# ---------------------------------------------------------------------------------------
def naive_weighted_vote_counts(item_offsets, worker, label, worker_weight, n_classes):
    """Twin of ``vote.weighted_vote_counts``: sum of weights per item and class."""
    n_items = len(item_offsets) - 1
    out = np.zeros((n_items, n_classes))
    for i in range(n_items):
        for j in range(int(item_offsets[i]), int(item_offsets[i + 1])):
            if int(label[j]) >= 0:
                out[i, int(label[j])] += float(worker_weight[int(worker[j])])
    return out


def naive_expected_confusion_counts(worker_offsets, item_by_worker, label_by_worker, posterior):
    """Twin of ``reliability.expected_confusion_counts``: ``[w, true, given]`` expected counts."""
    n_workers = len(worker_offsets) - 1
    n_classes = np.shape(posterior)[1]
    out = np.zeros((n_workers, n_classes, n_classes))
    for w in range(n_workers):
        for j in range(int(worker_offsets[w]), int(worker_offsets[w + 1])):
            given = int(label_by_worker[j])
            if given < 0:
                continue
            for true in range(n_classes):
                out[w, true, given] += float(posterior[int(item_by_worker[j]), true])
    return out


def naive_spammer_score(confusion):
    """Raykar & Yu (2012): 1 - sum_{c<c'} sum_k (A[c,k] - A[c',k])^2 / (K' (K' - 1)) over the K' rows
    without NaN (NaN when K' < 2; 0 when K < 2)."""
    n_workers, n_classes, _ = np.shape(confusion)
    out = np.zeros(n_workers)
    for w in range(n_workers):
        if n_classes < 2:
            continue
        rows = [c for c in range(n_classes) if all(math.isfinite(float(v)) for v in confusion[w, c])]
        if len(rows) < 2:
            out[w] = math.nan
            continue
        d = 0.0
        for i, c in enumerate(rows):
            for c2 in rows[i + 1:]:
                for k in range(n_classes):
                    d += (float(confusion[w, c, k]) - float(confusion[w, c2, k])) ** 2
        out[w] = 1.0 - d / (len(rows) * (len(rows) - 1))
    return out


def naive_loo_nll(item, worker, label, confusion, priors, temperature):
    """Negative leave-one-judgment-out predictive log-likelihood (the "loo" calibration
    objective): for every class answer, the truth posterior from the item's other answers,
    tempered by ``temperature``, predicts it through the worker's ``confusion[w, true, given]``."""
    answers = _grouped(item, worker, label, 0)
    K = len(priors)
    total = 0.0
    for pairs in answers.values():
        for held in range(len(pairs)):
            logits = []
            for t in range(K):
                v = _log(float(priors[t]))
                for other, (w, l) in enumerate(pairs):
                    if other != held:
                        v += _log(float(confusion[w, t, l]))
                logits.append(v / temperature)
            top = max(logits)
            weights = [math.exp(v - top) for v in logits]
            w, l = pairs[held]
            total += math.log(sum(weights[t] / math.fsum(weights) * float(confusion[w, t, l])
                                  for t in range(K)))
    return -total


# ---------------------------------------------------------------------------------------
# whole fits
# ---------------------------------------------------------------------------------------
def _grouped(item, worker, label, n_items):
    """item -> [(worker, given)] of class answers, in (item, worker, label) order."""
    rows = sorted(zip((int(i) for i in item), (int(w) for w in worker), (int(l) for l in label)))
    answers: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for i, w, l in rows:
        if l >= 0:
            answers[i].append((w, l))
    return answers


def _initial_posterior(answers, n_items, K, gold):
    T = []
    for i in range(n_items):
        votes = Counter(l for _, l in answers.get(i, []))
        n = sum(votes.values())
        T.append([votes[k] / n for k in range(K)] if n else [1.0 / K] * K)
        if gold[i] >= 0:
            T[i] = [1.0 if k == gold[i] else 0.0 for k in range(K)]
    return T


def _log_class_prior(T, K, beta):
    totals = [float(beta) + sum(row[k] for row in T) for k in range(K)]
    grand = sum(totals)
    return [_log(t) - math.log(grand) for t in totals]


def _e_step(answers, n_items, K, log_pi, log_p, gold):
    """log_p(w, given, true); returns (posterior rows, per-item log-likelihood)."""
    T, loglik = [], []
    for i in range(n_items):
        joint = list(log_pi)
        for w, l in answers.get(i, []):
            for t in range(K):
                joint[t] += log_p(w, l, t)
        if gold[i] >= 0:
            loglik.append(joint[gold[i]])
            T.append([1.0 if k == gold[i] else 0.0 for k in range(K)])
            continue
        top = max(joint)
        if top == NEG_INF:
            loglik.append(NEG_INF)
            T.append([1.0 / K] * K)
            continue
        weights = [math.exp(v - top) for v in joint]
        z = math.fsum(weights)
        loglik.append(top + math.log(z))
        T.append([v / z for v in weights])
    return T, loglik


def _expected_accuracy(answers, T, n_workers):
    per_worker: dict[int, list[float]] = defaultdict(list)
    for i, pairs in answers.items():
        for w, l in pairs:
            per_worker[w].append(T[i][l])
    out = np.full(n_workers, np.nan)
    for w, values in per_worker.items():
        out[w] = sum(values) / len(values)
    return out


def _em(answers, n_items, n_workers, K, gold, beta, max_iter, tol, m_step, log_p, penalty):
    """The loop of models/em.py written out; ``m_step(T)`` updates the worker parameters."""
    T = _initial_posterior(answers, n_items, K, gold)
    history, converged = [], False
    log_pi = None
    for _ in range(max_iter):
        m_step(T)
        log_pi = _log_class_prior(T, K, beta)
        T, loglik = _e_step(answers, n_items, K, log_pi, log_p, gold)
        objective = math.fsum(loglik) + penalty()
        if beta > 0.0:
            objective += beta * sum(log_pi)
        history.append(objective)
        if len(history) > 1 and history[-1] - history[-2] <= tol * abs(history[-2]):
            converged = True
            break
    unclamped, _ = _e_step(answers, n_items, K, log_pi, log_p, [-1] * n_items)
    return T, unclamped, log_pi, history, converged


def _confusion(n_workers, K, log_p):
    return np.array([[[math.exp(log_p(w, l, t)) for l in range(K)] for t in range(K)]
                     for w in range(n_workers)]).reshape(n_workers, K, K)


def _pack(T, unclamped, log_pi, history, converged, answers, n_workers, K, confusion, gold):
    return {
        "posterior": shown_posterior(np.array(T, dtype=np.float64).reshape(len(T), K), answers, gold),
        "unclamped": np.array(unclamped, dtype=np.float64).reshape(len(T), K),
        "priors": np.exp(np.array(log_pi)),
        "history": history,
        "n_iter": len(history),
        "converged": converged,
        "confusion": confusion,
        "worker_accuracy": _expected_accuracy(answers, T, n_workers),
    }


def naive_one_coin(item, worker, label, n_items, n_workers, K, gold=None, prior_accuracy=0.7,
                   prior_strength=4.0, beta=1.0, max_iter=100, tol=1e-7):
    """One-coin Dawid-Skene by MAP-EM.

    Worker w answers the truth with probability p_w, each other class with (1 - p_w)/(K - 1).
    Beta(a + 1, b + 1) prior on p_w with a = strength * prior_accuracy + 1e-6,
    b = strength * (1 - prior_accuracy) + 1e-6 (the documented floor), so the M-step is
    p_w = (E[correct_w] + a) / (n_w + a + b) and the penalty a log p + b log(1 - p).

    Returns the dict of :func:`_pack` plus ``accuracy`` (n_workers,).
    """
    gold = [-1] * n_items if gold is None else [int(g) for g in gold]
    answers = _grouped(item, worker, label, n_items)
    a = prior_strength * prior_accuracy + 1e-6
    b = prior_strength * (1.0 - prior_accuracy) + 1e-6
    p = [0.5] * n_workers

    def m_step(T):
        correct = [0.0] * n_workers
        n = [0] * n_workers
        for i in sorted(answers):
            for w, l in answers[i]:
                correct[w] += T[i][l]
                n[w] += 1
        for w in range(n_workers):
            p[w] = (correct[w] + a) / (n[w] + a + b)

    def log_p(w, given, true):
        return math.log(p[w]) if given == true else _log((1.0 - p[w]) / (K - 1))

    def penalty():
        return sum(a * math.log(x) + b * math.log(1.0 - x) for x in p)

    T, unclamped, log_pi, history, converged = _em(answers, n_items, n_workers, K, gold, beta,
                                                   max_iter, tol, m_step, log_p, penalty)
    out = _pack(T, unclamped, log_pi, history, converged, answers, n_workers, K, gold=gold, confusion=
                _confusion(n_workers, K, log_p))
    out["accuracy"] = np.array(p)
    return out


def naive_mace(item, worker, label, n_items, n_workers, K, gold=None, prior_spam=0.3,
               prior_strength=4.0, spam_smoothing=0.5, beta=1.0, max_iter=100, tol=1e-7):
    """MACE by MAP-EM (Hovy et al. 2013).

    P(given | true) = (1 - theta_w)[given == true] + theta_w xi_w[given]. Start: theta = 0.5,
    xi uniform. M-step from the expected spam indicators under the current parameters:
    theta = (E[spams] + a) / (n + a + b) with a = strength * prior_spam + 1e-6,
    b = strength * (1 - prior_spam) + 1e-6; xi = (smoothing + E[spams answering l])
    normalised. Penalty: a log theta + b log(1 - theta) + smoothing * sum log xi.

    Returns the dict of :func:`_pack` plus ``spamming`` and ``spam_distribution``.
    """
    gold = [-1] * n_items if gold is None else [int(g) for g in gold]
    answers = _grouped(item, worker, label, n_items)
    a = prior_strength * prior_spam + 1e-6
    b = prior_strength * (1.0 - prior_spam) + 1e-6
    theta = [0.5] * n_workers
    xi = [[1.0 / K] * K for _ in range(n_workers)]

    def likelihood(w, given, true):
        return (1.0 - theta[w]) * (given == true) + theta[w] * xi[w][given]

    def m_step(T):
        spams = [0.0] * n_workers
        n = [0] * n_workers
        counts = [[float(spam_smoothing)] * K for _ in range(n_workers)]
        for i in sorted(answers):
            for w, l in answers[i]:
                e = sum(T[i][t] * theta[w] * xi[w][l] / likelihood(w, l, t) for t in range(K))
                spams[w] += e
                counts[w][l] += e
                n[w] += 1
        for w in range(n_workers):
            theta[w] = (spams[w] + a) / (n[w] + a + b)
            xi[w] = [c / sum(counts[w]) for c in counts[w]]

    def log_p(w, given, true):
        return math.log(likelihood(w, given, true))

    def penalty():
        return sum(a * math.log(theta[w]) + b * math.log(1.0 - theta[w])
                   + spam_smoothing * sum(math.log(x) for x in xi[w]) for w in range(n_workers))

    T, unclamped, log_pi, history, converged = _em(answers, n_items, n_workers, K, gold, beta,
                                                   max_iter, tol, m_step, log_p, penalty)
    out = _pack(T, unclamped, log_pi, history, converged, answers, n_workers, K, gold=gold, confusion=
                _confusion(n_workers, K, log_p))
    out["spamming"] = np.array(theta)
    out["spam_distribution"] = np.array(xi).reshape(n_workers, K)
    return out


def naive_wawa(item, worker, label, n_items, n_workers, K, pick_labels):
    """Wawa: majority vote; weight = share of a worker's class answers agreeing with it;
    weighted vote. ``pick_labels(scores) -> (labels, n_tied)`` applies the tie policy.

    Returns dict with ``mv_labels``, ``weights`` (0 for workers without class answers),
    ``counts`` (weighted votes), ``probas`` (shares, NaN rows without weight), ``labels``,
    ``n_tied``.
    """
    answers = _grouped(item, worker, label, n_items)
    votes = np.zeros((n_items, K))
    for i, pairs in answers.items():
        for _, l in pairs:
            votes[i, l] += 1.0
    mv_labels, _ = pick_labels(votes)
    agree = [0] * n_workers
    total = [0] * n_workers
    for i, pairs in answers.items():
        for w, l in pairs:
            total[w] += 1
            agree[w] += int(l == mv_labels[i])
    weights = np.array([agree[w] / total[w] if total[w] else 0.0 for w in range(n_workers)])
    counts = np.zeros((n_items, K))
    for i, pairs in answers.items():
        for w, l in pairs:
            counts[i, l] += weights[w]
    labels, n_tied = pick_labels(counts)
    probas = np.full((n_items, K), np.nan)
    for i in range(n_items):
        s = counts[i].sum()
        if s > 0:
            probas[i] = counts[i] / s
    return {"mv_labels": mv_labels, "weights": weights, "counts": counts, "probas": probas,
            "labels": labels, "n_tied": n_tied}


# ---------------------------------------------------------------------------------------
# helpers shared by the test modules
# ---------------------------------------------------------------------------------------
def with_threads(n, fn, *args, **kwargs):
    """Run ``fn`` with ``n`` numba threads and restore the previous count."""
    previous = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        return fn(*args, **kwargs)
    finally:
        numba.set_num_threads(previous)


def assert_non_decreasing(history, rel=1e-9, floor=1e-12):
    """EM's objective never decreases, up to rounding: ``rel`` of its size, and ``floor`` where it nears 0.

    (An objective that converges to 0 -- every answer explained with certainty -- moves by a few ulps of the
    O(1) terms it sums, e.g. -5.6e-17 at -1.1e-16: rounding, not a decrease.)
    """
    h = np.asarray(history, dtype=np.float64)
    assert np.isfinite(h).all(), h
    assert (np.diff(h) >= -(rel * np.abs(h[:-1]) + floor)).all(), h


def stopped_on_borderline(history, tol):
    prev, last = history[-2], history[-1]
    return abs((last - prev) - tol * abs(prev)) <= 1e-9 * max(abs(prev), 1.0)


def same_iterations(run_a, run_b, hist_a, hist_b, tol):
    """Two fits with the same iteration count: when float noise made one stop earlier on a
    borderline step, both are refitted with the shorter count (else it is a real difference)."""
    a, b = run_a(None), run_b(None)
    n_a, n_b = len(hist_a(a)), len(hist_b(b))
    if n_a == n_b:
        return a, b
    shorter = hist_a(a) if n_a < n_b else hist_b(b)
    assert stopped_on_borderline(shorter, tol), (hist_a(a), hist_b(b))
    n = min(n_a, n_b)
    return run_a(n), run_b(n)


def clear_winner(posterior, gap=1e-6):
    """Rows whose best class beats the runner-up by more than ``gap`` (never a NaN row: no label)."""
    posterior = np.asarray(posterior)
    shown = np.isfinite(posterior).all(axis=1)
    if posterior.shape[1] == 1:
        return shown
    top2 = np.sort(posterior, axis=1)[:, -2:]
    return shown & (top2[:, 1] - top2[:, 0] > gap)


def dense(data):
    """``data`` with item and worker codes made dense (no unused codes)."""
    used_items, item_code = np.unique(data["item"], return_inverse=True)
    _, worker_code = np.unique(data["worker"], return_inverse=True)
    return {**data, "item": item_code.astype(np.int32), "worker": worker_code.astype(np.int32),
            "gold": data["gold"][used_items], "n_items": int(item_code.max()) + 1,
            "n_workers": int(worker_code.max()) + 1}


def renamed(data, item_perm, worker_perm):
    """Item ``i`` becomes ``item_perm[i]``, worker ``w`` becomes ``worker_perm[w]``."""
    gold = np.empty_like(data["gold"])
    gold[item_perm] = data["gold"]
    return {**data, "item": item_perm[data["item"]], "worker": worker_perm[data["worker"]],
            "gold": gold}


@st.composite
def positive_stochastic_rows(draw, n_rows, K):
    """(n_rows, K) rows summing to one with every entry >= 1e-3 (no exact zeros)."""
    flat = draw(st.lists(st.floats(1e-3, 1.0), min_size=n_rows * K, max_size=n_rows * K))
    rows = np.array(flat, dtype=np.float64).reshape(n_rows, K)
    return rows / rows.sum(axis=1, keepdims=True)
