"""MACE kernels against their plain-Python twins in naive_models.py."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive import judgment_sets, readonly, stochastic_rows, worker_csr
from naive_models import (
    naive_emission_from_spamming,
    naive_m_step_spamming,
    positive_stochastic_rows,
    with_threads,
)

from consensus.kernels import mace

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RTOL, ATOL = 1e-9, 1e-12

spam_probabilities = st.one_of(st.floats(1e-6, 1.0 - 1e-6), st.sampled_from([0.5, 1e-9, 1.0 - 1e-9]))


@st.composite
def spam_parameters(draw, n_workers, K):
    theta = np.array(draw(st.lists(spam_probabilities, min_size=n_workers, max_size=n_workers)))
    xi = draw(positive_stochastic_rows(n_workers, K))
    return theta, xi


@SETTINGS
@given(n_workers=st.integers(0, 8), K=st.integers(1, 5), st_data=st.data())
def test_emission_from_spamming_matches_naive(n_workers, K, st_data):
    theta, xi = readonly(*st_data.draw(spam_parameters(n_workers, K)))
    out = mace.emission_from_spamming(theta, xi)
    expected = naive_emission_from_spamming(theta, xi)
    assert out.shape == (n_workers, K, K)
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)
    # every column (true class) is a distribution over the given class
    np.testing.assert_allclose(np.exp(out).sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_emission_from_spamming_known_values():
    out = mace.emission_from_spamming(np.array([0.4]), np.array([[0.5, 0.25, 0.25]]))
    # [true, given]: 0.6 on the diagonal plus 0.4 * xi[given]
    np.testing.assert_allclose(np.exp(out[0]).T, [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1],
                                                  [0.2, 0.1, 0.7]], rtol=1e-12)


@st.composite
def m_step_inputs(draw):
    data = draw(judgment_sets(duplicates=draw(st.booleans())))
    posterior = stochastic_rows(draw, data["n_items"], data["K"])
    theta, xi = draw(spam_parameters(data["n_workers"], data["K"]))
    spam_a = draw(st.sampled_from([1e-6, 1.2, 10.0]))
    spam_b = draw(st.sampled_from([1e-6, 2.8, 0.5]))
    xi_pseudo = draw(st.sampled_from([0.5, 1e-3, 3.0]))
    return data, posterior, theta, xi, spam_a, spam_b, xi_pseudo


@SETTINGS
@given(inputs=m_step_inputs())
def test_m_step_spamming_matches_naive(inputs):
    data, posterior, theta, xi, spam_a, spam_b, xi_pseudo = inputs
    offsets, item_by_worker, label_by_worker, posterior, theta, xi = readonly(
        *worker_csr(data["item"], data["worker"], data["label"], data["n_workers"]), posterior, theta, xi)
    args = (offsets, item_by_worker, label_by_worker, posterior, theta, xi, spam_a, spam_b, xi_pseudo)
    theta_new, xi_new = mace.m_step_spamming(*args)
    expected_theta, expected_xi = naive_m_step_spamming(*args)
    assert theta_new.shape == (data["n_workers"],) and xi_new.shape == (data["n_workers"], data["K"])
    np.testing.assert_allclose(theta_new, expected_theta, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(xi_new, expected_xi, rtol=RTOL, atol=ATOL)
    assert ((theta_new > 0) & (theta_new < 1)).all() and (xi_new > 0).all()
    np.testing.assert_allclose(xi_new.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_m_step_spamming_known_values():
    # one worker, theta 0.5, xi [0.5, 0.5]; answers 0 on an item known to be 0 and 1 on an
    # item known to be 0: P(spam | right) = 0.25 / 0.75 = 1/3, P(spam | wrong) = 1
    offsets = np.array([0, 2], dtype=np.int64)
    out_theta, out_xi = mace.m_step_spamming(
        offsets, np.array([0, 1], dtype=np.int32), np.array([0, 1], dtype=np.int32),
        np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([0.5]), np.array([[0.5, 0.5]]), 1.0, 2.0, 0.5)
    np.testing.assert_allclose(out_theta, [(4 / 3 + 1.0) / (2 + 3.0)], rtol=1e-12)
    np.testing.assert_allclose(out_xi, [[(0.5 + 1 / 3) / (1 + 4 / 3), 1.5 / (1 + 4 / 3)]], rtol=1e-12)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 numba threads")
def test_mace_kernels_independent_of_thread_count():
    rng = np.random.default_rng(7)
    n_items, n_workers, K = 2000, 50, 4
    item = np.repeat(np.arange(n_items), 5)
    worker = rng.integers(0, n_workers, item.size)
    label = rng.integers(-1, K, item.size)
    offsets, item_by_worker, label_by_worker = worker_csr(item, worker, label, n_workers)
    posterior = rng.dirichlet(np.ones(K), n_items)
    theta = rng.uniform(0.01, 0.99, n_workers)
    xi = rng.dirichlet(np.ones(K), n_workers)
    runs = [(*with_threads(n, mace.m_step_spamming, offsets, item_by_worker, label_by_worker,
                           posterior, theta, xi, 1.2, 2.8, 0.5),
             with_threads(n, mace.emission_from_spamming, theta, xi)) for n in (1, 2)]
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
