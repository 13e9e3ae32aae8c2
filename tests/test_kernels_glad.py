"""GLAD kernels against their plain-Python twins in naive_models.py, and the gradients
against central finite differences of the objective the M-step climbs
(``glad.expected_q`` summed + ``GLAD._regulariser``)."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive import item_csr, judgment_sets, readonly, stochastic_rows
from naive_models import (
    glad_log_prior_density,
    naive_expected_q,
    naive_glad_e_step,
    naive_gradients,
    naive_residuals,
    with_threads,
)

from consensus.kernels import glad
from consensus.models.glad import GLAD

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RTOL, ATOL = 1e-9, 1e-12

abilities = st.one_of(st.floats(-4.0, 4.0), st.sampled_from([0.0, 1.0, -1.0]))
log_easiness = st.one_of(st.floats(-3.0, 3.0), st.just(0.0))


@st.composite
def glad_inputs(draw, min_classes=1):
    """Judgments as kernel input (item-sorted CSR and worker CSR) plus parameters."""
    data = draw(judgment_sets(min_classes=min_classes, duplicates=draw(st.booleans())))
    n_items, n_workers, K = data["n_items"], data["n_workers"], data["K"]
    alpha = np.array(draw(st.lists(abilities, min_size=n_workers, max_size=n_workers)))
    log_beta = np.array(draw(st.lists(log_easiness, min_size=n_items, max_size=n_items)))
    posterior = stochastic_rows(draw, n_items, K)
    log_prior = np.array(draw(st.lists(st.one_of(st.floats(-20.0, 0.0), st.just(-math.inf)),
                                       min_size=K, max_size=K)))
    if not np.isfinite(log_prior).any():
        log_prior[draw(st.integers(0, K - 1))] = 0.0
    # item-sorted judgments, the order Judgments keeps them in
    order = np.lexsort((data["label"], data["worker"], data["item"]))
    item = data["item"][order].astype(np.int32)
    offsets, worker, label = item_csr(data["item"], data["worker"], data["label"], n_items)
    np.testing.assert_array_equal(item, np.repeat(np.arange(n_items), np.diff(offsets)))
    worker_order = np.argsort(worker, kind="stable").astype(np.int64)
    worker_offsets = np.zeros(n_workers + 1, dtype=np.int64)
    np.cumsum(np.bincount(worker, minlength=n_workers), out=worker_offsets[1:])
    arrays = dict(zip(
        ("offsets", "worker", "label", "item", "worker_offsets", "worker_order", "alpha", "log_beta",
         "posterior", "log_prior", "gold"),
        readonly(offsets, worker, label, item, worker_offsets, worker_order, alpha, log_beta,
                 posterior, log_prior, data["gold"])))
    return {**arrays, "K": K, "n_items": n_items, "n_workers": n_workers}


@SETTINGS
@given(g=glad_inputs())
def test_e_step_matches_naive(g):
    args = (g["offsets"], g["worker"], g["label"], g["alpha"], g["log_beta"], g["log_prior"], g["gold"])
    posterior, loglik = glad.e_step(*args)
    expected_posterior, expected_loglik = naive_glad_e_step(*args)
    assert posterior.shape == (g["n_items"], g["K"]) and loglik.shape == (g["n_items"],)
    np.testing.assert_allclose(posterior, expected_posterior, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(loglik, expected_loglik, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(posterior.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    log_posterior, log_loglik = glad.e_step(*args, True)
    np.testing.assert_allclose(log_posterior, naive_glad_e_step(*args, log_space=True)[0], rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(log_loglik, loglik)


def test_e_step_known_values():
    # one item (beta = 1), K = 3; worker 0 (alpha = log 3, s = 3/4) says 2, worker 1 (alpha = 0,
    # s = 1/2) says 0; uniform prior. P(l | t) = s if l == t else (1 - s) / 2.
    offsets = np.array([0, 2], dtype=np.int64)
    posterior, loglik = glad.e_step(offsets, np.array([0, 1], dtype=np.int32),
                                    np.array([2, 0], dtype=np.int32), np.array([math.log(3.0), 0.0]),
                                    np.zeros(1), np.log(np.full(3, 1 / 3)), np.array([-1], dtype=np.int32))
    joint = np.array([1 / 8 * 1 / 2, 1 / 8 * 1 / 4, 3 / 4 * 1 / 4]) / 3
    np.testing.assert_allclose(posterior[0], joint / joint.sum(), rtol=1e-12)
    np.testing.assert_allclose(loglik, [math.log(joint.sum())], rtol=1e-12)


@SETTINGS
@given(g=glad_inputs())
def test_expected_q_and_residuals_match_naive(g):
    args = (g["offsets"], g["worker"], g["label"], g["posterior"], g["alpha"], g["log_beta"])
    q = glad.expected_q(*args, g["K"])
    np.testing.assert_allclose(q, naive_expected_q(*args, g["K"]), rtol=RTOL, atol=ATOL)
    r = glad.residuals(*args)
    np.testing.assert_allclose(r, naive_residuals(*args), rtol=RTOL, atol=ATOL)
    assert (r[g["label"] < 0] == 0.0).all()


@st.composite
def prior_parameters(draw):
    return (draw(st.sampled_from([1.0, 0.0, -0.5, 2.0])), draw(st.sampled_from([1.0, 0.0, 3.5])),
            draw(st.sampled_from([1.0, 0.0, 0.25])))


@SETTINGS
@given(g=glad_inputs(), prior=prior_parameters())
def test_gradients_match_naive(g, prior):
    residual = glad.residuals(g["offsets"], g["worker"], g["label"], g["posterior"], g["alpha"],
                              g["log_beta"])
    args = (g["offsets"], g["worker_offsets"], g["worker_order"], g["item"], g["worker"], residual,
            g["alpha"], g["log_beta"], *prior)
    grad_alpha, grad_log_beta = glad.gradients(*args)
    expected_alpha, expected_log_beta = naive_gradients(*args)
    np.testing.assert_allclose(grad_alpha, expected_alpha, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(grad_log_beta, expected_log_beta, rtol=RTOL, atol=ATOL)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(g=glad_inputs(min_classes=2), prior=prior_parameters())
def test_gradients_are_derivatives_of_q_plus_log_prior(g, prior):
    """Central differences of sum(expected_q) + GLAD._regulariser at (alpha, log_beta)."""
    mean, precision, easiness_precision = prior
    model = GLAD(ability_mean=mean, ability_precision=precision, easiness_precision=easiness_precision)
    base = (g["offsets"], g["worker"], g["label"], g["posterior"])

    def objective(alpha, log_beta):
        return float(glad.expected_q(*base, alpha, log_beta, g["K"]).sum()) \
            + model._regulariser(alpha, log_beta)

    alpha, log_beta = g["alpha"].copy(), g["log_beta"].copy()
    assert model._regulariser(alpha, log_beta) == pytest.approx(
        glad_log_prior_density(alpha, log_beta, mean, precision, easiness_precision), rel=1e-12, abs=1e-12)
    residual = glad.residuals(*base, alpha, log_beta)
    grad_alpha, grad_log_beta = glad.gradients(
        g["offsets"], g["worker_offsets"], g["worker_order"], g["item"], g["worker"], residual,
        alpha, log_beta, mean, precision, easiness_precision)

    def central(vector, index, other_first):
        h = 1e-5
        up, down = vector.copy(), vector.copy()
        up[index] += h
        down[index] -= h
        if other_first:
            return (objective(up, log_beta) - objective(down, log_beta)) / (2 * h)
        return (objective(alpha, up) - objective(alpha, down)) / (2 * h)

    numeric_alpha = np.array([central(alpha, w, True) for w in range(alpha.size)])
    numeric_log_beta = np.array([central(log_beta, i, False) for i in range(log_beta.size)])
    np.testing.assert_allclose(grad_alpha, numeric_alpha, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(grad_log_beta, numeric_log_beta, rtol=1e-6, atol=1e-5)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 numba threads")
def test_glad_kernels_independent_of_thread_count():
    rng = np.random.default_rng(9)
    n_items, n_workers, K = 2000, 50, 3
    item = np.repeat(np.arange(n_items), 5).astype(np.int32)
    worker = rng.integers(0, n_workers, item.size)
    label = rng.integers(-1, K, item.size)
    offsets, worker_sorted, label_sorted = item_csr(item, worker, label, n_items)
    worker_order = np.argsort(worker_sorted, kind="stable").astype(np.int64)
    worker_offsets = np.zeros(n_workers + 1, dtype=np.int64)
    np.cumsum(np.bincount(worker_sorted, minlength=n_workers), out=worker_offsets[1:])
    posterior = rng.dirichlet(np.ones(K), n_items)
    alpha = rng.normal(1.0, 1.0, n_workers)
    log_beta = rng.normal(0.0, 0.5, n_items)
    gold = np.where(rng.random(n_items) < 0.1, rng.integers(0, K, n_items), -1).astype(np.int32)
    log_prior = np.log(np.array([0.5, 0.3, 0.2]))

    def run():
        r = glad.residuals(offsets, worker_sorted, label_sorted, posterior, alpha, log_beta)
        return (*glad.e_step(offsets, worker_sorted, label_sorted, alpha, log_beta, log_prior, gold),
                glad.expected_q(offsets, worker_sorted, label_sorted, posterior, alpha, log_beta, K), r,
                *glad.gradients(offsets, worker_offsets, worker_order, item, worker_sorted, r, alpha,
                                log_beta, 1.0, 1.0, 1.0))

    for a, b in zip(with_threads(1, run), with_threads(2, run)):
        np.testing.assert_array_equal(a, b)
