"""The fraud statistics helpers (BH, G-test, Clopper-Pearson, exact tails) against references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from naive_fraud import naive_benjamini_hochberg, naive_g_test
from scipy import stats

from consensus.fraud import _stats

SETTINGS = settings(max_examples=40, deadline=None)


@SETTINGS
@given(p=st.lists(st.one_of(st.just(math.nan), st.floats(0.0, 1.0)), max_size=30))
def test_benjamini_hochberg_matches_naive(p):
    q, m = _stats.benjamini_hochberg(np.array(p, dtype=np.float64))
    ref_q, ref_m = naive_benjamini_hochberg(p)
    assert m == ref_m
    np.testing.assert_allclose(q, ref_q, equal_nan=True)


def test_benjamini_hochberg_matches_scipy():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=50) ** 3
    q, _ = _stats.benjamini_hochberg(p)
    np.testing.assert_allclose(q, stats.false_discovery_control(p, method="bh"))


@SETTINGS
@given(data=st.data(), k=st.integers(2, 5), rows=st.integers(1, 6))
def test_g_test_matches_naive(data, k, rows):
    observed = np.array(data.draw(st.lists(st.integers(0, 30), min_size=k * rows, max_size=k * rows)),
                        dtype=np.float64).reshape(rows, k)
    expected = np.array(data.draw(st.lists(st.floats(0.05, 10.0), min_size=k * rows, max_size=k * rows))
                        ).reshape(rows, k)
    kl, g, p = _stats.g_test(observed, expected)
    ref_kl, ref_g, ref_p = naive_g_test(observed, expected)
    np.testing.assert_allclose(g, ref_g, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(kl, ref_kl, rtol=1e-9, atol=1e-12, equal_nan=True)
    # at G ~ 0 the p-value is ill-conditioned (chi2.sf falls like sqrt(G) for 1 df): G = 5e-16 instead
    # of 0 moves it by 2e-8, so there the two must only agree that the fit is perfect
    flat = (ref_g < 1e-9) & np.isfinite(ref_p)
    np.testing.assert_allclose(p[~flat], ref_p[~flat], rtol=1e-9, atol=1e-15, equal_nan=True)
    assert (p[flat] > 1 - 1e-6).all()


def test_g_test_equals_scipy_power_divergence_without_correction():
    observed = np.array([[30.0, 5.0, 5.0]])
    expected = np.array([[10.0, 20.0, 10.0]])
    _, g, _ = _stats.g_test(observed, expected)
    ref = stats.power_divergence(observed[0], expected[0] * 40 / 40, lambda_="log-likelihood")
    assert g[0] == pytest.approx(ref.statistic)


@SETTINGS
@given(n=st.integers(1, 200), data=st.data())
def test_clopper_pearson_matches_scipy(n, data):
    k = data.draw(st.integers(0, n))
    lower, upper = _stats.clopper_pearson(k, n, 0.95)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    assert lower == pytest.approx(ci.low, abs=1e-9)
    assert upper == pytest.approx(ci.high, abs=1e-9)


@SETTINGS
@given(n=st.integers(1, 100), data=st.data(), p=st.floats(0.01, 0.99))
def test_binomial_tails_match_binomtest(n, data, p):
    k = data.draw(st.integers(0, n))
    assert _stats.binom_upper(k, n, p) == pytest.approx(stats.binomtest(k, n, p, alternative="greater").pvalue,
                                                       rel=1e-9, abs=1e-300)
    assert _stats.binom_lower(k, n, p) == pytest.approx(stats.binomtest(k, n, p, alternative="less").pvalue,
                                                       rel=1e-9, abs=1e-300)


def test_empty_tests_are_nan_not_errors():
    assert np.isnan(_stats.binom_upper(0, 0, 0.5))
    assert np.isnan(_stats.clopper_pearson(0, 0)[0])
    q, m = _stats.benjamini_hochberg(np.array([np.nan, np.nan]))
    assert m == 0 and np.isnan(q).all()


def test_poisson_tails_are_conservative_for_bernoulli_sums():
    # sums of Bernoulli variables with mean 2 and 6: away from the mean (where the tests
    # look for an excess or a shortfall) the Poisson tail is never smaller than the exact one
    for n, p in ((40, 0.05), (20, 0.3)):
        mean = n * p
        exact = stats.binom(n, p)
        for k in range(int(mean) + 2, n + 1):
            assert _stats.poisson_upper(k, mean) >= exact.sf(k - 1) - 1e-15
        for k in range(0, int(mean) - 1):
            assert _stats.poisson_lower(k, mean) >= exact.cdf(k) - 1e-15
