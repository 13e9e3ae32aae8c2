"""Majority vote with an explicit, seeded tie policy."""

from __future__ import annotations

import numpy as np
import polars as pl

from consensus.data import Judgments
from consensus.errors import check_param
from consensus.kernels import vote
from consensus.models.base import Aggregator

TIE_POLICIES = {"random": vote.TIE_RANDOM, "first": vote.TIE_FIRST}


def agreement_with(judgments: Judgments, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each worker's confusion against ``labels`` and share of class answers that agree with them.

    One scatter pass over the item-sorted judgments gives both (no per-judgment temporaries).
    Returns float64 ``(n_workers, K, K)`` ``[w, reference, given]`` and ``(n_workers,)``; NaN where
    a worker has no class answer on a labelled item (or no answer for a reference class).
    """
    counts, answered = _vote_counts(judgments, labels)
    totals = counts.sum(axis=2, keepdims=True)
    correct = np.trace(counts, axis1=1, axis2=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return counts / totals, correct / answered


def _vote_counts(judgments: Judgments, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``[w, reference, given]`` int64 counts and class answers per worker (kernels.vote)."""
    return vote.worker_vote_counts(judgments.item_offsets, judgments.worker, judgments.label,
                                   np.ascontiguousarray(labels, dtype=np.int32), judgments.n_workers,
                                   judgments.n_classes)


class MajorityVote(Aggregator):
    """Majority vote: each item gets its most frequent class answer.

    ``probas_`` are the vote shares; ties are broken by ``tie_break`` and
    reported in ``n_tied_`` (and the ``tied`` column of :meth:`item_table`).
    Abstentions ("n/a") do not vote.

    Parameters
    ----------
    tie_break : {"random", "first"}, default "random"
        ``"random"`` picks uniformly among the tied classes with a generator
        seeded by ``random_state`` and the item, so the choice does not depend
        on thread count or row order; ``"first"`` picks the first class in
        class order.
    random_state : int, default 0
        Seed of the tie-break.

    Examples
    --------
    >>> import polars as pl
    >>> from consensus import MajorityVote
    >>> df = pl.DataFrame({"item": ["a", "a", "a", "b"], "worker": ["x", "y", "z", "x"],
    ...                    "label": ["cat", "cat", "dog", "dog"]})
    >>> MajorityVote().fit_predict(df).to_dicts()
    [{'item': 'a', 'label': 'cat'}, {'item': 'b', 'label': 'dog'}]
    """

    _name = "MajorityVote"

    def __init__(self, *, tie_break: str = "random", random_state: int = 0) -> None:
        self.tie_break = tie_break
        self.random_state = random_state

    def _check_params(self) -> None:
        check_tie_params(self._name, self.tie_break, self.random_state)

    def _fit(self, judgments: Judgments) -> None:
        self._check_params()
        counts = vote.vote_counts(judgments.item_offsets, judgments.label, judgments.n_classes)
        labels, n_tied = vote.pick_labels(counts, TIE_POLICIES[self.tie_break], int(self.random_state),
                                          judgments.item_keys)
        totals = counts.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.probas_ = counts / totals
        self.labels_ = labels
        self.n_tied_ = n_tied
        self.confusion_, self.worker_accuracy_ = agreement_with(judgments, labels)

    def _truth_posterior(self) -> np.ndarray:
        """Voting methods score annotators against the chosen label (one-hot)."""
        one_hot = np.zeros_like(self.probas_)
        chosen = np.flatnonzero(self.labels_ >= 0)
        one_hot[chosen, self.labels_[chosen]] = 1.0
        return one_hot

    def _extra_item_columns(self) -> dict[str, pl.Series]:
        return {"tied": pl.Series(self.n_tied_ > 1)}


def check_tie_params(name: str, tie_break: object, random_state: object) -> None:
    """The tie-break parameters every aggregator takes, checked under the estimator's ``name``."""
    check_param(name, "tie_break", tie_break, tie_break in TIE_POLICIES, f"one of {sorted(TIE_POLICIES)}")
    check_param(name, "random_state", random_state,
                isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool)
                and random_state >= 0, "a non-negative int")
