"""benchmarks/ebcc_probe.py (EBCC mean-field VB) against a loop-by-judgment reference.

The reference spells every ELBO term out (expected log-likelihood, expected log-priors with their
normalisers, entropies), so it checks the vectorised updates, the sparse layouts and the
log-normaliser shortcut of ``elbo_value`` independently.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import digamma, gammaln

# benchmarks/ only for this import: left on sys.path, its distributed.py would shadow dask's
# `distributed` package in the worker processes that later tests spawn.
_BENCHMARKS = str(Path(__file__).resolve().parents[1] / "benchmarks")
sys.path.insert(0, _BENCHMARKS)
try:
    import ebcc_probe
finally:
    while _BENCHMARKS in sys.path:
        sys.path.remove(_BENCHMARKS)


def _elog(a: np.ndarray) -> np.ndarray:
    return digamma(a) - digamma(a.sum(axis=-1, keepdims=True))


def _log_dir_norm(a: np.ndarray) -> np.ndarray:
    """log of 1 / B(a): the Dirichlet log-normaliser, over the last axis."""
    return gammaln(a.sum(axis=-1)) - gammaln(a).sum(axis=-1)


def naive_globals(item, worker, label, resp, priors, n_workers):
    n_items, K, M = resp.shape
    nu = priors.alpha.astype(float).copy()
    eta = np.tile(priors.eta, (K, 1)).astype(float)
    mu = np.tile(priors.beta[None, :, None, :], (n_workers, 1, M, 1)).astype(float)
    for i in range(n_items):
        for k in range(K):
            nu[k] += resp[i, k].sum()
            eta[k] += resp[i, k]
    for i, j, y in zip(item, worker, label):
        if y < 0:
            continue
        for k in range(K):
            for m in range(M):
                mu[j, k, m, y] += resp[i, k, m]
    return nu, eta, mu


def naive_local(item, worker, label, n_items, nu, eta, mu):
    K, M = eta.shape
    logits = np.zeros((n_items, K, M))
    for i in range(n_items):
        logits[i] = _elog(nu)[:, None] + _elog(eta)
    elog_v = _elog(mu)
    for i, j, y in zip(item, worker, label):
        if y >= 0:
            logits[i] += elog_v[j, :, :, y]
    resp = np.exp(logits - logits.max(axis=(1, 2), keepdims=True))
    return resp / resp.sum(axis=(1, 2), keepdims=True)


def naive_elbo(item, worker, label, resp, nu, eta, mu, priors):
    K, M = eta.shape
    elog_tau, elog_psi, elog_v = _elog(nu), _elog(eta), _elog(mu)
    value = 0.0
    for i, j, y in zip(item, worker, label):  # E log p(y | z, g, v)
        if y >= 0:
            value += float((resp[i] * elog_v[j, :, :, y]).sum())
    value += float((resp * (elog_tau[:, None] + elog_psi)[None]).sum())  # E log p(z, g | tau, psi)
    value += float(_log_dir_norm(priors.alpha) + ((priors.alpha - 1) * elog_tau).sum())  # E log p(tau)
    value -= float(_log_dir_norm(nu) + ((nu - 1) * elog_tau).sum())  # - E log q(tau)
    for k in range(K):
        value += float(_log_dir_norm(priors.eta) + ((priors.eta - 1) * elog_psi[k]).sum())
        value -= float(_log_dir_norm(eta[k]) + ((eta[k] - 1) * elog_psi[k]).sum())
    for j in range(mu.shape[0]):
        for k in range(K):
            for m in range(M):
                b = priors.beta[k]
                value += float(_log_dir_norm(b) + ((b - 1) * elog_v[j, k, m]).sum())
                value -= float(_log_dir_norm(mu[j, k, m]) + ((mu[j, k, m] - 1) * elog_v[j, k, m]).sum())
    positive = resp[resp > 0]
    value -= float((positive * np.log(positive)).sum())  # + H[q(z, g)]
    return value


@st.composite
def problems(draw):
    n_items = draw(st.integers(1, 7))
    n_workers = draw(st.integers(1, 4))
    K = draw(st.integers(2, 3))
    M = draw(st.integers(1, 3))
    pairs = draw(st.lists(st.tuples(st.integers(0, n_items - 1), st.integers(0, n_workers - 1)),
                          min_size=1, max_size=20, unique=True))
    item = np.array([p[0] for p in pairs])
    worker = np.array([p[1] for p in pairs])
    label = np.array(draw(st.lists(st.integers(-1, K - 1), min_size=len(pairs), max_size=len(pairs))))
    s = ebcc_probe.EBCCSettings(n_subtypes=M, a_pi=draw(st.floats(0.05, 3.0)), a_v=draw(st.floats(1.0, 6.0)),
                                b_v=draw(st.floats(0.3, 2.0)), empirical_alpha=draw(st.booleans()), n_restarts=1)
    seed = draw(st.integers(0, 2**32 - 1))
    return item, worker, label, n_items, n_workers, K, s, seed


def _setup(item, worker, label, n_items, n_workers, K, s):
    incidence = ebcc_probe.incidence_matrix(item, worker, label, n_items, n_workers, K)
    initial = ebcc_probe.vote_fractions(incidence, K)
    alpha = initial.sum(axis=0) + 0.5 if s.empirical_alpha else np.ones(K)
    return incidence, initial, ebcc_probe.make_priors(s, alpha)


@given(problems())
@settings(max_examples=150, deadline=None)
def test_sweep_and_elbo_match_reference(problem):
    item, worker, label, n_items, n_workers, K, s, seed = problem
    incidence, initial, priors = _setup(item, worker, label, n_items, n_workers, K, s)
    rng = np.random.default_rng(seed)
    resp = rng.dirichlet(np.ones(s.n_subtypes), size=(n_items, K)) * initial[:, :, None]
    nu, eta, mu = ebcc_probe.update_globals(incidence.T.tocsr(), resp, priors)
    ref = naive_globals(item, worker, label, resp, priors, n_workers)
    for got, want in zip((nu, eta, mu), ref):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    new_resp, log_norm = ebcc_probe.update_local(incidence, nu, eta, mu)
    np.testing.assert_allclose(new_resp, naive_local(item, worker, label, n_items, nu, eta, mu), rtol=1e-10,
                               atol=1e-12)
    got = ebcc_probe.elbo_value(log_norm, nu, eta, mu, priors)
    want = naive_elbo(item, worker, label, new_resp, nu, eta, mu, priors)
    assert got == pytest.approx(want, rel=1e-9, abs=1e-9)


@given(problems())
@settings(max_examples=100, deadline=None)
def test_elbo_never_decreases(problem):
    item, worker, label, n_items, n_workers, K, s, seed = problem
    incidence, initial, priors = _setup(item, worker, label, n_items, n_workers, K, s)
    run = ebcc_probe.fit_once(incidence, K, s, priors.alpha, initial, np.random.default_rng(seed), max_iter=30,
                              tol=0.0)
    steps = np.diff(run.elbo)
    assert np.all(steps >= -1e-9 * np.abs(np.asarray(run.elbo[1:]))), steps.min()
    assert run.n_decreases == 0


def test_fit_is_deterministic_and_finds_the_consensus():
    rng = np.random.default_rng(3)
    n_items, n_workers, K = 60, 6, 3
    truth = rng.integers(0, K, n_items)
    item = np.repeat(np.arange(n_items), n_workers)
    worker = np.tile(np.arange(n_workers), n_items)
    right = rng.random(item.size) < 0.8
    label = np.where(right, truth[item], (truth[item] + 1 + rng.integers(0, K - 1, item.size)) % K)
    s = ebcc_probe.EBCCSettings(n_subtypes=3, n_restarts=4)
    a = ebcc_probe.fit(item, worker, label, n_items, n_workers, K, s, seed=7)
    b = ebcc_probe.fit(item, worker, label, n_items, n_workers, K, s, seed=7)
    assert a.best == b.best
    np.testing.assert_array_equal(a.posterior, b.posterior)
    # six 80%-accurate workers: the posterior's labels must beat every single worker by far
    assert (a.posterior.argmax(axis=1) == truth).mean() > 0.95
    assert a.posterior.shape == (n_items, K)
    np.testing.assert_allclose(a.posterior.sum(axis=1), 1.0)
