"""Per-partition kernels of the distributed engines against their twins in ``naive_dask``."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive import readonly
from naive_dask import naive_agreement_stats, naive_mace_spam_stats, naive_worker_answer_stats
from naive_fraud import crowds, worker_index

from consensus.fraud._base import leave_out_factor
from consensus.kernels import dawid_skene as ds
from consensus.kernels import fraud_labels as fl
from consensus.kernels import partitioned as kp

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _by_worker(c):
    order, offsets = worker_index(c["worker"], c["n_workers"])
    return readonly(offsets, c["item"][order], c["label"][order])


def _posterior(c):
    no_gold = np.full(c["n_items"], -1, dtype=np.int32)
    post, _ = ds.e_step(c["item_offsets"], c["worker"], c["label"], c["log_emission"], c["log_prior"], no_gold)
    return post


@SETTINGS
@given(c=crowds())
def test_worker_answer_stats_matches_naive(c):
    post = _posterior(c)
    counts, correct, n = kp.worker_answer_stats(*_by_worker(c), *readonly(post))
    ref = naive_worker_answer_stats(c["item"], c["worker"], c["label"], post, c["n_workers"])
    np.testing.assert_allclose(counts, ref[0], atol=1e-12)
    np.testing.assert_allclose(correct, ref[1], atol=1e-12)
    np.testing.assert_array_equal(n, ref[2])


@SETTINGS
@given(c=crowds(), data=st.data())
def test_mace_spam_stats_matches_naive(c, data):
    post = _posterior(c)
    W, K = c["n_workers"], c["K"]
    theta = np.array(data.draw(st.lists(st.floats(0.05, 0.95), min_size=W, max_size=W)))
    xi = np.array(data.draw(st.lists(st.floats(0.05, 1.0), min_size=W * K, max_size=W * K))).reshape(W, K)
    xi /= xi.sum(axis=1, keepdims=True)
    spammed, answers, n = kp.mace_spam_stats(*_by_worker(c), *readonly(post, theta, xi))
    ref = naive_mace_spam_stats(c["item"], c["worker"], c["label"], post, theta, xi)
    np.testing.assert_allclose(spammed, ref[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(answers, ref[1], rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(n, ref[2])


@SETTINGS
@given(c=crowds())
def test_agreement_stats_matches_naive_and_worker_agreement(c):
    K = c["K"]
    post, n_class = fl.item_posterior(c["item_offsets"], c["worker"], c["label"], c["log_emission"], c["log_prior"])
    factor = leave_out_factor(c["log_emission"])
    answer = np.full((K, K), 0.1) + np.eye(K)
    answer /= answer.sum(axis=1, keepdims=True)
    offsets, item_w, label_w = _by_worker(c)
    got = kp.agreement_stats(offsets, item_w, label_w, *readonly(post, factor, n_class, answer), 0.01)
    ref = naive_agreement_stats(c["item"], c["worker"], c["label"], c["log_emission"], c["log_prior"], answer, 0.01)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    # the additive parts rebuild the in-memory kernel's outputs, chance included
    observed, expected, n_compared, n_agree, chance = fl.worker_agreement(
        offsets, item_w, label_w, post, factor, n_class, answer, 0.01)
    np.testing.assert_array_equal(got[0], observed)
    np.testing.assert_allclose(got[1], expected, rtol=1e-12)
    np.testing.assert_array_equal(got[2], n_compared)
    np.testing.assert_array_equal(got[3], n_agree)
    with np.errstate(invalid="ignore", divide="ignore"):
        rebuilt = np.where(got[2] > 0, (got[4] * got[5]).sum(axis=1) / got[2].astype(float) ** 2, np.nan)
    np.testing.assert_allclose(rebuilt, chance, rtol=1e-12, equal_nan=True)


@SETTINGS
@given(c=crowds(), alpha=st.floats(0.0, 2.0))
def test_partition_counts_give_the_dawid_skene_m_step(c, alpha):
    """The driver's M-step (``emission_from_counts`` of the summed counts) is ``m_step_emission``."""
    post = _posterior(c)
    offsets, item_w, label_w = _by_worker(c)
    K, W = c["K"], c["n_workers"]
    prior_index = np.zeros(W, dtype=np.int32)
    prior_counts = np.stack([np.full((K, K), 0.5) + np.eye(K)])
    counts, _, _ = kp.worker_answer_stats(offsets, item_w, label_w, post)
    got = ds.emission_from_counts(counts, alpha, prior_index, prior_counts)
    ref = ds.m_step_emission(offsets, item_w, label_w, post, alpha, prior_index, prior_counts)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    # the counts em_pass scatters in the E-step's own pass (what a Dawid-Skene task returns)
    no_gold = np.full(c["n_items"], -1, dtype=np.int32)
    post2, _, scattered = ds.em_pass(c["item_offsets"], c["worker"], c["label"], c["log_emission"],
                                     c["log_prior"], no_gold)
    ref_counts = naive_worker_answer_stats(c["item"], c["worker"], c["label"], post2, W)[0]
    np.testing.assert_allclose(scattered, ref_counts, rtol=1e-10, atol=1e-12)


def test_kernels_do_not_depend_on_thread_count():
    import numba

    rng = np.random.default_rng(1)
    n, W, K = 4000, 30, 4
    item = np.sort(rng.integers(0, 500, n)).astype(np.int32)
    worker = rng.integers(0, W, n).astype(np.int32)
    label = rng.integers(-1, K, n).astype(np.int32)
    order = np.argsort(worker, kind="stable")
    offsets = np.concatenate([[0], np.cumsum(np.bincount(worker, minlength=W))]).astype(np.int64)
    post = rng.dirichlet(np.ones(K), 500)
    args = (offsets, item[order].copy(), label[order].copy(), post)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = kp.worker_answer_stats(*args)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = kp.worker_answer_stats(*args)
    finally:
        numba.set_num_threads(before)
    for a, b in zip(one, many):
        np.testing.assert_array_equal(a, b)
