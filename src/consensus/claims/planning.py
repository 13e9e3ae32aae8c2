"""Planning a gold audit before it is run: how many items to check, and when to accept a batch.

Two plans, both from exact binomial probabilities (:mod:`scipy.stats`):

* :func:`plan_audit` sizes a gold check for the verdict of
  :func:`~consensus.claims.validate_claim`: the smallest number ``n`` of
  checked answers such that a vendor whose accuracy *equals* the claim gets
  ``supported`` with probability ``>= power`` (confirm), and a vendor
  ``margin`` *below* the claim gets ``refuted`` with probability ``>= power``
  (refute). Exact power is a saw-tooth in ``n``; the plan reports the
  smallest ``n`` from which the power *stays* at or above the target.
* :func:`acceptance_plan` is the classic single-sampling plan ``(n, c)``:
  check ``n`` delivered rows against gold, accept the batch when at most ``c``
  are wrong. The acceptable quality level is the claimed accuracy (error rate
  ``AQL = 1 - claim``), the rejectable level is ``claim - margin`` (``LTPD``);
  the plan is the smallest ``n`` (and the ``c`` that goes with it) with
  ``P(reject | AQL) <= producer_risk`` and ``P(accept | LTPD) <= consumer_risk``.
  Its operating-characteristic curve is a table of ``P(accept)`` by accuracy.
  Lots are treated as large (binomial sampling, no finite-lot correction).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from consensus.claims._binomial import given_percent
from consensus.errors import ParameterError, check_param

#: Largest sample size either planner considers.
MAX_N = 1_000_000


def _check_claim(owner: str, claimed_accuracy: float, margin: float, confidence: float | None) -> None:
    check_param(owner, "claimed_accuracy", claimed_accuracy,
                _is_real(claimed_accuracy) and 0.0 < claimed_accuracy <= 1.0, "a float in the range (0, 1]")
    check_param(owner, "margin", margin, _is_real(margin) and 0.0 < margin < claimed_accuracy,
                f"a float in the range (0, claimed_accuracy={claimed_accuracy})")
    if confidence is not None:
        check_param(owner, "confidence", confidence, _is_real(confidence) and 0.5 <= confidence < 1.0,
                    "a float in the range [0.5, 1)")


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and math.isfinite(float(value))  # type: ignore[arg-type]


# -- critical values of the verdict rule, vectorised over n ------------------------------------

def binom_quantile(prob: float, n: np.ndarray, p: float, max_steps: int = 64) -> np.ndarray:
    """Smallest ``k`` in ``[0, n]`` with ``P(X <= k | n, p) >= prob``, vectorised over ``n``: float64.

    What ``stats.binom.ppf(prob, n, p)`` returns, computed from a Cornish-Fisher
    start and exact ``stats.binom.cdf`` steps (a few per entry) instead of
    ppf's root finder, which dominates the planners' time over a million sample
    sizes. Entries not settled within ``max_steps`` steps fall back to ppf.
    """
    n = np.asarray(n, dtype=np.int64)
    mean = n * p
    sd = np.sqrt(n * p * (1.0 - p))
    z = float(stats.norm.ppf(prob))
    with np.errstate(divide="ignore", invalid="ignore"):
        skew = np.where(sd > 0, (1.0 - 2.0 * p) / sd, 0.0)
    start = mean + sd * (z + (z * z - 1.0) * skew / 6.0) - 0.5
    k = np.clip(np.ceil(np.nan_to_num(start, nan=0.0)), 0, n).astype(np.float64)
    active = np.arange(n.size)
    for _ in range(max_steps):  # down while the value below already reaches prob
        moving = (k[active] > 0) & (stats.binom.cdf(k[active] - 1, n[active], p) >= prob)
        active = active[moving]
        if active.size == 0:
            break
        k[active] -= 1
    stuck = active
    active = np.arange(n.size)
    for _ in range(max_steps):  # up while k does not reach prob (cdf(n) = 1, so it stops by n)
        active = active[stats.binom.cdf(k[active], n[active], p) < prob]
        if active.size == 0:
            break
        k[active] += 1
    unsettled = np.union1d(stuck, active)
    if unsettled.size:
        k[unsettled] = stats.binom.ppf(prob, n[unsettled], p)
    return k


def refute_threshold(n: np.ndarray, claimed: float, alpha: float) -> np.ndarray:
    """Largest ``k`` with ``P(X <= k | n, claimed) <= alpha`` (``-1``: never refuted). int64."""
    n = np.asarray(n, dtype=np.int64)
    q = binom_quantile(alpha, n, claimed)  # smallest k with cdf >= alpha
    k = np.where(stats.binom.cdf(q, n, claimed) <= alpha, q, q - 1)
    # guard against rounding in ppf: one step either way
    k = np.where(stats.binom.cdf(k + 1, n, claimed) <= alpha, k + 1, k)
    k = np.where((k >= 0) & (stats.binom.cdf(k, n, claimed) > alpha), k - 1, k)
    return np.minimum(k, n).astype(np.int64)


def support_threshold(n: np.ndarray, value: float, alpha: float) -> np.ndarray:
    """Smallest ``k`` with ``P(X >= k | n, value) <= alpha`` (``n + 1``: never). int64."""
    n = np.asarray(n, dtype=np.int64)
    q = binom_quantile(1.0 - alpha, n, value)  # smallest m with cdf(m) >= 1 - alpha
    k = q + 1
    k = np.where((k - 1 >= 0) & (stats.binom.sf(k - 2, n, value) <= alpha), k - 1, k)
    k = np.where(stats.binom.sf(k - 1, n, value) > alpha, k + 1, k)
    return np.minimum(k, n + 1).astype(np.int64)


def verdict_power(n: np.ndarray, claimed: float, margin: float, confidence: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact probabilities of the verdict rule for sample sizes ``n``.

    Returns ``(k_support, k_refute, power_confirm, power_refute)``: the fewest
    correct answers that give ``supported``, the most that give ``refuted``,
    ``P(supported | accuracy = claimed)`` and
    ``P(refuted | accuracy = claimed - margin)``.
    """
    alpha = 1.0 - confidence
    n = np.asarray(n, dtype=np.int64)
    k_refute = refute_threshold(n, claimed, alpha)
    k_support = np.maximum(support_threshold(n, claimed - margin, alpha), k_refute + 1)
    power_confirm = np.where(k_support <= n, stats.binom.sf(k_support - 1, n, claimed), 0.0)
    power_refute = np.where(k_refute >= 0, stats.binom.cdf(k_refute, n, claimed - margin), 0.0)
    return k_support, k_refute, power_confirm, power_refute


def _stable_sizes(claimed: float, margin: float, confidence: float, power: float, max_n: int
                  ) -> tuple[int | None, int | None]:
    """Smallest n from which confirm (refute) power stays >= ``power`` for every larger n searched.

    The search grows ``n = 1..top`` (x4 each round, up to ``max_n``) until both
    powers hold over the upper half of the range searched.
    """
    top, done = 256, 0
    confirm, refute = np.empty(0), np.empty(0)
    while True:
        top = min(top, max_n)
        _, _, more_confirm, more_refute = verdict_power(np.arange(done + 1, top + 1), claimed, margin, confidence)
        confirm, refute, done = np.r_[confirm, more_confirm], np.r_[refute, more_refute], top
        half = top // 2
        if (bool(np.all(confirm[half:] >= power)) and bool(np.all(refute[half:] >= power))) or top == max_n:
            break
        top *= 4
    return _first_stable(confirm, power), _first_stable(refute, power)


def _first_stable(power_by_n: np.ndarray, target: float) -> int | None:
    failing = np.flatnonzero(power_by_n < target)
    if failing.size == 0:
        return 1
    if failing[-1] == power_by_n.size - 1:
        return None
    return int(failing[-1]) + 2


@dataclass
class AuditPlan:
    """How many gold answers to check; see :func:`plan_audit`.

    ``n_confirm`` / ``n_refute`` are None when not reachable within ``max_n``.
    ``power_curve`` has one row per sample size on a grid: ``n``,
    ``min_correct_supported``, ``max_correct_refuted``, ``power_confirm``,
    ``power_refute``.
    """

    claimed_accuracy: float
    margin: float
    power: float
    confidence: float
    n_confirm: int | None
    n_refute: int | None
    n: int | None
    min_correct_supported: int | None
    max_correct_refuted: int | None
    power_confirm_at_n: float | None
    power_refute_at_n: float | None
    power_curve: pl.DataFrame = field(repr=False)
    max_n: int = MAX_N

    @property
    def summary(self) -> dict[str, Any]:
        """Every figure of the plan, JSON-serialisable."""
        return {
            "claimed_accuracy": self.claimed_accuracy, "margin": self.margin, "power": self.power,
            "confidence": self.confidence, "n_confirm": self.n_confirm, "n_refute": self.n_refute,
            "n": self.n, "min_correct_supported": self.min_correct_supported,
            "max_correct_refuted": self.max_correct_refuted,
            "power_confirm_at_n": self.power_confirm_at_n, "power_refute_at_n": self.power_refute_at_n,
        }

    @property
    def message(self) -> str:
        """The plan in plain words."""
        c, m, lvl = self.claimed_accuracy, self.margin, self.confidence
        if self.n is None:
            if self.power >= lvl:
                # P(supported | accuracy = claim) <= 1 - the exact test's size, which stays near 1 - confidence
                return (f"no sample size up to {self.max_n:,} reaches {given_percent(self.power)} power: at the claimed "
                        f"{given_percent(c, 1)} the verdict is 'supported' with probability at most about the "
                        f"confidence level ({given_percent(lvl)}), whatever the margin; lower --power below it or "
                        f"raise --confidence")
            return (f"no sample size up to {self.max_n:,} reaches {given_percent(self.power)} power for a "
                    f"{given_percent(m, 1)}-point margin around {given_percent(c, 1)}; widen --margin")
        return (f"check {self.n:,} gold answers: if the true accuracy is the claimed {given_percent(c, 1)}, the "
                f"verdict is 'supported' with probability {self.power_confirm_at_n:.1%} (>= "
                f"{given_percent(self.power)} from n = {self.n_confirm:,}); if it is {given_percent(c - m, 1)}, the "
                f"verdict is 'refuted' with probability {self.power_refute_at_n:.1%} (>= "
                f"{given_percent(self.power)} from n = {self.n_refute:,}). At n = {self.n:,} and "
                f"{given_percent(lvl)} confidence: supported with at least "
                f"{self.min_correct_supported:,} right, refuted with at most "
                f"{self.max_correct_refuted:,} right.")


def plan_audit(claimed_accuracy: float, *, margin: float = 0.02, power: float = 0.8,
               confidence: float = 0.95, max_n: int = MAX_N) -> AuditPlan:
    """Gold sample size to confirm or refute an accuracy claim with the verdict rule.

    Parameters
    ----------
    claimed_accuracy : float
        The vendor's claimed accuracy, in (0, 1].
    margin : float, default 0.02
        Tolerance in accuracy points (0.02 = 2 points): ``supported`` needs the
        lower bound at or above ``claimed_accuracy - margin``, and the refute
        power is computed at that accuracy.
    power : float, default 0.8
        Wanted probability of the right verdict, in (0, 1).
    confidence : float, default 0.95
        Confidence level of the verdict's one-sided exact bounds.
    max_n : int, default 1,000,000
        Largest sample size searched.

    Returns
    -------
    AuditPlan
        ``n_confirm``: smallest n from which ``P(supported | accuracy = claim) >= power``;
        ``n_refute``: smallest n from which ``P(refuted | accuracy = claim - margin) >= power``;
        ``n = max`` of both, with the decision thresholds and the achieved powers at ``n``.

    Raises
    ------
    ParameterError
        When a parameter is out of range.
    """
    _check_claim("plan_audit", claimed_accuracy, margin, confidence)
    check_param("plan_audit", "power", power, _is_real(power) and 0.0 < power < 1.0, "a float in the range (0, 1)")
    check_param("plan_audit", "max_n", max_n, isinstance(max_n, (int, np.integer)) and max_n >= 1,
                "a positive int")
    claimed, margin, confidence = float(claimed_accuracy), float(margin), float(confidence)

    n_confirm, n_refute = _stable_sizes(claimed, margin, confidence, float(power), int(max_n))
    n = None if n_confirm is None or n_refute is None else max(n_confirm, n_refute)
    top = int(min(max_n, math.ceil(1.5 * (n or max_n))))
    grid = np.unique(np.r_[np.linspace(1, top, 200).round().astype(np.int64),
                           [x for x in (n_confirm, n_refute) if x is not None]])
    k_support, k_refute, p_confirm, p_refute = verdict_power(grid, claimed, margin, confidence)
    curve = pl.DataFrame({
        "n": grid, "min_correct_supported": k_support, "max_correct_refuted": k_refute,
        "power_confirm": p_confirm, "power_refute": p_refute,
    })
    at_n: tuple[Any, ...] = (None, None, None, None)
    if n is not None:
        at_n = tuple(a.item() for a in verdict_power(np.array([n]), claimed, margin, confidence))
    return AuditPlan(
        claimed_accuracy=claimed, margin=margin, power=float(power), confidence=confidence,
        n_confirm=n_confirm, n_refute=n_refute, n=n,
        min_correct_supported=None if n is None else int(at_n[0]),
        max_correct_refuted=None if n is None else int(at_n[1]),
        power_confirm_at_n=None if n is None else float(at_n[2]),
        power_refute_at_n=None if n is None else float(at_n[3]),
        power_curve=curve, max_n=int(max_n),
    )


# -- acceptance sampling ---------------------------------------------------------------------

@dataclass
class AcceptancePlan:
    """A single-sampling plan: check ``n`` rows, accept when at most ``c`` are wrong.

    ``producer_risk`` / ``consumer_risk`` are the achieved risks
    ``P(reject | accuracy = aql_accuracy)`` and ``P(accept | accuracy = ltpd_accuracy)``;
    ``oc_curve`` is the operating-characteristic table (``accuracy``,
    ``error_rate``, ``p_accept``, ``p_reject``), best accuracy first.
    """

    n: int
    c: int
    aql_accuracy: float
    ltpd_accuracy: float
    producer_risk: float
    consumer_risk: float
    producer_risk_target: float
    consumer_risk_target: float
    oc_curve: pl.DataFrame = field(repr=False)

    def p_accept(self, accuracy: float | np.ndarray) -> np.ndarray:
        """Probability that the plan accepts a batch of the given true accuracy."""
        return stats.binom.cdf(self.c, self.n, 1.0 - np.asarray(accuracy, dtype=np.float64))

    @property
    def summary(self) -> dict[str, Any]:
        """Every figure of the plan, JSON-serialisable."""
        return {
            "n": self.n, "c": self.c, "aql_accuracy": self.aql_accuracy, "ltpd_accuracy": self.ltpd_accuracy,
            "aql_error_rate": round(1.0 - self.aql_accuracy, 12),
            "ltpd_error_rate": round(1.0 - self.ltpd_accuracy, 12),
            "producer_risk": self.producer_risk, "consumer_risk": self.consumer_risk,
            "producer_risk_target": self.producer_risk_target,
            "consumer_risk_target": self.consumer_risk_target,
        }

    @property
    def message(self) -> str:
        """The plan in plain words."""
        return (f"acceptance sampling: check {self.n:,} delivered rows against gold and accept the batch "
                f"if at most {self.c:,} are wrong. A batch at the claimed {given_percent(self.aql_accuracy, 1)} is "
                f"rejected with probability {self.producer_risk:.1%} (producer's risk <= "
                f"{given_percent(self.producer_risk_target)}); a batch at {given_percent(self.ltpd_accuracy, 1)} is "
                f"accepted with probability {self.consumer_risk:.1%} (consumer's risk <= "
                f"{given_percent(self.consumer_risk_target)}).")


def _smallest_n_rejecting(c: np.ndarray, p_bad: float, beta: float, max_n: int) -> np.ndarray:
    """Per ``c``: smallest ``n >= c + 1`` with ``P(X <= c | n, p_bad) <= beta`` (``max_n + 1``: none)."""
    lo = c + 1  # invariant: answer >= lo
    hi = np.full_like(c, max_n + 1)  # invariant: answer <= hi (hi = max_n + 1 means "none")
    while True:
        active = lo < hi
        if not active.any():
            return hi
        mid = (lo + hi) // 2
        ok = stats.binom.cdf(c, mid, p_bad) <= beta
        hi = np.where(active & ok, mid, hi)
        lo = np.where(active & ~ok, mid + 1, lo)


def acceptance_plan(claimed_accuracy: float, *, margin: float = 0.02, producer_risk: float = 0.05,
                    consumer_risk: float = 0.10, max_n: int = MAX_N) -> AcceptancePlan:
    """The smallest single-sampling plan ``(n, c)`` for the claim (AQL/LTPD style).

    Parameters
    ----------
    claimed_accuracy : float
        Acceptable quality: a batch this accurate should pass (``AQL = 1 - claimed_accuracy``).
    margin : float, default 0.02
        A batch ``margin`` points less accurate should fail (``LTPD = 1 - claimed + margin``).
    producer_risk : float, default 0.05
        Largest allowed probability of rejecting a batch at the claimed accuracy.
    consumer_risk : float, default 0.10
        Largest allowed probability of accepting a batch at ``claimed - margin``.
    max_n : int, default 1,000,000
        Largest sample size searched.

    Returns
    -------
    AcceptancePlan
        With the achieved risks and the operating-characteristic curve.

    Raises
    ------
    ParameterError
        When a parameter is out of range or no plan exists within ``max_n``.
    """
    _check_claim("acceptance_plan", claimed_accuracy, margin, None)
    for name, value in (("producer_risk", producer_risk), ("consumer_risk", consumer_risk)):
        check_param("acceptance_plan", name, value, _is_real(value) and 0.0 < value < 0.5,
                    "a float in the range (0, 0.5)")
    check_param("acceptance_plan", "max_n", max_n, isinstance(max_n, (int, np.integer)) and max_n >= 1,
                "a positive int")
    p_good, p_bad = 1.0 - float(claimed_accuracy), 1.0 - float(claimed_accuracy) + float(margin)
    chunk = 256
    start = 0
    while start <= max_n:
        c = np.arange(start, start + chunk, dtype=np.int64)
        n = _smallest_n_rejecting(c, p_bad, consumer_risk, int(max_n))
        feasible = (n <= max_n) & (stats.binom.sf(c, np.minimum(n, max_n), p_good) <= producer_risk)
        if feasible.any():
            i = int(np.flatnonzero(feasible)[0])
            return _acceptance_result(int(n[i]), int(c[i]), float(claimed_accuracy), float(margin),
                                      producer_risk, consumer_risk)
        if bool(np.all(n > max_n)):
            break
        start += chunk
    raise ParameterError(f"no acceptance plan with at most {max_n:,} rows separates {claimed_accuracy:.4g} from "
                         f"{claimed_accuracy - margin:.4g} at producer's risk {producer_risk} and consumer's "
                         f"risk {consumer_risk}; widen the margin or accept larger risks")


def _acceptance_result(n: int, c: int, claimed: float, margin: float, producer_risk: float,
                       consumer_risk: float) -> AcceptancePlan:
    p_bad = 1.0 - claimed + margin
    errors = np.unique(np.round(np.r_[np.linspace(0.0, min(1.0, 2.5 * p_bad), 101), 1.0 - claimed, p_bad], 12))
    p_accept = stats.binom.cdf(c, n, errors)
    oc = pl.DataFrame({"accuracy": 1.0 - errors, "error_rate": errors,
                       "p_accept": p_accept, "p_reject": 1.0 - p_accept})
    return AcceptancePlan(
        n=n, c=c, aql_accuracy=claimed, ltpd_accuracy=round(claimed - margin, 12),
        producer_risk=float(stats.binom.sf(c, n, 1.0 - claimed)),
        consumer_risk=float(stats.binom.cdf(c, n, p_bad)),
        producer_risk_target=float(producer_risk), consumer_risk_target=float(consumer_risk),
        oc_curve=oc,
    )
