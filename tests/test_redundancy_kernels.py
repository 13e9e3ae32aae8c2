"""Redundancy kernels against their plain-Python twins, their properties, and thread-count independence."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive import readonly
from naive_redundancy import (REACH_TOL, disagreement_problems, naive_excess_disagreement,
                              naive_loo_design_loglik, naive_pool_confusion, naive_stop_cdf, scales, stop_problems)

from consensus.kernels import redundancy as kr
from consensus.redundancy import pool_confusion
from consensus.redundancy.advice import loo_design_loglik
from naive_models import with_threads as _with_threads

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def ones(post, n_steps):
    return np.ones((post.shape[0], n_steps + 1)), np.ones((post.shape[0], n_steps + 1))


def exact(post, target, draw, update, n_steps, prior_scale=None, vote_scale=None):
    counts, child, offsets = kr.count_states(post.shape[1], n_steps)
    if prior_scale is None:
        prior_scale, vote_scale = ones(post, n_steps)
    return kr.stop_cdf_exact(*readonly(post, target, draw, update, prior_scale, vote_scale, counts, child, offsets))


def simulated(post, target, draw, update, n_steps, n_runs, seed, prior_scale=None, vote_scale=None):
    if prior_scale is None:
        prior_scale, vote_scale = ones(post, n_steps)
    return kr.stop_cdf_simulated(*readonly(post, target, draw, update, prior_scale, vote_scale), n_steps, n_runs, seed)


def test_reach_tolerance_matches_naive():
    assert kr.REACH_TOL == REACH_TOL


@pytest.mark.parametrize(("k", "steps"), [(2, 0), (2, 5), (3, 4), (5, 3)])
def test_count_states_enumerates_every_vote_count_once(k, steps):
    counts, child, offsets = kr.count_states(k, steps)
    assert counts.shape == (math.comb(steps + k, k), k) == (kr.n_count_states(k, steps), k)
    assert len({tuple(c) for c in counts}) == counts.shape[0]
    for m in range(steps + 1):
        assert (counts[offsets[m]:offsets[m + 1]].sum(axis=1) == m).all()
    for s in range(counts.shape[0]):
        for l in range(k):
            if counts[s].sum() == steps:
                assert child[s, l] == -1
            else:
                expected = counts[s].copy()
                expected[l] += 1
                np.testing.assert_array_equal(counts[child[s, l]], expected)


@SETTINGS
@given(problem=stop_problems())
def test_stop_cdf_exact_matches_naive(problem):
    post, target, draw, update, n_steps = problem
    got = exact(post, target, draw, update, n_steps)
    np.testing.assert_allclose(got, naive_stop_cdf(post, target, draw, update, n_steps), atol=1e-10)
    assert (np.diff(got, axis=1) >= -1e-12).all()
    assert ((got >= 0) & (got <= 1)).all()


@SETTINGS
@given(problem=stop_problems(max_steps=3), seed=st.integers(0, 2**32))
def test_stop_cdf_simulated_is_close_to_naive(problem, seed):
    post, target, draw, update, n_steps = problem
    got = simulated(post, target, draw, update, n_steps, 4000, seed)
    # 4000 runs: standard error <= 0.008; 0.05 is > 6 standard errors
    np.testing.assert_allclose(got, naive_stop_cdf(post, target, draw, update, n_steps), atol=0.05)


@SETTINGS
@given(data=st.data())
def test_scaled_stop_cdf_matches_naive(data):
    post, target, draw, update, n_steps = data.draw(stop_problems())
    prior_scale, vote_scale = data.draw(scales(post.shape[0], n_steps))
    want = naive_stop_cdf(post, target, draw, update, n_steps, prior_scale, vote_scale)
    np.testing.assert_allclose(exact(post, target, draw, update, n_steps, prior_scale, vote_scale), want, atol=1e-10)
    if n_steps <= 3:
        got = simulated(post, target, draw, update, n_steps, 4000, data.draw(st.integers(0, 2**32)),
                        prior_scale, vote_scale)
        np.testing.assert_allclose(got, want, atol=0.05)


@SETTINGS
@given(problem=stop_problems(), rho=st.floats(0.05, 1.0))
def test_growing_temperature_never_needs_fewer_labels(problem, rho):
    # correlated answers (T grows with the labels) carry less evidence: the target is never reached sooner
    post, target, draw, update, n_steps = problem
    later = 1.0 + rho * np.arange(n_steps + 1)[None, :].repeat(post.shape[0], axis=0)
    tempered = exact(post, target, draw, update, n_steps, 1.0 / later, 1.0 / later)
    assert (tempered <= exact(post, target, draw, update, n_steps) + 1e-12).all()


@SETTINGS
@given(problem=disagreement_problems(), rho=st.floats(0.0, 1.0))
def test_loo_design_loglik_matches_naive(problem, rho):
    offsets, worker, label, confusion, post = problem
    k = post.shape[1]
    log_emission = np.log(confusion).transpose(0, 2, 1).copy()
    log_prior = np.log(np.full(k, 1.0 / k))
    items = np.arange(post.shape[0], dtype=np.int64)
    got = loo_design_loglik(*readonly(offsets, worker, label, log_emission, log_prior), rho, items)
    want = naive_loo_design_loglik(offsets, worker, label, log_emission, log_prior, rho, items)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    assert (got <= 1e-12).all()


def test_loo_design_loglik_rho_zero_is_plain_loo():
    from consensus.kernels.calibration import loo_predictive_loglik

    rng = np.random.default_rng(2)
    item = np.repeat(np.arange(40), 5)
    offsets = np.arange(0, item.size + 1, 5, dtype=np.int64)
    worker = rng.integers(0, 8, item.size).astype(np.int32)
    label = rng.integers(-1, 3, item.size).astype(np.int32)
    log_emission = np.log(rng.dirichlet(np.ones(3), size=(8, 3)))
    log_prior = np.log(np.array([0.5, 0.3, 0.2]))
    items = np.arange(40, dtype=np.int64)
    np.testing.assert_allclose(loo_design_loglik(offsets, worker, label, log_emission, log_prior, 0.0, items),
                               loo_predictive_loglik(offsets, worker, label, log_emission, log_prior, 1.0, items))


@SETTINGS
@given(problem=disagreement_problems())
def test_excess_disagreement_matches_naive(problem):
    offsets, worker, label, confusion, post = problem
    got = kr.excess_disagreement(*readonly(offsets, worker, label, confusion, post))
    np.testing.assert_allclose(got, naive_excess_disagreement(offsets, worker, label, confusion, post), atol=1e-12)


@SETTINGS
@given(data=st.data())
def test_pool_confusion_matches_naive(data):
    k = data.draw(st.integers(2, 4))
    n_workers = data.draw(st.integers(1, 5))
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    confusion = rng.dirichlet(np.ones(k), size=(n_workers, k))
    undefined = rng.random((n_workers, k)) < 0.3
    confusion[undefined] = np.nan
    weights = rng.integers(0, 20, n_workers).astype(float)
    np.testing.assert_allclose(pool_confusion(confusion, weights), naive_pool_confusion(confusion, weights))


# -- properties -----------------------------------------------------------------------------------

@SETTINGS
@given(problem=stop_problems(), bump=st.floats(0.0, 0.2))
def test_higher_target_never_needs_fewer_labels(problem, bump):
    post, target, draw, update, n_steps = problem
    low = exact(post, target, draw, update, n_steps)
    high = exact(post, np.minimum(target + bump, 0.9999), draw, update, n_steps)
    assert (high <= low + 1e-12).all()


@SETTINGS
@given(problem=stop_problems())
def test_item_at_target_stops_at_once(problem):
    post, _, draw, update, n_steps = problem
    target = post.max(axis=1)
    np.testing.assert_allclose(exact(post, target, draw, update, n_steps), 1.0, rtol=1e-12)
    sim = simulated(post, target, draw, update, n_steps, 10, 0)
    np.testing.assert_array_equal(sim, 1.0)


@SETTINGS
@given(k=st.integers(2, 4), n_steps=st.integers(1, 4), target=st.floats(0.5, 0.999), data=st.data())
def test_perfect_annotators_need_at_most_one_label(k, n_steps, target, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    post = rng.dirichlet(np.ones(k), size=3)
    draw = np.eye(k)
    # a perfect pool's vote multiplies the other classes by ~1e-12: one vote settles any item
    update = np.log(np.where(np.eye(k) > 0, 1.0, 1e-12))
    got = exact(post, np.full(3, target), draw, update, n_steps)
    np.testing.assert_allclose(got[:, 1:], 1.0)


def test_uninformative_pool_never_reaches_target():
    post = np.array([[0.5, 0.5], [0.6, 0.4]])
    draw = np.full((2, 2), 0.5)
    update = np.log(draw)
    got = exact(post, np.array([0.9, 0.9]), draw, update, 6)
    np.testing.assert_array_equal(got, 0.0)


def test_stop_cdf_known_values():
    # two classes, truth 50/50, pool accuracy 0.9 both ways, T = 1: one agreeing vote gives 0.9,
    # two give 81/82 = 0.988; target 0.95 needs two net votes
    post = np.array([[0.5, 0.5]])
    draw = np.array([[0.9, 0.1], [0.1, 0.9]])
    got = exact(post, np.array([0.95]), draw, np.log(draw), 2)
    np.testing.assert_allclose(got[0], [0.0, 0.0, 0.81 + 0.01])


def test_simulation_is_seeded():
    rng = np.random.default_rng(3)
    post = rng.dirichlet(np.ones(3), size=50)
    draw = 0.7 * np.eye(3) + 0.1
    args = (post, np.full(50, 0.95), draw, np.log(draw), 6, 200)
    a = simulated(*args, 5)
    np.testing.assert_array_equal(a, simulated(*args, 5))
    assert not np.array_equal(a, simulated(*args, 6))




@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 numba threads")
def test_kernels_independent_of_thread_count():
    rng = np.random.default_rng(7)
    n_items, k = 2000, 3
    post = rng.dirichlet(np.ones(k), size=n_items)
    target = rng.uniform(0.8, 0.99, n_items)
    draw = 0.6 * np.eye(k) + 0.4 * rng.dirichlet(np.ones(k), size=k)
    update = np.log(draw) / 1.7
    counts, child, offsets = kr.count_states(k, 6)
    later = 1.0 + 0.3 * (np.arange(n_items)[:, None] % 4 + np.arange(7)[None, :])
    prior_scale, vote_scale = later[:, :1] / later, 1.0 / later
    for fn, args in ((kr.stop_cdf_exact, (post, target, draw, update, prior_scale, vote_scale, counts, child, offsets)),
                     (kr.stop_cdf_simulated, (post, target, draw, update, prior_scale, vote_scale, 6, 50, 11))):
        np.testing.assert_array_equal(_with_threads(1, fn, *args), _with_threads(2, fn, *args))
    item = np.repeat(np.arange(n_items), 5)
    offsets = np.arange(0, item.size + 1, 5, dtype=np.int64)
    worker = rng.integers(0, 30, item.size).astype(np.int32)
    label = rng.integers(-1, k, item.size).astype(np.int32)
    confusion = rng.dirichlet(np.ones(k), size=(30, k))
    args = (offsets, worker, label, confusion, post)
    np.testing.assert_array_equal(_with_threads(1, kr.excess_disagreement, *args),
                                  _with_threads(2, kr.excess_disagreement, *args))
