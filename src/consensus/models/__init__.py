"""Truth-inference estimators (scikit-learn/crowd-kit style)."""

from consensus.models.auto import Auto
from consensus.models.dawid_skene import DawidSkene
from consensus.models.glad import GLAD
from consensus.models.mace import MACE
from consensus.models.majority_vote import MajorityVote
from consensus.models.one_coin import OneCoinDawidSkene
from consensus.models.wawa import Wawa

__all__ = ["GLAD", "Auto", "MACE", "DawidSkene", "MajorityVote", "OneCoinDawidSkene", "Wawa"]
