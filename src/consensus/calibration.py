"""Calibrated confidence by temperature scaling of the truth posteriors.

EM posteriors are over-confident because real annotators' errors are not
independent given the truth (hard items fool many people at once). Dividing
the log-posterior by a temperature ``T >= 1`` softens them without changing
any label. ``T`` is chosen by

- ``"gold"``: maximum likelihood of the gold answers under the unclamped
  posteriors of the gold items (falls back to ``"loo"`` without gold);
- ``"loo"``: gold-free, maximum leave-one-judgment-out predictive likelihood:
  the tempered posterior from an item's other answers must predict each
  held-out answer through the annotator's confusion matrix;
- ``"none"``: ``T = 1``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax

from consensus.kernels.calibration import loo_predictive_loglik

CALIBRATIONS = ("loo", "gold", "none")
MAX_TEMPERATURE = 100.0
#: The gold-free temperature is fitted on at most this many items (every k-th item).
LOO_MAX_ITEMS = 20_000


def temper(posterior: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(posterior) / temperature)`` row-wise; float64 like ``posterior``."""
    if temperature == 1.0:
        return posterior.copy()
    with np.errstate(divide="ignore"):
        logits = np.log(posterior) / temperature
    return np.exp(log_softmax(logits, axis=1))


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
