"""``auto``: Dawid-Skene unless it overturns strong majorities, then Wawa."""

from __future__ import annotations

import numpy as np
import polars as pl

from consensus.data import Judgments
from consensus.errors import check_param
from consensus.models.base import Aggregator
from consensus.models.dawid_skene import DawidSkene
from consensus.models.majority_vote import MajorityVote
from consensus.models.wawa import Wawa


def overturn_rate(judgments: Judgments, majority: MajorityVote, labels: np.ndarray,
                  min_share: float = 0.7, min_labels: int = 3) -> tuple[float, int]:
    """Share of strong-majority items whose label ``labels`` overturns.

    A strong majority: at least ``min_labels`` class answers and a vote share
    of at least ``min_share`` for the majority class; gold items are left out
    (clamping them to gold is meant to overturn majorities). Returns
    ``(rate, n_strong_items)``; the rate is 0 when there is no such item.
    """
    share = np.nan_to_num(majority.probas_, nan=0.0).max(axis=1)
    strong = (share >= min_share) & (judgments.n_labels_per_item >= min_labels)
    if judgments.gold is not None:
        strong &= judgments.gold < 0  # gold rightly overrules a majority; that is not a bad fit
    n_strong = int(strong.sum())
    if n_strong == 0:
        return 0.0, 0
    return float((labels[strong] != majority.labels_[strong]).mean()), n_strong


class Auto(Aggregator):
    """Pick Dawid-Skene or Wawa by an agreement diagnostic.

    Dawid-Skene is the most accurate method on most real data, but on some
    deliveries EM settles on a solution that explains a class bias through the
    confusion matrices instead of the truth, and then overturns items on
    which a clear majority agrees. The diagnostic counts exactly that: among
    items with a strong majority (>= 3 class answers, >= 70% for one class),
    the share whose Dawid-Skene label differs from the majority. If it exceeds
    ``max_overturn`` the fit is not trusted and Wawa (agreement-weighted vote,
    which never strays far from the majority) is used. The choice and the
    diagnostic are in ``chosen_method_`` and ``overturn_rate_``.

    Parameters
    ----------
    max_overturn : float, default 0.02
        Largest tolerated share of overturned strong majorities, in [0, 1].
    calibration : {"item", "item_gold", "loo", "gold", "none"}, default "item"
        Passed to Dawid-Skene: ``"item"`` (default) tempers each item by
        ``T0 * (1 + rho * (n - 1))`` for its ``n`` answers, fitted without
        gold; see :mod:`consensus.calibration`. When Wawa is chosen the
        confidences are its vote shares.
    tie_break : {"random", "first"}, default "random"
    random_state : int, default 0

    Examples
    --------
    >>> import polars as pl
    >>> from consensus import Auto
    >>> df = pl.DataFrame({"item": list("aaabbbccc"), "worker": list("xyz") * 3,
    ...                    "label": list("110000111")})
    >>> model = Auto().fit(df)
    >>> model.chosen_method_, model.fit_predict(df)["label"].to_list()
    ('ds', ['1', '0', '1'])
    """

    _name = "Auto"

    def __init__(self, *, max_overturn: float = 0.02, calibration: str = "item",
                 tie_break: str = "random", random_state: int = 0) -> None:
        self.max_overturn = max_overturn
        self.calibration = calibration
        self.tie_break = tie_break
        self.random_state = random_state

    def _fit(self, judgments: Judgments) -> None:
        check_param(self._name, "max_overturn", self.max_overturn,
                    isinstance(self.max_overturn, (int, float)) and 0.0 <= self.max_overturn <= 1.0,
                    "a float in the range [0.0, 1.0]")
        common = {"tie_break": self.tie_break, "random_state": self.random_state}
        majority = MajorityVote(**common).fit(judgments)
        ds = DawidSkene(calibration=self.calibration, **common).fit(judgments)
        self.overturn_rate_, self.n_strong_items_ = overturn_rate(judgments, majority, ds.labels_)
        if self.overturn_rate_ <= self.max_overturn:
            chosen: Aggregator = ds
            self.chosen_method_ = "ds"
        else:
            chosen = Wawa(**common).fit(judgments)
            self.chosen_method_ = "wawa"
        self.model_ = chosen
        for name in ("probas_", "labels_", "n_tied_", "confusion_", "worker_accuracy_"):
            setattr(self, name, getattr(chosen, name))

    def _truth_posterior(self) -> np.ndarray:
        return self.model_._truth_posterior()

    def _extra_item_columns(self) -> dict[str, pl.Series]:
        return self.model_._extra_item_columns()
