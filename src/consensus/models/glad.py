"""GLAD: Generative model of Labels, Abilities, and Difficulties."""

from __future__ import annotations

import numpy as np

from consensus.data import Judgments
from consensus.errors import check_param
from consensus.kernels import glad, one_coin
from consensus.models.em import EMAggregator, _non_negative


class GLAD(EMAggregator):
    r"""GLAD (Whitehill et al. 2009): annotator ability times item easiness.

    Annotator ``w`` answers item ``i`` correctly with probability
    :math:`\sigma(\alpha_w \beta_i)` and otherwise picks one of the other
    :math:`K-1` classes uniformly; :math:`\alpha_w` is the ability
    (``ability_``, negative = adversarial) and :math:`\beta_i > 0` the
    easiness (``easiness_``; hard items have small :math:`\beta_i`).
    Generalised EM: each M-step takes gradient-ascent steps on the expected
    log-likelihood plus Gaussian priors :math:`\alpha \sim N(\mu, 1/\lambda_\alpha)`,
    :math:`\log\beta \sim N(0, 1/\lambda_\beta)`, with backtracking so that the
    penalised log-likelihood never decreases.

    J. Whitehill, P. Ruvolo, T. Wu, J. Bergsma, J. Movellan (2009). Whose vote
    should count more: optimal integration of labels from labelers of unknown
    expertise. NIPS 22.

    Parameters
    ----------
    max_iter : int, default 100
    tol : float, default 1e-7
    ability_mean : float, default 1.0
        Prior mean of :math:`\alpha`.
    ability_precision : float, default 1.0
    easiness_precision : float, default 1.0
        Prior precisions (>= 0) of :math:`\alpha` and :math:`\log\beta`.
    gradient_steps : int, default 5
        Gradient steps per M-step.
    beta : float, default 1.0
        Pseudo-count per class prior.
    calibration : {"loo", "item", "gold", "item_gold", "none"}, default "loo"
        How ``probas_`` are tempered (labels never change): one temperature or
        a per-item one, fitted without gold or on the gold items; the modes
        are described in :mod:`consensus.calibration`.
        GLAD's emissions depend on the item, so it has no leave-one-judgment-out
        fit: with ``"loo"`` its temperature stays 1, and ``"item"`` keeps
        ``T0 = 1`` and applies only the ``rho`` part.
    tie_break : {"random", "first"}, default "random"
    random_state : int, default 0

    Examples
    --------
    >>> import polars as pl
    >>> from consensus import GLAD
    >>> df = pl.DataFrame({"item": list("aaabbbccc"), "worker": list("xyz") * 3,
    ...                    "label": list("110000111")})
    >>> GLAD().fit_predict(df)["label"].to_list()
    ['1', '0', '1']
    """

    _name = "GLAD"

    def __init__(self, *, max_iter: int = 100, tol: float = 1e-7, ability_mean: float = 1.0,
                 ability_precision: float = 1.0, easiness_precision: float = 1.0,
                 gradient_steps: int = 5, beta: float = 1.0, calibration: str = "loo", tie_break: str = "random",
                 random_state: int = 0) -> None:
        self.max_iter = max_iter
        self.tol = tol
        self.ability_mean = ability_mean
        self.ability_precision = ability_precision
        self.easiness_precision = easiness_precision
        self.gradient_steps = gradient_steps
        self.beta = beta
        self.calibration = calibration
        self.tie_break = tie_break
        self.random_state = random_state

    def _check_params(self) -> None:
        self._check_common_params()
        for param in ("ability_precision", "easiness_precision"):
            value = getattr(self, param)
            check_param(self._name, param, value, _non_negative(value), "a float in the range [0.0, inf)")
        check_param(self._name, "ability_mean", self.ability_mean,
                    isinstance(self.ability_mean, (int, float)) and np.isfinite(self.ability_mean), "a finite float")
        check_param(self._name, "gradient_steps", self.gradient_steps,
                    isinstance(self.gradient_steps, (int, np.integer)) and self.gradient_steps >= 1,
                    "an int in the range [1, inf)")

    def _prepare(self, judgments: Judgments) -> None:
        self.ability_ = np.full(judgments.n_workers, float(self.ability_mean))
        self._log_beta = np.zeros(judgments.n_items)
        self._step = 0.1

    def _regulariser(self, ability: np.ndarray, log_beta: np.ndarray) -> float:
        return float(-0.5 * self.ability_precision * np.square(ability - self.ability_mean).sum()
                     - 0.5 * self.easiness_precision * np.square(log_beta).sum())

    def _q(self, judgments: Judgments, posterior: np.ndarray, ability: np.ndarray,
           log_beta: np.ndarray) -> float:
        per_item = glad.expected_q(judgments.item_offsets, judgments.worker, judgments.label,
                                   posterior, ability, log_beta, judgments.n_classes)
        return float(per_item.sum()) + self._regulariser(ability, log_beta)

    def _m_step(self, judgments: Judgments, posterior: np.ndarray) -> None:
        ability, log_beta = self.ability_, self._log_beta
        current = self._q(judgments, posterior, ability, log_beta)
        for _ in range(int(self.gradient_steps)):
            residual = glad.residuals(judgments.item_offsets, judgments.worker, judgments.label,
                                      posterior, ability, log_beta)
            grad_ability, grad_log_beta = glad.gradients(
                judgments.item_offsets, judgments.worker_offsets, judgments.worker_order,
                judgments.item, judgments.worker, residual, ability, log_beta,
                float(self.ability_mean), float(self.ability_precision), float(self.easiness_precision))
            step = self._step
            while step > 1e-8:
                new_ability = ability + step * grad_ability
                new_log_beta = np.clip(log_beta + step * grad_log_beta, -10.0, 10.0)
                candidate = self._q(judgments, posterior, new_ability, new_log_beta)
                if candidate >= current:
                    ability, log_beta, current = new_ability, new_log_beta, candidate
                    self._step = min(step * 2.0, 1.0)
                    break
                step *= 0.5
            else:
                break
        self.ability_, self._log_beta = ability, log_beta

    def _e_step(self, judgments: Judgments, gold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return glad.e_step(judgments.item_offsets, judgments.worker, judgments.label,
                           self.ability_, self._log_beta, self._log_prior, gold)

    def _log_e_step(self, judgments: Judgments, gold: np.ndarray) -> np.ndarray:
        return glad.e_step(judgments.item_offsets, judgments.worker, judgments.label,
                           self.ability_, self._log_beta, self._log_prior, gold, True)[0]

    def _penalty(self) -> float:
        return self._regulariser(self.ability_, self._log_beta)

    def _finish(self, judgments: Judgments, posterior: np.ndarray) -> None:
        # confusion of each annotator on an item of typical easiness (beta = 1)
        accuracy = 1.0 / (1.0 + np.exp(-self.ability_))
        self.confusion_ = np.exp(one_coin.emission_from_accuracy(
            np.clip(accuracy, 1e-12, 1 - 1e-12), judgments.n_classes)).transpose(0, 2, 1).copy()
        self.easiness_ = np.exp(self._log_beta)
