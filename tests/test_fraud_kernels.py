"""Fraud kernels against their plain-Python twins in ``naive_fraud``, and independent of thread count."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive import readonly
from naive_fraud import (
    crowds,
    naive_burst_flags,
    naive_expected_co_timed,
    naive_gold_item_support,
    naive_group_median,
    naive_item_posterior,
    naive_leave_out,
    naive_item_joint,
    naive_order_within_workers,
    naive_pair_stats,
    naive_worker_agreement,
    naive_worker_flag_counts,
    naive_worker_gold_counts,
    naive_worker_repeats,
    worker_index,
)

from consensus.fraud._base import leave_out_factor
from consensus.kernels import fraud_gold as fg
from consensus.kernels import fraud_labels as fl
from consensus.kernels import fraud_pairs as fp
from consensus.kernels import fraud_speed as fs
from naive_models import with_threads as _with_threads

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EPS = 0.01


def _index(c):
    order, offsets = worker_index(c["worker"], c["n_workers"])
    return order, offsets, np.ascontiguousarray(c["item"][order]), np.ascontiguousarray(c["label"][order])


def _posterior(c):
    post, n_class = fl.item_posterior(c["item_offsets"], c["worker"], c["label"], c["log_emission"], c["log_prior"])
    return post, n_class, leave_out_factor(c["log_emission"])


# -- speed ----------------------------------------------------------------------------------------
@SETTINGS
@given(c=crowds())
def test_group_median_matches_naive(c):
    offsets, values = readonly(c["item_offsets"], c["duration"])
    med, cnt = fs.group_median(offsets, values)
    ref_med, ref_cnt = naive_group_median(offsets, values)
    np.testing.assert_array_equal(cnt, ref_cnt)
    np.testing.assert_allclose(med, ref_med, equal_nan=True)


@SETTINGS
@given(c=crowds(), data=st.data())
def test_worker_flag_counts_matches_naive(c, data):
    order, offsets, _, _ = _index(c)
    n = c["item"].size
    flag = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    valid = np.isfinite(c["duration"])
    got = fs.worker_flag_counts(*readonly(offsets, order, flag, valid))
    for a, b in zip(got, naive_worker_flag_counts(offsets, order, flag, valid)):
        np.testing.assert_array_equal(a, b)


@SETTINGS
@given(c=crowds(max_workers=3, max_items=20), window=st.sampled_from([0.0, 3.0, 10.0]),
       size=st.integers(2, 4))
def test_burst_flags_matches_naive(c, window, size):
    order, offsets, _, _ = _index(c)
    got = fs.burst_flags(*readonly(offsets, order, c["submitted"]), window, size)
    ref = naive_burst_flags(offsets, order, c["submitted"], window, size)
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)


def test_burst_flags_known_values():
    # one worker: times 0, 1, 2, 3 (a burst of 4 within 3 s), then 100, 200
    submitted = np.array([0.0, 1.0, 2.0, 3.0, 100.0, 200.0])
    order = np.arange(6, dtype=np.int64)
    offsets = np.array([0, 6], dtype=np.int64)
    in_burst, n_timed, n_burst = fs.burst_flags(offsets, order, submitted, 3.0, 4)
    assert in_burst.tolist() == [1, 1, 1, 1, 0, 0] and n_timed.tolist() == [6] and n_burst.tolist() == [4]
    in_burst, _, n_burst = fs.burst_flags(offsets, order, submitted, 2.9, 4)
    assert n_burst.tolist() == [0]


# -- consensus and label tests ---------------------------------------------------------------------
@SETTINGS
@given(c=crowds())
def test_item_posterior_matches_naive(c):
    post, n_class = fl.item_posterior(*readonly(c["item_offsets"], c["worker"], c["label"], c["log_emission"],
                                                c["log_prior"]))
    ref_post, ref_n = naive_item_posterior(c["item_offsets"], c["worker"], c["label"], c["log_emission"],
                                           c["log_prior"])
    np.testing.assert_allclose(post, ref_post, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(n_class, ref_n)


@SETTINGS
@given(c=crowds(), data=st.data())
def test_leave_out_matches_log_space_naive(c, data):
    post, _, factor = _posterior(c)
    joint, _ = naive_item_joint(c["item_offsets"], c["worker"], c["label"], c["log_emission"], c["log_prior"])
    j = data.draw(st.integers(0, c["item"].size - 1))
    i, w, g = int(c["item"][j]), int(c["worker"][j]), int(c["label"][j])
    out = np.empty(c["K"])
    best = fl.leave_out(post, i, factor, w, g, -1, -1, EPS, out)
    removed = [(w, g)] if g >= 0 else []
    ref, ref_best = naive_leave_out(joint[i], c["log_emission"], removed, EPS)
    np.testing.assert_allclose(out, ref, rtol=1e-7, atol=1e-12)
    assert best == ref_best
    assert math.isclose(out.sum(), 1.0)


@SETTINGS
@given(c=crowds())
def test_worker_agreement_matches_naive(c):
    order, offsets, item_w, label_w = _index(c)
    post, n_class, factor = _posterior(c)
    answer = np.exp(c["log_emission"]).mean(axis=0).T.copy()  # any row-stochastic [true, given]
    answer /= answer.sum(axis=1, keepdims=True)
    got = fl.worker_agreement(*readonly(offsets, item_w, label_w, post, factor, n_class, answer), EPS)
    ref = naive_worker_agreement(c["item_offsets"], c["worker"], c["label"], c["log_emission"], c["log_prior"],
                                 answer, EPS)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10, equal_nan=True)


@SETTINGS
@given(c=crowds(max_items=7, max_workers=3, max_classes=3), exact=st.booleans())
def test_worker_repeats_matches_naive(c, exact):
    seq = naive_order_within_workers(c["worker"], c["submitted"], np.arange(c["item"].size, dtype=np.float64))
    _, offsets = worker_index(c["worker"], c["n_workers"])
    item_seq, label_seq = c["item"][seq], c["label"][seq]
    post, _, factor = _posterior(c)
    exact_max = 100 if exact else 0
    got = fl.worker_repeats(*readonly(offsets, item_seq, label_seq, post, factor, np.exp(c["log_emission"])),
                            EPS, exact_max)
    ref = naive_worker_repeats(offsets, item_seq, label_seq, c["item_offsets"], c["worker"], c["label"],
                               c["log_emission"], c["log_prior"], EPS, exact_max)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9, equal_nan=True)


def test_worker_repeats_straight_line_block_is_significant():
    # a worker whose own confusion says "answers follow the truth" but who answers in blocks
    n, K = 40, 2
    item_offsets = np.arange(n + 1, dtype=np.int64)
    worker = np.zeros(n, dtype=np.int32)
    label = np.repeat([0, 1], n // 2).astype(np.int32)
    emission = np.array([[[0.9, 0.1], [0.1, 0.9]]])  # [w, given, true]
    # posterior with the worker's own answer, from a flat prior: leaving it out gives (0.5, 0.5)
    truth_post = emission[0, label, :] / emission[0, label, :].sum(axis=1, keepdims=True)
    factor = leave_out_factor(np.log(emission))
    offsets = np.array([0, n], dtype=np.int64)
    _, repeats, mean, _, p, longest = fl.worker_repeats(offsets, np.arange(n, dtype=np.int32), label, truth_post,
                                                        factor, emission, 0.0, 100)
    assert repeats[0] == n - 2 and longest[0] == n // 2
    assert mean[0] == pytest.approx((n - 1) * 0.5)
    assert p[0] < 1e-6


@SETTINGS
@given(c=crowds())
def test_order_within_workers_matches_naive(c):
    order, offsets, _, _ = _index(c)
    secondary = np.arange(c["item"].size, dtype=np.float64)[::-1].copy()
    got = fl.order_within_workers(*readonly(offsets, order, c["submitted"], secondary), True)
    np.testing.assert_array_equal(got, naive_order_within_workers(c["worker"], c["submitted"], secondary))
    index = np.arange(c["item"].size, dtype=np.float64)
    got = fl.order_within_workers(*readonly(offsets, order, secondary, index), False)
    np.testing.assert_array_equal(got, naive_order_within_workers(c["worker"], secondary, index))


# -- pairs ------------------------------------------------------------------------------------------
@SETTINGS
@given(c=crowds(max_items=10, max_workers=7), min_common=st.integers(1, 3), timed=st.booleans(),
       chunks=st.integers(1, 4))
def test_pair_stats_matches_all_pairs_naive(c, min_common, timed, chunks):
    order, offsets, item_w, label_w = _index(c)
    _, n_class, _ = _posterior(c)
    votes = np.zeros((c["n_items"], c["K"]))
    for i, g in zip(c["item"], c["label"]):
        if g >= 0:
            votes[i, g] += 1
    submitted = c["submitted"] if timed else np.zeros(0)
    from consensus.fraud.collusion import chunk_bounds

    bounds = chunk_bounds(offsets, chunks)
    pair_offsets, partner, counts, sums = fp.pair_stats(
        *readonly(c["item_offsets"], c["worker"], c["label"], offsets, order, item_w, label_w,
                  np.exp(c["log_emission"]), n_class, votes, submitted), 5.0, min_common, bounds)
    ref = naive_pair_stats(c["item_offsets"], c["worker"], c["label"], c["log_emission"], submitted, 5.0, min_common)
    owners = np.repeat(np.arange(c["n_workers"]), np.diff(pair_offsets))
    assert sorted(zip(owners.tolist(), partner.tolist())) == sorted(ref)
    names = {fp.ANY: "any", fp.COMMON: "common", fp.AGREE: "agree", fp.CONSENSUS: "consensus",
             fp.SHARED_WRONG: "shared_wrong", fp.TIMED: "timed", fp.CO_TIMED: "co_timed", fp.W_LATER: "a_later"}
    float_names = {fp.LOG_P_AGREE: "log_p_agree", fp.EXP_AGREE: "exp_agree", fp.EXP_SHARED_WRONG: "exp_shared_wrong"}
    for k, (a, b) in enumerate(zip(owners.tolist(), partner.tolist())):
        for row, name in names.items():
            assert counts[row, k] == ref[(a, b)][name], (name, a, b)
        for row, name in float_names.items():
            assert sums[row, k] == pytest.approx(ref[(a, b)][name], rel=1e-7, abs=1e-9), (name, a, b)
        assert sums[fp.EXP_CO_TIMED, k] == 0.0


@SETTINGS
@given(c=crowds(max_items=10, max_workers=5))
def test_expected_co_timed_matches_naive(c):
    order, offsets, item_w, _ = _index(c)
    sub = c["submitted"]
    finite = np.isfinite(sub)
    t_order = np.lexsort((sub, c["worker"]))
    t_order = t_order[finite[t_order]]
    t_offsets = np.zeros(c["n_workers"] + 1, dtype=np.int64)
    np.cumsum(np.bincount(c["worker"][t_order], minlength=c["n_workers"]), out=t_offsets[1:])
    pairs = [(a, b) for a in range(c["n_workers"]) for b in range(a + 1, c["n_workers"])]
    a = np.array([p[0] for p in pairs], dtype=np.int32)
    b = np.array([p[1] for p in pairs], dtype=np.int32)
    got = fp.expected_co_timed(*readonly(a, b, offsets, order, item_w, sub, t_offsets, sub[t_order]), 5.0)
    np.testing.assert_allclose(got, naive_expected_co_timed(pairs, c["worker"], c["item"], sub, 5.0), rtol=1e-9)


# -- honeypots --------------------------------------------------------------------------------------
@SETTINGS
@given(c=crowds(max_workers=8), data=st.data())
def test_gold_kernels_match_naive(c, data):
    order, offsets, item_w, label_w = _index(c)
    gold = np.array(data.draw(st.lists(st.integers(-1, c["K"] - 1), min_size=c["n_items"], max_size=c["n_items"])),
                    dtype=np.int32)
    trusted = np.array(data.draw(st.lists(st.booleans(), min_size=c["n_items"], max_size=c["n_items"])))
    accuracy = np.array(data.draw(st.lists(st.floats(0.02, 0.98), min_size=c["n_workers"],
                                           max_size=c["n_workers"])))
    got = fg.worker_gold_counts(*readonly(offsets, item_w, label_w, gold, trusted))
    ref = naive_worker_gold_counts(c["worker"], c["item"], c["label"], gold, trusted, c["n_workers"])
    for x, y in zip(got, ref):
        np.testing.assert_array_equal(x, y)
    got = fg.gold_item_support(*readonly(c["item_offsets"], c["worker"], c["label"], gold, accuracy))
    ref = naive_gold_item_support(c["item_offsets"], c["worker"], c["label"], gold, accuracy)
    for x, y in zip(got, ref):
        np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-12, equal_nan=True)


# -- thread count -----------------------------------------------------------------------------------


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 numba threads")
def test_pair_and_label_kernels_independent_of_thread_count():
    rng = np.random.default_rng(3)
    n_items, n_workers, K = 400, 40, 3
    item = np.repeat(np.arange(n_items), 6).astype(np.int32)
    worker = np.concatenate([rng.choice(n_workers, 6, replace=False) for _ in range(n_items)]).astype(np.int32)
    order = np.lexsort((worker, item))
    item, worker = item[order], worker[order]
    label = rng.integers(-1, K, item.size).astype(np.int32)
    item_offsets = np.arange(0, item.size + 1, 6, dtype=np.int64)
    log_emission = np.log(rng.dirichlet(np.ones(K), size=(n_workers, K))).transpose(0, 2, 1).copy()
    log_prior = np.log(np.full(K, 1.0 / K))
    submitted = rng.uniform(0, 1000, item.size)
    w_order, w_offsets = worker_index(worker, n_workers)
    item_w, label_w = item[w_order], label[w_order]
    results = []
    for threads in (1, 2):
        post, n_class = _with_threads(threads, fl.item_posterior, item_offsets, worker, label, log_emission, log_prior)
        factor = leave_out_factor(log_emission)
        votes = np.zeros((n_items, K))
        np.add.at(votes, (item[label >= 0], label[label >= 0]), 1.0)
        answer = np.full((K, K), 1.0 / K)
        agreement = _with_threads(threads, fl.worker_agreement, w_offsets, item_w, label_w, post, factor, n_class,
                                  answer, EPS)
        repeats = _with_threads(threads, fl.worker_repeats, w_offsets, item_w, label_w, post, factor,
                                np.exp(log_emission), EPS, 100)
        from consensus.fraud.collusion import chunk_bounds

        pairs = _with_threads(threads, fp.pair_stats, item_offsets, worker, label, w_offsets, w_order, item_w,
                              label_w, np.exp(log_emission), n_class, votes, submitted, 5.0, 3,
                              chunk_bounds(w_offsets, 4 * threads))
        bursts = _with_threads(threads, fs.burst_flags, w_offsets, w_order, submitted, 30.0, 3)
        results.append((post, *agreement, *repeats, *pairs, *bursts))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
