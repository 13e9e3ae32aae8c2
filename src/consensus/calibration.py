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
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

from consensus.kernels.calibration import loo_predictive_loglik

CALIBRATIONS = ("loo", "gold", "none")
MAX_TEMPERATURE = 100.0


def temper(posterior: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(posterior) / temperature)`` row-wise; float64 like ``posterior``."""
    if temperature == 1.0:
        return posterior
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

    result = minimize_scalar(nll, bounds=(0.0, np.log(MAX_TEMPERATURE)), method="bounded",
                             options={"xatol": 1e-4})
    return float(np.exp(result.x))


def fit_temperature_loo(judgments, log_emission: np.ndarray, log_prior: np.ndarray) -> float:  # noqa: ANN001
    """Temperature in [1, MAX_TEMPERATURE] maximising the leave-one-out predictive likelihood."""

    def nll(log_t: float) -> float:
        per_item = loo_predictive_loglik(judgments.item_offsets, judgments.worker, judgments.label,
                                         log_emission, log_prior, float(np.exp(log_t)))
        return -float(per_item.sum())

    result = minimize_scalar(nll, bounds=(0.0, np.log(MAX_TEMPERATURE)), method="bounded",
                             options={"xatol": 1e-4})
    return float(np.exp(result.x))
