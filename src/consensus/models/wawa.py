"""Wawa: worker-agreement-with-aggregate weighted vote."""

from __future__ import annotations

import numpy as np

from consensus.data import Judgments
from consensus.kernels import vote
from consensus.models.majority_vote import MajorityVote, TIE_POLICIES, agreement_with


class Wawa(MajorityVote):
    """Weighted vote with each annotator weighted by agreement with the majority.

    First a majority vote; each annotator's weight is the share of their
    class answers that agree with it; then a vote weighted by those weights.
    ``probas_`` are the weighted vote shares. Same parameters as
    :class:`MajorityVote`.

    Examples
    --------
    >>> import polars as pl
    >>> from consensus import Wawa
    >>> df = pl.DataFrame({"item": list("aaabbbccc"), "worker": list("xyz") * 3,
    ...                    "label": list("110000111")})
    >>> Wawa().fit_predict(df)["label"].to_list()
    ['1', '0', '1']
    """

    _name = "Wawa"

    def _fit(self, judgments: Judgments) -> None:
        super()._fit(judgments)
        weights = np.nan_to_num(self.worker_accuracy_, nan=0.0)
        counts = vote.weighted_vote_counts(judgments.item_offsets, judgments.worker, judgments.label,
                                           weights, judgments.n_classes)
        labels, n_tied = vote.pick_labels(counts, TIE_POLICIES[self.tie_break], int(self.random_state),
                                          judgments.item_keys)
        totals = counts.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.probas_ = counts / totals
        self.weights_ = weights
        self.labels_ = labels
        self.n_tied_ = n_tied
        # reliability against Wawa's own labels (the weights above are agreement with majority vote)
        self.confusion_, self.worker_accuracy_ = agreement_with(judgments, labels)
