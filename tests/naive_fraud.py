"""Plain-Python reference implementations of the fraud kernels and statistics.

Written for obviousness: Python loops, dicts and :mod:`math`, nothing from
``consensus``. Each ``naive_<kernel>`` takes the same arguments as the kernel
of the same name in ``consensus.kernels.fraud_*`` and returns the same layout.
Where a kernel uses a shortcut (leave-one-out by multiplying with precomputed
factors, dynamic programming for a tail probability), the twin takes the long
way round (log-space subtraction, enumeration of every answer sequence).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import strategies as st

NEG_INF = -math.inf


# ---------------------------------------------------------------------------------------
# speed
# ---------------------------------------------------------------------------------------
def naive_group_median(offsets, values):
    """Median of the finite values per CSR group; NaN and count 0 for none."""
    med, cnt = [], []
    for g in range(len(offsets) - 1):
        vals = sorted(float(v) for v in values[int(offsets[g]):int(offsets[g + 1])] if math.isfinite(v))
        cnt.append(len(vals))
        if not vals:
            med.append(math.nan)
        else:
            m = len(vals)
            med.append((vals[(m - 1) // 2] + vals[m // 2]) / 2.0)
    return np.array(med, dtype=np.float64), np.array(cnt, dtype=np.int64)


def naive_worker_flag_counts(worker_offsets, worker_order, flag, valid):
    n_valid, n_flag = [], []
    for w in range(len(worker_offsets) - 1):
        js = [int(worker_order[p]) for p in range(int(worker_offsets[w]), int(worker_offsets[w + 1]))]
        n_valid.append(sum(1 for j in js if valid[j]))
        n_flag.append(sum(1 for j in js if valid[j] and flag[j]))
    return np.array(n_valid, dtype=np.int64), np.array(n_flag, dtype=np.int64)


def naive_burst_flags(worker_offsets, worker_order, submitted, window, min_size):
    """A judgment is in a burst when some interval ``[t_r - window, t_r]`` ending at one of
    the worker's submission times contains it and at least ``min_size`` submissions."""
    n = len(worker_order)
    in_burst = np.zeros(n, dtype=np.uint8)
    n_timed, n_burst = [], []
    for w in range(len(worker_offsets) - 1):
        js = [int(worker_order[p]) for p in range(int(worker_offsets[w]), int(worker_offsets[w + 1]))]
        timed = [(float(submitted[j]), j) for j in js if math.isfinite(submitted[j])]
        n_timed.append(len(timed))
        marked = set()
        for t_r, _ in timed:
            inside = [j for t, j in timed if t_r - window <= t <= t_r]
            if len(inside) >= min_size:
                marked.update(inside)
        for j in marked:
            in_burst[j] = 1
        n_burst.append(len(marked))
    return in_burst, np.array(n_timed, dtype=np.int64), np.array(n_burst, dtype=np.int64)


# ---------------------------------------------------------------------------------------
# consensus, leave-one-out, agreement, runs
# ---------------------------------------------------------------------------------------
def _softmax(logs):
    top = max(logs)
    if top == NEG_INF:
        return [1.0 / len(logs)] * len(logs)
    ws = [math.exp(v - top) if v > NEG_INF else 0.0 for v in logs]
    z = math.fsum(ws)
    return [v / z for v in ws]


def naive_item_joint(item_offsets, worker, label, log_emission, log_prior):
    """Per item: log prior + sum of the class answers' log emissions (lists), and class counts."""
    joint, n_class = [], []
    for i in range(len(item_offsets) - 1):
        row = [float(v) for v in log_prior]
        c = 0
        for j in range(int(item_offsets[i]), int(item_offsets[i + 1])):
            g = int(label[j])
            if g < 0:
                continue
            c += 1
            for k in range(len(row)):
                row[k] += float(log_emission[int(worker[j]), g, k])
        joint.append(row)
        n_class.append(c)
    return joint, n_class


def naive_item_posterior(item_offsets, worker, label, log_emission, log_prior):
    joint, n_class = naive_item_joint(item_offsets, worker, label, log_emission, log_prior)
    K = len(log_prior)
    post = np.array([_softmax(row) for row in joint], dtype=np.float64).reshape(len(joint), K)
    return post, np.array(n_class, dtype=np.int64)


def naive_leave_out(joint_row, log_emission, removed, eps):
    """Smoothed posterior without the ``removed`` (worker, label) answers, from the log joint;
    returns (posterior list, arg-max with the lowest class on ties)."""
    logs = list(joint_row)
    for w, g in removed:
        for k in range(len(logs)):
            logs[k] -= float(log_emission[w, g, k])
    p = _softmax(logs)
    best = max(range(len(p)), key=lambda k: (p[k], -k))
    K = len(p)
    return [(1.0 - eps) * v + eps / K for v in p], best


def naive_worker_agreement(item_offsets, worker, label, log_emission, log_prior, answer, eps):
    """Twin of ``worker_agreement`` computed from the item-sorted judgments (not the CSR by worker)."""
    joint, n_class = naive_item_joint(item_offsets, worker, label, log_emission, log_prior)
    W = log_emission.shape[0]
    K = len(log_prior)
    observed = np.zeros((W, K))
    expected = np.zeros((W, K))
    n_cmp = np.zeros(W, dtype=np.int64)
    n_agree = np.zeros(W, dtype=np.int64)
    answered = np.zeros((W, K))
    cons = np.zeros((W, K))
    for i in range(len(item_offsets) - 1):
        for j in range(int(item_offsets[i]), int(item_offsets[i + 1])):
            w, g = int(worker[j]), int(label[j])
            if g < 0:
                continue
            q, best = naive_leave_out(joint[i], log_emission, [(w, g)], eps)
            observed[w, g] += 1
            for gg in range(K):
                expected[w, gg] += sum(q[t] * answer[t, gg] for t in range(K))
            if n_class[i] >= 2:
                n_cmp[w] += 1
                answered[w, g] += 1
                cons[w, best] += 1
                n_agree[w] += best == g
    chance = np.full(W, np.nan)
    for w in range(W):
        if n_cmp[w]:
            chance[w] = sum(answered[w, k] * cons[w, k] for k in range(K)) / n_cmp[w] ** 2
    return observed, expected, n_cmp, n_agree, chance


def naive_worker_repeats(worker_offsets, item_seq, label_seq, item_offsets, worker, label, log_emission,
                         log_prior, eps, exact_max):
    """Twin of ``worker_repeats``. The tail is computed by enumerating every answer sequence
    (small inputs only) when the kernel would be exact, else by the normal approximation with
    the mean and variance also obtained by brute force over pairs and triples."""
    joint, _ = naive_item_joint(item_offsets, worker, label, log_emission, log_prior)
    K = len(log_prior)
    W = len(worker_offsets) - 1
    out = {k: [] for k in ("pairs", "repeats", "mean", "var", "p", "longest")}
    for w in range(W):
        seq = [(int(item_seq[p]), int(label_seq[p])) for p in range(int(worker_offsets[w]), int(worker_offsets[w + 1]))
               if label_seq[p] >= 0]
        dists = []
        for i, g in seq:
            q, _ = naive_leave_out(joint[i], log_emission, [(w, g)], eps)
            dists.append([sum(q[t] * math.exp(log_emission[w, a, t]) for t in range(K)) for a in range(K)])
        labels = [g for _, g in seq]
        n_pairs = max(len(seq) - 1, 0)
        repeats = sum(1 for a, b in zip(labels, labels[1:]) if a == b)
        longest, run = 0, 0
        for r, g in enumerate(labels):
            run = run + 1 if r > 0 and labels[r - 1] == g else 1
            longest = max(longest, run)
        probs = [sum(dists[r][k] * dists[r + 1][k] for k in range(K)) for r in range(n_pairs)]
        mean = sum(probs)
        var = sum(p * (1 - p) for p in probs)
        for r in range(n_pairs - 1):
            triple = sum(dists[r][k] * dists[r + 1][k] * dists[r + 2][k] for k in range(K))
            var += 2 * (triple - probs[r] * probs[r + 1])
        var = max(var, 0.0)
        if n_pairs == 0:
            p = math.nan
        elif n_pairs <= exact_max:
            p = 0.0
            for answers in itertools.product(range(K), repeat=len(seq)):
                prob = math.prod(dists[r][a] for r, a in enumerate(answers))
                if sum(1 for a, b in zip(answers, answers[1:]) if a == b) >= repeats:
                    p += prob
            p = min(p, 1.0)
        elif var > 0:
            z = (repeats - 0.5 - mean) / math.sqrt(var)
            p = 0.5 * math.erfc(z / math.sqrt(2))
        else:
            p = 1.0 if repeats <= mean else 0.0
        for key, value in zip(out, (n_pairs, repeats, mean, var, p, longest)):
            out[key].append(value)
    return (np.array(out["pairs"], dtype=np.int64), np.array(out["repeats"], dtype=np.int64),
            np.array(out["mean"]), np.array(out["var"]), np.array(out["p"]), np.array(out["longest"], dtype=np.int64))


def naive_order_within_workers(worker, primary, secondary):
    """Judgment indices sorted by (worker, primary, secondary, index), NaN last."""
    def key(j):
        a = primary[j] if primary[j] == primary[j] else math.inf
        b = secondary[j] if secondary[j] == secondary[j] else math.inf
        return (int(worker[j]), a, b, j)
    return np.array(sorted(range(len(worker)), key=key), dtype=np.int64)


# ---------------------------------------------------------------------------------------
# pairs
# ---------------------------------------------------------------------------------------
SHARE_PRIOR = 0.5
MIN_OTHERS = 3
STRONG = 0.7


def naive_pair_stats(item_offsets, worker, label, log_emission, submitted, window, min_common):
    """All pairs of workers (a < b), brute force, as a dict ``(a, b) -> dict of statistics``
    (the same names as the rows of ``pair_stats``'s outputs), for pairs with at least
    ``min_common`` co-judged items."""
    emission = np.exp(log_emission)
    K = log_emission.shape[1]
    per_item = []
    for i in range(len(item_offsets) - 1):
        per_item.append({int(worker[j]): (int(label[j]), float(submitted[j]) if len(submitted) else math.nan)
                         for j in range(int(item_offsets[i]), int(item_offsets[i + 1]))})
    workers = sorted({int(w) for w in worker})
    out = {}
    for a, b in itertools.combinations(workers, 2):
        s = dict.fromkeys(("any", "common", "agree", "consensus", "shared_wrong", "timed", "co_timed",
                           "a_later"), 0)
        s.update(dict.fromkeys(("log_p_agree", "exp_agree", "exp_shared_wrong"), 0.0))
        for i, answers in enumerate(per_item):
            if a not in answers or b not in answers:
                continue
            (la, ta), (lb, tb) = answers[a], answers[b]
            s["any"] += 1
            if math.isfinite(ta) and math.isfinite(tb):
                s["timed"] += 1
                s["co_timed"] += abs(ta - tb) <= window
                s["a_later"] += ta > tb
            if la < 0 or lb < 0:
                continue
            s["common"] += 1
            votes = [0.0] * K
            for g, _ in answers.values():
                if g >= 0:
                    votes[g] += 1
            votes[la] -= 1
            votes[lb] -= 1
            others = sum(votes)
            shares = [(v + SHARE_PRIOR) / (others + SHARE_PRIOR * K) for v in votes]
            agree_t = [sum(emission[a, g, t] * emission[b, g, t] for g in range(K)) for t in range(K)]
            p_agree = min(1.0, sum(shares[t] * agree_t[t] for t in range(K)))
            s["exp_agree"] += p_agree
            if la == lb:
                s["agree"] += 1
                s["log_p_agree"] += math.log(p_agree) if p_agree > 0 else NEG_INF
            n_others = sum(votes)
            strong = [k for k in range(K) if n_others >= MIN_OTHERS and votes[k] >= STRONG * n_others]
            if strong:
                cons = strong[0]
                s["consensus"] += 1
                s["exp_shared_wrong"] += sum(emission[a, g, cons] * emission[b, g, cons] for g in range(K) if g != cons)
                s["shared_wrong"] += la == lb and la != cons
        if s["any"] >= min_common:
            out[(a, b)] = s
    return out


def naive_expected_co_timed(pairs, worker, item, submitted, window):
    """For each (a, b): half the sum over both directions of, per co-judged item with both
    times, the share of the other worker's *other* submissions within ``window``."""
    times = {}
    for j in range(len(worker)):
        times.setdefault(int(worker[j]), {})[int(item[j])] = float(submitted[j])
    out = []
    for a, b in pairs:
        total = 0.0
        for x, y in ((a, b), (b, a)):
            ty_all = [t for t in times.get(y, {}).values() if math.isfinite(t)]
            if len(ty_all) <= 1:
                continue
            for i, tx in times.get(x, {}).items():
                if i not in times.get(y, {}):
                    continue
                ty = times[y][i]
                if not (math.isfinite(tx) and math.isfinite(ty)):
                    continue
                near = sum(1 for t in ty_all if tx - window <= t <= tx + window)
                if abs(tx - ty) <= window:
                    near -= 1
                total += near / (len(ty_all) - 1)
        out.append(total / 2)
    return np.array(out, dtype=np.float64)


# ---------------------------------------------------------------------------------------
# honeypots
# ---------------------------------------------------------------------------------------
def naive_worker_gold_counts(worker, item, label, gold, trusted, n_workers):
    n = [0] * n_workers
    right = [0] * n_workers
    for w, i, g in zip(worker, item, label):
        if g < 0 or gold[i] < 0 or not trusted[i]:
            continue
        n[w] += 1
        right[w] += g == gold[i]
    return np.array(n, dtype=np.int64), np.array(right, dtype=np.int64)


def naive_gold_item_support(item_offsets, worker, label, gold, accuracy):
    """Poisson-binomial lower tail by summing over every subset of right answers."""
    n_items = len(item_offsets) - 1
    m_out, x_out = np.zeros(n_items, dtype=np.int64), np.zeros(n_items, dtype=np.int64)
    mean_out, p_out = np.full(n_items, np.nan), np.full(n_items, np.nan)
    for i in range(n_items):
        if gold[i] < 0:
            continue
        answers = [(int(worker[j]), int(label[j])) for j in range(int(item_offsets[i]), int(item_offsets[i + 1]))
                   if label[j] >= 0]
        m = len(answers)
        x = sum(1 for _, g in answers if g == gold[i])
        m_out[i], x_out[i] = m, x
        if m == 0:
            continue
        acc = [float(accuracy[w]) for w, _ in answers]
        mean_out[i] = sum(acc)
        tail = 0.0
        for right in itertools.product((0, 1), repeat=m):
            if sum(right) <= x:
                tail += math.prod(a if r else 1 - a for a, r in zip(acc, right))
        p_out[i] = min(tail, 1.0)
    return m_out, x_out, mean_out, p_out


# ---------------------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------------------
def naive_benjamini_hochberg(p):
    """Step-up BH q-values over the finite entries (NaN = not a test)."""
    tested = [(float(v), r) for r, v in enumerate(p) if math.isfinite(v)]
    m = len(tested)
    q = [math.nan] * len(p)
    tested.sort()
    running = 1.0
    for rank in range(m, 0, -1):
        value, r = tested[rank - 1]
        running = min(running, value * m / rank)
        q[r] = min(running, 1.0)
    return np.array(q), m


def naive_g_test(observed, expected):
    """G statistic per row with Williams' correction, via scipy's chi2 only for the tail."""
    from scipy import stats

    kl, g_out, p_out = [], [], []
    for o_row, e_row in zip(observed, expected):
        n = float(sum(o_row))
        k = len(o_row)
        e_total = float(sum(e_row))
        e = [v * n / e_total for v in e_row]
        g = 2.0 * sum(o * math.log(o / ev) for o, ev in zip(o_row, e) if o > 0)
        g = max(g, 0.0)
        g_out.append(g)
        kl.append(g / (2 * n) if n else math.nan)
        q = 1.0 + (k * k - 1.0) / (6.0 * max(n, 1.0) * (k - 1.0))
        p_out.append(stats.chi2.sf(g / q, k - 1) if n else math.nan)
    return np.array(kl), np.array(g_out), np.array(p_out)


# ---------------------------------------------------------------------------------------
# data helpers and strategies
# ---------------------------------------------------------------------------------------
def worker_index(worker, n_workers):
    """(worker_order, worker_offsets) for item-sorted judgments, written independently."""
    order = sorted(range(len(worker)), key=lambda j: (int(worker[j]), j))
    offsets = [0] * (n_workers + 1)
    for j in order:
        offsets[int(worker[j]) + 1] += 1
    for w in range(n_workers):
        offsets[w + 1] += offsets[w]
    return np.array(order, dtype=np.int64), np.array(offsets, dtype=np.int64)


@st.composite
def crowds(draw, max_items=12, max_workers=6, max_classes=3, duplicates=False):
    """A random crowd sorted by (item, worker) with a random Dawid-Skene model:
    dict(item, worker, label, item_offsets, n_items, n_workers, K, log_emission, log_prior,
    submitted, duration)."""
    K = draw(st.integers(2, max_classes))
    n_items = draw(st.integers(1, max_items))
    n_workers = draw(st.integers(1, max_workers))
    cells = draw(st.lists(st.sampled_from([-2, -2, -1] + list(range(K)) * 2),
                          min_size=n_items * n_workers, max_size=n_items * n_workers))
    item, worker, label = [], [], []
    for c, code in enumerate(cells):
        if code != -2:
            item.append(c // n_workers)
            worker.append(c % n_workers)
            label.append(code)
    if not item:
        item, worker, label = [0], [0], [0]
    offsets = [0] * (n_items + 1)
    for i in item:
        offsets[i + 1] += 1
    for i in range(n_items):
        offsets[i + 1] += offsets[i]
    conf = draw(st.lists(st.floats(0.05, 1.0), min_size=n_workers * K * K, max_size=n_workers * K * K))
    # distinct jitter so that no two classes tie exactly (arg-max ties would depend on rounding)
    theta = np.array(conf).reshape(n_workers, K, K) + 1e-3 * np.arange(n_workers * K * K).reshape(n_workers, K, K) / (
        n_workers * K * K)  # [w, true, given]
    theta /= theta.sum(axis=2, keepdims=True)
    log_emission = np.ascontiguousarray(np.log(theta).transpose(0, 2, 1))  # [w, given, true]
    prior = np.array(draw(st.lists(st.floats(0.1, 1.0), min_size=K, max_size=K))) + 1e-3 * np.arange(K)
    n = len(item)
    times = draw(st.lists(st.one_of(st.just(math.nan), st.integers(0, 60).map(float)), min_size=n, max_size=n))
    durations = draw(st.lists(st.one_of(st.just(math.nan), st.floats(0.0, 30.0)), min_size=n, max_size=n))
    return {
        "item": np.array(item, dtype=np.int32), "worker": np.array(worker, dtype=np.int32),
        "label": np.array(label, dtype=np.int32), "item_offsets": np.array(offsets, dtype=np.int64),
        "n_items": n_items, "n_workers": n_workers, "K": K,
        "log_emission": log_emission, "log_prior": np.log(prior / prior.sum()),
        "submitted": np.array(times, dtype=np.float64), "duration": np.array(durations, dtype=np.float64),
    }
