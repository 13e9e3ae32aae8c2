"""The EM loop on partitions: E-step and sufficient statistics in the tasks, M-step on the driver.

One task per partition per iteration: it receives the parameters of its own
workers (Dawid-Skene: their log-emission rows; one-coin: their accuracies;
MACE: their spam parameters, from which the task builds the log-emissions)
and the class log-prior, runs the E-step on its items with the kernel the
in-memory model uses (Dawid-Skene: ``em_pass``, which scatters the expected
counts in the same pass) and returns only the sums the next M-step needs, per
local worker. Nothing stays resident between iterations but the partitions:
the last posterior is recomputed once at the end from the final parameters
(the same numbers). The driver adds the sums in partition order
(:meth:`Backend.reduce_by_worker`) and runs the same M-step as the in-memory
models, so the results equal the in-memory fit up to floating-point summation
order (tested to 1e-9).

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
#
# Every task takes ``(part, rows, sliced, kind, ...)``: ``rows`` holds the per-worker parameter arrays
# of the model (see ``_Run._rows``), either only the partition's rows (``sliced``) or the whole tables
# (one copy per worker process; the task takes its rows). Tasks return small dicts: ``workers`` (the
# partition's global worker codes, int32), the arrays named in PER_WORKER with one row per such
# worker, and sums; ``Backend.map_reduce`` adds them in a fixed order next to the data.

#: Results with one row per local worker (added into the global per-worker arrays on the driver).
PER_WORKER = ("counts", "correct", "spammed", "spam_answers")


def local_emission(kind: str, n_classes: int, rows: tuple[np.ndarray, ...]) -> np.ndarray:
    """``log_emission[w, given, true]`` of the local workers from the model's compact parameters."""
    if kind == "ds":
        return rows[0]
    if kind == "onecoin":
        return one_coin.emission_from_accuracy(rows[0], n_classes)
    from consensus.kernels import mace

    return mace.emission_from_spamming(rows[0], rows[1])


def _sums(kind: str, part: tasks.Partition, posterior: np.ndarray, rows: tuple[np.ndarray, ...],
          counts: np.ndarray | None = None) -> dict[str, Any]:
    """The sums the next M-step needs, per local worker, under ``posterior``."""
    j = part.judgments
    out: dict[str, Any] = {"workers": part.workers.astype(np.int32), "class_totals": posterior.sum(axis=0)}
    if kind == "ds":
        out["counts"] = counts if counts is not None else ds.emission_counts(
            j.item_offsets, j.worker, j.label, posterior, j.n_workers)
    elif kind == "onecoin":
        out["correct"] = kp.worker_answer_stats(j.worker_offsets, j.item_by_worker, j.label_by_worker, posterior)[1]
    else:
        out["spammed"], out["spam_answers"], _ = kp.mace_spam_stats(
            j.worker_offsets, j.item_by_worker, j.label_by_worker, posterior, rows[0], rows[1])
    return out


def em_init(part: tasks.Partition, rows: Any, sliced: bool, kind: str) -> dict[str, Any]:
    """Sums of the first M-step under the majority-vote posterior."""
    from consensus.models.em import initial_posterior

    j = part.judgments
    posterior = initial_posterior(j, np.full(j.n_items, -1, dtype=np.int32))
    return _sums(kind, part, posterior, tasks.local_rows(part, rows, sliced))


def _e_step(kind: str, part: tasks.Partition, rows: tuple[np.ndarray, ...],
            log_prior: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Posterior, item log-likelihoods and (Dawid-Skene: in the same pass) the expected counts.

    The kernels the in-memory models use: ``em_pass`` for Dawid-Skene, ``e_step`` otherwise.
    """
    j = part.judgments
    no_gold = np.full(j.n_items, -1, dtype=np.int32)
    if kind == "ds":
        return ds.em_pass(j.item_offsets, j.worker, j.label, rows[0], log_prior, no_gold)
    posterior, item_loglik = ds.e_step(j.item_offsets, j.worker, j.label,
                                       local_emission(kind, j.n_classes, rows), log_prior, no_gold)
    return posterior, item_loglik, None


def em_step(part: tasks.Partition, rows: Any, sliced: bool, kind: str, log_prior: np.ndarray,
            noop: bool = False) -> dict[str, Any]:
    """E-step with this partition's workers' parameters, then the next M-step's sums.

    Nothing stays resident: the next E-step needs only the parameters. With
    ``noop`` the kernels are skipped and zeros of the same shapes returned
    (the engine-overhead benchmark: same data movement, no compute).
    """
    local = tasks.local_rows(part, rows, sliced)
    if noop:
        n, k = part.workers.size, part.judgments.n_classes
        shapes = {"ds": {"counts": (n, k, k)}, "onecoin": {"correct": (n,)},
                  "mace": {"spammed": (n,), "spam_answers": (n, k)}}[kind]
        return {"workers": part.workers.astype(np.int32), "class_totals": np.zeros(k), "loglik": 0.0,
                **{key: np.zeros(s) for key, s in shapes.items()}}
    posterior, item_loglik, counts = _e_step(kind, part, local, log_prior)
    out = _sums(kind, part, posterior, local, counts)
    out["loglik"] = float(item_loglik.sum())
    return out


def loo_grid(part: tasks.Partition, rows: Any, sliced: bool, kind: str, log_prior: np.ndarray, stride: int,
             log_temperatures: np.ndarray) -> dict[str, Any]:
    """Leave-one-out predictive log-likelihood of the subsampled items, per temperature."""
    from consensus.kernels.calibration import loo_predictive_loglik

    j = part.judgments
    log_emission = local_emission(kind, j.n_classes, tasks.local_rows(part, rows, sliced))
    items = np.flatnonzero(part.item_codes % stride == 0).astype(np.int64)
    return {"workers": part.workers.astype(np.int32), "loglik": np.array([
        loo_predictive_loglik(j.item_offsets, j.worker, j.label, log_emission, log_prior, float(np.exp(x)),
                              items).sum() for x in log_temperatures])}


def em_finish(part: tasks.Partition, rows: Any, sliced: bool, kind: str, log_prior: np.ndarray,
              temperature: float) -> dict[str, Any]:
    """The last E-step's posterior again (same kernel, same parameters: the same numbers) and the
    tempered one, gathered, and the per-worker sums under the tempered posterior."""
    j = part.judgments
    local = tasks.local_rows(part, rows, sliced)
    posterior, _, _ = _e_step(kind, part, local, log_prior)
    underflowed = np.flatnonzero((posterior < calibration.UNDERFLOW).any(axis=1))
    log_rows = None
    if underflowed.size and temperature != 1.0:  # exact logs where the posterior underflowed (calibration.log_posterior)
        log_post = ds.e_step(j.item_offsets, j.worker, j.label, local_emission(kind, j.n_classes, local), log_prior,
                             np.full(j.n_items, -1, dtype=np.int32), True)[0]
        log_rows = (underflowed, np.ascontiguousarray(log_post[underflowed]))
    tempered = np.ascontiguousarray(calibration.temper(posterior, temperature, log_rows))
    if kind == "ds":  # item order: no worker-sorted copy of the partition
        counts = ds.emission_counts(j.item_offsets, j.worker, j.label, tempered, j.n_workers)
        correct = np.trace(counts, axis1=1, axis2=2).copy()
    else:
        counts, correct, _ = kp.worker_answer_stats(j.worker_offsets, j.item_by_worker, j.label_by_worker, tempered)
    return {"posterior": posterior, "tempered": tempered, "counts": counts, "correct": correct}


# -- driver -----------------------------------------------------------------------------------------
class _Run:
    """The partitioned fit of one EM model (the model's own attributes hold the parameters).

    :meth:`start` runs the initial M-step sums, :meth:`step` one EM iteration
    (M-step on the driver, E-step and sums in the tasks: one task per
    partition), :meth:`finish` sets the fitted attributes.
    """

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
        self.totals: dict[str, Any] = {}
        self.history: list[float] = []

    # -- moving parameters and sums ---------------------------------------------------------
    def _rows(self) -> tuple[np.ndarray, ...]:
        """The model's per-worker parameters, as compact as the kind allows."""
        model = self.model
        if self.kind == "ds":
            return (model._log_emission,)
        if self.kind == "onecoin":
            return (np.ascontiguousarray(model.accuracy_),)
        return (np.ascontiguousarray(model.spamming_), np.ascontiguousarray(model.spam_distribution_))

    def _sums(self, func: Any, rows: tuple[np.ndarray, ...] | None, *shared: Any) -> dict[str, Any]:
        """Totals of the tasks' sums, per-worker arrays dense (see ``PartitionedJudgments.map_rows``)."""
        return self.data.map_rows(func, rows, *shared, per_worker=PER_WORKER)

    # -- the EM loop --------------------------------------------------------------------------
    def _m_step(self) -> None:
        model, totals = self.model, self.totals
        n_classes = self.data.n_classes
        if self.kind == "ds":
            model._log_emission = ds.emission_from_counts(totals["counts"], float(model.alpha),
                                                          model._prior_index, model._prior_counts)
        elif self.kind == "onecoin":
            model.accuracy_ = (totals["correct"] + model._a) / (self.n_answers + model._a + model._b)
            model._log_emission = one_coin.emission_from_accuracy(model.accuracy_, n_classes)
        else:
            from consensus.kernels import mace

            xi = float(model.spam_smoothing) + totals["spam_answers"]
            model.spamming_ = (totals["spammed"] + model._a) / (self.n_answers + model._a + model._b)
            model.spam_distribution_ = np.ascontiguousarray(xi / xi.sum(axis=1, keepdims=True))
            model._log_emission = mace.emission_from_spamming(model.spamming_, model.spam_distribution_)
        model._log_prior = ds.class_log_prior(totals["class_totals"][None, :], float(model.beta))

    def start(self) -> None:
        model, data = self.model, self.data
        model._check_params()
        model._prepare(data)
        self.n_answers = (data.n_judgments_per_worker - data.n_na_per_worker).astype(np.float64)
        self.history = []
        self.totals = self._sums(em_init, self._rows() if self.kind == "mace" else None, self.kind)

    def step(self, noop: bool = False) -> float:
        """One EM iteration; returns the penalised log-likelihood (recorded in the history)."""
        from consensus.models.em import _prior_penalty

        model = self.model
        self._m_step()
        self.totals = self._sums(em_step, self._rows(), self.kind, model._log_prior, noop)
        objective = self.totals["loglik"] + model._penalty() + _prior_penalty(model._log_prior, model.beta)
        self.history.append(objective)
        return objective

    def fit(self) -> None:
        model = self.model
        self.start()
        converged = False
        for _ in range(int(model.max_iter)):
            self.step()
            history = self.history
            if len(history) > 1 and history[-1] - history[-2] <= model.tol * abs(history[-2]):
                converged = True
                break
        self.finish(converged)

    def finish(self, converged: bool) -> None:
        from consensus.models.em import hide_unanswered
        from consensus.models.majority_vote import TIE_POLICIES

        model, data = self.model, self.data
        temperature = self._temperature()
        finished = data.map_rows(em_finish, self._rows(), self.kind, model._log_prior, temperature)
        posterior = data.to_global_items([f["posterior"] for f in finished])
        tempered = data.to_global_items([f["tempered"] for f in finished])
        labels, n_tied = _pick(posterior, TIE_POLICIES[model.tie_break], int(model.random_state), data.item_keys)
        backend = self.backend
        sums = {key: backend.reduce_by_worker([f[key] for f in finished], data.workers, data.n_workers)
                for key in ("counts", "correct")}
        n = self.n_answers
        model.raw_probas_ = posterior
        model.temperature_ = temperature
        model.probas_ = tempered
        model.labels_ = labels
        model.n_tied_ = n_tied
        model.priors_ = np.exp(model._log_prior)
        model.log_likelihood_history_ = list(self.history)
        model.n_iter_ = len(self.history)
        model.converged_ = converged
        model._finish(data, model.probas_)
        with np.errstate(invalid="ignore", divide="ignore"):
            model.worker_accuracy_ = np.where(n > 0, sums["correct"] / np.maximum(n, 1), np.nan)
        model._counts_cache = np.ascontiguousarray(sums["counts"].transpose(0, 2, 1))
        hide_unanswered(model, data.n_labels_per_item, None)

    def _temperature(self) -> float:
        model, data = self.model, self.data
        if model.calibration not in ("gold", "loo"):
            return 1.0
        stride = max(1, -(-data.n_items // calibration.LOO_MAX_ITEMS))
        rows = self._rows()

        def objective(log_temperatures: np.ndarray) -> np.ndarray:
            return -self._sums(loo_grid, rows, self.kind, model._log_prior, stride, log_temperatures)["loglik"]

        # calibration._grid_minimum, with each grid evaluated in one pass over the partitions
        top = np.log(calibration.MAX_TEMPERATURE)
        grid = np.linspace(0.0, top, 25)
        best = int(np.argmin(objective(grid)))
        step = grid[1] - grid[0]
        fine_grid = np.linspace(max(grid[best] - step, 0.0), min(grid[best] + step, top), 11)
        fine = objective(fine_grid)
        return float(min(np.exp(fine_grid[int(np.argmin(fine))]), calibration.MAX_TEMPERATURE))


def _pick(posterior: np.ndarray, policy: int, seed: int, item_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from consensus.kernels import vote

    return vote.pick_labels(posterior, policy, seed, item_keys)


def fit_partitioned(model: Any, data: PartitionedJudgments) -> None:
    """Fit an EM ``model`` on partitioned judgments; sets the same fitted attributes as ``fit``."""
    model.__dict__.pop("_counts_cache", None)
    model.judgments_ = data
    model.classes_ = list(data.classes)
    _Run(model, data).fit()


def fit_with_engine(model: Any, data: Any, gold: Any, engine: Any) -> Any:
    """``model.fit(data, engine=engine)`` for a partitioned engine (see :meth:`EMAggregator.fit`)."""
    from consensus.backends.base import engine_name, resolve_engine

    if gold is not None:
        raise ParameterError(f"gold is not supported with engine={engine_name(engine)!r} yet; fit with "
                             "engine='local'")
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
