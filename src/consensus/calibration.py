"""Calibrated confidence by tempering the truth posteriors.

EM posteriors are over-confident because real annotators' errors are not
independent given the truth (hard items fool many people at once). Dividing
the log-posterior by a temperature ``T >= 1`` softens them without changing
any label (the arg-max of every row stays where it was). The modes:

- ``"loo"``: one temperature for every item, gold-free, by maximum
  leave-one-judgment-out predictive likelihood: the tempered posterior from
  an item's other answers must predict each held-out answer through the
  annotator's confusion matrix;
- ``"gold"``: one temperature maximising the likelihood of the gold answers
  under out-of-fold posteriors of the gold items (falls back to ``"loo"``
  without gold): the gold items are split into :data:`GOLD_FOLDS` seeded
  folds and each fold's posteriors come from a refit that clamps only the
  other folds' gold, because a fit that clamps an item's gold learns the
  annotators' confusion matrices from it, and its posterior for that item
  is then more often right than any other item's (an in-sample temperature
  comes out too small);
- ``"item"``: a per-item temperature ``T(n) = T0 * (1 + rho * (n - 1))`` for
  an item with ``n`` class answers, gold-free. ``rho`` is the intra-item
  correlation of the answers' correctness (one-way ANOVA estimate from
  ``y_j = P(answer j is right)`` under the raw posterior,
  :func:`answer_correlation`): ``1 + rho (n - 1)`` is the design effect of
  ``n`` correlated answers (they are worth ``n / (1 + rho (n - 1))``
  independent ones), which one global temperature cannot express (fitted on
  items with 2 answers it is too small for items with 20). ``T0`` then
  absorbs what remains (each answer over-weighted by over-estimated
  accuracies), by maximum leave-one-judgment-out predictive likelihood with
  the held-out answer predicted from the other ``n - 1`` at ``T(n - 1)``;
- ``"item_gold"``: the same family with ``T0`` and ``rho`` both fitted by
  maximum likelihood of the gold answers under the same out-of-fold
  posteriors (falls back to ``"item"`` without gold);
- ``"none"``: ``T = 1``.

Every fit is a fixed grid search (coarse then fine), so it is exactly
reproducible. Measured on 11 real datasets with ``benchmarks/accuracy.py``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax

from consensus.kernels.calibration import answer_correctness_moments, loo_predictive_loglik, loo_rows_loglik

CALIBRATIONS = ("loo", "gold", "item", "item_gold", "none")
#: Modes with a per-item temperature.
PER_ITEM = ("item", "item_gold")
MAX_TEMPERATURE = 100.0
#: Cross-fitting folds of the gold calibrations (``gold``, ``item_gold``): one refit per fold.
GOLD_FOLDS = 5
#: The gold-free temperature is fitted on at most this many items (every k-th item).
LOO_MAX_ITEMS = 20_000


#: A posterior entry below this is subnormal or has underflowed to 0: its logarithm is taken from
#: a log-space E-step instead (see :func:`log_posterior`).
UNDERFLOW = 1e-300


def log_posterior(posterior: np.ndarray, log_rows: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """``log(posterior)``, with the rows ``log_rows = (rows, values)`` replaced by exact log-posteriors.

    An item with hundreds of concordant answers has a runner-up class more than ~745 nats
    behind: its probability is 0 in float64 and its logarithm ``-inf``, which no temperature
    softens. The EM models keep the log-space E-step's rows for such items
    (``EMAggregator._underflowed_log_rows``). float64, shape of ``posterior``.
    """
    with np.errstate(divide="ignore"):
        out = np.log(posterior)
    if log_rows is not None:
        rows, values = log_rows
        out[rows] = values
    return out


def temper(posterior: np.ndarray, temperature: float | np.ndarray,
           log_rows: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """``softmax(log(posterior) / temperature)`` row-wise; float64 like ``posterior``.

    ``temperature`` is one float for every row or an array with one per row; ``log_rows``:
    exact log-posteriors of underflowed rows (:func:`log_posterior`).
    """
    if np.ndim(temperature) == 0:
        if temperature == 1.0:
            return posterior.copy()
        scale = temperature
    else:
        scale = np.asarray(temperature, dtype=np.float64)[:, None]
    logits = log_posterior(posterior, log_rows) / scale
    return np.exp(log_softmax(logits, axis=1))


def item_temperature(n_answers: np.ndarray, base: float, rho: float) -> np.ndarray:
    """``T(n) = base * (1 + rho * max(n - 1, 0))`` per item, float64."""
    return base * (1.0 + rho * np.maximum(np.asarray(n_answers, dtype=np.float64) - 1.0, 0.0))


#: Per-answer sum of squares below which correctness values count as constant.
SPREAD_EPS = 1e-12


def answer_correlation(judgments, raw_posterior: np.ndarray) -> float:  # noqa: ANN001
    """Intra-item correlation of the answers' correctness, in [0, 1].

    One-way ANOVA estimate (unbalanced groups) over items with class answers,
    with ``y_j = raw_posterior[i, label_j]`` the probability that answer ``j``
    of item ``i`` is right: ``(MSB - MSW) / (MSB + (n0 - 1) MSW)``, clipped to
    [0, 1]; 0 when there are fewer than two such items, no within-item
    spread, or no spread at all beyond rounding (total sum of squares at most
    :data:`SPREAD_EPS` per answer).
    """
    moments = answer_correctness_moments(judgments.item_offsets, judgments.label,
                                         np.ascontiguousarray(raw_posterior, dtype=np.float64))
    moments = moments[moments[:, 0] > 0]
    n, s, ss = moments[:, 0], moments[:, 1], moments[:, 2]
    groups, total = n.size, float(n.sum())
    if groups < 2 or total <= groups:
        return 0.0
    mean = s / n
    grand = float(s.sum()) / total
    if float(ss.sum()) - grand * float(s.sum()) <= SPREAD_EPS * total:
        return 0.0  # no spread beyond rounding: the ratio would be noise over noise
    between = float((n * (mean - grand) ** 2).sum()) / (groups - 1)
    within = float(np.maximum(ss - s * mean, 0.0).sum()) / (total - groups)
    n0 = (total - float((n * n).sum()) / total) / (groups - 1)
    denominator = between + (n0 - 1.0) * within
    if not denominator > 0:
        return 0.0
    return float(np.clip((between - within) / denominator, 0.0, 1.0))


def loo_items(n_items: int) -> np.ndarray:
    """The items the gold-free fits evaluate: all, or every k-th so that at most ``LOO_MAX_ITEMS``."""
    stride = max(1, -(-n_items // LOO_MAX_ITEMS))
    return np.arange(0, n_items, stride, dtype=np.int64)


def answer_rows(judgments, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """Positions of the class answers of ``items`` (item order) and their offsets per item.

    Returns ``(row_offsets int64 (len(items) + 1,), positions int64 (n_rows,))``.
    """
    return answer_positions(judgments.item_offsets, judgments.label, items)


def answer_positions(item_offsets: np.ndarray, label: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`answer_rows` on the raw arrays (item-sorted ``label``, abstentions negative)."""
    offsets = item_offsets
    starts, stops = offsets[items], offsets[items + 1]
    lengths = (stops - starts).astype(np.int64)
    positions = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths) \
        + np.arange(int(lengths.sum()), dtype=np.int64)
    keep = label[positions] >= 0
    counts = np.bincount(np.repeat(np.arange(items.size), lengths)[keep], minlength=items.size)
    row_offsets = np.zeros(items.size + 1, dtype=np.int64)
    np.cumsum(counts, out=row_offsets[1:])
    return row_offsets, positions[keep].astype(np.int64)


def fit_item_temperature_loo(row_offsets: np.ndarray, log_rows: np.ndarray, log_prior: np.ndarray,
                             rho: float) -> float:
    """``T0`` in [1, MAX_TEMPERATURE] maximising the leave-one-out predictive likelihood of ``T(n)``.

    ``row_offsets`` / ``log_rows`` as in
    :func:`~consensus.kernels.calibration.loo_rows_loglik` (see
    :func:`answer_rows`); ``rho`` fixed (:func:`answer_correlation`).
    """
    log_rows = np.ascontiguousarray(log_rows, dtype=np.float64)
    log_prior = np.ascontiguousarray(log_prior, dtype=np.float64)

    def nll(log_t: float) -> float:
        return -float(loo_rows_loglik(row_offsets, log_rows, log_prior, float(np.exp(log_t)), float(rho)).sum())

    return _grid_minimum(nll)


def gold_folds(gold: np.ndarray, seed: int, n_folds: int = GOLD_FOLDS) -> list[np.ndarray]:
    """The gold items (codes where ``gold >= 0``) in ``min(n_folds, n_gold)`` seeded random folds.

    Each fold is a sorted int64 array of item codes; the folds partition the gold
    items and their sizes differ by at most one (a fold holds a single item when there
    are fewer than ``2 * n_folds`` gold items; one gold item is one fold: its refit is
    the gold-free fit). Empty without gold.
    """
    known = np.flatnonzero(np.asarray(gold) >= 0)
    if known.size == 0:
        return []
    order = np.random.default_rng(seed).permutation(known)
    return [np.sort(part) for part in np.array_split(order, min(n_folds, known.size))]


def fit_item_temperature_gold(raw_posterior: np.ndarray, gold: np.ndarray,
                              n_answers: np.ndarray) -> tuple[float, float]:
    """``(T0, rho)`` maximising the gold answers' likelihood under ``T(n) = T0 (1 + rho (n - 1))``.

    ``T0`` in [1, MAX_TEMPERATURE], ``rho`` in [0, 1]; a fixed two-level grid
    over both. ``(1.0, 0.0)`` without gold items.
    """
    known = np.flatnonzero(gold >= 0)
    if known.size == 0:
        return 1.0, 0.0
    with np.errstate(divide="ignore"):
        logits = np.log(np.maximum(raw_posterior[known], 1e-300))
    truth = gold[known]
    extra = np.maximum(np.asarray(n_answers, dtype=np.float64)[known] - 1.0, 0.0)
    rows = np.arange(known.size)

    def nll(log_t: float, rho: float) -> float:
        scale = np.exp(log_t) * (1.0 + rho * extra)
        return -float(log_softmax(logits / scale[:, None], axis=1)[rows, truth].sum())

    top = np.log(MAX_TEMPERATURE)
    log_grid, rho_grid = np.linspace(0.0, top, 25), np.linspace(0.0, 1.0, 21)
    values = np.array([[nll(x, r) for r in rho_grid] for x in log_grid])
    bx, br = np.unravel_index(int(np.argmin(values)), values.shape)
    dx, dr = log_grid[1] - log_grid[0], rho_grid[1] - rho_grid[0]
    fine_x = np.linspace(max(log_grid[bx] - dx, 0.0), min(log_grid[bx] + dx, top), 11)
    fine_r = np.linspace(max(rho_grid[br] - dr, 0.0), min(rho_grid[br] + dr, 1.0), 11)
    fine = np.array([[nll(x, r) for r in fine_r] for x in fine_x])
    fx, fr = np.unravel_index(int(np.argmin(fine)), fine.shape)
    return float(min(np.exp(fine_x[fx]), MAX_TEMPERATURE)), float(fine_r[fr])


def fit_temperature_gold(raw_posterior: np.ndarray, gold: np.ndarray) -> float:
    """Temperature in [1, MAX_TEMPERATURE] maximising the gold answers' likelihood."""
    known = np.flatnonzero(gold >= 0)
    if known.size == 0:
        return 1.0
    with np.errstate(divide="ignore"):
        logits = np.log(np.maximum(raw_posterior[known], 1e-300))
    truth = gold[known]

    def nll(log_t: float) -> float:
        scaled = log_softmax(logits / np.exp(log_t), axis=1)
        return -float(scaled[np.arange(known.size), truth].sum())

    return _grid_minimum(nll)


def fit_temperature_loo(judgments, log_emission: np.ndarray, log_prior: np.ndarray) -> float:  # noqa: ANN001
    """Temperature in [1, MAX_TEMPERATURE] maximising the leave-one-out predictive likelihood."""

    stride = max(1, -(-judgments.n_items // LOO_MAX_ITEMS))
    items = np.arange(0, judgments.n_items, stride, dtype=np.int64)

    def nll(log_t: float) -> float:
        per_item = loo_predictive_loglik(judgments.item_offsets, judgments.worker, judgments.label,
                                         log_emission, log_prior, float(np.exp(log_t)), items)
        return -float(per_item.sum())

    return _grid_minimum(nll)


def _grid_minimum(objective, coarse: int = 25, fine: int = 11) -> float:  # noqa: ANN001
    """Temperature minimising ``objective(log T)`` on a fixed two-level grid over [1, MAX_TEMPERATURE].

    A fixed grid (not an adaptive optimiser) makes the chosen temperature
    exactly reproducible: reordering the input changes the objective only in
    the last bits, which cannot move the arg-min except at exact near-ties.
    """
    top = np.log(MAX_TEMPERATURE)
    grid = np.linspace(0.0, top, coarse)
    values = np.array([objective(x) for x in grid])
    best = int(np.argmin(values))
    step = grid[1] - grid[0]
    fine_grid = np.linspace(max(grid[best] - step, 0.0), min(grid[best] + step, top), fine)
    fine_values = np.array([objective(x) for x in fine_grid])
    return float(min(np.exp(fine_grid[int(np.argmin(fine_values))]), MAX_TEMPERATURE))


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error over equal-width confidence bins.

    ``sum over bins of |sum(correct - confidence)| / n`` with bins
    ``[0, 1/n_bins), ..., [1 - 1/n_bins, 1]`` (confidence 1.0 falls in the last
    one). ``confidence`` and ``correct`` have shape ``(n,)``; NaN when n = 0.
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if confidence.size == 0:
        return float("nan")
    bins = np.minimum((confidence * n_bins).astype(np.int64), n_bins - 1)
    gap = np.bincount(bins, weights=correct - confidence, minlength=n_bins)
    return float(np.abs(gap).sum() / confidence.size)
