"""Binomial statistics of the claim check against independent references (scipy.stats, closed forms)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

from consensus.claims import (
    clopper_pearson_interval,
    exact_lower_bound,
    exact_upper_bound,
    p_value_above,
    p_value_below,
    verdict,
    verdict_codes,
    wilson_interval,
)

CASES = [(0, 1), (1, 1), (0, 10), (10, 10), (3, 10), (7, 10), (257, 300), (299, 300), (0, 300),
         (4247, 6025), (1, 2), (49, 50), (960, 1000)]
CONFIDENCES = [0.8, 0.9, 0.95, 0.99]


# -- naive references ----------------------------------------------------------------------

def naive_cp_by_root(k: int, n: int, confidence: float) -> tuple[float, float]:
    """Clopper-Pearson by solving the binomial tail equations (no Beta quantiles)."""
    tail = (1 - confidence) / 2
    lower = 0.0 if k == 0 else optimize.brentq(lambda p: stats.binom.sf(k - 1, n, p) - tail, 1e-15, 1 - 1e-15,
                                               xtol=1e-14)
    upper = 1.0 if k == n else optimize.brentq(lambda p: stats.binom.cdf(k, n, p) - tail, 1e-15, 1 - 1e-15,
                                               xtol=1e-14)
    return lower, upper


def naive_wilson_by_quadratic(k: int, n: int, confidence: float) -> tuple[float, float]:
    """Wilson: the p with |k/n - p| = z sqrt(p(1-p)/n), roots of a quadratic."""
    z = stats.norm.ppf(1 - (1 - confidence) / 2)
    ph = k / n
    # (ph - p)^2 = z^2 p (1-p) / n  ->  (1 + z^2/n) p^2 - (2 ph + z^2/n) p + ph^2 = 0
    roots = np.roots([1 + z * z / n, -(2 * ph + z * z / n), ph * ph]).real
    return float(roots.min()), float(roots.max())


# -- intervals against references ------------------------------------------------------------

@pytest.mark.parametrize("confidence", CONFIDENCES)
@pytest.mark.parametrize(("k", "n"), CASES)
def test_clopper_pearson_matches_scipy_and_tail_equations(k, n, confidence):
    lower, upper = clopper_pearson_interval(k, n, confidence)
    ref = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="exact")
    assert lower == pytest.approx(ref.low, abs=1e-12)
    assert upper == pytest.approx(ref.high, abs=1e-12)
    root_lower, root_upper = naive_cp_by_root(k, n, confidence)
    assert lower == pytest.approx(root_lower, abs=1e-9)
    assert upper == pytest.approx(root_upper, abs=1e-9)


@pytest.mark.parametrize("confidence", CONFIDENCES)
@pytest.mark.parametrize(("k", "n"), CASES)
def test_wilson_matches_scipy_and_quadratic(k, n, confidence):
    lower, upper = wilson_interval(k, n, confidence)
    ref = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    assert lower == pytest.approx(ref.low, abs=1e-12)
    assert upper == pytest.approx(ref.high, abs=1e-12)
    q_lower, q_upper = naive_wilson_by_quadratic(k, n, confidence)
    assert lower == pytest.approx(max(q_lower, 0.0), abs=1e-7)
    assert upper == pytest.approx(min(q_upper, 1.0), abs=1e-7)


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
@pytest.mark.parametrize(("k", "n"), CASES)
def test_one_sided_bounds_and_p_values_match_binomtest(k, n, confidence):
    less = stats.binomtest(k, n, 0.9, alternative="less")
    greater = stats.binomtest(k, n, 0.9, alternative="greater")
    assert exact_upper_bound(k, n, confidence) == pytest.approx(
        less.proportion_ci(confidence_level=confidence, method="exact").high, abs=1e-12)
    assert exact_lower_bound(k, n, confidence) == pytest.approx(
        greater.proportion_ci(confidence_level=confidence, method="exact").low, abs=1e-12)
    assert p_value_below(k, n, 0.9) == pytest.approx(less.pvalue, rel=1e-12, abs=1e-300)
    assert p_value_above(k, n, 0.9) == pytest.approx(greater.pvalue, rel=1e-12, abs=1e-300)


def test_vectorised_equals_scalar():
    k = np.array([c[0] for c in CASES])
    n = np.array([c[1] for c in CASES])
    lower, upper = wilson_interval(k, n)
    cp_lower, cp_upper = clopper_pearson_interval(k, n)
    for i, (ki, ni) in enumerate(CASES):
        assert (lower[i], upper[i]) == tuple(map(float, wilson_interval(ki, ni)))
        assert (cp_lower[i], cp_upper[i]) == tuple(map(float, clopper_pearson_interval(ki, ni)))


def test_no_answers_give_nan_and_not_supported():
    for function in (clopper_pearson_interval, wilson_interval):
        lower, upper = function(0, 0)
        assert math.isnan(lower) and math.isnan(upper)
    assert math.isnan(exact_lower_bound(0, 0)) and math.isnan(p_value_below(0, 0, 0.9))
    assert verdict(0, 0, 0.9) == "not_supported"


# -- the decision rule -------------------------------------------------------------------------

def naive_verdict(k: int, n: int, claimed: float, confidence: float, margin: float) -> str:
    """The documented rule written with scipy's binomtest, case by case."""
    alpha = 1 - confidence
    if stats.binomtest(k, n, claimed, alternative="less").pvalue <= alpha:
        return "refuted"
    if claimed - margin <= 0:
        return "supported" if k >= 1 else "not_supported"
    if stats.binomtest(k, n, claimed - margin, alternative="greater").pvalue <= alpha:
        return "supported"
    return "not_supported"


@pytest.mark.parametrize("claimed", [0.5, 0.8, 0.86, 0.95, 0.96, 1.0])
@pytest.mark.parametrize("n", [1, 7, 50, 300])
def test_verdict_matches_rule_for_every_k(claimed, n):
    k = np.arange(n + 1)
    codes = verdict_codes(k, n, claimed, confidence=0.95, margin=0.02)
    names = np.array(["supported", "not_supported", "refuted"])[codes]
    assert list(names) == [naive_verdict(int(x), n, claimed, 0.95, 0.02) for x in k]


def test_weather_style_example_by_hand():
    # 257 of 300 right: one-sided 95% bounds 0.8191 .. 0.8889 (Beta quantiles)
    assert verdict(257, 300, 0.80) == "supported"
    assert verdict(257, 300, 0.86) == "not_supported"
    assert verdict(257, 300, 0.95) == "refuted"
    assert exact_upper_bound(257, 300) == pytest.approx(stats.beta.ppf(0.95, 258, 43))


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 3000), share=st.floats(0, 1), claimed=st.floats(0.05, 1.0),
       confidence=st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_bounds_agree_with_tests(n, share, claimed, confidence):
    """refuted <=> upper bound < claim; supported => lower bound >= claim - margin (up to float ties)."""
    k = int(round(share * n))
    alpha = 1 - confidence
    code = int(verdict_codes(k, n, claimed, confidence=confidence, margin=0.02))
    upper = float(exact_upper_bound(k, n, confidence))
    lower = float(exact_lower_bound(k, n, confidence))
    p = float(p_value_below(k, n, claimed))
    if abs(p - alpha) > 1e-9:
        assert (code == 2) == (upper < claimed)
    if code == 0:
        assert lower >= claimed - 0.02 - 1e-9
        assert upper >= claimed - 1e-9


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 5000), share=st.floats(0, 1), confidence=st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_intervals_contain_the_estimate_and_nest(n, share, confidence):
    k = int(round(share * n))
    estimate = k / n
    for function in (clopper_pearson_interval, wilson_interval):
        lower, upper = map(float, function(k, n, confidence))
        assert 0.0 <= lower <= estimate <= upper <= 1.0
    # one-sided bounds are tighter than the two-sided interval at the same confidence
    cp_lower, cp_upper = map(float, clopper_pearson_interval(k, n, confidence))
    assert cp_lower <= float(exact_lower_bound(k, n, confidence)) + 1e-12
    assert float(exact_upper_bound(k, n, confidence)) <= cp_upper + 1e-12
    # higher confidence, wider interval
    wide = clopper_pearson_interval(k, n, 0.999)
    assert wide[0] <= cp_lower + 1e-12 and cp_upper <= wide[1] + 1e-12


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 400), share=st.floats(0, 1), factor=st.integers(2, 20))
def test_intervals_narrow_with_more_answers(n, share, factor):
    """Same observed accuracy on factor x more answers: never a wider interval."""
    k = int(round(share * n))
    for function in (clopper_pearson_interval, wilson_interval):
        small = np.subtract(*function(k, n)[::-1])
        large = np.subtract(*function(factor * k, factor * n)[::-1])
        assert large <= small + 1e-12


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 2000), claimed=st.floats(0.05, 1.0), margin=st.floats(0.0, 0.04))
def test_verdict_monotone_in_correct_answers_and_claim(n, claimed, margin):
    k = np.arange(n + 1)
    codes = verdict_codes(k, n, claimed, margin=margin)
    assert np.all(np.diff(codes.astype(int)) <= 0)  # more right answers never worsen the verdict
    lower, upper = clopper_pearson_interval(k, n)
    assert np.all(np.diff(lower) >= -1e-12) and np.all(np.diff(upper) >= -1e-12)
    harder = verdict_codes(k, n, min(1.0, claimed + 0.03), margin=margin)
    assert np.all(harder >= codes)  # a bolder claim never gets a better verdict
