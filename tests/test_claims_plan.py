"""The audit planner and the acceptance-sampling plan, against brute force over every outcome."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import consensus
from consensus.claims import acceptance_plan, plan_audit, verdict_codes
from consensus.claims.planning import refute_threshold, support_threshold, verdict_power
from consensus.errors import ParameterError


def naive_verdict_probabilities(n: int, claimed: float, margin: float, confidence: float) -> tuple[float, float]:
    """P(supported | acc = claim) and P(refuted | acc = claim - margin), summing the pmf over every k."""
    k = np.arange(n + 1)
    codes = verdict_codes(k, n, claimed, confidence=confidence, margin=margin)
    confirm = stats.binom.pmf(k[codes == 0], n, claimed).sum()
    refute = stats.binom.pmf(k[codes == 2], n, claimed - margin).sum()
    return float(confirm), float(refute)


@pytest.mark.parametrize("claimed", [0.7, 0.86, 0.95, 0.96, 0.99, 1.0])
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_thresholds_match_the_verdict_rule_for_every_n(claimed, confidence):
    margin = 0.03
    for n in [1, 2, 5, 17, 60, 133, 400]:
        k = np.arange(n + 1)
        codes = verdict_codes(k, n, claimed, confidence=confidence, margin=margin)
        k_support, k_refute, p_confirm, p_refute = verdict_power(np.array([n]), claimed, margin, confidence)
        refuted = k[codes == 2]
        supported = k[codes == 0]
        assert k_refute[0] == (refuted.max() if refuted.size else -1)
        assert k_support[0] == (supported.min() if supported.size else n + 1)
        ref_confirm, ref_refute = naive_verdict_probabilities(n, claimed, margin, confidence)
        assert p_confirm[0] == pytest.approx(ref_confirm, abs=1e-12)
        assert p_refute[0] == pytest.approx(ref_refute, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 5000), value=st.floats(0.01, 0.999), alpha=st.sampled_from([0.01, 0.05, 0.1]))
def test_critical_values_are_tight(n, value, alpha):
    k = int(refute_threshold(np.array([n]), value, alpha)[0])
    if k >= 0:
        assert stats.binom.cdf(k, n, value) <= alpha
    if k + 1 <= n:
        assert stats.binom.cdf(k + 1, n, value) > alpha
    s = int(support_threshold(np.array([n]), value, alpha)[0])
    if s <= n:
        assert stats.binom.sf(s - 1, n, value) <= alpha
    if s - 1 >= 0:
        assert stats.binom.sf(s - 2, n, value) > alpha


@pytest.mark.parametrize(("claimed", "margin", "power"), [(0.96, 0.02, 0.8), (0.9, 0.05, 0.9), (0.8, 0.1, 0.8)])
def test_plan_audit_reaches_power_and_is_the_smallest_stable_n(claimed, margin, power):
    plan = plan_audit(claimed, margin=margin, power=power)
    assert plan.n == max(plan.n_confirm, plan.n_refute)
    confirm, refute = naive_verdict_probabilities(plan.n, claimed, margin, 0.95)
    assert plan.power_confirm_at_n == pytest.approx(confirm) and confirm >= power
    assert plan.power_refute_at_n == pytest.approx(refute) and refute >= power
    # one answer fewer than n_confirm (n_refute) misses the target: the saw-tooth's last dip
    assert naive_verdict_probabilities(plan.n_confirm - 1, claimed, margin, 0.95)[0] < power
    assert naive_verdict_probabilities(plan.n_refute - 1, claimed, margin, 0.95)[1] < power
    # and past it the power stays up (checked on a stretch beyond)
    more = np.arange(plan.n_confirm, plan.n_confirm + 200)
    assert np.all(verdict_power(more, claimed, margin, 0.95)[2] >= power)
    curve = plan.power_curve
    assert {"n", "power_confirm", "power_refute"} <= set(curve.columns)
    assert plan.n_confirm in curve["n"].to_list()


def test_plan_audit_by_simulation():
    """Simulated audits at the planned n: verdict rates match the planned powers."""
    plan = plan_audit(0.96, margin=0.02, power=0.8)
    rng = np.random.default_rng(7)
    runs = 40_000
    at_claim = verdict_codes(rng.binomial(plan.n, 0.96, runs), plan.n, 0.96)
    below = verdict_codes(rng.binomial(plan.n, 0.94, runs), plan.n, 0.96)
    se = np.sqrt(0.25 / runs)
    assert abs((at_claim == 0).mean() - plan.power_confirm_at_n) < 4 * se
    assert abs((below == 2).mean() - plan.power_refute_at_n) < 4 * se


def test_plan_figures_for_the_readme():
    plan = plan_audit(0.96, margin=0.02, power=0.8)
    assert (plan.n_confirm, plan.n_refute, plan.n) == (825, 786, 825)
    assert (plan.min_correct_supported, plan.max_correct_refuted) == (787, 781)
    sampling = acceptance_plan(0.96, margin=0.02)
    assert (sampling.n, sampling.c) == (1001, 50)


def naive_smallest_plan(claimed: float, margin: float, producer: float, consumer: float, max_n: int):
    """Every n from 1 up, every c from 0 to n: the first plan meeting both risks."""
    p_good, p_bad = 1 - claimed, 1 - claimed + margin
    for n in range(1, max_n + 1):
        for c in range(n + 1):
            if stats.binom.sf(c, n, p_good) <= producer and stats.binom.cdf(c, n, p_bad) <= consumer:
                return n, c
    return None


@pytest.mark.parametrize(("claimed", "margin", "producer", "consumer"),
                         [(0.9, 0.1, 0.05, 0.1), (0.95, 0.1, 0.05, 0.1), (0.99, 0.06, 0.05, 0.1),
                          (0.8, 0.15, 0.1, 0.2), (1.0, 0.05, 0.05, 0.1)])
def test_acceptance_plan_is_minimal_and_meets_risks(claimed, margin, producer, consumer):
    plan = acceptance_plan(claimed, margin=margin, producer_risk=producer, consumer_risk=consumer)
    assert plan.producer_risk == pytest.approx(stats.binom.sf(plan.c, plan.n, 1 - claimed))
    assert plan.consumer_risk == pytest.approx(stats.binom.cdf(plan.c, plan.n, 1 - claimed + margin))
    assert plan.producer_risk <= producer and plan.consumer_risk <= consumer
    n_ref, c_ref = naive_smallest_plan(claimed, margin, producer, consumer, plan.n)
    assert plan.n == n_ref
    # the c the plan picks is a valid one at that n (the naive search takes the smallest valid c)
    assert plan.c >= c_ref


def test_oc_curve():
    plan = acceptance_plan(0.96, margin=0.02)
    oc = plan.oc_curve
    assert oc["p_accept"].to_numpy() == pytest.approx(stats.binom.cdf(plan.c, plan.n, oc["error_rate"].to_numpy()))
    assert np.all(np.diff(oc["p_accept"].to_numpy()) <= 1e-12)  # sorted by error rate: acceptance falls
    assert oc["accuracy"].to_numpy() == pytest.approx(1 - oc["error_rate"].to_numpy())
    at = dict(zip(np.round(oc["accuracy"].to_numpy(), 10), oc["p_accept"].to_numpy(), strict=True))
    assert at[0.96] == pytest.approx(1 - plan.producer_risk)
    assert at[0.94] == pytest.approx(plan.consumer_risk)
    assert float(plan.p_accept(0.96)) == pytest.approx(1 - plan.producer_risk)


def test_planner_parameter_errors():
    with pytest.raises(ParameterError, match="'margin' parameter of plan_audit"):
        plan_audit(0.96, margin=0.0)
    with pytest.raises(ParameterError, match="'claimed_accuracy'"):
        plan_audit(1.2)
    with pytest.raises(ParameterError, match="'power'"):
        plan_audit(0.9, power=1.0)
    with pytest.raises(ParameterError, match="'producer_risk'"):
        acceptance_plan(0.9, producer_risk=0.7)
    with pytest.raises(ParameterError, match="no acceptance plan"):
        acceptance_plan(0.96, margin=0.001, max_n=500)
    unreachable = plan_audit(0.96, margin=0.001, max_n=300)
    assert unreachable.n is None and "widen --margin" in unreachable.message
    assert "up to 300 " in unreachable.message  # the max_n given, not the default


def test_power_above_the_confidence_is_named_as_the_limit_not_the_margin():
    """P(supported | accuracy = claim) <= 1 - the test's size (about the confidence level): no margin
    helps, so the message must not say to widen it."""
    plan = plan_audit(0.96, margin=0.5, power=0.96, confidence=0.95, max_n=5000)
    assert plan.n is None
    assert "widen --margin" not in plan.message and "--confidence" in plan.message
    assert plan_audit(0.96, margin=0.5, power=0.96, confidence=0.99, max_n=5000).n is not None


def test_top_level_exports():
    assert consensus.plan_audit is plan_audit
    assert consensus.acceptance_plan is acceptance_plan


@settings(max_examples=150, deadline=None)
@given(n_max=st.integers(0, 3000), p=st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 1.0, 0.5, 0.999])),
       prob=st.floats(0.001, 0.999), steps=st.sampled_from([1, 64]))
def test_binom_quantile_equals_scipy_ppf(n_max, p, prob, steps):
    """The planners' quantile (a start and exact cdf steps) is scipy's ppf for every n, any step budget."""
    from consensus.claims.planning import binom_quantile

    n = np.arange(n_max + 1)
    np.testing.assert_array_equal(binom_quantile(prob, n, p, max_steps=steps), stats.binom.ppf(prob, n, p))
