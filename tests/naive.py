"""Plain-Python reference implementations of the Numba kernels and of Dawid-Skene EM.

Everything here is written for obviousness, not speed: Python loops, lists,
dicts and :mod:`math`; no numba, and nothing imported from ``consensus``.

* ``naive_<kernel>`` functions take the same arguments as the kernel of the
  same name in ``consensus.kernels`` and return the same layout, so a test can
  compare them element by element.
* :func:`naive_dawid_skene` is a whole EM fit in the textbook form (judgments
  grouped in dicts, confusion matrices indexed ``[worker, true, given]``),
  written independently of the kernels.
* The last section holds data helpers and Hypothesis strategies shared by the
  test modules (CSR construction written independently of ``consensus.data``).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np
from hypothesis import strategies as st

#: Tie policies (must equal ``consensus.kernels.vote.TIE_RANDOM`` / ``TIE_FIRST``).
TIE_RANDOM = 0
TIE_FIRST = 1

MASK64 = (1 << 64) - 1
NEG_INF = -math.inf


def _log(x: float) -> float:
    """``log(x)`` with ``log(0) = -inf``."""
    return math.log(x) if x > 0.0 else NEG_INF


# ---------------------------------------------------------------------------------------
# vote kernels
# ---------------------------------------------------------------------------------------
def naive_mix(seed: int, index: int) -> int:
    """splitmix64-style mix of ``(seed, index)`` with Python ints masked to 64 bits."""
    z = (seed * 0x9E3779B97F4A7C15 + index + 1) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def naive_vote_counts(item_offsets, label, n_classes):
    """Twin of ``vote.vote_counts``: float64 (n_items, n_classes) vote counts."""
    n_items = len(item_offsets) - 1
    counts = [[0.0] * n_classes for _ in range(n_items)]
    for i in range(n_items):
        for j in range(int(item_offsets[i]), int(item_offsets[i + 1])):
            code = int(label[j])
            if code >= 0:
                counts[i][code] += 1.0
    return np.array(counts, dtype=np.float64).reshape(n_items, n_classes)


def naive_id_keys(ids):
    """Twin of ``consensus.data.id_keys``: FNV-1a 64 of the UTF-8 bytes of the id's text (an int's decimal text)."""
    keys = []
    for value in ids:
        h = 0xCBF29CE484222325
        for byte in str(value).encode("utf-8"):
            h = ((h ^ byte) * 0x100000001B3) & MASK64
        keys.append(h)
    return np.array(keys, dtype=np.uint64)


def naive_pick_labels(scores, tie_policy, seed, keys):
    """Twin of ``vote.pick_labels``: (labels int32, n_tied int32).

    Only strictly positive scores count; the label is the lowest tied class code
    (``TIE_FIRST``) or the ``naive_mix(seed, keys[i]) % n_tied``-th tied class
    (``TIE_RANDOM``); ``-1``/``0`` for a row without a positive score.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n_items = scores.shape[0]
    labels, n_tied = [], []
    for i in range(n_items):
        row = [float(v) for v in scores[i]]
        positive = [v for v in row if v > 0.0]
        if not positive:
            labels.append(-1)
            n_tied.append(0)
            continue
        best = max(positive)
        tied = [k for k, v in enumerate(row) if v == best]
        n_tied.append(len(tied))
        if len(tied) > 1 and tie_policy == TIE_RANDOM:
            labels.append(tied[naive_mix(int(seed), int(keys[i])) % len(tied)])
        else:
            labels.append(tied[0])
    return np.array(labels, dtype=np.int32), np.array(n_tied, dtype=np.int32)


# ---------------------------------------------------------------------------------------
# Dawid-Skene kernels (same arguments and layouts as consensus.kernels.dawid_skene)
# ---------------------------------------------------------------------------------------
def shown_posterior(posterior, answers, gold):
    """The posterior a model shows: NaN rows for items without any class answer and without gold.

    (EM's posterior there is the class prior, not evidence about the item; such an item gets no label.)
    """
    out = np.array(posterior, dtype=np.float64, copy=True)
    for i in range(out.shape[0]):
        if not answers.get(i) and int(gold[i]) < 0:
            out[i] = np.nan
    return out


def _log_space_rows(posterior, loglik, joints, gold):
    """The ``log_space`` output of an E-step twin: log one-hot for gold, ``-log K`` for an impossible
    item, else ``joint - log p(labels)`` (never exponentiated)."""
    out = np.empty_like(posterior)
    for i, joint in enumerate(joints):
        if int(gold[i]) >= 0:
            out[i] = NEG_INF
            out[i, int(gold[i])] = 0.0
        elif loglik[i] == NEG_INF:
            out[i] = -math.log(posterior.shape[1])
        else:
            out[i] = np.array(joint) - loglik[i]
    return out


def naive_e_step(item_offsets, worker, label, log_emission, log_prior, gold, log_space=False):
    """Twin of ``dawid_skene.e_step``: (posterior (n_items, K), item_loglik (n_items,)).

    ``log_emission`` is indexed ``[w, given, true]``. Gold items get a one-hot
    posterior and ``log p(labels, truth)``; an item for which every class has
    probability zero gets a uniform posterior and ``-inf``.
    """
    n_items = len(item_offsets) - 1
    n_classes = len(log_prior)
    posterior = np.zeros((n_items, n_classes), dtype=np.float64)
    loglik = np.zeros(n_items, dtype=np.float64)
    joints = []
    for i in range(n_items):
        joint = [float(log_prior[t]) for t in range(n_classes)]
        for j in range(int(item_offsets[i]), int(item_offsets[i + 1])):
            given = int(label[j])
            if given < 0:
                continue
            w = int(worker[j])
            for t in range(n_classes):
                joint[t] += float(log_emission[w, given, t])
        joints.append(joint)
        truth = int(gold[i])
        if truth >= 0:
            posterior[i, truth] = 1.0
            loglik[i] = joint[truth]
            continue
        top = max(joint)
        if top == NEG_INF:
            posterior[i, :] = 1.0 / n_classes
            loglik[i] = NEG_INF
            continue
        weights = [math.exp(v - top) for v in joint]
        total = math.fsum(weights)
        loglik[i] = top + math.log(total)
        for t in range(n_classes):
            posterior[i, t] = weights[t] / total
    if log_space:
        return _log_space_rows(posterior, loglik, joints, gold), loglik
    return posterior, loglik


def naive_m_step_emission(worker_offsets, item_by_worker, label_by_worker, posterior,
                          alpha, prior_index, prior_counts):
    """Twin of ``dawid_skene.m_step_emission``: log P(given | true), ``[w, given, true]``.

    Built as a textbook confusion matrix ``[w][true][given]`` of expected counts
    plus pseudo-counts, row-normalised over ``given``, then transposed to the
    kernel layout. ``prior_counts`` is in kernel layout ``[p, given, true]``.
    """
    n_workers = len(worker_offsets) - 1
    n_classes = posterior.shape[1]
    out = np.zeros((n_workers, n_classes, n_classes), dtype=np.float64)
    for w in range(n_workers):
        p = int(prior_index[w])
        counts = [[float(alpha) + (float(prior_counts[p, given, true]) if p >= 0 else 0.0)
                   for given in range(n_classes)] for true in range(n_classes)]
        for j in range(int(worker_offsets[w]), int(worker_offsets[w + 1])):
            given = int(label_by_worker[j])
            if given < 0:
                continue
            i = int(item_by_worker[j])
            for true in range(n_classes):
                counts[true][given] += float(posterior[i, true])
        for true in range(n_classes):
            row_total = sum(counts[true])
            for given in range(n_classes):
                if row_total <= 0.0:
                    value = -math.log(n_classes)
                else:  # log of the ratio, not log(ratio): the ratio may underflow to 0
                    value = _log(counts[true][given]) - math.log(row_total)
                out[w, given, true] = value
    return out


def naive_class_log_prior(posterior, beta):
    """Twin of ``dawid_skene.class_log_prior``: log class priors (K,)."""
    n_items, n_classes = posterior.shape
    totals = [float(beta) + sum(float(posterior[i, k]) for i in range(n_items))
              for k in range(n_classes)]
    grand = sum(totals)
    if grand <= 0.0:
        return np.full(n_classes, -math.log(n_classes))
    return np.array([_log(t) - math.log(grand) for t in totals], dtype=np.float64)


def naive_log_prior_penalty(log_emission, alpha, prior_index, prior_counts, log_prior, beta):
    """Twin of ``dawid_skene.log_prior_penalty``: sum(pseudo_count * log parameter).

    Cells whose pseudo-count is zero contribute nothing (so ``0 * log 0`` never
    appears); the class-prior term is present only when ``beta > 0``.
    """
    n_workers, n_classes, _ = log_emission.shape
    total = 0.0
    for w in range(n_workers):
        p = int(prior_index[w])
        for given in range(n_classes):
            for true in range(n_classes):
                count = float(alpha) + (float(prior_counts[p, given, true]) if p >= 0 else 0.0)
                if count > 0.0:
                    total += count * float(log_emission[w, given, true])
    if beta > 0.0:
        for k in range(n_classes):
            total += float(beta) * float(log_prior[k])
    return total


def naive_worker_expected_accuracy(worker_offsets, item_by_worker, label_by_worker, posterior):
    """Twin of ``dawid_skene.worker_expected_accuracy``: mean P(answer right), NaN if none."""
    n_workers = len(worker_offsets) - 1
    out = np.full(n_workers, np.nan)
    for w in range(n_workers):
        hits = [float(posterior[int(item_by_worker[j]), int(label_by_worker[j])])
                for j in range(int(worker_offsets[w]), int(worker_offsets[w + 1]))
                if label_by_worker[j] >= 0]
        if hits:
            out[w] = sum(hits) / len(hits)
    return out


# ---------------------------------------------------------------------------------------
# Whole Dawid-Skene EM, textbook form
# ---------------------------------------------------------------------------------------
def naive_dawid_skene(item, worker, label, n_items, n_workers, K, gold=None, alpha=1.0, beta=1.0,
                      prior_index=None, prior_counts=None, max_iter=100, tol=1e-7):
    """Dawid-Skene MAP-EM written out with dicts and loops.

    Parameters
    ----------
    item, worker, label : sequences of int
        Judgments in any order; ``label < 0`` is an abstention (ignored).
    n_items, n_workers, K : int
    gold : sequence of int (n_items,), optional
        Known class per item, ``-1`` where unknown; known items are clamped.
    alpha, beta : float
        Pseudo-count per confusion cell / per class prior.
    prior_index : sequence of int (n_workers,), optional
        Row of ``prior_counts`` per worker, ``-1`` for none.
    prior_counts : array (n_priors, K, K), optional
        Extra pseudo-counts in textbook layout ``[p, true, given]``.
    max_iter, tol
        Same stopping rule as ``DawidSkene``: stop after ``max_iter`` iterations
        or once an iteration improves the objective by ``<= tol * |previous|``.

    Returns
    -------
    dict with ``posterior`` (n_items, K), ``raw_posterior`` (the same from the final
    parameters but with gold items not clamped), ``confusion`` (n_workers, K, K)
    ``[w, true, given]``, ``priors`` (K,), ``history`` (list of the penalised
    log-likelihood after every iteration), ``n_iter``, ``converged`` and
    ``worker_accuracy`` (n_workers,).

    Each iteration is: M-step (confusion and priors from the current posterior
    plus pseudo-counts), E-step (posterior from those parameters), objective
    ``sum_i log p(labels_i [, truth_i]) + sum (pseudo_count * log parameter)``.
    The first posterior is the majority-vote share per item (uniform when the
    item has no class answer), with gold items one-hot. ``posterior`` is what
    the model shows (:func:`shown_posterior`).
    """
    gold = [-1] * n_items if gold is None else [int(g) for g in gold]
    prior_index = [-1] * n_workers if prior_index is None else [int(p) for p in prior_index]

    answers: dict[int, list[tuple[int, int]]] = defaultdict(list)  # item -> [(worker, given)]
    for i, w, l in zip(item, worker, label):
        if int(l) >= 0:
            answers[int(i)].append((int(w), int(l)))

    def pseudo(w: int, true: int, given: int) -> float:
        p = prior_index[w]
        return float(alpha) + (float(prior_counts[p][true][given]) if p >= 0 else 0.0)

    # initial posterior T[i][k]: majority-vote shares
    T = []
    for i in range(n_items):
        votes = Counter(given for _, given in answers.get(i, []))
        n = sum(votes.values())
        T.append([votes[k] / n for k in range(K)] if n else [1.0 / K] * K)
    for i in range(n_items):
        if gold[i] >= 0:
            T[i] = [1.0 if k == gold[i] else 0.0 for k in range(K)]

    history: list[float] = []
    converged = False
    log_theta = log_pi = None
    for _ in range(max_iter):
        # M-step: confusion theta[w][true][given]
        counts = [[[pseudo(w, t, l) for l in range(K)] for t in range(K)] for w in range(n_workers)]
        for i, pairs in answers.items():
            for w, l in pairs:
                for t in range(K):
                    counts[w][t][l] += T[i][t]
        # (log c - log total rather than log(c / total), which underflows for tiny c)
        log_theta = []
        for w in range(n_workers):
            rows = []
            for t in range(K):
                total = sum(counts[w][t])
                rows.append([-math.log(K)] * K if total <= 0.0
                            else [_log(c) - math.log(total) for c in counts[w][t]])
            log_theta.append(rows)
        # M-step: class priors
        class_totals = [float(beta) + sum(T[i][k] for i in range(n_items)) for k in range(K)]
        grand = sum(class_totals)
        log_pi = ([-math.log(K)] * K if grand <= 0.0
                  else [_log(c) - math.log(grand) for c in class_totals])

        # E-step
        data_loglik = 0.0
        new_T = []
        for i in range(n_items):
            joint = list(log_pi)
            for w, l in answers.get(i, []):
                for t in range(K):
                    joint[t] += log_theta[w][t][l]
            if gold[i] >= 0:
                data_loglik += joint[gold[i]]
                new_T.append([1.0 if k == gold[i] else 0.0 for k in range(K)])
                continue
            top = max(joint)
            if top == NEG_INF:
                data_loglik += NEG_INF
                new_T.append([1.0 / K] * K)
                continue
            weights = [math.exp(v - top) for v in joint]
            z = math.fsum(weights)
            data_loglik += top + math.log(z)
            new_T.append([v / z for v in weights])
        T = new_T

        # objective: data log-likelihood plus Dirichlet log-prior terms
        penalty = 0.0
        for w in range(n_workers):
            for t in range(K):
                for l in range(K):
                    c = pseudo(w, t, l)
                    if c > 0.0:
                        penalty += c * log_theta[w][t][l]
        if beta > 0.0:
            penalty += sum(float(beta) * lp for lp in log_pi)
        history.append(data_loglik + penalty)
        if len(history) > 1 and history[-1] - history[-2] <= tol * abs(history[-2]):
            converged = True
            break

    # posteriors of the final parameters without clamping the gold items
    raw = []
    for i in range(n_items):
        joint = list(log_pi)
        for w, l in answers.get(i, []):
            for t in range(K):
                joint[t] += log_theta[w][t][l]
        top = max(joint)
        if top == NEG_INF:
            raw.append([1.0 / K] * K)
            continue
        weights = [math.exp(v - top) for v in joint]
        z = math.fsum(weights)
        raw.append([v / z for v in weights])

    accuracy = np.full(n_workers, np.nan)
    per_worker: dict[int, list[float]] = defaultdict(list)
    for i, pairs in answers.items():
        for w, l in pairs:
            per_worker[w].append(T[i][l])
    for w, values in per_worker.items():
        accuracy[w] = sum(values) / len(values)

    return {
        "posterior": shown_posterior(np.array(T, dtype=np.float64).reshape(n_items, K), answers, gold),
        "raw_posterior": np.array(raw, dtype=np.float64).reshape(n_items, K),
        "confusion": np.exp(np.array(log_theta, dtype=np.float64).reshape(n_workers, K, K)),
        "priors": np.exp(np.array(log_pi, dtype=np.float64)),
        "history": history,
        "n_iter": len(history),
        "converged": converged,
        "worker_accuracy": accuracy,
    }


# ---------------------------------------------------------------------------------------
# Data helpers and Hypothesis strategies shared by the test modules
# ---------------------------------------------------------------------------------------
def item_csr(item, worker, label, n_items):
    """Judgments sorted by (item, worker) as kernel input: offsets int64, worker/label int32."""
    rows = sorted(range(len(item)), key=lambda r: (int(item[r]), int(worker[r]), int(label[r])))
    offsets = [0] * (n_items + 1)
    for r in rows:
        offsets[int(item[r]) + 1] += 1
    for i in range(n_items):
        offsets[i + 1] += offsets[i]
    return (np.array(offsets, dtype=np.int64),
            np.array([worker[r] for r in rows], dtype=np.int32),
            np.array([label[r] for r in rows], dtype=np.int32))


def worker_csr(item, worker, label, n_workers):
    """Judgments grouped by worker as kernel input: offsets int64, item/label int32."""
    rows = sorted(range(len(item)), key=lambda r: (int(worker[r]), int(item[r]), int(label[r])))
    offsets = [0] * (n_workers + 1)
    for r in rows:
        offsets[int(worker[r]) + 1] += 1
    for w in range(n_workers):
        offsets[w + 1] += offsets[w]
    return (np.array(offsets, dtype=np.int64),
            np.array([item[r] for r in rows], dtype=np.int32),
            np.array([label[r] for r in rows], dtype=np.int32))


def readonly(*arrays):
    """Contiguous read-only copies (polars hands kernels read-only arrays)."""
    out = []
    for a in arrays:
        a = np.ascontiguousarray(a).copy()
        a.flags.writeable = False
        out.append(a)
    return out


@st.composite
def judgment_sets(draw, max_items=30, max_workers=8, max_classes=5, min_classes=1,
                  gold=True, duplicates=False):
    """A random crowd: dict(item, worker, label, gold, n_items, n_workers, K).

    Each (item, worker) cell is missing, an abstention (-1) or a class answer;
    rows come in a random order. ``n_items``/``n_workers`` equal the highest
    code + 1 (as ``Judgments.from_codes`` infers them); lower codes may have no
    judgment at all. With ``duplicates``, some cells get a second answer.
    """
    K = draw(st.integers(min_classes, max_classes))
    n_items = draw(st.integers(1, max_items))
    n_workers = draw(st.integers(1, max_workers))
    choices = [-2, -2, -1] + [k for k in range(K) for _ in range(2)]  # -2 = no judgment
    cells = draw(st.lists(st.sampled_from(choices), min_size=n_items * n_workers,
                          max_size=n_items * n_workers))
    item, worker, label = [], [], []
    for c, code in enumerate(cells):
        if code != -2:
            item.append(c // n_workers)
            worker.append(c % n_workers)
            label.append(code)
    if not item:
        item, worker, label = [0], [0], [0]
    if duplicates:
        extra = draw(st.lists(st.tuples(st.integers(0, len(item) - 1), st.integers(-1, K - 1)),
                              max_size=10))
        for r, code in extra:
            item.append(item[r])
            worker.append(worker[r])
            label.append(code)
    order = draw(st.permutations(range(len(item))))
    item = [item[r] for r in order]
    worker = [worker[r] for r in order]
    label = [label[r] for r in order]
    n_items = max(item) + 1
    n_workers = max(worker) + 1
    gold_codes = [-1] * n_items
    if gold:
        gold_codes = draw(st.lists(st.sampled_from([-1, -1, -1, -1] + list(range(K))),
                                   min_size=n_items, max_size=n_items))
    return {
        "item": np.array(item, dtype=np.int32),
        "worker": np.array(worker, dtype=np.int32),
        "label": np.array(label, dtype=np.int32),
        "gold": np.array(gold_codes, dtype=np.int32),
        "n_items": n_items,
        "n_workers": n_workers,
        "K": K,
    }


def stochastic_rows(draw, n_rows, K, zeros=True):
    """(n_rows, K) float64 rows summing to one, with exact zeros and one-hot rows."""
    elements = st.floats(0.0, 1.0)  # subnormals included (they once broke m_step_emission)
    if zeros:
        elements = st.one_of(st.just(0.0), elements)
    flat = draw(st.lists(elements, min_size=n_rows * K, max_size=n_rows * K))
    rows = np.array(flat, dtype=np.float64).reshape(n_rows, K)
    for r in range(n_rows):
        if rows[r].sum() <= 0.0:
            rows[r, r % K] = 1.0
        rows[r] /= rows[r].sum()
    return rows
