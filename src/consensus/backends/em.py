"""The EM loop on partitions: E-step and sufficient statistics in the tasks, M-step on the driver.

Per iteration every partition receives the log-emission rows of its own
workers (plus, for MACE, their spam parameters) and the class log-prior as
task arguments, runs the Dawid-Skene E-step on its items (posteriors stay
resident) and returns the sums the next M-step needs, per local worker. The
driver adds them in partition order (:meth:`Backend.reduce_by_worker`) and
runs the same M-step formulas as the in-memory models, so the results equal
the in-memory fit up to floating-point summation order (tested to 1e-9).

Supported: :class:`~consensus.models.DawidSkene`,
:class:`~consensus.models.OneCoinDawidSkene`, :class:`~consensus.models.MACE`
(GLAD's item difficulties would need a per-item M-step in the tasks).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from consensus import calibration
from consensus.backends import tasks
from consensus.backends.loader import PartitionedJudgments
from consensus.errors import ParameterError
from consensus.kernels import dawid_skene as ds
from consensus.kernels import one_coin
from consensus.kernels import partitioned as kp

KINDS = {"DawidSkene": "ds", "OneCoinDawidSkene": "onecoin", "MACE": "mace"}


# -- tasks ------------------------------------------------------------------------------------------
def _stats(kind: str, part: tasks.Partition, posterior: np.ndarray, theta: np.ndarray | None,
           xi: np.ndarray | None) -> dict[str, Any]:
    j = part.judgments
    small: dict[str, Any] = {"class_totals": posterior.sum(axis=0)}
    if kind == "mace":
        small["spammed"], small["spam_answers"], small["n_answers"] = kp.mace_spam_stats(
            j.worker_offsets, j.item_by_worker, j.label_by_worker, posterior, theta, xi)
    else:
        counts, correct, n_answers = kp.worker_answer_stats(
            j.worker_offsets, j.item_by_worker, j.label_by_worker, posterior)
        small["n_answers"] = n_answers
        if kind == "ds":
            small["counts"] = counts
        else:
            small["correct"] = correct
    return small


def em_init(part: tasks.Partition, kind: str, theta: np.ndarray | None = None,
            xi: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Majority-vote initial posterior (resident) and the first M-step's sums."""
    from consensus.models.em import initial_posterior

    j = part.judgments
    posterior = initial_posterior(j, np.full(j.n_items, -1, dtype=np.int32))
    return posterior, _stats(kind, part, posterior, theta, xi)


def em_step(part: tasks.Partition, prev: Any, kind: str, log_emission: np.ndarray, log_prior: np.ndarray,
            theta: np.ndarray | None = None, xi: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """E-step with this partition's workers' parameters, then the next M-step's sums."""
    j = part.judgments
    no_gold = np.full(j.n_items, -1, dtype=np.int32)
    posterior, item_loglik = ds.e_step(j.item_offsets, j.worker, j.label, log_emission, log_prior, no_gold)
    small = _stats(kind, part, posterior, theta, xi)
    small["loglik"] = float(item_loglik.sum())
    return posterior, small


def loo_grid(part: tasks.Partition, log_emission: np.ndarray, log_prior: np.ndarray, stride: int,
             log_temperatures: np.ndarray) -> np.ndarray:
    """Leave-one-out predictive log-likelihood of the subsampled items, per temperature."""
    from consensus.kernels.calibration import loo_predictive_loglik

    j = part.judgments
    items = np.flatnonzero(part.item_codes % stride == 0).astype(np.int64)
    return np.array([loo_predictive_loglik(j.item_offsets, j.worker, j.label, log_emission, log_prior,
                                           float(np.exp(x)), items).sum() for x in log_temperatures])


def em_finish(part: tasks.Partition, prev: Any, temperature: float) -> dict[str, Any]:
    """Posterior (gathered), and per-worker sums under the tempered posterior."""
    j = part.judgments
    posterior = prev[0]
    tempered = calibration.temper(posterior, temperature)
    counts, correct, n_answers = kp.worker_answer_stats(
        j.worker_offsets, j.item_by_worker, j.label_by_worker, np.ascontiguousarray(tempered))
    return {"posterior": posterior, "counts": counts, "correct": correct, "n_answers": n_answers}


# -- driver -----------------------------------------------------------------------------------------
def emission_from_counts(counts: np.ndarray, alpha: float, prior_index: np.ndarray,
                         prior_counts: np.ndarray) -> np.ndarray:
    """Dawid-Skene's M-step (``kernels.dawid_skene.m_step_emission``) from summed expected counts.

    ``counts[w, given, true]`` without pseudo-counts; returns ``log_emission[w, given, true]``.
    """
    n_classes = counts.shape[1]
    table = alpha + prior_counts[prior_index] + counts
    total = table.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_total = np.where(total > 0.0, np.log(np.where(total > 0.0, total, 1.0)), 0.0)
        log_table = np.where(table > 0.0, np.log(np.where(table > 0.0, table, 1.0)) - log_total, -np.inf)
    return np.ascontiguousarray(np.where(total <= 0.0, -np.log(n_classes), log_table))


class _Run:
    """The partitioned fit of one EM model (the model's own attributes hold the parameters)."""

    def __init__(self, model: Any, data: PartitionedJudgments) -> None:
        kind = KINDS.get(type(model).__name__)
        if kind is None:
            raise ParameterError(
                f"{model._name} cannot run on a partitioned engine yet; use engine='local' "
                f"(partitioned: {', '.join(KINDS)})")
        self.model = model
        self.data = data
        self.kind = kind
        self.backend = data.backend

    def _reduce(self, smalls: list[dict[str, Any]], key: str) -> np.ndarray:
        return self.backend.reduce_by_worker([s[key] for s in smalls], self.data.workers, self.data.n_workers)

    def _mace_params(self) -> list[tuple[Any, ...]]:
        model = self.model
        return [(model.spamming_[w], model.spam_distribution_[w]) for w in self.data.workers]

    def _m_step(self, smalls: list[dict[str, Any]]) -> None:
        model = self.model
        n_classes = self.data.n_classes
        if self.kind == "ds":
            model._log_emission = emission_from_counts(self._reduce(smalls, "counts"), float(model.alpha),
                                                       model._prior_index, model._prior_counts)
        elif self.kind == "onecoin":
            correct = self._reduce(smalls, "correct")
            n = self._reduce(smalls, "n_answers")
            model.accuracy_ = (correct + model._a) / (n + model._a + model._b)
            model._log_emission = one_coin.emission_from_accuracy(model.accuracy_, n_classes)
        else:
            from consensus.kernels import mace

            spammed = self._reduce(smalls, "spammed")
            n = self._reduce(smalls, "n_answers")
            xi = float(model.spam_smoothing) + self._reduce(smalls, "spam_answers")
            model.spamming_ = (spammed + model._a) / (n + model._a + model._b)
            model.spam_distribution_ = np.ascontiguousarray(xi / xi.sum(axis=1, keepdims=True))
            model._log_emission = mace.emission_from_spamming(model.spamming_, model.spam_distribution_)
        totals = np.zeros(n_classes)
        for s in smalls:  # partition order
            totals += s["class_totals"]
        model._log_prior = ds.class_log_prior(totals[None, :], float(model.beta))

    def _per_part(self) -> list[tuple[Any, ...]]:
        model = self.model
        rows = [(model._log_emission[w], model._log_prior) for w in self.data.workers]
        if self.kind == "mace":
            return [r + m for r, m in zip(rows, self._mace_params())]
        return rows

    def fit(self, noop: bool = False) -> None:
        from consensus.models.em import _prior_penalty
        from consensus.models.majority_vote import TIE_POLICIES

        model, data, backend = self.model, self.data, self.backend
        model._check_params()
        model._prepare(data)
        init_args = ([(self.kind, *m) for m in self._mace_params()] if self.kind == "mace"
                     else [(self.kind,)] * data.n_partitions)
        states = backend.map(em_init, data.parts, per_part=init_args)
        smalls = backend.map_gather(tasks.second, states)
        history: list[float] = []
        converged = False
        for _ in range(int(model.max_iter)):
            self._m_step(smalls)
            per_part = self._per_part()
            new_states = backend.map(em_step, data.parts, per_part=[
                (prev, self.kind, *args) for prev, args in zip(states, per_part)])
            backend.release(states)
            states = new_states
            smalls = backend.map_gather(tasks.second, states)
            loglik = 0.0
            for s in smalls:
                loglik += s["loglik"]
            objective = loglik + model._penalty() + _prior_penalty(model._log_prior, model.beta)
            history.append(objective)
            if len(history) > 1 and history[-1] - history[-2] <= model.tol * abs(history[-2]):
                converged = True
                break
        temperature = self._temperature()
        finished = backend.map_gather(em_finish, data.parts, temperature,
                                      per_part=[(prev,) for prev in states])
        backend.release(states)
        posterior = data.to_global_items([f["posterior"] for f in finished])
        labels, n_tied = _pick(posterior, TIE_POLICIES[model.tie_break], int(model.random_state))
        correct = self._reduce(finished, "correct")
        n = self._reduce(finished, "n_answers")
        model.raw_probas_ = posterior
        model.temperature_ = temperature
        model.probas_ = calibration.temper(posterior, temperature)
        model.labels_ = labels
        model.n_tied_ = n_tied
        model.priors_ = np.exp(model._log_prior)
        model.log_likelihood_history_ = history
        model.n_iter_ = len(history)
        model.converged_ = converged
        model._finish(data, model.probas_)
        with np.errstate(invalid="ignore", divide="ignore"):
            model.worker_accuracy_ = np.where(n > 0, correct / np.maximum(n, 1), np.nan)
        model._counts_cache = np.ascontiguousarray(self._reduce(finished, "counts").transpose(0, 2, 1))

    def _temperature(self) -> float:
        model, data = self.model, self.data
        if model.calibration not in ("gold", "loo"):
            return 1.0
        stride = max(1, -(-data.n_items // calibration.LOO_MAX_ITEMS))
        per_part = [(model._log_emission[w], model._log_prior) for w in data.workers]

        def objective(log_temperatures: np.ndarray) -> np.ndarray:
            sums = self.backend.map_gather(loo_grid, data.parts, stride, log_temperatures, per_part=per_part)
            total = np.zeros(log_temperatures.size)
            for s in sums:
                total += s
            return -total

        # calibration._grid_minimum, with each grid evaluated in one pass over the partitions
        top = np.log(calibration.MAX_TEMPERATURE)
        grid = np.linspace(0.0, top, 25)
        best = int(np.argmin(objective(grid)))
        step = grid[1] - grid[0]
        fine_grid = np.linspace(max(grid[best] - step, 0.0), min(grid[best] + step, top), 11)
        fine = objective(fine_grid)
        return float(min(np.exp(fine_grid[int(np.argmin(fine))]), calibration.MAX_TEMPERATURE))


def _pick(posterior: np.ndarray, policy: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from consensus.kernels import vote

    return vote.pick_labels(posterior, policy, seed)


def fit_partitioned(model: Any, data: PartitionedJudgments) -> None:
    """Fit an EM ``model`` on partitioned judgments; sets the same fitted attributes as ``fit``."""
    model.__dict__.pop("_counts_cache", None)
    model.judgments_ = data
    model.classes_ = list(data.classes)
    _Run(model, data).fit()


def fit_with_engine(model: Any, data: Any, gold: Any, engine: Any) -> Any:
    """``model.fit(data, engine=engine)`` for a partitioned engine (see :meth:`EMAggregator.fit`)."""
    from consensus.backends.base import resolve_engine

    if gold is not None:
        raise ParameterError(f"gold is not supported with engine={engine!r} yet; fit with engine='local'")
    if type(model).__name__ not in KINDS:
        raise ParameterError(f"{model._name} cannot run on a partitioned engine yet; use engine='local' "
                             f"(partitioned: {', '.join(KINDS)})")
    if isinstance(data, PartitionedJudgments):
        fit_partitioned(model, data)
        return model
    backend, owned = resolve_engine(engine)
    assert backend is not None
    try:
        loaded = backend.load(data)
        try:
            fit_partitioned(model, loaded)
        finally:
            loaded.release()
    finally:
        if owned:
            backend.close()
    return model
