"""Temperature calibration: the leave-one-out kernel against a plain reference, and the fits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import log_softmax, logsumexp

from consensus import GLAD, MACE, DawidSkene, Judgments, OneCoinDawidSkene
from consensus.calibration import (GOLD_FOLDS, MAX_TEMPERATURE, answer_correlation, answer_rows,
                                   fit_item_temperature_gold, gold_folds,
                                   fit_item_temperature_loo, fit_temperature_gold, fit_temperature_loo,
                                   item_temperature, loo_items, temper)
from consensus.errors import ParameterError
from consensus.kernels.calibration import answer_correctness_moments, loo_predictive_loglik, loo_rows_loglik
from naive_calibration import naive_answer_correctness_moments, naive_icc, naive_loo_rows_loglik


def naive_loo_predictive_loglik(item, worker, label, log_emission, log_prior, temperature, items):
    """Per listed item: sum over its class answers of log P(answer | other answers, tempered)."""
    out = []
    for i in items:
        answers = [(w, l) for it, w, l in zip(item, worker, label) if it == i and l >= 0]
        total = 0.0
        for held, (w, l) in enumerate(answers):
            logits = np.array(log_prior, dtype=float)
            for other, (w2, l2) in enumerate(answers):
                if other != held:
                    logits = logits + log_emission[w2, l2]
            q = log_softmax(logits / temperature)
            total += logsumexp(q + log_emission[w, l])
        out.append(total)
    return np.array(out)


@st.composite
def tables(draw):
    n_items = draw(st.integers(1, 12))
    n_workers = draw(st.integers(1, 5))
    n_classes = draw(st.integers(2, 4))
    n = draw(st.integers(1, 40))
    item = np.array(draw(st.lists(st.integers(0, n_items - 1), min_size=n, max_size=n)))
    worker = np.array(draw(st.lists(st.integers(0, n_workers - 1), min_size=n, max_size=n)))
    label = np.array(draw(st.lists(st.integers(-1, n_classes - 1), min_size=n, max_size=n)))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    emission = rng.dirichlet(np.ones(n_classes), size=(n_workers, n_classes))  # [w, true, given]
    log_emission = np.ascontiguousarray(np.log(emission).transpose(0, 2, 1))  # [w, given, true]
    log_prior = np.log(rng.dirichlet(np.ones(n_classes)))
    temperature = draw(st.floats(1.0, 50.0))
    return item, worker, label, n_items, log_emission, log_prior, temperature


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_loo_kernel_matches_naive(case):
    item, worker, label, n_items, log_emission, log_prior, temperature = case
    order = np.lexsort((worker, item))
    item, worker, label = item[order], worker[order], label[order]
    offsets = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(np.bincount(item, minlength=n_items), out=offsets[1:])
    items = np.arange(0, n_items, 2, dtype=np.int64)
    fast = loo_predictive_loglik(offsets, worker.astype(np.int32), label.astype(np.int32),
                                 log_emission, log_prior, temperature, items)
    slow = naive_loo_predictive_loglik(item, worker, label, log_emission, log_prior, temperature, items)
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(1.0, 20.0))
def test_temper_keeps_argmax_and_rows_sum_to_one(seed, temperature):
    posterior = np.random.default_rng(seed).dirichlet(np.ones(4) * 0.3, size=30)
    tempered = temper(posterior, temperature)
    np.testing.assert_allclose(tempered.sum(axis=1), 1.0)
    np.testing.assert_array_equal(tempered.argmax(axis=1), posterior.argmax(axis=1))
    assert (tempered.max(axis=1) <= posterior.max(axis=1) + 1e-12).all()  # T >= 1 never sharpens
    assert temper(posterior, 1.0) is not posterior


def test_gold_temperature_recovers_known_overconfidence():
    rng = np.random.default_rng(0)
    n, true_t = 20_000, 4.0
    logits = rng.normal(0.0, 3.0, size=(n, 3))
    calibrated = np.exp(log_softmax(logits, axis=1))
    gold = np.array([rng.choice(3, p=p) for p in calibrated], dtype=np.int32)
    overconfident = np.exp(log_softmax(logits * true_t, axis=1))  # what an over-confident model reports
    fitted = fit_temperature_gold(overconfident, gold)
    assert fitted == pytest.approx(true_t, rel=0.05)
    assert fit_temperature_gold(overconfident, np.full(n, -1, dtype=np.int32)) == 1.0


def test_loo_temperature_is_reproducible_and_bounded():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, 300)
    item = np.repeat(np.arange(300), 5)
    worker = rng.integers(0, 12, item.size)
    correct = rng.random(item.size) < 0.8
    label = np.where(correct, truth[item], 1 - truth[item])
    keep = np.unique(item * 100 + worker, return_index=True)[1]
    judgments = Judgments.from_codes(item[keep], worker[keep], label[keep], n_classes=2)
    model = DawidSkene(calibration="none").fit(judgments)
    first = fit_temperature_loo(judgments, model._log_emission, model._log_prior)
    second = fit_temperature_loo(judgments, model._log_emission, model._log_prior)
    assert first == second and 1.0 <= first <= MAX_TEMPERATURE


def test_from_codes_rejects_bad_codes():
    from consensus import InputError

    with pytest.raises(InputError, match="out of range"):
        Judgments.from_codes([0], [0], [3], n_classes=2)
    with pytest.raises(InputError, match=">= 0"):
        Judgments.from_codes([-1], [0], [0], n_classes=2)


# -- per-item temperature ("item", "item_gold") ---------------------------------------------------------------
@st.composite
def answer_groups(draw):
    n_classes = draw(st.integers(2, 4))
    sizes = draw(st.lists(st.integers(0, 6), min_size=1, max_size=8))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    rows = np.log(rng.dirichlet(np.ones(n_classes), size=sum(sizes)))  # any finite log-likelihoods
    log_prior = np.log(rng.dirichlet(np.ones(n_classes)))
    base = draw(st.floats(1.0, 50.0))
    rho = draw(st.floats(0.0, 1.0))
    return sizes, rows, log_prior, base, rho


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer_groups())
def test_loo_rows_kernel_matches_naive(case):
    sizes, rows, log_prior, base, rho = case
    offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    fast = loo_rows_loglik(offsets, np.ascontiguousarray(rows), log_prior, base, rho)
    groups = [rows[offsets[t]:offsets[t + 1]].tolist() for t in range(len(sizes))]
    slow = naive_loo_rows_loglik(groups, log_prior.tolist(), base, rho)
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-12)
    assert (fast <= 1e-12).all()  # each answer's predictive is a probability


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_loo_rows_equals_table_kernel_at_rho_zero(case):
    """Built from the emission tables, the rows kernel at rho = 0 is the single-temperature kernel."""
    item, worker, label, n_items, log_emission, log_prior, temperature = case
    order = np.lexsort((worker, item))
    judgments = Judgments.from_codes(item[order], worker[order], label[order], n_classes=log_prior.size)
    items = np.arange(0, judgments.n_items, 2, dtype=np.int64)
    row_offsets, rows = answer_rows(judgments, items)
    assert (judgments.label[rows] >= 0).all()
    np.testing.assert_array_equal(np.diff(row_offsets), judgments.n_labels_per_item[items])
    log_rows = np.ascontiguousarray(log_emission[judgments.worker[rows], judgments.label[rows]])
    fast = loo_rows_loglik(row_offsets, log_rows, log_prior, temperature, 0.0)
    table = loo_predictive_loglik(judgments.item_offsets, judgments.worker, judgments.label, log_emission,
                                  log_prior, temperature, items)
    np.testing.assert_allclose(fast, table, rtol=1e-9, atol=1e-12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_correctness_moments_and_correlation_match_naive(case):
    item, worker, label, n_items, _, _, _ = case
    order = np.lexsort((worker, item))
    n_classes = int(max(label.max(), 0)) + 1
    judgments = Judgments.from_codes(item[order], worker[order], label[order], n_classes=n_classes)
    posterior = np.random.default_rng(int(item.sum())).dirichlet(np.ones(n_classes), size=judgments.n_items)
    fast = answer_correctness_moments(judgments.item_offsets, judgments.label, posterior)
    slow = naive_answer_correctness_moments(judgments.item, judgments.label, posterior, judgments.n_items)
    np.testing.assert_allclose(fast, np.array(slow).reshape(-1, 3), rtol=1e-12, atol=1e-12)
    groups = [[] for _ in range(judgments.n_items)]
    for i, lab in zip(judgments.item, judgments.label):
        if lab >= 0:
            groups[i].append(float(posterior[i, lab]))
    rho = answer_correlation(judgments, posterior)
    assert 0.0 <= rho <= 1.0
    assert rho == pytest.approx(naive_icc(groups), abs=1e-9)


def test_correlation_sees_shared_item_errors():
    """Answers whose correctness is shared within items (hard items) give rho near the truth."""
    rng = np.random.default_rng(3)
    n_items, n = 4000, 8
    hard = rng.random(n_items) < 0.3
    p_right = np.where(hard, 0.5, 0.95)
    right = rng.random((n_items, n)) < p_right[:, None]
    posterior = np.tile([0.0, 1.0], (n_items, 1))  # truth is class 1 everywhere, known
    label = np.where(right, 1, 0).ravel()
    judgments = Judgments.from_codes(np.repeat(np.arange(n_items), n), np.tile(np.arange(n), n_items),
                                     label, n_classes=2)
    y = right.astype(float)
    between = np.var(p_right)  # the ICC of a Bernoulli with item-level mean p_right
    expected = between / float(y.var())
    assert answer_correlation(judgments, posterior) == pytest.approx(expected, abs=0.02)
    same = np.ones((n_items, n), dtype=bool)
    judgments1 = Judgments.from_codes(np.repeat(np.arange(n_items), n), np.tile(np.arange(n), n_items),
                                      same.astype(int).ravel(), n_classes=2)
    assert answer_correlation(judgments1, posterior) == 0.0  # no spread at all


def test_item_temperature_and_per_row_temper():
    assert item_temperature(np.array([0, 1, 2, 11]), 2.0, 0.5).tolist() == [2.0, 2.0, 3.0, 12.0]
    posterior = np.random.default_rng(0).dirichlet(np.ones(3), size=4)
    t = np.array([1.0, 2.0, 3.0, 7.5])
    together = temper(posterior, t)
    for i in range(4):
        np.testing.assert_allclose(together[i], temper(posterior[i:i + 1], float(t[i]))[0], rtol=1e-12)
    np.testing.assert_array_equal(together.argmax(axis=1), posterior.argmax(axis=1))


def test_gold_item_temperature_recovers_known_design_effect():
    rng = np.random.default_rng(0)
    n_items = 20_000
    n = rng.integers(1, 21, n_items)
    true_base, true_rho = 1.5, 0.3
    logits = rng.normal(0.0, 1.5, size=(n_items, 3))
    calibrated = np.exp(log_softmax(logits, axis=1))
    gold = np.array([rng.choice(3, p=p) for p in calibrated], dtype=np.int32)
    scale = item_temperature(n, true_base, true_rho)
    overconfident = np.exp(log_softmax(logits * scale[:, None], axis=1))
    base, rho = fit_item_temperature_gold(overconfident, gold, n)
    assert base == pytest.approx(true_base, rel=0.1)
    assert rho == pytest.approx(true_rho, abs=0.05)
    assert fit_item_temperature_gold(overconfident, np.full(n_items, -1, dtype=np.int32), n) == (1.0, 0.0)


def _crowd(seed=1, n_items=300, hard_share=0.3):
    """Annotators of accuracy 0.8 on easy items; on hard items most of them pick the same wrong class."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n_items)
    n = rng.integers(2, 12, n_items)
    item = np.repeat(np.arange(n_items), n)
    worker = np.concatenate([rng.choice(20, size=k, replace=False) for k in n])
    hard = rng.random(n_items) < hard_share
    decoy = (truth + 1 + rng.integers(0, 2, n_items)) % 3
    right = rng.random(item.size) < np.where(hard[item], 0.45, 0.85)
    label = np.where(right, truth[item], np.where(rng.random(item.size) < 0.8, decoy[item],
                                                   rng.integers(0, 3, item.size)))
    return item, worker, label, truth


@pytest.mark.parametrize("model", [DawidSkene, OneCoinDawidSkene, MACE, GLAD])
def test_item_calibration_keeps_labels_and_softens(model):
    item, worker, label, truth = _crowd()
    judgments = Judgments.from_codes(item, worker, label, n_classes=3)
    none = model(calibration="none").fit(judgments)
    fitted = model(calibration="item").fit(judgments)
    np.testing.assert_array_equal(fitted.labels_, none.labels_)
    np.testing.assert_array_equal(fitted.probas_.argmax(axis=1), none.probas_.argmax(axis=1))
    np.testing.assert_array_equal(fitted.raw_probas_, none.raw_probas_)
    assert 1.0 <= fitted.temperature_ <= MAX_TEMPERATURE * (1 + 1e-12)
    assert 0.0 < fitted.answer_correlation_ <= 1.0  # the hard items share their errors
    n = judgments.n_labels_per_item
    np.testing.assert_allclose(fitted.item_temperature_,
                               fitted.temperature_ * (1 + fitted.answer_correlation_ * np.maximum(n - 1, 0)))
    np.testing.assert_allclose(fitted.probas_, temper(fitted.raw_probas_, fitted.item_temperature_), rtol=1e-12)
    assert fitted.probas_.max(axis=1).mean() < none.probas_.max(axis=1).mean()
    # on this crowd the softer confidences are closer to the truth than the raw ones (log loss)
    rows = np.arange(truth.size)
    assert -np.log(fitted.probas_[rows, truth]).mean() < -np.log(none.probas_[rows, truth]).mean()
    again = model(calibration="item").fit(judgments)
    assert (again.temperature_, again.answer_correlation_) == (fitted.temperature_, fitted.answer_correlation_)


def _out_of_fold(model, judgments, gold, **params):
    """Reference: each gold item's unclamped posterior from a public-API fit without its fold's gold."""
    raw = model(calibration="none", **params).fit(judgments).raw_probas_.copy()
    known = np.flatnonzero(gold >= 0)
    folds = np.array_split(np.random.default_rng(params.get("random_state", 0)).permutation(known), GOLD_FOLDS)
    codes = Judgments.from_codes(judgments.item, judgments.worker, judgments.label, n_classes=judgments.n_classes)
    for fold in folds:
        other = gold.copy()
        other[fold] = -1
        subset = Judgments(codes.item, codes.worker, codes.label, codes.item_ids, codes.worker_ids, codes.classes,
                           gold=other)
        raw[fold] = model(calibration="none", **params).fit(subset).raw_probas_[fold]
    return raw


def test_gold_folds_partition_the_gold_items():
    gold = np.full(40, -1, dtype=np.int32)
    gold[[1, 3, 5, 8, 13, 21, 34]] = 0
    folds = gold_folds(gold, seed=3)
    assert len(folds) == min(GOLD_FOLDS, 7)
    assert sorted(np.concatenate(folds).tolist()) == [1, 3, 5, 8, 13, 21, 34]
    assert max(f.size for f in folds) - min(f.size for f in folds) <= 1
    assert all((np.diff(f) > 0).all() for f in folds)
    assert [f.tolist() for f in gold_folds(gold, seed=3)] == [f.tolist() for f in folds]  # seeded
    gold[:] = -1
    gold[7] = 1
    # one gold item is its own fold: its out-of-fold posterior is the gold-free fit's (was in-sample)
    assert [f.tolist() for f in gold_folds(gold, seed=0)] == [[7]]
    gold[:] = -1
    assert gold_folds(gold, seed=0) == []


@pytest.mark.parametrize("model", [DawidSkene, OneCoinDawidSkene, MACE, GLAD])
def test_gold_temperature_is_fitted_on_out_of_fold_posteriors(model):
    """A fit that clamps an item's gold learns from it; the gold temperature must not see that."""
    item, worker, label, truth = _crowd(seed=2)
    gold = np.full(truth.size, -1, dtype=np.int32)
    gold[:60] = truth[:60]
    judgments = Judgments.from_codes(item, worker, label, n_classes=3, gold=gold)
    params = {"max_iter": 20} if model is GLAD else {}
    fitted = model(calibration="gold", **params).fit(judgments)
    expected = fit_temperature_gold(_out_of_fold(model, judgments, gold, **params), gold)
    assert fitted.temperature_ == expected
    in_sample = fit_temperature_gold(fitted.raw_probas_, gold)
    if model is DawidSkene:  # in-sample posteriors of clamped items look more right: a smaller temperature
        assert in_sample < expected


def test_item_gold_calibration_uses_gold_and_clamps():
    item, worker, label, truth = _crowd(seed=2)
    gold = np.full(truth.size, -1, dtype=np.int32)
    gold[:150] = truth[:150]
    judgments = Judgments.from_codes(item, worker, label, n_classes=3, gold=gold)
    fitted = DawidSkene(calibration="item_gold").fit(judgments)
    base, rho = fit_item_temperature_gold(_out_of_fold(DawidSkene, judgments, gold), gold,
                                          judgments.n_labels_per_item)
    assert (fitted.temperature_, fitted.answer_correlation_) == (base, rho)
    np.testing.assert_array_equal(fitted.probas_[:150].argmax(axis=1), truth[:150])
    assert (fitted.probas_[:150].max(axis=1) == 1.0).all()
    np.testing.assert_allclose(fitted.probas_[150:], temper(fitted.raw_probas_, fitted.item_temperature_)[150:])
    # without gold, "item_gold" is "item"
    plain = Judgments.from_codes(item, worker, label, n_classes=3)
    a = DawidSkene(calibration="item_gold").fit(plain)
    b = DawidSkene(calibration="item").fit(plain)
    assert (a.temperature_, a.answer_correlation_) == (b.temperature_, b.answer_correlation_)


def test_single_temperature_modes_report_flat_item_temperature():
    item, worker, label, _ = _crowd(seed=4)
    judgments = Judgments.from_codes(item, worker, label, n_classes=3)
    for mode in ("loo", "none"):
        fitted = DawidSkene(calibration=mode).fit(judgments)
        assert fitted.answer_correlation_ == 0.0
        np.testing.assert_array_equal(fitted.item_temperature_, np.full(judgments.n_items, fitted.temperature_))


def test_loo_items_cover_everything_when_small():
    np.testing.assert_array_equal(loo_items(5), np.arange(5))
    big = loo_items(50_001)
    assert big.size <= 20_000 and big[0] == 0 and np.all(np.diff(big) == np.diff(big)[0])


def test_item_loo_fit_is_bounded_and_reproducible():
    item, worker, label, _ = _crowd(seed=5)
    judgments = Judgments.from_codes(item, worker, label, n_classes=3)
    model = DawidSkene(calibration="none").fit(judgments)
    row_offsets, rows = answer_rows(judgments, loo_items(judgments.n_items))
    log_rows = model._log_emission[judgments.worker[rows], judgments.label[rows]]
    first = fit_item_temperature_loo(row_offsets, log_rows, model._log_prior, 0.2)
    assert first == fit_item_temperature_loo(row_offsets, log_rows, model._log_prior, 0.2)
    assert 1.0 <= first <= MAX_TEMPERATURE


def test_partitioned_engine_rejects_per_item_calibration():
    with pytest.raises(ParameterError, match="'calibration' parameter of DawidSkene"):
        DawidSkene(calibration="item").fit("unused.parquet", engine="dask")


def test_answer_correlation_is_zero_without_spread_beyond_rounding():
    # one-class posteriors from a Dirichlet: 1.0 and 0.9999999999999999, i.e. constant up to rounding
    judgments = Judgments.from_codes(np.array([0, 1, 1, 1, 1]), np.array([0, 1, 2, 3, 4]), np.zeros(5, int),
                                     n_classes=1)
    posterior = np.array([[1.0], [0.9999999999999999]])
    groups = [[1.0], [0.9999999999999999] * 4]
    assert answer_correlation(judgments, posterior) == 0.0 == naive_icc(groups)
    spread = np.array([[0.2], [0.9]])
    assert 0.0 <= answer_correlation(judgments, spread) <= 1.0


def _unanimous_crowd():
    """60 ordinary items by 5 annotators (70% right) plus 'u400' and 'u1200': 400 / 1,200 one-shot-ish
    annotators all answering 'a' (p0..p399 answer both), so the runner-up class of 'u1200' is
    thousands of nats behind: 0 as a float64 probability."""
    import polars as pl

    rng = np.random.default_rng(0)
    rows = [(f"i{i}", f"w{j}", "ab"[i % 2] if rng.random() < 0.7 else "ab"[1 - i % 2])
            for i in range(60) for j in range(5)]
    rows += [(f"u{n}", f"p{j}", "a") for n in (400, 1200) for j in range(n)]
    return pl.DataFrame(rows, schema=["item", "worker", "label"], orient="row")


@pytest.mark.parametrize("model", [DawidSkene, OneCoinDawidSkene, GLAD, MACE])
def test_per_item_temperature_survives_posterior_underflow(model):
    """Before: log(0) = -inf survived any temperature, so 'u1200' came out at exactly 1.0 while 'u400'
    (same answers, fewer) was tempered down. The tempered posterior now comes from exact log-posteriors."""
    fitted = model(calibration="item").fit(_unanimous_crowd())
    items = fitted.judgments_.item_ids.to_list()
    u400, u1200 = items.index("u400"), items.index("u1200")
    assert fitted.raw_probas_[u1200].min() == 0.0  # the underflow this guards against happens
    top = fitted.probas_.max(axis=1)
    assert np.isfinite(fitted.probas_).all()
    np.testing.assert_allclose(fitted.probas_.sum(axis=1), 1.0, atol=1e-12)
    if model is not GLAD:  # GLAD's easiness per item keeps these items near-certain (but not 1 by underflow)
        assert top[u1200] < 0.99 and abs(top[u1200] - top[u400]) < 0.05
    rows, values = fitted._raw_log_rows
    assert u1200 in rows.tolist()
    expected = temper(fitted.raw_probas_, fitted.item_temperature_, (rows, values))
    np.testing.assert_array_equal(fitted.probas_, expected)


def test_redundancy_advice_tempers_underflowed_items_like_the_others():
    from consensus import advise_redundancy

    fitted = DawidSkene(calibration="none").fit(_unanimous_crowd())
    items = advise_redundancy(fitted, target=0.95, calibration="per_item", rho=1.0).items
    conf = dict(zip(items["item"].to_list(), items["confidence"].to_list()))
    action = dict(zip(items["item"].to_list(), items["action"].to_list()))
    assert conf["u1200"] < 0.9 and abs(conf["u1200"] - conf["u400"]) < 0.02
    assert action["u1200"] == action["u400"]


def test_partitioned_engine_tempers_underflowed_items(monkeypatch):
    """The partitioned engine (in-process LocalBackend) tempers each partition from exact logs too."""
    from consensus.backends import em as backend_em
    from consensus.backends.local import LocalBackend

    frame = _unanimous_crowd()
    monkeypatch.setattr(backend_em._Run, "_temperature", lambda self: 400.0)
    partitioned = DawidSkene(calibration="loo").fit(frame, engine=LocalBackend(n_partitions=3))
    memory = DawidSkene(calibration="none").fit(frame)
    exact_logs = (np.arange(memory.judgments_.n_items), memory._log_e_step(memory.judgments_,
                                                                         np.full(memory.judgments_.n_items, -1, np.int32)))
    items = memory.judgments_.item_ids.to_list()
    got = dict(zip(partitioned.item_table()["item"].to_list(), partitioned.item_table()["confidence"].to_list()))
    want = temper(memory.raw_probas_, 400.0, exact_logs).max(axis=1)
    assert got["u1200"] < 1.0
    np.testing.assert_allclose([got[i] for i in items], want, rtol=1e-9)


def test_temper_uses_exact_log_rows():
    posterior = np.array([[1.0, 0.0], [0.75, 0.25]])
    np.testing.assert_array_equal(temper(posterior, 10.0)[0], [1.0, 0.0])  # log(0): nothing to soften
    got = temper(posterior, 10.0, (np.array([0]), np.array([[0.0, -20.0]])))
    np.testing.assert_allclose(got[0], [1 / (1 + np.exp(-2.0)), np.exp(-2.0) / (1 + np.exp(-2.0))])
    np.testing.assert_allclose(got[1], temper(posterior, 10.0)[1])
