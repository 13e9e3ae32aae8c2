"""``auto``: the model that best predicts held-out answers, unless it overturns strong majorities."""

from __future__ import annotations

import numpy as np
import polars as pl

from consensus import calibration
from consensus.data import Judgments
from consensus.errors import check_param
from consensus.kernels.calibration import loo_rows_loglik
from consensus.models.base import Aggregator
from consensus.models.dawid_skene import DawidSkene
from consensus.models.em import EMAggregator
from consensus.models.glad import GLAD
from consensus.models.mace import MACE
from consensus.models.majority_vote import MajorityVote, check_tie_params
from consensus.models.one_coin import OneCoinDawidSkene
from consensus.models.wawa import Wawa

#: The latent-class models ``Auto`` can choose among, in the order ties are broken.
CANDIDATES = {"ds": DawidSkene, "onecoin": OneCoinDawidSkene, "glad": GLAD, "mace": MACE}

#: The default candidates. GLAD is opt-in: its per-item easiness is fitted with the very answer the
#: held-out criterion predicts, which flatters it (on synthetic crowds with K = 2 it wins the criterion,
#: -0.444 against Dawid-Skene's -0.496 per answer at 100k judgments, and is 0.44 points less accurate).
DEFAULT_CANDIDATES = ("ds", "onecoin", "mace")


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


#: The gold-free mode scored like each gold calibration mode (same criterion, no gold refits).
GOLD_FREE_COUNTERPART = {"gold": "loo", "item_gold": "item"}


def heldout_loglik(model: EMAggregator, judgments: Judgments) -> float:
    """Leave-one-judgment-out predictive log-likelihood per class answer of a fitted EM model, gold-free.

    For every class answer of an item (on at most
    :data:`consensus.calibration.LOO_MAX_ITEMS` items, every k-th), the
    model's truth posterior from the item's *other* answers predicts it
    through the annotator's emission (:func:`~consensus.kernels.calibration.loo_rows_loglik`),
    tempered by the gold-free per-item temperature ``T0 (1 + rho (n - 1))``
    (``calibration="item"``; reused when the model was fitted with it), so
    each model is scored at its own best gold-free calibration. Higher is
    better; 0.0 when there is no class answer (or the model has no emission).
    """
    row_offsets, rows = calibration.answer_rows(judgments, calibration.loo_items(judgments.n_items))
    log_rows = model._answer_log_emission(judgments, rows)
    if rows.size == 0 or log_rows is None:
        return 0.0
    log_rows = np.ascontiguousarray(log_rows, dtype=np.float64)
    log_prior = np.ascontiguousarray(model._log_prior, dtype=np.float64)
    if model.calibration == "item":
        base, rho = float(model.temperature_), float(model.answer_correlation_)
    else:
        rho = calibration.answer_correlation(judgments, model.raw_probas_)
        base = calibration.fit_item_temperature_loo(row_offsets, log_rows, log_prior, rho)
    return float(loo_rows_loglik(row_offsets, log_rows, log_prior, base, rho).sum()) / rows.size


class Auto(Aggregator):
    """Pick the model that best predicts held-out answers; fall back to Wawa if it overturns majorities.

    Every candidate latent-class model (Dawid-Skene, one-coin Dawid-Skene
    and MACE by default; GLAD on request) is fitted, and each is scored by its
    leave-one-judgment-out predictive log-likelihood per class answer
    (:func:`heldout_loglik`: each answer predicted from the item's other
    answers, at the model's gold-free per-item temperature). The best score
    wins (ties: the first in ``candidates``). Gold is never used to choose.

    Likelihood can prefer a model that explains a class bias through the
    annotators' confusion matrices instead of the truth, and then overturns
    items on which a clear majority agrees. The safeguard counts exactly
    that: among items with a strong majority (>= 3 class answers, >= 70% for
    one class), the share whose label from the winning model differs from the
    majority. If it exceeds ``max_overturn`` the likelihood choice is not
    trusted and Wawa (agreement-weighted vote, which never strays far from
    the majority) is used. The choice, the scores and the diagnostic are in
    ``chosen_method_``, ``heldout_loglik_``, ``likelihood_choice_`` and
    ``overturn_rate_``.

    Parameters
    ----------
    max_overturn : float, default 0.02
        Largest tolerated share of overturned strong majorities, in [0, 1].
    calibration : {"item", "item_gold", "loo", "gold", "none"}, default "item"
        Passed to every candidate: ``"item"`` (default) tempers each item by
        ``T0 * (1 + rho * (n - 1))`` for its ``n`` answers, fitted without
        gold; see :mod:`consensus.calibration`. When Wawa is chosen the
        confidences are its vote shares.
    candidates : sequence of {"ds", "onecoin", "glad", "mace"}, default ("ds", "onecoin", "mace")
        The models to choose among; ``("ds",)`` is Dawid-Skene with the
        Wawa fallback only. GLAD is opt-in (see :data:`DEFAULT_CANDIDATES`:
        the criterion flatters it) and the slowest candidate.
    glad_max_judgments : int or None, default 500_000
        A compute budget: GLAD (gradient M-step, about 30 us per judgment
        against 0.2 us for Dawid-Skene, measured at 1M judgments) is left out
        of the candidates above this many judgments; ``None`` always keeps it.
        The skipped names are in ``skipped_candidates_``.
    tie_break : {"random", "first"}, default "random"
    random_state : int, default 0

    Fitted attributes (besides :class:`Aggregator`'s)
    -------------------------------------------------
    chosen_method_ : str
        ``"ds"``, ``"onecoin"``, ``"glad"``, ``"mace"`` or ``"wawa"``.
    model_ : Aggregator
        The fitted chosen model (its outputs are this model's).
    heldout_loglik_ : dict of str to float
        :func:`heldout_loglik` of every candidate.
    likelihood_choice_ : str
        The candidate with the highest score (chosen unless the safeguard fires).
    overturn_rate_ : float
        Share of strong-majority items ``likelihood_choice_`` overturns.
    n_strong_items_ : int
    skipped_candidates_ : list of str
        Candidates left out by ``glad_max_judgments``.

    Examples
    --------
    >>> import polars as pl
    >>> from consensus import Auto
    >>> df = pl.DataFrame({"item": list("aaabbbccc"), "worker": list("xyz") * 3,
    ...                    "label": list("110000111")})
    >>> model = Auto().fit(df)
    >>> model.chosen_method_ in ("ds", "onecoin", "glad", "mace", "wawa")
    True
    >>> model.fit_predict(df)["label"].to_list()
    ['1', '0', '1']
    """

    _name = "Auto"

    def __init__(self, *, max_overturn: float = 0.02, calibration: str = "item",
                 candidates: tuple[str, ...] = DEFAULT_CANDIDATES, glad_max_judgments: int | None = 500_000,
                 tie_break: str = "random", random_state: int = 0) -> None:
        self.max_overturn = max_overturn
        self.calibration = calibration
        self.candidates = candidates
        self.glad_max_judgments = glad_max_judgments
        self.tie_break = tie_break
        self.random_state = random_state

    def _check_params(self) -> None:
        check_param(self._name, "max_overturn", self.max_overturn,
                    isinstance(self.max_overturn, (int, float)) and not isinstance(self.max_overturn, bool)
                    and 0.0 <= self.max_overturn <= 1.0, "a float in the range [0.0, 1.0]")
        check_param(self._name, "calibration", self.calibration, self.calibration in calibration.CALIBRATIONS,
                    f"one of {list(calibration.CALIBRATIONS)}")
        check_tie_params(self._name, self.tie_break, self.random_state)
        names = self.candidates
        check_param(self._name, "candidates", names,
                    isinstance(names, (tuple, list)) and len(names) > 0 and len(set(names)) == len(names)
                    and all(isinstance(n, str) and n in CANDIDATES for n in names),
                    f"a non-empty sequence of distinct names from {list(CANDIDATES)}")
        budget = self.glad_max_judgments
        check_param(self._name, "glad_max_judgments", budget, budget is None or (
            isinstance(budget, (int, np.integer)) and not isinstance(budget, bool) and budget >= 0),
            "None or a non-negative int")

    def _fit(self, judgments: Judgments) -> None:
        self._check_params()
        names = self.candidates
        budget = self.glad_max_judgments
        self.skipped_candidates_ = [n for n in names if n == "glad" and budget is not None
                                    and judgments.n_judgments > budget and len(names) > 1]
        names = [n for n in names if n not in self.skipped_candidates_]
        common = {"tie_break": self.tie_break, "random_state": self.random_state}
        majority = MajorityVote(**common).fit(judgments)
        fitted: dict[str, EMAggregator] = {}
        scores: dict[str, float] = {}
        # The criterion is gold-free whatever the calibration, so the candidates are fitted with the
        # gold-free counterpart of a gold mode and only the chosen one pays the gold mode's refits.
        has_gold = judgments.gold is not None and bool((np.asarray(judgments.gold) >= 0).any())
        screening = GOLD_FREE_COUNTERPART.get(self.calibration, self.calibration) if has_gold else self.calibration
        for name in names:
            fitted[name] = CANDIDATES[name](calibration=screening, **common).fit(judgments)
            scores[name] = heldout_loglik(fitted[name], judgments)
        best = names[0]
        for name in names[1:]:
            if scores[name] > scores[best]:
                best = name
        self.heldout_loglik_ = scores
        self.likelihood_choice_ = best
        self.overturn_rate_, self.n_strong_items_ = overturn_rate(judgments, majority, fitted[best].labels_)
        if self.overturn_rate_ <= self.max_overturn:
            chosen: Aggregator = fitted[best]
            if screening != self.calibration:  # same EM fit, now calibrated on gold
                chosen = CANDIDATES[best](calibration=self.calibration, **common).fit(judgments)
            self.chosen_method_ = best
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
