"""What the labeling instructions should define better: confused class pairs, disputed items."""

from __future__ import annotations

import numpy as np
import polars as pl

from consensus.data import Judgments


def vote_matrix(judgments: Judgments) -> np.ndarray:
    """Class answers per item, int64 of shape ``(n_items, n_classes)`` (abstentions left out)."""
    answered = judgments.label >= 0
    flat = judgments.item[answered].astype(np.int64) * judgments.n_classes + judgments.label[answered]
    return np.bincount(flat, minlength=judgments.n_items * judgments.n_classes) \
        .reshape(judgments.n_items, judgments.n_classes)


def pooled_confusion(confusion_counts: np.ndarray) -> np.ndarray:
    """Row-normalised ``[true, given]`` shares from per-worker expected counts ``[w, true, given]``.

    Rows without any expected count are NaN.
    """
    pooled = confusion_counts.sum(axis=0)
    totals = pooled.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, pooled / totals, np.nan)


def confused_pairs(confusion_counts: np.ndarray, classes: list[str], top: int = 10) -> pl.DataFrame:
    """The class pairs annotators mix up most, both directions pooled.

    ``confusion_counts`` is ``[w, true, given]`` expected counts. Columns:
    ``class_a``, ``class_b``, ``a_as_b`` and ``b_as_a`` (expected judgments of
    true ``a`` answered ``b`` and back), ``share`` (those judgments over all
    judgments whose truth is ``a`` or ``b``), most confused first.
    """
    pooled = confusion_counts.sum(axis=0)
    row_total = pooled.sum(axis=1)
    rows = []
    n = len(classes)
    for a in range(n):
        for b in range(a + 1, n):
            mixed = pooled[a, b] + pooled[b, a]
            base = row_total[a] + row_total[b]
            if mixed <= 0 or base <= 0:
                continue
            rows.append((classes[a], classes[b], float(pooled[a, b]), float(pooled[b, a]), float(mixed / base)))
    frame = pl.DataFrame(rows, schema={"class_a": pl.String, "class_b": pl.String, "a_as_b": pl.Float64,
                                       "b_as_a": pl.Float64, "share": pl.Float64}, orient="row")
    return frame.sort(["share", "class_a", "class_b"], descending=[True, False, False]).head(top)


def disputed_items(judgments: Judgments, labels: pl.Series, confidence: np.ndarray,
                   top: int = 20) -> pl.DataFrame:
    """Items on which the answers split most, with their votes.

    Disagreement is the normalised entropy of the item's answer shares (0 =
    unanimous, 1 = spread evenly over all classes); only items with at least
    two class answers count. Ties are broken by lower model confidence, then
    by item order. Columns: ``item``, ``n_labels``, ``votes`` ("class: count"
    most voted first), ``label`` (the model's), ``confidence``,
    ``disagreement``.
    """
    votes = vote_matrix(judgments)
    n_labels = votes.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = votes / np.maximum(n_labels, 1)[:, None]
        entropy = -np.where(share > 0, share * np.log(share), 0.0).sum(axis=1)
    k = max(judgments.n_classes, 2)
    disagreement = entropy / np.log(k)
    candidates = np.flatnonzero((n_labels >= 2) & (disagreement > 0))
    conf = np.nan_to_num(np.asarray(confidence, dtype=np.float64), nan=0.0)  # ordering only: unlabelled first
    order = candidates[np.lexsort((candidates, conf[candidates], -disagreement[candidates]))][:top]
    classes = judgments.classes
    texts = []
    for i in order:
        counts = votes[i]
        ranked = np.lexsort((np.arange(counts.size), -counts))
        texts.append(", ".join(f"{classes[c]}: {counts[c]}" for c in ranked if counts[c] > 0))
    return pl.DataFrame({
        "item": judgments.item_ids.gather(order),
        "n_labels": pl.Series(n_labels[order], dtype=pl.Int64),
        "votes": pl.Series(texts, dtype=pl.String),
        "label": labels.gather(order),
        "confidence": pl.Series(np.asarray(confidence, dtype=np.float64)[order]).fill_nan(None),  # none: no label
        "disagreement": pl.Series(disagreement[order]),
    })
