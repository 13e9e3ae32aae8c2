"""consensus: audit and aggregate human labels.

The public API is imported lazily so ``import consensus`` stays fast and
compiles nothing; kernels compile on first use and are cached on disk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from consensus._version import __version__

if TYPE_CHECKING:
    from consensus.agreement_metrics import AgreementReport, agreement
    from consensus.claims import (AcceptancePlan, AuditPlan, ClaimValidation, acceptance_plan, plan_audit,
                                  validate_claim)
    from consensus.boxes import BoxConsensus, BoxResult, BoxSet, fit_boxes, read_boxes
    from consensus.data import Judgments
    from consensus.errors import ConsensusError, InputError, ParameterError
    from consensus.fraud import FraudReport, detect_fraud
    from consensus.io.judgments import read_judgments
    from consensus.models import GLAD, MACE, Auto, DawidSkene, MajorityVote, OneCoinDawidSkene, Wawa

_LAZY = {
    "Judgments": "consensus.data",
    "audit": "consensus.audit",
    "AuditResult": "consensus.audit",
    "ConsensusError": "consensus.errors",
    "InputError": "consensus.errors",
    "ParameterError": "consensus.errors",
    "detect_fraud": "consensus.fraud",
    "FraudReport": "consensus.fraud",
    "read_judgments": "consensus.io.judgments",
    "Auto": "consensus.models",
    "DawidSkene": "consensus.models",
    "MajorityVote": "consensus.models",
    "OneCoinDawidSkene": "consensus.models",
    "GLAD": "consensus.models",
    "MACE": "consensus.models",
    "Wawa": "consensus.models",
    "validate_claim": "consensus.claims",
    "plan_audit": "consensus.claims",
    "acceptance_plan": "consensus.claims",
    "ClaimValidation": "consensus.claims",
    "AuditPlan": "consensus.claims",
    "AcceptancePlan": "consensus.claims",
    "agreement": "consensus.agreement_metrics",
    "AgreementReport": "consensus.agreement_metrics",
    "DaskBackend": "consensus.backends",
    "LocalBackend": "consensus.backends",
    "BoxConsensus": "consensus.boxes",
    "BoxResult": "consensus.boxes",
    "BoxSet": "consensus.boxes",
    "fit_boxes": "consensus.boxes",
    "read_boxes": "consensus.boxes",
    "advise_redundancy": "consensus.redundancy",
    "RedundancyAdvice": "consensus.redundancy",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'consensus' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
