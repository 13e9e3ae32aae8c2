"""Scores the accuracy benchmark uses: accuracy, ECE, gold splits, annotator-accuracy error.

Plain numpy, no consensus import, so the definitions can be read (and checked) on their own:

    from scoring import ece, chosen_confidence
    ece(chosen_confidence(probas, labels)[gold_items], labels[gold_items] == gold_labels)
"""

from __future__ import annotations

import numpy as np
from scipy import stats

N_BINS = 10
MIN_GOLD_JUDGMENTS = 20  # annotators scored against gold need this many gold-covered class judgments


def chosen_confidence(probas: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Probability of the chosen label per item; 0 where there is no label (code -1) or no probability."""
    labels = np.asarray(labels)
    has = labels >= 0
    out = np.zeros(labels.size)
    rows = np.flatnonzero(has)
    out[rows] = probas[rows, labels[rows]]
    return np.nan_to_num(out, nan=0.0)


def ece(confidence: np.ndarray, correct: np.ndarray, n_bins: int = N_BINS) -> float:
    """Expected calibration error: sum over equal-width confidence bins of share * |accuracy - mean confidence|.

    Bins are ``[0, 0.1), [0.1, 0.2), ..., [0.9, 1.0]`` (confidence 1.0 falls in the last one).
    NaN when there is no item.
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if confidence.size == 0:
        return float("nan")
    bins = np.minimum((confidence * n_bins).astype(np.int64), n_bins - 1)
    gap = np.bincount(bins, weights=correct - confidence, minlength=n_bins)
    return float(np.abs(gap).sum() / confidence.size)


def ece_floor(confidence: np.ndarray, n_bins: int = N_BINS, n_draws: int = 400, seed: int = 0) -> float:
    """Expected ECE of perfectly calibrated confidences on this many items (Monte Carlo, seeded).

    Every item is right with exactly its ``confidence`` (``correct ~ Bernoulli(confidence)``,
    ``n_draws`` draws); the mean :func:`ece` of those draws is what a perfectly calibrated model
    scores on the same items, because ECE on n items is a noisy, upward-biased figure. NaN when
    there is no item.
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    if confidence.size == 0:
        return float("nan")
    draws = np.random.default_rng(seed).random((n_draws, confidence.size)) < confidence
    return float(np.mean([ece(confidence, draw, n_bins) for draw in draws]))


def halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of ``range(n)`` into two halves (positions, sorted)."""
    order = np.random.default_rng(seed).permutation(n)
    first = np.sort(order[: n // 2])
    second = np.sort(order[n // 2:])
    return first, second


def gold_worker_accuracy(item: np.ndarray, worker: np.ndarray, label: np.ndarray, gold: np.ndarray,
                         n_workers: int) -> tuple[np.ndarray, np.ndarray]:
    """Per worker: (number of gold-covered class judgments, share of them equal to the gold class).

    ``gold`` is per item code, ``-2`` where the item has no gold; a gold class the delivery lacks
    (``-1``) is covered and never matched. Abstentions (label ``-1``) are not class judgments.
    """
    gold_of = gold[item]
    covered = (label >= 0) & (gold_of != -2)
    n = np.bincount(worker[covered], minlength=n_workers)
    right = np.bincount(worker[covered & (label == gold_of)], minlength=n_workers)
    with np.errstate(invalid="ignore", divide="ignore"):
        return n, right / n


def reliability_mae(estimated: np.ndarray, measured: np.ndarray, n_covered: np.ndarray,
                    min_judgments: int = MIN_GOLD_JUDGMENTS) -> tuple[float, int]:
    """Mean |estimated - measured| over workers with ``>= min_judgments`` gold-covered judgments.

    Returns ``(mae, n_workers)``; NaN when no worker qualifies. A NaN estimate counts as 0.5 off
    (never happens for a worker with class judgments, but must not silently shrink the mean).
    """
    keep = n_covered >= min_judgments
    if not keep.any():
        return float("nan"), 0
    error = np.abs(np.asarray(estimated, dtype=np.float64)[keep] - measured[keep])
    return float(np.nan_to_num(error, nan=0.5).mean()), int(keep.sum())


def gold_measurement_floor(measured: np.ndarray, n_covered: np.ndarray,
                           min_judgments: int = MIN_GOLD_JUDGMENTS) -> float:
    """Expected MAE of a perfect estimator against the gold measurement, over the scored workers.

    A worker's accuracy measured on ``n`` gold-covered judgments is a binomial share: even the
    worker's true accuracy ``p`` differs from it by ``E|X/n - p|`` (``X ~ Binomial(n, p)``) on
    average. With the measured share plugged in for ``p``, the mean of that over the workers with
    ``>= min_judgments`` judgments is the MAE an exact estimator would be expected to score: a floor
    under :func:`reliability_mae`. NaN when no worker qualifies.
    """
    keep = np.flatnonzero(n_covered >= min_judgments)
    if keep.size == 0:
        return float("nan")
    floors = []
    for worker in keep:
        n, p = int(n_covered[worker]), float(measured[worker])
        x = np.arange(n + 1)
        floors.append(float(stats.binom.pmf(x, n, p) @ np.abs(x / n - p)))
    return float(np.mean(floors))
