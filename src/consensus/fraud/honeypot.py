"""Honeypots: accuracy on gold items, and gold items the crowd contradicts.

First the gold is checked against the crowd. Under "the gold answer is right",
each annotator gives it with probability equal to their estimated accuracy
(Dawid-Skene, fitted without gold), so the gold answers on an item follow a
Poisson-binomial distribution; its exact lower tail is the p-value of "the crowd
contradicts this gold item". Items with a Benjamini-Hochberg q-value <= ``fdr``
on which fewer than half of the answers are the gold one are reported as
*contradicted* (the gold itself may be wrong) and are not used to judge anyone.

``failed_honeypots`` then takes each worker's answers on the remaining gold
items: accuracy with its exact 95% Clopper-Pearson interval; flagged when the
interval's upper end is below ``gold_threshold`` (default: halfway between
chance and perfect, ``(1 + 1/K) / 2``) and the exact binomial p-value
``P(X <= correct | n, gold_threshold)`` survives the FDR control.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from consensus.fraud import _stats
from consensus.fraud._base import Context, DetectorOutput, TestResult, full
from consensus.kernels.fraud_gold import gold_item_support, worker_gold_counts

#: Least class answers on a gold item for the crowd to be able to contradict it.
MIN_ANSWERS_TO_CONTRADICT = 3
#: Estimated accuracies are clipped to this range for the contradiction test.
ACCURACY_CLIP = (0.02, 0.98)
LEVEL = 0.95


def default_threshold(n_classes: int) -> float:
    return (1.0 + 1.0 / max(n_classes, 1)) / 2.0


def run(ctx: Context) -> DetectorOutput:
    j = ctx.judgments
    config = ctx.config
    out = DetectorOutput()
    if j.gold is None or not (np.asarray(j.gold) >= 0).any() or j.n_classes < 2:
        return out
    gold = np.ascontiguousarray(j.gold, dtype=np.int32)
    accuracy = np.nan_to_num(ctx.model.worker_accuracy_, nan=0.5).clip(*ACCURACY_CLIP)
    n_answers, n_gold_answers, expected, p_item = gold_item_support(
        j.item_offsets, j.worker, j.label, gold, np.ascontiguousarray(accuracy))
    p_item = np.where(n_answers >= MIN_ANSWERS_TO_CONTRADICT, p_item, np.nan)
    q_item, _ = _stats.benjamini_hochberg(p_item)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n_answers > 0, n_gold_answers / np.maximum(n_answers, 1), np.nan)
    contradicted = (np.nan_to_num(q_item, nan=1.0) <= config.fdr) & (np.nan_to_num(share, nan=1.0) < 0.5)
    trusted = (gold >= 0) & ~contradicted

    n, correct = worker_gold_counts(j.worker_offsets, j.item_by_worker, j.label_by_worker, gold, trusted)
    threshold = config.gold_threshold if config.gold_threshold is not None else default_threshold(j.n_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(n > 0, correct / np.maximum(n, 1), np.nan)
    lower, upper = _stats.clopper_pearson(correct, n, LEVEL)
    p = _stats.binom_lower(correct, n, threshold)
    p = np.where(n >= config.min_judgments, p, np.nan)
    effect = np.nan_to_num(upper, nan=1.0) < threshold
    out.tests.append(TestResult("failed_honeypots", n.astype(np.int64), acc, full(j.n_workers, threshold),
                                p, effect))
    out.columns["gold_lower"] = lower
    out.columns["gold_upper"] = upper

    gold_items = np.flatnonzero(gold >= 0)
    crowd = ctx.post.argmax(axis=1) if j.n_items else np.zeros(0, dtype=np.int64)
    classes = pl.Series(j.classes, dtype=pl.String)
    out.info["gold_items"] = pl.DataFrame({
        "item": j.item_ids.gather(gold_items),
        "gold": classes.gather(gold[gold_items].astype(np.int64)),
        "crowd_label": classes.gather(crowd[gold_items].astype(np.int64)),
        "n_answers": pl.Series(n_answers[gold_items], dtype=pl.Int64),
        "n_gold_answers": pl.Series(n_gold_answers[gold_items], dtype=pl.Int64),
        "expected_gold_answers": pl.Series(expected[gold_items]).fill_nan(None),
        "p_value": pl.Series(p_item[gold_items]).fill_nan(None),
        "q_value": pl.Series(q_item[gold_items]).fill_nan(None),
        "contradicted": pl.Series(contradicted[gold_items]),
    })
    out.info["gold_trusted"] = trusted
    label = j.label
    item_gold = gold[j.item]
    out.judgment_flags["gold_miss"] = (label >= 0) & trusted[j.item] & (label != item_gold)
    return out
