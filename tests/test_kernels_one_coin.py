"""One-coin Dawid-Skene kernels against their plain-Python twins in naive_models.py."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive import judgment_sets, readonly, stochastic_rows, worker_csr
from naive_models import naive_emission_from_accuracy, naive_m_step_accuracy, with_threads

from consensus.kernels import one_coin

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RTOL, ATOL = 1e-9, 1e-12

accuracies = st.one_of(st.floats(1e-6, 1.0 - 1e-6), st.sampled_from([0.5, 1e-12, 1.0 - 1e-12]))


@SETTINGS
@given(accuracy=st.lists(accuracies, min_size=0, max_size=8), K=st.integers(1, 5))
def test_emission_from_accuracy_matches_naive(accuracy, K):
    (accuracy,) = readonly(np.array(accuracy, dtype=np.float64))
    out = one_coin.emission_from_accuracy(accuracy, K)
    expected = naive_emission_from_accuracy(accuracy, K)
    assert out.shape == (accuracy.size, K, K)
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)
    if K > 1:  # every column (true class) is a distribution over the given class
        np.testing.assert_allclose(np.exp(out).sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_emission_from_accuracy_known_values():
    out = one_coin.emission_from_accuracy(np.array([0.7, 0.25]), 3)
    np.testing.assert_allclose(np.exp(out[0]), [[0.7, 0.15, 0.15], [0.15, 0.7, 0.15],
                                                [0.15, 0.15, 0.7]], rtol=1e-12)
    np.testing.assert_allclose(np.exp(out[1]).T[2], [0.375, 0.375, 0.25], rtol=1e-12)
    np.testing.assert_array_equal(one_coin.emission_from_accuracy(np.array([0.9]), 1), [[[math.log(0.9)]]])


@st.composite
def m_step_inputs(draw):
    data = draw(judgment_sets(duplicates=draw(st.booleans())))
    posterior = stochastic_rows(draw, data["n_items"], data["K"])
    a = draw(st.sampled_from([1e-6, 0.5, 2.8, 40.0]))
    b = draw(st.sampled_from([1e-6, 1.2, 7.0]))
    return data, posterior, a, b


@SETTINGS
@given(inputs=m_step_inputs())
def test_m_step_accuracy_matches_naive(inputs):
    data, posterior, a, b = inputs
    offsets, item_by_worker, label_by_worker = readonly(
        *worker_csr(data["item"], data["worker"], data["label"], data["n_workers"]))
    (posterior,) = readonly(posterior)
    out = one_coin.m_step_accuracy(offsets, item_by_worker, label_by_worker, posterior, a, b)
    expected = naive_m_step_accuracy(offsets, item_by_worker, label_by_worker, posterior, a, b)
    assert out.shape == (data["n_workers"],)
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)
    assert ((out > 0) & (out < 1)).all()
    # directly from the unsorted triplets
    answered = data["label"] >= 0
    n = np.bincount(data["worker"][answered], minlength=data["n_workers"])
    correct = np.bincount(data["worker"][answered],
                          weights=posterior[data["item"][answered], data["label"][answered]],
                          minlength=data["n_workers"])
    np.testing.assert_allclose(out, (correct + a) / (n + a + b), rtol=RTOL, atol=ATOL)


def test_m_step_accuracy_known_values():
    # worker 0: answers 0 on item 0 (q = [0.9, 0.1]) and 1 on item 1 (q = [0.4, 0.6]), one n/a
    offsets = np.array([0, 3, 3], dtype=np.int64)  # worker 1 has no judgment
    item_by_worker = np.array([0, 1, 1], dtype=np.int32)
    label_by_worker = np.array([0, 1, -1], dtype=np.int32)
    posterior = np.array([[0.9, 0.1], [0.4, 0.6]])
    out = one_coin.m_step_accuracy(offsets, item_by_worker, label_by_worker, posterior, 2.0, 1.0)
    np.testing.assert_allclose(out, [(1.5 + 2.0) / (2 + 3.0), 2.0 / 3.0], rtol=1e-12)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 numba threads")
def test_one_coin_kernels_independent_of_thread_count():
    rng = np.random.default_rng(5)
    n_items, n_workers, K = 2000, 50, 4
    item = np.repeat(np.arange(n_items), 5)
    worker = rng.integers(0, n_workers, item.size)
    label = rng.integers(-1, K, item.size)
    offsets, item_by_worker, label_by_worker = worker_csr(item, worker, label, n_workers)
    posterior = rng.dirichlet(np.ones(K), n_items)
    accuracy = rng.uniform(0.01, 0.99, n_workers)
    runs = [(with_threads(n, one_coin.m_step_accuracy, offsets, item_by_worker, label_by_worker,
                          posterior, 1.5, 0.5),
             with_threads(n, one_coin.emission_from_accuracy, accuracy, K)) for n in (1, 2)]
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS
