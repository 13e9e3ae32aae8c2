"""Truth-inference estimators (scikit-learn/crowd-kit style)."""

from consensus.models.dawid_skene import DawidSkene
from consensus.models.majority_vote import MajorityVote

__all__ = ["DawidSkene", "MajorityVote"]
