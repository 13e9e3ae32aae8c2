"""Annotator reliability: expected confusion counts, accuracy intervals, spammer score,
evidence rank, and the worker/confusion tables of fitted models."""

from __future__ import annotations

import math

import numba
import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive import judgment_sets, readonly, stochastic_rows, worker_csr
from naive_models import naive_expected_confusion_counts, naive_spammer_score, with_threads
from scipy import stats

from consensus import GLAD, MACE, DawidSkene, Judgments, MajorityVote, OneCoinDawidSkene, Wawa
from consensus import reliability
from consensus.kernels.reliability import expected_confusion_counts

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TABLES = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RTOL, ATOL = 1e-9, 1e-12
MODELS = {"mv": MajorityVote, "wawa": Wawa, "ds": DawidSkene, "one_coin": OneCoinDawidSkene,
          "mace": MACE, "glad": GLAD}


# ---------------------------------------------------------------------------------------
# expected confusion counts
# ---------------------------------------------------------------------------------------
@SETTINGS
@given(data=judgment_sets(gold=False, duplicates=True), st_data=st.data())
def test_expected_confusion_counts_matches_naive(data, st_data):
    posterior = stochastic_rows(st_data.draw, data["n_items"], data["K"])
    empty = st_data.draw(st.lists(st.integers(0, data["n_items"] - 1), max_size=3))
    posterior[empty] = 0.0  # all-zero rows contribute nothing
    offsets, item_by_worker, label_by_worker, posterior = readonly(
        *worker_csr(data["item"], data["worker"], data["label"], data["n_workers"]), posterior)
    counts = expected_confusion_counts(offsets, item_by_worker, label_by_worker, posterior)
    expected = naive_expected_confusion_counts(offsets, item_by_worker, label_by_worker, posterior)
    assert counts.shape == (data["n_workers"], data["K"], data["K"])
    np.testing.assert_allclose(counts, expected, rtol=RTOL, atol=ATOL)
    # column sums: how often each worker gave each class (on items with posterior mass)
    keep = (data["label"] >= 0) & (posterior.sum(axis=1)[data["item"]] > 0)
    given_counts = np.zeros((data["n_workers"], data["K"]))
    np.add.at(given_counts, (data["worker"][keep], data["label"][keep]), 1.0)
    np.testing.assert_allclose(counts.sum(axis=1), given_counts, rtol=RTOL, atol=1e-12)


@SETTINGS
@given(data=judgment_sets(gold=False), st_data=st.data())
def test_confusion_counts_treats_nan_rows_as_zero(data, st_data):
    posterior = stochastic_rows(st_data.draw, data["n_items"], data["K"])
    nan_rows = st_data.draw(st.lists(st.integers(0, data["n_items"] - 1), max_size=3))
    posterior[nan_rows] = np.nan
    judgments = Judgments.from_codes(data["item"], data["worker"], data["label"], n_classes=data["K"])
    counts = reliability.confusion_counts(judgments, posterior)
    offsets, item_by_worker, label_by_worker = worker_csr(data["item"], data["worker"], data["label"],
                                                          data["n_workers"])
    expected = naive_expected_confusion_counts(offsets, item_by_worker, label_by_worker,
                                               np.where(np.isnan(posterior), 0.0, posterior))
    assert np.isfinite(counts).all()
    np.testing.assert_allclose(counts, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 numba threads")
def test_expected_confusion_counts_independent_of_thread_count():
    rng = np.random.default_rng(13)
    n_items, n_workers, K = 3000, 50, 4
    item = np.repeat(np.arange(n_items), 5)
    worker = rng.integers(0, n_workers, item.size)
    label = rng.integers(-1, K, item.size)
    offsets, item_by_worker, label_by_worker = worker_csr(item, worker, label, n_workers)
    posterior = rng.dirichlet(np.ones(K), n_items)
    one, two = (with_threads(n, expected_confusion_counts, offsets, item_by_worker, label_by_worker,
                             posterior) for n in (1, 2))
    np.testing.assert_array_equal(one, two)


# ---------------------------------------------------------------------------------------
# spammer score
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("K", [2, 3, 4, 5])
def test_spammer_score_identity_is_zero_and_identical_rows_one(K):
    rng = np.random.default_rng(K)
    row = rng.dirichlet(np.ones(K))
    permutation = np.eye(K)[rng.permutation(K)]
    confusion = np.stack([np.eye(K), np.tile(row, (K, 1)), np.full((K, K), 1.0 / K), permutation,
                          np.tile(np.eye(K)[0], (K, 1))])
    score = reliability.spammer_score(confusion)
    np.testing.assert_allclose(score, [0.0, 1.0, 1.0, 0.0, 1.0], rtol=0, atol=1e-12)


@SETTINGS
@given(n_workers=st.integers(0, 8), K=st.integers(2, 5), st_data=st.data())
def test_spammer_score_matches_naive(n_workers, K, st_data):
    confusion = stochastic_rows(st_data.draw, n_workers * K, K).reshape(n_workers, K, K)
    score = reliability.spammer_score(confusion)
    np.testing.assert_allclose(score, naive_spammer_score(confusion), rtol=RTOL, atol=ATOL)
    assert ((score >= -1e-12) & (score <= 1.0 + 1e-12)).all()


def test_spammer_score_known_value():
    # K = 2: D = ((0.8 - 0.3)^2 + (0.2 - 0.7)^2) / 2 = 0.25
    assert reliability.spammer_score(np.array([[[0.8, 0.2], [0.3, 0.7]]]))[0] == pytest.approx(0.75)


# ---------------------------------------------------------------------------------------
# accuracy interval and rank
# ---------------------------------------------------------------------------------------
@st.composite
def correct_and_total(draw):
    n = draw(st.integers(1, 10))
    total = np.array(draw(st.lists(st.one_of(st.integers(0, 200).map(float), st.floats(0.0, 200.0)),
                                   min_size=n, max_size=n)))
    share = np.array(draw(st.lists(st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0)),
                                   min_size=n, max_size=n)))
    return share * total, total


def reference_interval(correct: float, total: float, level: float) -> tuple[float, float]:
    """Beta(correct + 1, wrong + 1): equal-tailed, or one-sided on the side of a share beyond it."""
    a, b = correct + 1.0, total - correct + 1.0
    lo, hi = stats.beta.interval(level, a, b)
    share = correct / total
    if share > hi:
        return stats.beta.ppf(1.0 - level, a, b), 1.0
    if share < lo:
        return 0.0, stats.beta.ppf(level, a, b)
    return lo, hi


@SETTINGS
@given(counts=correct_and_total(), level=st.sampled_from([0.95, 0.9, 0.5, 0.99]))
def test_accuracy_interval_is_scipy_beta_interval(counts, level):
    correct, total = counts
    mean, lower, upper = reliability.accuracy_interval(correct.copy(), total.copy(), level)
    for w in range(total.size):
        if total[w] <= 0:
            assert math.isnan(mean[w]) and math.isnan(lower[w]) and math.isnan(upper[w])
            continue
        a, b = correct[w] + 1.0, total[w] - correct[w] + 1.0
        lo, hi = reference_interval(correct[w], total[w], level)
        share = correct[w] / total[w]
        assert lower[w] == pytest.approx(lo, rel=1e-9, abs=1e-12)
        assert upper[w] == pytest.approx(hi, rel=1e-9, abs=1e-12)
        assert stats.beta.cdf(hi, a, b) - stats.beta.cdf(lo, a, b) == pytest.approx(level, abs=1e-7)
        assert mean[w] == pytest.approx(a / (a + b), rel=1e-12)
        assert lower[w] <= share <= upper[w]  # the models' accuracy lies in its own interval


def test_accuracy_interval_known_values():
    # Beta(3, 1) (2 of 2 right): CDF x^3; Beta(1, 1) (nothing): uniform
    # 2 of 2 right: the share 1.0 is above the equal-tailed upper end 0.975 ** (1/3), so one-sided [0.05 ** (1/3), 1]
    mean, lower, upper = reliability.accuracy_interval(np.array([2.0, 0.0]), np.array([2.0, 0.0]), 0.95)
    np.testing.assert_allclose([mean[0], lower[0], upper[0]], [0.75, 0.05 ** (1 / 3), 1.0], rtol=1e-9)
    assert np.isnan([mean[1], lower[1], upper[1]]).all()
    # 1 of 2 right: Beta(2, 2), equal-tailed
    _, lower, upper = reliability.accuracy_interval(np.array([1.0]), np.array([2.0]), 0.95)
    np.testing.assert_allclose([lower[0], upper[0]], stats.beta.interval(0.95, 2, 2), rtol=1e-9)
    # 0 of 4 right: one-sided [0, 1 - 0.05 ** (1/5)]
    _, lower, upper = reliability.accuracy_interval(np.array([0.0]), np.array([4.0]), 0.95)
    np.testing.assert_allclose([lower[0], upper[0]], [0.0, 1 - 0.05 ** (1 / 5)], rtol=1e-9)
    # no answers to speak of (0 of 1e-9): the uniform posterior, one-sided since the share 0 is below 0.05
    mean, lower, upper = reliability.accuracy_interval(np.array([0.0]), np.array([1e-9]), 0.9)
    np.testing.assert_allclose([lower[0], upper[0]], [0.0, 0.9], rtol=1e-6)


def test_rank_prefers_95_of_100_over_2_of_2():
    correct = np.array([2.0, 95.0, 15.0])
    total = np.array([2.0, 100.0, 20.0])
    mean, lower, _ = reliability.accuracy_interval(correct, total, 0.95)
    assert mean[0] > mean[2]  # the point estimates favour 2 of 2 over 15 of 20 ...
    rank = reliability.rank_by_lower_bound(lower)
    np.testing.assert_array_equal(rank, [3, 1, 2])  # ... the evidence does not



def test_rank_puts_nan_last():
    _, lower, _ = reliability.accuracy_interval(np.array([2.0, 0.0, 95.0]), np.array([2.0, 0.0, 100.0]))
    np.testing.assert_array_equal(reliability.rank_by_lower_bound(lower), [2, 3, 1])


def test_worker_table_ranks_worker_without_answers_last():
    # worker "z" only abstains: no interval, so it cannot be the most reliable annotator
    item = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    worker = np.array([0, 1, 2] * 3)
    label = np.array([1, 1, -1, 0, 0, -1, 1, 1, -1])
    table = MajorityVote().fit(Judgments.from_codes(item, worker, label, n_classes=2)).worker_table()
    assert table["accuracy_lower"][2] is None
    assert table["rank"].to_list()[2] == 3


def _expected_rank(lower):
    """1 + strictly better finite lower bounds + equal ones listed earlier; NaN after all
    finite ones, in index order (the documented order, written out)."""
    finite = np.flatnonzero(~np.isnan(lower))
    out = []
    for w in range(lower.size):
        if np.isnan(lower[w]):
            out.append(finite.size + 1 + int(np.isnan(lower[:w]).sum()))
        else:
            out.append(1 + int((lower[finite] > lower[w]).sum()) + int((lower[:w] == lower[w]).sum()))
    return np.array(out)


@SETTINGS
@given(lower=st.lists(st.one_of(st.sampled_from([0.1, 0.5]), st.floats(0.0, 1.0)), max_size=12))
def test_rank_by_lower_bound_order(lower):
    lower = np.array(lower, dtype=np.float64)
    rank = reliability.rank_by_lower_bound(lower)
    np.testing.assert_array_equal(rank, _expected_rank(lower))


# ---------------------------------------------------------------------------------------
# worker_table and confusion_table of fitted models
# ---------------------------------------------------------------------------------------
@st.composite
def uneven_crowds(draw):
    """Workers with very different numbers of judgments (some below, some above 20)."""
    K = draw(st.integers(2, 4))
    n_items = draw(st.integers(5, 40))
    sizes = draw(st.lists(st.integers(0, n_items), min_size=1, max_size=6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    item, worker, label = [], [], []
    for w, size in enumerate(sizes):
        chosen = rng.choice(n_items, size, replace=False)
        item.extend(chosen)
        worker.extend([w] * size)
        label.extend(rng.integers(-1, K, size))
    if not item:
        item, worker, label = [0], [0], [0]
    return np.array(item), np.array(worker), np.array(label), K


def _truth(model):
    """The posterior the package documents for scoring annotators: the model's probas_,
    or one-hot chosen labels for the voting methods."""
    if isinstance(model, MajorityVote):
        onehot = np.zeros_like(model.probas_)
        chosen = np.flatnonzero(model.labels_ >= 0)
        onehot[chosen, model.labels_[chosen]] = 1.0
        return onehot
    return np.nan_to_num(model.probas_, nan=0.0)


@pytest.mark.parametrize("name", list(MODELS))
@TABLES
@given(crowd=uneven_crowds(), level=st.sampled_from([0.95, 0.8]))
def test_worker_table_intervals_and_evidence(name, crowd, level):
    item, worker, label, K = crowd
    judgments = Judgments.from_codes(item, worker, label, n_classes=K)
    model = MODELS[name]().fit(judgments)
    table = model.worker_table(level=level)
    n_workers = judgments.n_workers
    offsets, item_by_worker, label_by_worker = worker_csr(item, worker, label, n_workers)
    counts = naive_expected_confusion_counts(offsets, item_by_worker, label_by_worker, _truth(model))
    n_answers = np.bincount(worker[label >= 0], minlength=n_workers)
    lower = table["accuracy_lower"].to_numpy().astype(float)  # null -> NaN
    upper = table["accuracy_upper"].to_numpy().astype(float)
    has = ~np.isnan(lower)
    np.testing.assert_array_equal(has, n_answers > 0)
    assert (lower[has] <= upper[has]).all()
    for w in np.flatnonzero(has):
        correct = np.trace(counts[w])
        lo, hi = reference_interval(correct, counts[w].sum(), level)
        assert lower[w] == pytest.approx(lo, rel=1e-6, abs=1e-9)
        assert upper[w] == pytest.approx(hi, rel=1e-6, abs=1e-9)
    evidence = table["evidence"].to_numpy()
    np.testing.assert_array_equal(evidence, np.where(n_answers < 20, "too_few", "enough"))
    # rank: by the lower bound, best first (workers without answers: see the NaN xfail)
    rank = table["rank"].to_numpy()
    expected = _expected_rank(lower)
    np.testing.assert_array_equal(np.argsort(rank[has], kind="stable"),
                                  np.argsort(expected[has], kind="stable"))
    np.testing.assert_array_equal(table["n_judgments"].to_numpy(), np.bincount(worker, minlength=n_workers))
    np.testing.assert_array_equal(table["n_na"].to_numpy(),
                                  np.bincount(worker[label < 0], minlength=n_workers))


@pytest.mark.parametrize("name", list(MODELS))
@TABLES
@given(crowd=uneven_crowds(), level=st.sampled_from([0.95, 0.8]))
def test_confusion_table_bounds(name, crowd, level):
    item, worker, label, K = crowd
    judgments = Judgments.from_codes(item, worker, label, n_classes=K)
    model = MODELS[name]().fit(judgments)
    table = model.confusion_table(level=level)
    n_workers = judgments.n_workers
    assert table.height == n_workers * K * K
    offsets, item_by_worker, label_by_worker = worker_csr(item, worker, label, n_workers)
    counts = naive_expected_confusion_counts(offsets, item_by_worker, label_by_worker, _truth(model))
    lower, upper = table["lower"].to_numpy(), table["upper"].to_numpy()
    assert (lower <= upper).all() and (lower >= 0).all() and (upper <= 1).all()
    rows = table.to_dicts()
    tail = (1.0 - level) / 2.0
    for r, row in enumerate(rows):
        w, t, g = r // (K * K), (r // K) % K, r % K
        assert (row["true"], row["given"]) == (str(t), str(g))
        cell, total = counts[w, t, g], counts[w, t].sum()
        assert row["expected_count"] == pytest.approx(cell, rel=1e-9, abs=1e-12)
        a, b = cell + 1.0, total - cell + K - 1.0  # marginal of Dirichlet(counts + 1)
        assert row["lower"] == pytest.approx(stats.beta.ppf(tail, a, b), rel=1e-6, abs=1e-9)
        assert row["upper"] == pytest.approx(stats.beta.ppf(1 - tail, a, b), rel=1e-6, abs=1e-9)
        probability = model.confusion_[w, t, g]
        assert (row["probability"] is None) if np.isnan(probability) else \
            row["probability"] == pytest.approx(probability, rel=1e-12)


@pytest.mark.parametrize("name", ["one_coin", "mace", "glad", "ds"])
def test_worker_with_exactly_20_answers_has_enough_evidence(name):
    """Regression: worker_table compared n_answers = counts.sum(axis=(1, 2)), a float sum of
    posterior rows, with min_judgments; for exactly 20 class answers it was often
    20 - 3.6e-15, so the worker was marked 'too_few'."""
    too_few = 0
    for seed in range(8):
        rng = np.random.default_rng(seed)
        K = 5
        item = np.repeat(np.arange(20), 4)
        worker = np.tile(np.arange(4), 20)
        label = rng.integers(0, K, item.size)
        table = MODELS[name]().fit(Judgments.from_codes(item, worker, label, n_classes=K)).worker_table()
        too_few += int((table["evidence"] == "too_few").sum())
    assert too_few == 0  # every worker gave exactly 20 class answers


def test_worker_table_keeps_every_confusion_cell_when_class_names_hold_underscores():
    """Classes a, a_b, b_c, c: (a, b_c) and (a_b, c) were both 'conf_a_b_c', one cell silently lost."""
    from consensus import DawidSkene
    from consensus.models.base import confusion_column_names

    frame = pl.DataFrame({"item": ["i1", "i1", "i2", "i2", "i3", "i3", "i4", "i4"], "worker": ["x", "y"] * 4,
                          "label": ["a", "a", "a_b", "a_b", "b_c", "b_c", "c", "c"]})
    table = DawidSkene().fit(frame).worker_table()
    assert len([c for c in table.columns if c.startswith("conf_")]) == 16
    assert "conf_a|b_c" in table.columns and "conf_a_b|c" in table.columns
    assert confusion_column_names(["cat", "dog"])[1] == ("conf_cat_dog", 0, 1)
    assert confusion_column_names(["a|b", "a", "b|b"])[0][0] == "conf_a|b_a|b"  # no clash: plain names
    for classes in (["a_", "_a", "a|", "|a"], ["a", "a_b", "b_c", "c", "a|b", "b|c"]):
        names = [n for n, _, _ in confusion_column_names(classes)]
        assert len(set(names)) == len(classes) ** 2
