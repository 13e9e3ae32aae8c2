"""Parameters of :func:`consensus.detect_fraud`, validated in one place."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from consensus.errors import ParameterError, check_param

#: Detectors, and the tests (flag names) each runs.
DETECTORS: dict[str, tuple[str, ...]] = {
    "speed": ("too_fast", "bursts"),
    "straight_lining": ("skewed_labels", "long_runs"),
    "random": ("random_clicking",),
    "collusion": ("copying", "co_timed"),
    "honeypot": ("failed_honeypots",),
}
#: Every test, in the order of the output columns.
TESTS: tuple[str, ...] = tuple(t for tests in DETECTORS.values() for t in tests)
PER_ITEM_FLOOR = ("auto", "always", "never")


@dataclass(frozen=True)
class FraudConfig:
    """What the detectors test and how strong the evidence must be.

    Every worker-level test has a *statistic* (an effect size), a *threshold*
    the statistic must pass for a flag, and a p-value; an annotator is flagged
    when the Benjamini-Hochberg adjusted p-value of its strongest test passes
    ``fdr`` (see :mod:`consensus.fraud.detect`).

    Parameters
    ----------
    fdr : float, default 0.05
        False discovery rate controlled across annotators.
    min_judgments : int, default 10
        Least judgments behind a test (timed ones for speed, gold ones for
        honeypots, co-labelled items for a pair); below it the test is not run.
    min_seconds : float, optional
        A fixed speed floor in seconds; replaces the learned floor.
    floor_sds : float, default 1.5
        The learned floor is ``exp(center - floor_sds * scale)`` on log seconds
        (median and MAD-based scale, per item when items differ).
    per_item_floor : {"auto", "always", "never"}
        Learn a floor per item ("auto": only when item medians differ more than
        sampling noise explains).
    min_fast_share : float, default 0.4
        Share of a worker's timed judgments below the floor needed for ``too_fast``.
    burst_window : float, default 10.0
        Seconds; ``burst_size`` submissions within it make a burst.
    burst_size : int, default 5
    min_burst_share : float, default 0.3
        Share of a worker's submissions inside bursts needed for ``bursts``.
    min_kl : float, default 0.3
        KL divergence (nats) of the worker's answer distribution from the
        crowd's on the same items needed for ``skewed_labels``...
    min_top_share : float, default 0.9
        ...or this share of one answer, at least ``TOP_EXCESS`` (0.1) above the
        share the crowd would give on the same items (a straight-liner on the
        majority class is not far from the crowd in KL terms).
    min_repeat_excess : float, default 0.2
        Excess share of repeated consecutive answers over chance needed for ``long_runs``.
    min_kappa : float, default 0.5
        ``random_clicking`` tests that the worker's chance-corrected agreement
        with the leave-one-out consensus (kappa) is below this.
    min_copy_strength : float, default 0.5
        Copy strength ``1 - disagreements / expected disagreements`` of a pair
        needed for ``copying`` (1 = never disagree, 0 = independent).
    min_copy_ratio : float, default 3.0
        Observed / expected shared wrong answers of a pair needed for ``copying``.
    min_shared_errors : int, default 3
        Least shared wrong answers for ``copying``, identical answer sequences
        included: two annotators who agree on right answers are what good
        annotators look like; shared mistakes are the evidence of copying.
    co_window : float, default 10.0
        Seconds; two submissions on the same item this close are co-timed.
    min_co_share : float, default 0.5
        Share of a pair's co-judged items submitted co-timed needed for ``co_timed``.
    gold_threshold : float, optional
        ``failed_honeypots`` flags when the upper end of the 95% Clopper-Pearson
        interval of gold accuracy is below this. Default: halfway between
        chance (1/K) and 1.
    max_iter : int, default 30
        EM iterations of the Dawid-Skene consensus the label tests use.
    seed : int, default 0
        Seed of the consensus's tie-break (the only random choice).
    detectors : tuple of str, default all
        Subset of ``speed``, ``straight_lining``, ``random``, ``collusion``, ``honeypot``.
    """

    fdr: float = 0.05
    min_judgments: int = 10
    min_seconds: float | None = None
    floor_sds: float = 1.5
    per_item_floor: str = "auto"
    min_fast_share: float = 0.4
    burst_window: float = 10.0
    burst_size: int = 5
    min_burst_share: float = 0.3
    min_kl: float = 0.3
    min_top_share: float = 0.9
    min_repeat_excess: float = 0.2
    min_kappa: float = 0.5
    min_copy_strength: float = 0.5
    min_copy_ratio: float = 3.0
    min_shared_errors: int = 3
    co_window: float = 10.0
    min_co_share: float = 0.5
    gold_threshold: float | None = None
    max_iter: int = 30
    seed: int = 0
    detectors: tuple[str, ...] = tuple(DETECTORS)

    def __post_init__(self) -> None:
        name = "detect_fraud"
        check_param(name, "fdr", self.fdr, _number(self.fdr) and 0.0 < self.fdr < 1.0,
                    "a float in the range (0.0, 1.0)")
        for param, low in (("min_judgments", 1), ("burst_size", 2), ("min_shared_errors", 0),
                           ("max_iter", 1), ("seed", 0)):
            value = getattr(self, param)
            check_param(name, param, value, _integer(value) and value >= low, f"an int in the range [{low}, inf)")
        for param in ("floor_sds", "burst_window", "co_window", "min_copy_ratio"):
            value = getattr(self, param)
            check_param(name, param, value, _number(value) and 0.0 <= value < np.inf,
                        "a float in the range [0.0, inf)")
        for param in ("min_fast_share", "min_burst_share", "min_repeat_excess", "min_kappa",
                      "min_co_share", "min_copy_strength", "min_top_share"):
            value = getattr(self, param)
            check_param(name, param, value, _number(value) and 0.0 <= value <= 1.0,
                        "a float in the range [0.0, 1.0]")
        check_param(name, "min_kl", self.min_kl, _number(self.min_kl) and 0.0 <= self.min_kl < np.inf,
                    "a float in the range [0.0, inf)")
        check_param(name, "min_seconds", self.min_seconds,
                    self.min_seconds is None or (_number(self.min_seconds) and 0.0 < self.min_seconds < np.inf),
                    "None or a float in the range (0.0, inf)")
        check_param(name, "gold_threshold", self.gold_threshold,
                    self.gold_threshold is None
                    or (_number(self.gold_threshold) and 0.0 < self.gold_threshold <= 1.0),
                    "None or a float in the range (0.0, 1.0]")
        check_param(name, "per_item_floor", self.per_item_floor, self.per_item_floor in PER_ITEM_FLOOR,
                    f"one of {list(PER_ITEM_FLOOR)}")
        detectors = self.detectors
        ok = isinstance(detectors, (tuple, list)) and len(detectors) > 0 \
            and all(isinstance(d, str) and d in DETECTORS for d in detectors)
        check_param(name, "detectors", detectors, ok, f"a non-empty list drawn from {list(DETECTORS)}")
        object.__setattr__(self, "detectors", tuple(d for d in DETECTORS if d in detectors))

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> FraudConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ParameterError(f"detect_fraud got unknown parameter(s) {unknown}; "
                                 f"valid ones are {sorted(known)}")
        return cls(**kwargs)


def _number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and bool(np.isfinite(value))  # type: ignore[arg-type]


def _integer(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
