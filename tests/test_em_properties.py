"""The DawidSkene estimator against the textbook EM in naive.py, and EM invariants."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive import (
    TIE_FIRST,
    TIE_RANDOM,
    judgment_sets,
    naive_dawid_skene,
    naive_pick_labels,
    stochastic_rows,
)
from naive_models import assert_non_decreasing

from consensus import DawidSkene, Judgments

RTOL, ATOL = 1e-9, 1e-12
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
POLICY = {"random": TIE_RANDOM, "first": TIE_FIRST}


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------
@st.composite
def ds_params(draw, data):
    """Estimator parameters, including worker priors for some of ``data``'s workers."""
    K = data["K"]
    workers = draw(st.lists(st.integers(0, data["n_workers"] - 1), max_size=3, unique=True))
    return {
        "alpha": draw(st.sampled_from([0.01, 0.5, 1.0, 0.0])),
        "beta": draw(st.sampled_from([1.0, 0.0, 2.5])),
        "prior_accuracy": draw(st.one_of(st.sampled_from([0.8, 0.5, 1.0]),
                                         st.floats(0.05, 0.95))),
        "prior_strength": draw(st.sampled_from([4.0, 0.0, 1.0, 25.0])),
        "worker_priors": {w: stochastic_rows(draw, K, K, zeros=False) for w in workers} or None,
        "max_iter": draw(st.integers(1, 40)),
        "tol": draw(st.sampled_from([1e-7, 1e-4, 1e-10])),
        "calibration": draw(st.sampled_from(["none", "loo", "gold"])),
        "tie_break": draw(st.sampled_from(["random", "first"])),
        "random_state": draw(st.integers(0, 2**31)),
    }


@st.composite
def crowd_and_params(draw, **kwargs):
    data = draw(judgment_sets(**kwargs))
    return data, draw(ds_params(data))


def judgments_of(data, item=None, worker=None, gold=None):
    return Judgments.from_codes(data["item"] if item is None else item,
                                data["worker"] if worker is None else worker,
                                data["label"], n_classes=data["K"],
                                gold=data["gold"] if gold is None else gold)


def fit(data, params, **overrides):
    return DawidSkene(**{**params, **overrides}).fit(judgments_of(data))


def textbook_prior_tables(K, n_workers, params):
    """Pseudo-count tables [p, true, given] as documented: a default Dirichlet with
    ``prior_accuracy`` on the diagonal and the rest spread evenly, times ``prior_strength``;
    a ``worker_priors`` matrix (times ``prior_strength``) replaces it for that worker."""
    acc, strength = params["prior_accuracy"], params["prior_strength"]
    if K == 1:
        default = [[1.0]]
    else:
        default = [[acc if t == g else (1.0 - acc) / (K - 1) for g in range(K)] for t in range(K)]
    tables = [np.array(default) * strength]
    index = [0] * n_workers
    for w, matrix in (params["worker_priors"] or {}).items():
        index[w] = len(tables)
        tables.append(np.asarray(matrix) * strength)
    return index, np.array(tables)


def naive_fit(data, params, max_iter=None):
    index, tables = textbook_prior_tables(data["K"], data["n_workers"], params)
    return naive_dawid_skene(
        data["item"], data["worker"], data["label"], data["n_items"], data["n_workers"], data["K"],
        data["gold"], params["alpha"], params["beta"], index, tables,
        params["max_iter"] if max_iter is None else max_iter, params["tol"])


def stopped_on_borderline(history, tol):
    """True when the last step of ``history`` met the stopping rule only within float noise."""
    prev, last = history[-2], history[-1]
    return abs((last - prev) - tol * abs(prev)) <= 1e-9 * max(abs(prev), 1.0)


def same_iterations(run_a, run_b, hist_a, hist_b, tol):
    """Make two fits comparable when float noise made one stop an iteration earlier.

    ``run_x(max_iter)`` refits; ``hist_x`` extracts its history. The early stop must have
    been borderline (else it is a real difference); both are then refitted with the
    shorter iteration count (so their ``converged`` flags may legitimately differ).
    Returns ``(fit_a, fit_b, refitted)``.
    """
    a, b = run_a(None), run_b(None)
    n_a, n_b = len(hist_a(a)), len(hist_b(b))
    if n_a == n_b:
        return a, b, False
    shorter = hist_a(a) if n_a < n_b else hist_b(b)
    assert stopped_on_borderline(shorter, tol), (hist_a(a), hist_b(b))
    n = min(n_a, n_b)
    return run_a(n), run_b(n), True


def assert_close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


def clear_winner(posterior, gap=1e-6):
    """Rows whose best class beats the runner-up by more than ``gap`` (never a NaN row: no label)."""
    shown = np.isfinite(posterior).all(axis=1)
    if posterior.shape[1] == 1:
        return shown
    top2 = np.sort(posterior, axis=1)[:, -2:]
    return shown & (top2[:, 1] - top2[:, 0] > gap)


# ---------------------------------------------------------------------------------------
# the estimator equals the textbook EM
# ---------------------------------------------------------------------------------------
@FAST
@given(case=crowd_and_params())
def test_dawid_skene_matches_naive_em(case):
    data, params = case
    params = {**params, "calibration": "none"}  # probas_ = the EM posterior (temperature 1)
    model, ref, refitted = same_iterations(
        lambda n: fit(data, params, **({} if n is None else {"max_iter": n})),
        lambda n: naive_fit(data, params, n),
        lambda m: m.log_likelihood_history_, lambda r: r["history"], params["tol"])
    assert model.n_iter_ == ref["n_iter"]
    assert refitted or model.converged_ == ref["converged"]
    assert model.temperature_ == 1.0
    assert_close(model.log_likelihood_history_, ref["history"])
    assert_close(model.probas_, ref["posterior"])
    free = data["gold"] < 0  # gold rows: see test_raw_probas_are_not_clamped (xfail)
    assert_close(model.raw_probas_[free], ref["raw_posterior"][free])
    assert_close(model.confusion_, ref["confusion"])
    assert_close(model.priors_, ref["priors"])
    assert_close(model.worker_accuracy_, ref["worker_accuracy"])  # NaN for silent workers
    labels, n_tied = naive_pick_labels(model.probas_, POLICY[params["tie_break"]],
                                       params["random_state"], model.judgments_.item_keys)
    np.testing.assert_array_equal(model.labels_, labels)
    np.testing.assert_array_equal(model.n_tied_, n_tied)
    clear = clear_winner(ref["posterior"])
    np.testing.assert_array_equal(model.labels_[clear], ref["posterior"][clear].argmax(axis=1))


def test_dawid_skene_known_small_case():
    """Three workers, three items, the docstring example: one EM step by hand."""
    item = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    worker = np.array([0, 1, 2] * 3)
    label = np.array([1, 1, 0, 0, 0, 0, 1, 1, 1])
    model = DawidSkene(max_iter=1, alpha=1.0, beta=1.0, prior_strength=0.0).fit(
        Judgments.from_codes(item, worker, label, n_classes=2))
    # MV shares: item0 [1/3, 2/3], item1 [1, 0], item2 [0, 1]
    # class prior: (1 + [4/3, 5/3]) / 5
    np.testing.assert_allclose(model.priors_, [7 / 15, 8 / 15], rtol=1e-12)
    # worker 2 answered 0, 0, 1 on items 0, 1, 2:
    #   true 0 -> (1 + [1/3 + 1, 0]) / (2 + 4/3),  true 1 -> (1 + [2/3, 1]) / (2 + 5/3)
    expected = [[(7 / 3) / (10 / 3), 1 / (10 / 3)], [(5 / 3) / (11 / 3), 2 / (11 / 3)]]
    np.testing.assert_allclose(model.confusion_[2], expected, rtol=1e-12)
    assert model.n_iter_ == 1 and not model.converged_


# ---------------------------------------------------------------------------------------
# invariants
# ---------------------------------------------------------------------------------------
@FAST
@given(case=crowd_and_params())
def test_posterior_rows_are_distributions(case):
    data, params = case
    model = fit(data, params)
    answered = np.bincount(np.asarray(data["item"])[np.asarray(data["label"]) >= 0], minlength=data["n_items"])
    shown = (answered > 0) | (np.asarray(data["gold"]) >= 0)  # else no label: a NaN row
    assert np.isnan(model.probas_[~shown]).all() and (model.labels_[~shown] == -1).all()
    assert (model.probas_[shown] >= 0).all()
    np.testing.assert_allclose(model.probas_[shown].sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.confusion_.sum(axis=2), 1.0, rtol=0, atol=1e-12)
    assert model.priors_.sum() == pytest.approx(1.0, abs=1e-12)


@FAST
@given(case=crowd_and_params())
def test_log_likelihood_never_decreases(case):
    data, params = case
    model = fit(data, params, tol=0.0, max_iter=60, calibration="none")
    assert_non_decreasing(model.log_likelihood_history_)


def test_objective_converging_to_zero_is_not_a_decrease():
    """Found by hypothesis in CI: a known annotator on a gold item drives the objective to 0 from below,
    where its last steps are ulps (-5.6e-17 at -1.1e-16); the check allows rounding, not decreases."""
    data = {"item": np.array([1], dtype=np.int32), "worker": np.array([0], dtype=np.int32),
            "label": np.array([-1], dtype=np.int32), "gold": np.array([-1, 0], dtype=np.int32),
            "n_items": 2, "n_workers": 1, "K": 2}
    params = {"alpha": 0.0, "beta": 0.0, "prior_accuracy": 0.8, "prior_strength": 4.0,
              "worker_priors": {0: np.eye(2)}, "tie_break": "random", "random_state": 0}
    history = fit(data, params, tol=0.0, max_iter=60, calibration="none").log_likelihood_history_
    assert history[-1] > -1e-12 and history[0] < -0.1  # it climbs to 0
    assert_non_decreasing(history)
    with pytest.raises(AssertionError):
        assert_non_decreasing([*history, history[-1] - 1e-6])  # a real step down still fails


@st.composite
def covered_crowds(draw):
    """Every worker judges every item and gives every class at least once (a calibration
    block of K items on which worker w answers (k + w) % K), so no count table is empty."""
    K = draw(st.integers(2, 4))
    n_workers = draw(st.integers(1, 6))
    n_extra = draw(st.integers(0, 20))
    extra = draw(st.lists(st.integers(0, K - 1), min_size=n_extra * n_workers,
                          max_size=n_extra * n_workers))
    item, worker, label = [], [], []
    for i in range(K + n_extra):
        for w in range(n_workers):
            item.append(i)
            worker.append(w)
            label.append((i + w) % K if i < K else extra[(i - K) * n_workers + w])
    n_items = K + n_extra
    gold = draw(st.lists(st.sampled_from([-1, -1, -1, *range(K)]), min_size=n_items,
                         max_size=n_items))
    return {"item": np.array(item), "worker": np.array(worker), "label": np.array(label),
            "gold": np.array(gold, dtype=np.int32), "n_items": n_items,
            "n_workers": n_workers, "K": K}


@FAST
@given(data=covered_crowds(), beta=st.sampled_from([0.0, 1.0]))
def test_log_likelihood_never_decreases_without_pseudo_counts(data, beta):
    params = {"alpha": 0.0, "beta": beta, "prior_strength": 0.0, "tol": 0.0, "max_iter": 60,
              "calibration": "none"}
    assert_non_decreasing(fit(data, params).log_likelihood_history_)
    # and it is the plain-likelihood EM of the textbook. Only the first 10 iterations:
    # without pseudo-counts EM can sit on a saddle (e.g. an item exactly split between two
    # classes) that float noise of 1e-16 eventually breaks, in either implementation.
    naive_params = {**params, "prior_accuracy": 0.8, "worker_priors": None, "max_iter": 10}
    params = {**params, "max_iter": 10}
    model, ref, _ = same_iterations(
        lambda n: fit(data, params, **({} if n is None else {"max_iter": n})),
        lambda n: naive_fit(data, naive_params, n),
        lambda m: m.log_likelihood_history_, lambda r: r["history"], 0.0)
    assert_close(model.log_likelihood_history_, ref["history"])
    assert_close(model.probas_, ref["posterior"])


FITTED = ("probas_", "raw_probas_", "temperature_", "labels_", "n_tied_", "confusion_", "priors_",
          "worker_accuracy_", "log_likelihood_history_", "n_iter_", "converged_")


@FAST
@given(case=crowd_and_params(), st_data=st.data())
def test_row_order_does_not_matter(case, st_data):
    data, params = case
    n = data["item"].size
    order = np.array(st_data.draw(st.permutations(range(n))))
    model = fit(data, params)
    shuffled = {**data, "item": data["item"][order], "worker": data["worker"][order],
                "label": data["label"][order]}
    other = fit(shuffled, params)
    for name in FITTED:
        np.testing.assert_array_equal(getattr(other, name), getattr(model, name), err_msg=name)


@FAST
@given(case=crowd_and_params(), st_data=st.data())
def test_renaming_items_and_workers_permutes_results(case, st_data):
    data, params = case
    # temperature fitting is a bounded scalar search whose steps may flip on 1e-16 noise
    params = {**params, "calibration": "none"}
    # make codes dense first (an unused highest code would vanish after renaming)
    _, item_code = np.unique(data["item"], return_inverse=True)
    used_workers, worker_code = np.unique(data["worker"], return_inverse=True)
    data = {**data, "item": item_code, "worker": worker_code,
            "gold": data["gold"][np.unique(data["item"])],
            "n_items": int(item_code.max()) + 1, "n_workers": int(worker_code.max()) + 1}
    if params["worker_priors"]:
        params = {**params, "worker_priors": {int(np.searchsorted(used_workers, w)): m
                                              for w, m in params["worker_priors"].items()
                                              if w in used_workers}}
    item_perm = np.array(st_data.draw(st.permutations(range(data["n_items"]))))
    worker_perm = np.array(st_data.draw(st.permutations(range(data["n_workers"]))))
    gold = np.empty_like(data["gold"])
    gold[item_perm] = data["gold"]
    renamed_params = {**params, "worker_priors": None if not params["worker_priors"] else
                      {int(worker_perm[w]): m for w, m in params["worker_priors"].items()}}

    def run_original(n):
        return fit(data, params, **({} if n is None else {"max_iter": n}))

    def run_renamed(n):
        j = judgments_of(data, item=item_perm[data["item"]], worker=worker_perm[data["worker"]],
                         gold=gold)
        p = renamed_params if n is None else {**renamed_params, "max_iter": n}
        return DawidSkene(**p).fit(j)

    history = lambda m: m.log_likelihood_history_  # noqa: E731
    model, renamed, refitted = same_iterations(run_original, run_renamed, history, history,
                                               params["tol"])
    assert renamed.n_iter_ == model.n_iter_
    assert refitted or renamed.converged_ == model.converged_
    assert_close(renamed.log_likelihood_history_, model.log_likelihood_history_)
    assert_close(renamed.probas_[item_perm], model.probas_)
    assert_close(renamed.raw_probas_[item_perm], model.raw_probas_)
    assert_close(renamed.confusion_[worker_perm], model.confusion_)
    assert_close(renamed.worker_accuracy_[worker_perm], model.worker_accuracy_)
    assert_close(renamed.priors_, model.priors_)
    # labels agree wherever the choice is not a (near) tie; ties are seeded per item code
    clear = clear_winner(model.probas_)
    np.testing.assert_array_equal(renamed.labels_[item_perm][clear], model.labels_[clear])


@FAST
@given(case=crowd_and_params())
def test_gold_items_are_clamped(case):
    data, params = case
    model = fit(data, params)
    known = np.flatnonzero(data["gold"] >= 0)
    onehot = np.zeros((known.size, data["K"]))
    onehot[np.arange(known.size), data["gold"][known]] = 1.0
    np.testing.assert_array_equal(model.probas_[known], onehot)
    np.testing.assert_array_equal(model.labels_[known], data["gold"][known])
    np.testing.assert_array_equal(model.n_tied_[known], 1)


@SLOW
@given(seed=st.integers(0, 2**32 - 1), K=st.integers(2, 4), n_noisy=st.integers(4, 6),
       accuracy=st.floats(0.75, 0.9))
def test_truthful_worker_gets_identity_confusion(seed, K, n_noisy, accuracy):
    """500 items, 4-6 noisy workers (accuracy 0.75-0.9, errors uniform) and one worker who
    always answers the truth. (The MAP estimate is not exactly the identity: items where
    the noisy majority disagrees keep some posterior mass on the majority's class; over
    a scan of 1000+ such crowds the largest deviation was 0.046.)"""
    rng = np.random.default_rng(seed)
    n_items = 500
    truth = rng.integers(0, K, n_items)
    item = np.repeat(np.arange(n_items), n_noisy + 1)
    worker = np.tile(np.arange(n_noisy + 1), n_items)
    right = rng.random(item.size) < accuracy
    wrong = (truth[item] + rng.integers(1, K, item.size)) % K
    label = np.where(right, truth[item], wrong)
    label[worker == n_noisy] = truth  # the last worker always tells the truth
    model = DawidSkene(calibration="none").fit(
        Judgments.from_codes(item, worker, label, n_classes=K))
    truthful = model.confusion_[n_noisy]
    assert np.abs(truthful - np.eye(K)).max() <= 0.08, truthful
    noisy_diagonals = np.diagonal(model.confusion_[:n_noisy], axis1=1, axis2=2)
    assert np.diag(truthful).min() > noisy_diagonals.max()
    assert model.worker_accuracy_[n_noisy] > 0.95
    assert (model.labels_ == truth).mean() > 0.97


@FAST
@given(case=crowd_and_params(), strength=st.sampled_from([1.0, 10.0, 1000.0]),
       st_data=st.data())
def test_worker_prior_bounds_confusion(case, strength, st_data):
    """Each confusion row of a worker with prior P is (alpha + s P + E) / (K alpha + s + E_t)
    with E >= 0 the expected counts, so |confusion - P| <= (K alpha + n_w) / (K alpha + s + n_w),
    n_w the worker's class judgments; and a strong prior pulls closer than none."""
    data, params = case
    K = data["K"]
    w = st_data.draw(st.integers(0, data["n_workers"] - 1))
    prior = stochastic_rows(st_data.draw, K, K, zeros=False)
    params = {**params, "calibration": "none"}  # confusion_ does not depend on it
    pulled = fit(data, params, prior_strength=strength, worker_priors={w: prior})
    n_w = int(((data["worker"] == w) & (data["label"] >= 0)).sum())
    a = params["alpha"]
    bound = (K * a + n_w) / (K * a + strength + n_w)
    assert np.abs(pulled.confusion_[w] - prior).max() <= bound + 1e-12
    free = fit(data, params, prior_strength=0.0, worker_priors=None, alpha=max(a, 0.01))
    if strength == 1000.0 and n_w <= 40:
        assert (np.abs(pulled.confusion_[w] - prior).max()
                <= np.abs(free.confusion_[w] - prior).max() + 0.05)


def test_worker_prior_moves_confusion_toward_prior_known_case():
    # worker 2 disagrees with the two others on every item; a prior saying "worker 2 is
    # reliable" must raise its estimated diagonal
    item = np.repeat(np.arange(6), 3)
    worker = np.tile(np.arange(3), 6)
    label = np.array([0, 0, 1, 1, 1, 0] * 3)
    j = Judgments.from_codes(item, worker, label, n_classes=2)
    free = DawidSkene().fit(j).confusion_[2]
    pulled = DawidSkene(worker_priors={2: np.eye(2)}, prior_strength=50.0).fit(j).confusion_[2]
    assert np.trace(pulled) > np.trace(free)
    assert np.abs(pulled - np.eye(2)).max() < np.abs(free - np.eye(2)).max()


def _fit_with_threads(n_threads, judgments, params):
    previous = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    try:
        return DawidSkene(**params).fit(judgments)
    finally:
        numba.set_num_threads(previous)


needs_two_threads = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                                       reason="needs 2 numba threads")


@needs_two_threads
@SLOW
@given(case=crowd_and_params())
def test_thread_count_does_not_change_results(case):
    data, params = case
    judgments = judgments_of(data)
    one = _fit_with_threads(1, judgments, params)
    two = _fit_with_threads(2, judgments, params)
    assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS
    for name in FITTED:
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name), err_msg=name)


@needs_two_threads
def test_thread_count_does_not_change_results_large():
    rng = np.random.default_rng(11)
    n_items, n_workers, K = 4000, 60, 3
    item = np.repeat(np.arange(n_items), 5)
    worker = np.concatenate([rng.choice(n_workers, 5, replace=False) for _ in range(n_items)])
    label = rng.integers(-1, K, item.size)
    gold = np.where(rng.random(n_items) < 0.05, rng.integers(0, K, n_items), -1)
    judgments = Judgments.from_codes(item, worker, label, n_classes=K, gold=gold)
    params = {"max_iter": 30, "tol": 0.0, "worker_priors": {3: np.full((K, K), 1 / K)}}
    one = _fit_with_threads(1, judgments, params)
    two = _fit_with_threads(2, judgments, params)
    for name in FITTED:
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name), err_msg=name)


# ---------------------------------------------------------------------------------------
# Regressions for bugs these tests found
# ---------------------------------------------------------------------------------------
def test_no_pseudo_counts_with_subnormal_posterior_mass_stays_finite():
    """Classical ML Dawid-Skene (alpha=0, prior_strength=0, which the docstring recommends).

    315 workers answer 12 items: gold item 0 (class 0) -> 0, gold item 1 (class 1) -> 0,
    gold items 2-10 (class 1) -> 1, and item 11 -> 0; so P(0 | true 1) = 1/10 for each and
    item 11's posterior on class 1 is about 10**-315 * 11/3, a subnormal. Worker 315
    answers only item 11, so its true-class-1 column total is that subnormal number.
    Compiled with fastmath 'arcp', m_step_emission computed log(count * (1/total)) with
    1/total = inf: log P = +inf, then NaN posteriors and a NaN/decreasing history.
    """
    n_crowd = 315
    item, worker, label = [], [], []
    for w in range(n_crowd):
        for i in range(12):
            item.append(i)
            worker.append(w)
            label.append(0 if i <= 1 or i == 11 else 1)
    item.append(11)
    worker.append(n_crowd)
    label.append(0)
    gold = np.array([0] + [1] * 10 + [-1], dtype=np.int32)
    data = {"item": np.array(item), "worker": np.array(worker), "label": np.array(label),
            "gold": gold, "n_items": 12, "n_workers": n_crowd + 1, "K": 2}
    params = {"alpha": 0.0, "beta": 1.0, "prior_accuracy": 0.8, "prior_strength": 0.0,
              "worker_priors": None, "max_iter": 5, "tol": 1e-7}
    model = fit(data, params, calibration="none")
    ref = naive_fit(data, params)
    assert 0.0 < ref["posterior"][11, 1] < np.finfo(float).tiny  # the scenario is as described
    assert ref["n_iter"] == 2 and ref["converged"]
    assert np.isfinite(model.log_likelihood_history_).all(), model.log_likelihood_history_
    assert_close(model.log_likelihood_history_, ref["history"])
    assert_close(model.confusion_, ref["confusion"])


def test_row_order_does_not_matter_with_repeated_pairs():
    """Judgments.from_codes once sorted with np.lexsort((worker, item)) only, so repeated
    (item, worker) pairs kept their input order and the EM sums ran in another order."""
    item = np.array([1, 1, 0])
    worker = np.array([0, 0, 0])  # worker 0 answered item 1 twice, with 0 and with 1
    label = np.array([0, 1, 1])
    reverse = np.array([2, 1, 0])
    a = DawidSkene(max_iter=3).fit(Judgments.from_codes(item, worker, label, n_classes=2))
    b = DawidSkene(max_iter=3).fit(
        Judgments.from_codes(item[reverse], worker[reverse], label[reverse], n_classes=2))
    for name in FITTED:
        np.testing.assert_array_equal(getattr(b, name), getattr(a, name), err_msg=name)


def test_raw_probas_are_not_clamped():
    judgments = Judgments.from_codes(np.array([0]), np.array([0]), np.array([0]), n_classes=2,
                                     gold=np.array([0], dtype=np.int32))
    model = DawidSkene(calibration="none", max_iter=1).fit(judgments)
    ref = naive_dawid_skene([0], [0], [0], 1, 1, 2, [0], 0.01, 1.0, [0],
                            np.array([[[4 * 0.8, 4 * 0.2], [4 * 0.2, 4 * 0.8]]]), 1, 1e-7)
    assert ref["raw_posterior"][0, 1] > 0.1  # a single answer does not settle the class
    np.testing.assert_array_equal(model.probas_, [[1.0, 0.0]])
    assert_close(model.raw_probas_, ref["raw_posterior"])  # got [[1.0, 0.0]]
