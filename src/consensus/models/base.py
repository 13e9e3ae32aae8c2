"""What every aggregation estimator shares: input coercion and output tables."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from consensus import reliability
from consensus.data import Judgments
from consensus.errors import InputError, ParameterError
from consensus.io.judgments import DEFAULT_NA_LABELS, _attach_gold, _read_gold_table, read_judgments
from consensus.io.readers import Source

STATUS_OK = "ok"
STATUS_MOSTLY_NA = "mostly_na"
STATUS_NO_JUDGMENTS = "no_judgments"


def item_status(n_labels: np.ndarray, n_na: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Delivered labels and statuses per item, the one rule every item table uses.

    ``mostly_na`` (more abstentions than class answers) and ``no_judgments`` (no class answer, no
    label) items deliver no label (-1). Returns ``(labels int, status str)``, both ``(n_items,)``.
    """
    mostly_na = np.asarray(n_na) > np.asarray(n_labels)
    delivered = np.where(mostly_na, -1, np.asarray(labels))
    status = np.where(mostly_na, STATUS_MOSTLY_NA,
                      np.where((np.asarray(n_labels) == 0) & (delivered < 0), STATUS_NO_JUDGMENTS, STATUS_OK))
    return delivered, status


def as_judgments(data: Judgments | Source, gold: Source | None = None) -> Judgments:
    """Coerce a path, glob, frame or :class:`Judgments` (plus optional gold) to Judgments.

    A :class:`Judgments` passed with ``gold`` is copied, never modified; gold it
    already carries is kept and ``gold`` is added to it (a different label for
    the same item is an error).
    """
    if isinstance(data, Judgments):
        if gold is None:
            return data
        judgments = copy.copy(data)
        _attach_gold(judgments, _read_gold_table(gold, None, None), list(DEFAULT_NA_LABELS))
        if data.gold is not None:
            _merge_gold(judgments, data)
        return judgments
    return read_judgments(data, gold=gold)


def _merge_gold(judgments: Judgments, earlier: Judgments) -> None:
    """Add ``earlier``'s gold (codes, row count, quarantine) to the gold just attached to ``judgments``."""
    new, old = judgments.gold, earlier.gold
    clash = np.flatnonzero((new >= 0) & (old >= 0) & (new != old))
    if clash.size:
        item = clash[0]
        raise InputError(f"item {judgments.item_ids[int(item)]!r} has gold label "
                         f"{judgments.classes[int(new[item])]!r} in the gold given, and "
                         f"{judgments.classes[int(old[item])]!r} in the data's own gold "
                         f"({clash.size} item(s) disagree); keep one gold label per item")
    judgments.gold = np.where(new >= 0, new, old).astype(np.int32)
    judgments.n_gold_rows = int(getattr(earlier, "n_gold_rows", 0) or 0) + int(judgments.n_gold_rows or 0)
    quarantined = [q for q in (earlier.gold_quarantine, judgments.gold_quarantine) if q is not None]
    judgments.gold_quarantine = pl.concat(quarantined) if quarantined else None


class Aggregator:
    """Base class: ``fit`` sets ``probas_`` and ``labels_``; the rest is shared.

    Fitted attributes
    -----------------
    judgments_ : Judgments
        The data the model was fitted on.
    classes_ : list of str
        Class names, in the order of the columns of ``probas_``.
    probas_ : ndarray of float64, shape (n_items, n_classes)
        Probability of every class per item (rows sum to one; all-NaN rows for
        items without any class judgment).
    labels_ : ndarray of int32, shape (n_items,)
        Chosen class code per item, ``-1`` where there is none.
    confusion_ : ndarray of float64, shape (n_workers, n_classes, n_classes)
        ``confusion_[w, true, given]``: probability that worker ``w`` answers
        ``given`` when the truth is ``true``.
    worker_accuracy_ : ndarray of float64, shape (n_workers,)
        Estimated share of each worker's class judgments that are right.
    """

    _name = "Aggregator"

    def fit(self, data: Judgments | Source, gold: Source | None = None) -> Aggregator:
        """Fit on ``data`` (path, glob, polars/pandas frame or Judgments); return self."""
        self.__dict__.pop("_counts_cache", None)
        judgments = as_judgments(data, gold)
        self.judgments_ = judgments
        self.classes_ = list(judgments.classes)
        self._fit(judgments)
        return self

    def _fit(self, judgments: Judgments) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def fit_predict(self, data: Judgments | Source, gold: Source | None = None) -> pl.DataFrame:
        """Fit and return one row per item: ``item``, ``label``."""
        return self.fit(data, gold).item_table().select("item", "label")

    def fit_predict_proba(self, data: Judgments | Source, gold: Source | None = None) -> pl.DataFrame:
        """Fit and return one row per item: ``item`` and ``p_<class>`` for every class."""
        table = self.fit(data, gold).item_table()
        return table.select("item", *[c for c in table.columns if c.startswith("p_")])

    # -- output tables -------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "probas_"):
            raise ParameterError(f"This {self._name} is not fitted yet; call fit(data) first.")

    def item_table(self) -> pl.DataFrame:
        """One row per item.

        Columns: ``item`` (original id), ``label`` (class name, null when the
        item is mostly n/a), ``confidence`` (probability of ``label``),
        ``n_labels`` (class judgments), ``n_na`` (abstentions), ``status``
        (``ok``; ``mostly_na``: more abstentions than class answers;
        ``no_judgments``: no judgment of the item is left, e.g. every one came
        from an excluded annotator, and no gold: no label), ``gold``
        when gold was given, extra model columns, and ``p_<class>``.
        """
        self._check_fitted()
        judgments = self.judgments_
        n_labels = judgments.n_labels_per_item
        n_na = judgments.n_na_per_item
        labels, status = item_status(n_labels, n_na, self.labels_)
        confidence = np.full(judgments.n_items, np.nan)
        has_label = labels >= 0
        confidence[has_label] = self.probas_[np.flatnonzero(has_label), labels[has_label]]
        classes = pl.Series(self.classes_, dtype=pl.String)
        columns: dict[str, Any] = {
            "item": judgments.item_ids,
            "label": _names(classes, labels),
            "confidence": pl.Series(confidence).fill_nan(None),
            "n_labels": pl.Series(n_labels, dtype=pl.Int64),
            "n_na": pl.Series(n_na, dtype=pl.Int64),
            "status": pl.Series(status, dtype=pl.String),
        }
        if judgments.gold is not None:
            columns["gold"] = _names(classes, judgments.gold)
        columns.update(self._extra_item_columns())
        for k, name in enumerate(self.classes_):
            columns[f"p_{name}"] = pl.Series(self.probas_[:, k]).fill_nan(None)
        return pl.DataFrame(columns)

    def _extra_item_columns(self) -> dict[str, pl.Series]:
        return {}

    def _confusion_counts(self) -> np.ndarray:
        """Expected ``[w, true, given]`` counts under this model's item posteriors."""
        if not hasattr(self, "_counts_cache"):
            self._counts_cache = reliability.confusion_counts(self.judgments_, self._truth_posterior())
        return self._counts_cache

    def _truth_posterior(self) -> np.ndarray:
        """Posterior over the truth used to score annotators (the model's own)."""
        return self.probas_

    def worker_table(self, *, level: float = 0.95,
                     min_judgments: int = reliability.MIN_JUDGMENTS) -> pl.DataFrame:
        """One row per worker.

        Columns: ``worker``, ``n_judgments`` (abstentions included), ``n_na``,
        ``accuracy`` (the model's estimate of the share of class answers that
        are right), ``accuracy_lower``/``accuracy_upper`` (a ``level``
        Bayesian interval from the expected counts), ``spammer_score`` (1 =
        answers independent of the truth, 0 = perfectly informative),
        ``evidence`` (``too_few`` below ``min_judgments`` class answers),
        ``rank`` (1 = most reliable, by the interval's lower bound so thin
        evidence is not ranked as certain) and ``conf_<true>_<given>`` (``conf_<true>|<given>``
        when class names with ``_`` would make two cells share a name, see :func:`confusion_column_names`).
        """
        self._check_fitted()
        judgments = self.judgments_
        if not isinstance(judgments, Judgments):
            raise ParameterError(f"{self._name}.worker_table() needs a model fitted in memory (engine='local'); "
                                 "a partitioned fit has worker_accuracy_, confusion_ and confusion_table()")
        counts = self._confusion_counts()
        n_answers = counts.sum(axis=(1, 2))
        correct = np.trace(counts, axis1=1, axis2=2)
        _, lower, upper = reliability.accuracy_interval(correct, n_answers, level)
        class_answers = np.bincount(judgments.worker[judgments.label >= 0], minlength=judgments.n_workers)
        enough = class_answers >= min_judgments
        columns: dict[str, Any] = {
            "worker": judgments.worker_ids,
            "n_judgments": pl.Series(judgments.n_judgments_per_worker, dtype=pl.Int64),
            "n_na": pl.Series(judgments.n_na_per_worker, dtype=pl.Int64),
            "accuracy": pl.Series(self.worker_accuracy_).fill_nan(None),
            "accuracy_lower": pl.Series(lower).fill_nan(None),
            "accuracy_upper": pl.Series(upper).fill_nan(None),
            "spammer_score": pl.Series(reliability.spammer_score(self.confusion_)).fill_nan(None),
            "evidence": pl.Series(np.where(enough, "enough", "too_few"), dtype=pl.String),
            "rank": pl.Series(reliability.rank_by_lower_bound(lower), dtype=pl.Int64),
        }
        for name, t, g in confusion_column_names(self.classes_):
            columns[name] = pl.Series(self.confusion_[:, t, g]).fill_nan(None)
        return pl.DataFrame(columns)

    def confusion_table(self, *, level: float = 0.95) -> pl.DataFrame:
        """The confusion matrices in long form.

        Columns: ``worker``, ``true``, ``given``, ``probability`` (the model's
        estimate), ``expected_count`` (expected judgments in the cell) and
        ``lower``/``upper`` (``level`` interval of the marginal Beta of the
        row's ``Dirichlet(counts + 1)`` posterior).
        """
        self._check_fitted()
        n_workers, n_classes, _ = self.confusion_.shape
        worker_index = np.repeat(np.arange(n_workers), n_classes * n_classes)
        true_index = np.tile(np.repeat(np.arange(n_classes), n_classes), n_workers)
        given_index = np.tile(np.arange(n_classes), n_workers * n_classes)
        classes = pl.Series(self.classes_, dtype=pl.String)
        counts = self._confusion_counts()
        row_total = np.repeat(counts.sum(axis=2).reshape(-1), n_classes)
        cell = counts.reshape(-1)
        # marginal Beta of the row's Dirichlet(counts + 1) posterior
        a, b = cell + 1.0, row_total - cell + (n_classes - 1.0)
        tail = (1.0 - level) / 2.0
        return pl.DataFrame({
            "worker": self.judgments_.worker_ids.gather(worker_index),
            "true": classes.gather(true_index),
            "given": classes.gather(given_index),
            "probability": pl.Series(self.confusion_.reshape(-1)).fill_nan(None),
            "expected_count": pl.Series(cell),
            # one class: the row's marginal Beta(a, 0) is a point mass at 1 (scipy gives NaN)
            "lower": pl.Series(np.where(b > 0, stats.beta.ppf(tail, a, np.maximum(b, 1e-300)), 1.0)),
            "upper": pl.Series(np.where(b > 0, stats.beta.ppf(1.0 - tail, a, np.maximum(b, 1e-300)), 1.0)),
        })


def _names(classes: pl.Series, codes: np.ndarray) -> pl.Series:
    """Class names for codes; null where the code is negative."""
    codes = np.asarray(codes)
    names = classes.gather(np.where(codes >= 0, codes, 0).astype(np.int64))
    missing = np.flatnonzero(codes < 0)
    if missing.size:
        names = names.scatter(missing, None)
    return names


def confusion_column_names(classes: list[str]) -> list[tuple[str, int, int]]:
    """``(column name, true code, given code)`` of every confusion cell, in row-major order.

    ``conf_<true>_<given>``; when class names holding ``_`` make two names equal (classes
    ``a``, ``a_b``, ``b_c``, ``c``: ``conf_a_b_c`` twice) the separator is ``|`` for all
    cells, and if that still repeats a name, the class codes (``conf_0_1``).
    """
    cells = [(t, g) for t in range(len(classes)) for g in range(len(classes))]
    for pattern in ("conf_{}_{}", "conf_{}|{}"):
        names = [pattern.format(classes[t], classes[g]) for t, g in cells]
        if len(set(names)) == len(names):
            return [(name, t, g) for name, (t, g) in zip(names, cells, strict=True)]
    return [(f"conf_{t}_{g}", t, g) for t, g in cells]
