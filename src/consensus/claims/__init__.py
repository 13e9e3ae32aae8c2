"""Validation of a vendor's claimed accuracy, and planning of the gold audit.

* :func:`validate_claim` -- with gold: accuracy of delivered rows and of
  judgments (overall, per class, per annotator, per day) with exact
  Clopper-Pearson and Wilson intervals, a one-sided exact binomial test and a
  verdict (``supported`` / ``not_supported`` / ``refuted``); without gold: the
  model's estimate with a bootstrap interval, flagged as an estimate.
* :func:`plan_audit` -- how many gold answers to check to confirm or refute a
  claim with a given margin and power.
* :func:`acceptance_plan` -- a single-sampling plan ``(n, c)`` for producer's
  and consumer's risks, with its operating-characteristic curve.

The decision rule is documented in :mod:`consensus.claims._binomial`.
"""

from consensus.claims._binomial import (
    NOT_SUPPORTED,
    REFUTED,
    SUPPORTED,
    VERDICTS,
    clopper_pearson_interval,
    exact_lower_bound,
    exact_upper_bound,
    p_value_above,
    p_value_below,
    verdict,
    verdict_codes,
    wilson_interval,
)
from consensus.claims.planning import AcceptancePlan, AuditPlan, acceptance_plan, plan_audit
from consensus.claims.validation import DECISION_RULE, ClaimValidation, validate_claim

__all__ = [
    "DECISION_RULE", "NOT_SUPPORTED", "REFUTED", "SUPPORTED", "VERDICTS",
    "AcceptancePlan", "AuditPlan", "ClaimValidation",
    "acceptance_plan", "clopper_pearson_interval", "exact_lower_bound", "exact_upper_bound",
    "p_value_above", "p_value_below", "plan_audit", "validate_claim", "verdict", "verdict_codes",
    "wilson_interval",
]
