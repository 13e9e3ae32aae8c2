"""Dawid-Skene kernels against their plain-Python twins (same arguments, same layouts)."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive import (
    item_csr,
    judgment_sets,
    naive_class_log_prior,
    naive_e_step,
    naive_log_prior_penalty,
    naive_m_step_emission,
    naive_worker_expected_accuracy,
    readonly,
    stochastic_rows,
    worker_csr,
)

from consensus.kernels import dawid_skene as ds
from naive_models import with_threads as _with_threads

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RTOL, ATOL = 1e-9, 1e-12

log_values = st.one_of(st.just(-math.inf), st.floats(-30.0, 0.0, allow_nan=False))
pseudo_counts = st.one_of(st.just(0.0), st.floats(0.0, 20.0))  # subnormals included


@st.composite
def e_step_inputs(draw, **crowd):
    data = draw(judgment_sets(**crowd))
    K, n_workers = data["K"], data["n_workers"]
    emission = draw(st.lists(log_values, min_size=n_workers * K * K, max_size=n_workers * K * K))
    log_prior = draw(st.lists(log_values, min_size=K, max_size=K))
    return data, np.array(emission).reshape(n_workers, K, K), np.array(log_prior)


@st.composite
def m_step_inputs(draw):
    data = draw(judgment_sets())
    K, n_workers = data["K"], data["n_workers"]
    posterior = stochastic_rows(draw, data["n_items"], K)
    alpha = draw(st.sampled_from([0.0, 0.5, 1.0, 3.25]))
    n_priors = draw(st.integers(1, 3))
    prior_counts = np.array(draw(st.lists(pseudo_counts, min_size=n_priors * K * K,
                                          max_size=n_priors * K * K))).reshape(n_priors, K, K)
    prior_index = np.array(draw(st.lists(st.integers(-1, n_priors - 1), min_size=n_workers,
                                         max_size=n_workers)), dtype=np.int32)
    return data, posterior, alpha, prior_index, prior_counts


def _by_worker(data):
    return readonly(*worker_csr(data["item"], data["worker"], data["label"], data["n_workers"]))


@SETTINGS
@given(inputs=e_step_inputs())
def test_e_step_matches_naive(inputs):
    data, log_emission, log_prior = inputs
    offsets, worker, label = item_csr(data["item"], data["worker"], data["label"], data["n_items"])
    args = readonly(offsets, worker, label, log_emission, log_prior, data["gold"])
    posterior, loglik = ds.e_step(*args)
    expected_posterior, expected_loglik = naive_e_step(*args)
    assert posterior.shape == (data["n_items"], data["K"]) and loglik.shape == (data["n_items"],)
    np.testing.assert_allclose(posterior, expected_posterior, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(loglik, expected_loglik, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(posterior.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    log_posterior, log_loglik = ds.e_step(*args, True)
    np.testing.assert_allclose(log_posterior, naive_e_step(*args, log_space=True)[0], rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(log_loglik, loglik)
    # where nothing underflows the log-space posterior is the log of the usual one
    fine = (posterior > 1e-300).all(axis=1)
    np.testing.assert_allclose(np.exp(log_posterior[fine]), posterior[fine], rtol=1e-12, atol=1e-300)


def test_e_step_log_space_keeps_what_underflows():
    """1,000 concordant answers put the other class ~2,200 nats behind: 0 as a probability, exact as a log."""
    n = 1000
    offsets = np.array([0, n], dtype=np.int64)
    log_emission = np.log(np.array([[[0.9, 0.1], [0.1, 0.9]]]))  # [w, given, true]
    args = (offsets, np.zeros(n, np.int32), np.zeros(n, np.int32), log_emission, np.log([0.5, 0.5]),
            np.array([-1], np.int32))
    assert ds.e_step(*args)[0][0, 1] == 0.0
    log_posterior = ds.e_step(*args, True)[0][0]
    np.testing.assert_allclose(log_posterior[1], -n * np.log(9.0), rtol=1e-12)
    assert log_posterior[0] == 0.0


def test_e_step_known_values():
    # one item, two workers who both say class 1; K = 2
    offsets = np.array([0, 2, 2], dtype=np.int64)
    worker = np.array([0, 1], dtype=np.int32)
    label = np.array([1, 1], dtype=np.int32)
    confusion = np.array([[0.8, 0.2], [0.3, 0.7]])  # [true, given], same for both workers
    log_emission = np.log(np.stack([confusion.T, confusion.T]))  # [w, given, true]
    log_prior = np.log([0.6, 0.4])
    gold = np.array([-1, 1], dtype=np.int32)  # item 1 has no judgments but gold 1
    posterior, loglik = ds.e_step(offsets, worker, label, log_emission, log_prior, gold)
    joint = np.array([0.6 * 0.2 * 0.2, 0.4 * 0.7 * 0.7])
    np.testing.assert_allclose(posterior[0], joint / joint.sum(), rtol=1e-12)
    np.testing.assert_allclose(loglik, [np.log(joint.sum()), np.log(0.4)], rtol=1e-12)
    np.testing.assert_array_equal(posterior[1], [0.0, 1.0])


@SETTINGS
@given(inputs=m_step_inputs())
def test_m_step_emission_matches_naive(inputs):
    data, posterior, alpha, prior_index, prior_counts = inputs
    offsets, item_by_worker, label_by_worker = _by_worker(data)
    posterior, prior_index, prior_counts = readonly(posterior, prior_index, prior_counts)
    args = (offsets, item_by_worker, label_by_worker, posterior, alpha, prior_index, prior_counts)
    log_emission = ds.m_step_emission(*args)
    expected = naive_m_step_emission(*args)
    assert log_emission.shape == (data["n_workers"], data["K"], data["K"])
    np.testing.assert_allclose(log_emission, expected, rtol=RTOL, atol=ATOL)
    # every column (true class) is a distribution over the given class
    np.testing.assert_allclose(np.exp(log_emission).sum(axis=1), 1.0, rtol=0, atol=1e-12)


@SETTINGS
@given(inputs=m_step_inputs(), strength=st.floats(0.5, 200.0))
def test_m_step_prior_is_convex_pull_toward_prior(inputs, strength):
    """With the same posterior, a prior P of strength s turns each true-class row of a
    worker's confusion into lam * free_row + (1 - lam) * P_row with
    lam = (K alpha + n_t) / (K alpha + n_t + s), n_t the expected count of true class t."""
    data, posterior, alpha, _, _ = inputs
    K, n_workers = data["K"], data["n_workers"]
    offsets, item_by_worker, label_by_worker = _by_worker(data)
    alpha = max(alpha, 0.5)
    rng = np.random.default_rng(K * 1000 + n_workers)
    prior = rng.dirichlet(np.ones(K), size=K)  # [true, given]
    none = np.full(n_workers, -1, dtype=np.int32)
    every = np.zeros(n_workers, dtype=np.int32)
    free = np.exp(ds.m_step_emission(offsets, item_by_worker, label_by_worker, posterior, alpha,
                                     none, np.zeros((1, K, K)))).transpose(0, 2, 1)
    pulled = np.exp(ds.m_step_emission(offsets, item_by_worker, label_by_worker, posterior, alpha,
                                       every, (strength * prior.T)[None].copy())).transpose(0, 2, 1)
    for w in range(n_workers):
        rows = [j for j in range(offsets[w], offsets[w + 1]) if label_by_worker[j] >= 0]
        n_t = posterior[item_by_worker[rows]].sum(axis=0) if rows else np.zeros(K)
        lam = (K * alpha + n_t) / (K * alpha + n_t + strength)
        expected = lam[:, None] * free[w] + (1.0 - lam[:, None]) * prior
        np.testing.assert_allclose(pulled[w], expected, rtol=1e-9, atol=1e-12)
        assert (np.abs(pulled[w] - prior) <= np.abs(free[w] - prior) + 1e-12).all()


def test_m_step_known_values():
    # one worker, two items with posteriors [1, 0] and [0.25, 0.75], answers 0 and 1
    offsets = np.array([0, 2], dtype=np.int64)
    item_by_worker = np.array([0, 1], dtype=np.int32)
    label_by_worker = np.array([0, 1], dtype=np.int32)
    posterior = np.array([[1.0, 0.0], [0.25, 0.75]])
    out = ds.m_step_emission(offsets, item_by_worker, label_by_worker, posterior, 1.0,
                             np.array([-1], dtype=np.int32), np.zeros((1, 2, 2)))
    # counts [true, given]: true 0 -> [1+1, 1+0.25], true 1 -> [1+0, 1+0.75]
    confusion = np.array([[2.0 / 3.25, 1.25 / 3.25], [1.0 / 2.75, 1.75 / 2.75]])
    np.testing.assert_allclose(np.exp(out[0]).T, confusion, rtol=1e-12)
    # alpha = 0: an unseen (true, given) cell is log 0; a true class with no mass is uniform
    out = ds.m_step_emission(offsets, item_by_worker, np.array([0, 0], dtype=np.int32),
                             np.array([[1.0, 0.0], [1.0, 0.0]]), 0.0,
                             np.array([-1], dtype=np.int32), np.zeros((1, 2, 2)))
    np.testing.assert_array_equal(out[0].T, [[0.0, -np.inf], [-np.log(2), -np.log(2)]])


@SETTINGS
@given(data=judgment_sets(gold=False), beta=st.sampled_from([0.0, 0.5, 1.0, 7.0]),
       zero_column=st.booleans(), st_data=st.data())
def test_class_log_prior_matches_naive(data, beta, zero_column, st_data):
    posterior = stochastic_rows(st_data.draw, data["n_items"], data["K"])
    if zero_column and data["K"] > 1:  # class 0 gets no mass at all
        posterior[:, 0] = 0.0
        posterior[:, 1] = 1.0 - posterior[:, 1:].sum(axis=1) + posterior[:, 1]
    (posterior,) = readonly(posterior)
    out = ds.class_log_prior(posterior, beta)
    np.testing.assert_allclose(out, naive_class_log_prior(posterior, beta), rtol=RTOL, atol=ATOL)


def test_class_log_prior_known_values():
    posterior = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    np.testing.assert_allclose(ds.class_log_prior(posterior, 1.0),
                               np.log([2.5, 1.5, 1.0]) - np.log(5.0))
    np.testing.assert_array_equal(ds.class_log_prior(posterior, 0.0)[2], -np.inf)
    np.testing.assert_allclose(ds.class_log_prior(np.zeros((0, 4)), 0.0), np.full(4, -np.log(4)))


@SETTINGS
@given(inputs=m_step_inputs(), beta=st.sampled_from([0.0, 1.0, 2.5]))
def test_log_prior_penalty_matches_naive(inputs, beta):
    data, posterior, alpha, prior_index, prior_counts = inputs
    offsets, item_by_worker, label_by_worker = _by_worker(data)
    log_emission = ds.m_step_emission(offsets, item_by_worker, label_by_worker, posterior,
                                      alpha, prior_index, prior_counts)
    log_prior = ds.class_log_prior(posterior, beta)
    args = readonly(log_emission, np.float64(alpha), prior_index, prior_counts, log_prior,
                    np.float64(beta))
    args = [args[0], alpha, args[2], args[3], args[4], beta]
    value = ds.log_prior_penalty(*args)
    expected = naive_log_prior_penalty(*args)
    assert math.isfinite(value)
    np.testing.assert_allclose(value, expected, rtol=RTOL, atol=ATOL)


def test_log_prior_penalty_known_value():
    log_emission = np.log(np.array([[[0.5, 0.25], [0.5, 0.75]]]))  # one worker, [given, true]
    prior_counts = np.array([[[2.0, 0.0], [0.0, 3.0]]])
    log_prior = np.log([0.4, 0.6])
    value = ds.log_prior_penalty(log_emission, 1.0, np.array([0], dtype=np.int32), prior_counts,
                                 log_prior, 2.0)
    expected = (3 * np.log(0.5) + np.log(0.25) + np.log(0.5) + 4 * np.log(0.75)
                + 2 * np.log(0.4) + 2 * np.log(0.6))
    assert value == pytest.approx(expected, rel=1e-12)
    # zero pseudo-count cells are skipped, so log 0 there gives no NaN
    log_emission[0, 0, 1] = -np.inf
    value = ds.log_prior_penalty(log_emission, 0.0, np.array([0], dtype=np.int32), prior_counts,
                                 log_prior, 0.0)
    assert value == pytest.approx(2 * np.log(0.5) + 3 * np.log(0.75), rel=1e-12)


@SETTINGS
@given(data=judgment_sets(gold=False), st_data=st.data())
def test_worker_expected_accuracy_matches_naive(data, st_data):
    posterior = stochastic_rows(st_data.draw, data["n_items"], data["K"])
    offsets, item_by_worker, label_by_worker = _by_worker(data)
    (posterior,) = readonly(posterior)
    out = ds.worker_expected_accuracy(offsets, item_by_worker, label_by_worker, posterior)
    expected = naive_worker_expected_accuracy(offsets, item_by_worker, label_by_worker, posterior)
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)  # NaN where no class answer
    answered = np.bincount(data["worker"][data["label"] >= 0], minlength=data["n_workers"]) > 0
    np.testing.assert_array_equal(np.isnan(out), ~answered)




@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 numba threads")
def test_ds_kernels_independent_of_thread_count():
    rng = np.random.default_rng(3)
    n_items, n_workers, K = 3000, 40, 4
    item = np.repeat(np.arange(n_items), 6).astype(np.int32)
    worker = rng.integers(0, n_workers, size=item.size).astype(np.int32)
    label = rng.integers(-1, K, size=item.size).astype(np.int32)
    gold = np.where(rng.random(n_items) < 0.1, rng.integers(0, K, n_items), -1).astype(np.int32)
    offsets, worker_sorted, label_sorted = item_csr(item, worker, label, n_items)
    w_offsets, item_by_worker, label_by_worker = worker_csr(item, worker, label, n_workers)
    posterior = rng.dirichlet(np.ones(K), size=n_items)
    prior_index = rng.integers(-1, 2, size=n_workers).astype(np.int32)
    prior_counts = rng.random((2, K, K)) * 5
    results = []
    for threads in (1, 2):
        log_emission = _with_threads(threads, ds.m_step_emission, w_offsets, item_by_worker,
                                     label_by_worker, posterior, 1.0, prior_index, prior_counts)
        log_prior = _with_threads(threads, ds.class_log_prior, posterior, 1.0)
        post, loglik = _with_threads(threads, ds.e_step, offsets, worker_sorted, label_sorted,
                                     log_emission, log_prior, gold)
        penalty = _with_threads(threads, ds.log_prior_penalty, log_emission, 1.0, prior_index,
                                prior_counts, log_prior, 1.0)
        accuracy = _with_threads(threads, ds.worker_expected_accuracy, w_offsets, item_by_worker,
                                 label_by_worker, post)
        results.append((log_emission, log_prior, post, loglik, penalty, accuracy))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    # and the single-thread result is the right one
    expected = naive_m_step_emission(w_offsets, item_by_worker, label_by_worker, posterior, 1.0,
                                     prior_index, prior_counts)
    np.testing.assert_allclose(results[0][0], expected, rtol=RTOL, atol=ATOL)
    expected_post, expected_loglik = naive_e_step(offsets, worker_sorted, label_sorted,
                                                  results[0][0], results[0][1], gold)
    np.testing.assert_allclose(results[0][2], expected_post, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(results[0][3], expected_loglik, rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------------------------------
# Regression: fastmath "arcp" turned log(x / total) into log(x * (1 / total)); for a
# subnormal total (< 2.2e-308) 1 / total overflowed to inf, so a probability of 1 came out
# as log(inf) = +inf (m_step_emission and class_log_prior). Pure-Python mode
# (NUMBA_DISABLE_JIT=1) always divided exactly.
# ---------------------------------------------------------------------------------------
def test_m_step_subnormal_total_is_finite():
    # one worker, one answer (class 0) on an item whose posterior mass on class 1 is the
    # smallest subnormal: the true-class-1 column holds a single count, so P(0 | 1) = 1.
    args = (np.array([0, 1], dtype=np.int64), np.array([0], dtype=np.int32),
            np.array([0], dtype=np.int32), np.array([[1.0, 5e-324]]), 0.0,
            np.array([-1], dtype=np.int32), np.zeros((1, 2, 2)))
    out = ds.m_step_emission(*args)
    expected = naive_m_step_emission(*args)
    np.testing.assert_array_equal(expected[0].T, [[0.0, -np.inf], [0.0, -np.inf]])
    np.testing.assert_array_equal(out, expected)  # the arcp bug gave +inf for log P(0 | 1)


def test_class_log_prior_subnormal_total_is_finite():
    np.testing.assert_allclose(ds.class_log_prior(np.zeros((0, 2)), 1e-310), np.log([0.5, 0.5]))
