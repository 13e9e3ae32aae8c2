"""Per-item redundancy advice: accept, label more (how many), or send to an expert.

The model
---------
For item ``i`` the fitted aggregator gives a posterior ``q_i`` over the true
class. The *pool* that will label next is the fitted annotators (minus
``exclude_workers``), each weighted by the class answers they gave; a new
label comes from an annotator drawn from the pool, so given the truth ``t`` it
is ``l`` with probability ``M[t, l] = sum_w v_w C_w[t, l]`` (the work-weighted
mean confusion row). Future labels are drawn by first drawing ``t ~ q_i`` and
then labels independently from ``M[t]``; each label ``l`` adds ``log M[k, l]``
to the evidence for class ``k``. Labelling stops as soon as the top class
reaches the item's target. With ``tau_i`` that stopping time and ``L_i =
max_labels - (labels already)`` the remaining budget:

* ``p_reach_target = P(tau_i <= L_i)``;
* ``expected_extra_labels = E[min(tau_i, L_i)]``;
* ``extra_labels`` (only for ``label_more``): the smallest ``k >= 1`` with
  ``P(tau_i <= k) >= min(plan_level, p_reach_target)``: the labels to request
  now, enough to reach the target with probability ``plan_level`` (default
  0.5, the median stopping time), or the budget's best if that is out of reach.

A target is a stopping threshold on the model's posterior, so it means "this
item is right with probability >= target" only as far as that posterior is
calibrated. Two calibrations (``calibration``):

* ``per_item`` (default for models with confusion matrices and raw posteriors:
  Dawid-Skene, one-coin, MACE, GLAD): real annotators' errors are correlated
  within an item (a hard item fools several people), so ``n`` answers are
  worth ``n / T(n)`` independent ones, ``T(n) = 1 + rho * (n - 1)`` (the
  design effect of an intra-item correlation ``rho``). Item ``i``'s posterior
  is the raw posterior tempered by ``T(n_i)``, and after ``m`` more labels by
  ``T(n_i + m)``, so evidence from agreeing labels saturates and the number of
  labels the target needs grows with ``rho``. One global temperature cannot
  express this: fitted on sparse data (1-2 answers per item) it is 1, on rich
  data (20 answers) large, while ``T(n)`` is both. ``rho`` is fitted (see
  :func:`fit_rho`) by the likelihood of the buyer's gold answers when the
  judgments carry gold, else gold-free by the leave-one-judgment-out
  predictive likelihood on the items with >= 3 answers (``rho = 0`` when
  there are none), or given (``rho``). Caveat, measured in
  ``benchmarks/redundancy.py``: on adaptively collected data the gold-free fit
  sees little correlation (items stop once their labels agree, so the
  over-dispersion that reveals ``rho`` is rarely observed) and comes out near
  0; a small gold sample or ``rho`` from an earlier, fully labelled batch is
  then the way to calibrate.
* ``model``: the model's own calibrated posterior (``probas_``) and single
  temperature ``T`` (each label adds ``log M / T``).

The distribution of ``tau_i`` is computed exactly by enumerating vote-count
states when there are at most ``MAX_EXACT_STATES`` of them, else by seeded
simulation (``engine``).

Actions, in this order: ``expert_review`` when the item is mostly "n/a";
``accept`` when its confidence already reaches the target; ``accept_model``
when the machine model's vote (``model_probs``) takes it there;
``expert_review`` when the item's disagreement is improbable given its
annotators' accuracy (``ambiguity_p < ambiguity_alpha``: the pool disagrees
systematically, more crowd labels will not settle it), when no budget is left,
or when ``p_reach_target < min_reach``; otherwise ``label_more``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from scipy.special import log_softmax

from consensus import calibration
from consensus._json import jsonable as _jsonable
from consensus.calibration import log_posterior
from consensus.data import Judgments
from consensus.errors import ParameterError, check_param
from consensus.io.readers import Source
from consensus.kernels import redundancy as kr
from consensus.kernels.calibration import loo_rows_loglik
from consensus.methods import METHODS, make_model
from consensus.models.base import STATUS_MOSTLY_NA, Aggregator, as_judgments, item_status
from consensus.redundancy.inputs import ModelProbs, importance_per_item, read_model_probs

ACTIONS = ("accept", "accept_model", "label_more", "expert_review")
ENGINES = ("auto", "exact", "simulate")
#: Budget scheme of a new batch of the same size labelled adaptively from scratch.
NEXT_BATCH = "adaptive (next batch, from scratch)"
#: Exact enumeration is used up to this many vote-count states (C(L + K, K)).
MAX_EXACT_STATES = 20_000
#: ``engine="exact"`` refuses more states than this (their table alone would take minutes and GBs).
EXACT_STATE_LIMIT = 1_000_000
#: Share of uniform mass mixed into the pool confusion so no label has probability 0.
POOL_SMOOTHING = 1e-3
#: Items need at least this many class answers before their disagreement is tested.
MIN_AMBIGUITY_LABELS = 3
#: Default prior of the machine model's confusion (as Dawid-Skene's: pseudo-judgments, mean accuracy).
MODEL_PRIOR_STRENGTH = 4.0
MODEL_PRIOR_ACCURACY = 0.8
CALIBRATIONS = ("auto", "per_item", "model")
#: ``rho`` is fitted gold-free on at most this many items (evenly spaced).
LOO_MAX_ITEMS = 20_000


@dataclass
class RedundancyAdvice:
    """What :func:`advise_redundancy` returns.

    Attributes
    ----------
    items : polars.DataFrame
        One row per item: ``item``, ``label``, ``confidence``, ``n_labels``,
        ``n_na``, ``status``, ``importance``, ``target``, ``extra_labels``,
        ``expected_extra_labels``, ``p_reach_target``, ``ambiguity_p``,
        ``action``, ``reason``; with ``model_probs`` also ``model_label`` and
        ``confidence_with_model``.
    budget : polars.DataFrame
        One row per scheme: ``scheme``, ``labels_per_item``, ``total_labels``,
        ``additional_labels``, ``cost``, ``additional_cost`` (null without a price).
    pool : polars.DataFrame
        The pool's confusion in long form: ``true``, ``given``, ``probability``.
    params : dict
        The settings used (target, max_labels, engine, temperature, ...).
    model_quarantine : polars.DataFrame or None
        Model-probability rows not used, with a ``reason``.
    """

    items: pl.DataFrame
    budget: pl.DataFrame
    pool: pl.DataFrame
    params: dict[str, Any]
    model_quarantine: pl.DataFrame | None = None
    _headline: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Headline numbers, JSON-serialisable (plain ints, floats, strings, lists, dicts)."""
        return _jsonable({**self._headline, "params": self.params,
                          "budget": self.budget.to_dicts()})

    def summary_lines(self) -> list[str]:
        """The lines the CLI prints."""
        h = self._headline
        counts = h["actions"]
        lines = [
            f"advice: {h['n_items']} items: " + ", ".join(f"{counts[a]} {a}" for a in ACTIONS),
            f"labels now {h['labels_now']}; request {h['extra_labels_requested']} more now "
            f"(expected {h['expected_extra_labels']:.1f} until every label_more item reaches its target "
            f"or the budget)",
        ]
        for row in self.budget.iter_rows(named=True):
            cost = "" if row["cost"] is None else f", cost {row['cost']:.2f}"
            lines.append(f"  {row['scheme']}: {row['labels_per_item']:.2f} labels/item, "
                         f"total {row['total_labels']:.0f}{cost}")
        return lines


def advise_redundancy(
    data: Aggregator | Judgments | Source,
    *,
    target: float = 0.95,
    max_labels: int | np.ndarray = 7,
    price_per_label: float | None = None,
    model_probs: Source | ModelProbs | None = None,
    importance: Any = None,
    method: str = "auto",
    exclude_workers: Any = None,
    plan_level: float = 0.5,
    min_reach: float = 0.5,
    ambiguity_alpha: float = 0.01,
    engine: str = "auto",
    n_runs: int = 4000,
    seed: int = 0,
    calibration: str = "auto",
    rho: float | None = None,
) -> RedundancyAdvice:
    """Advise, per item, whether to accept it, how many more labels to buy, or to send it to an expert.

    Parameters
    ----------
    data : fitted aggregator, Judgments, path or frame
        A fitted model (``Auto``, ``DawidSkene``, ...) is used as it is (never
        refitted); anything else is read and fitted with ``method``.
    target : float, default 0.95
        Posterior the top class must reach, in (0, 1).
    max_labels : int or array of int (n_items,), default 7
        Most judgments (abstentions included) an item may get in total; an
        array gives every item its own cap (e.g. what a replay has left).
    price_per_label : float, optional
        Price of one label; fills the budget's cost columns.
    model_probs : path, frame or ModelProbs, optional
        Machine-model class probabilities per item (see
        :func:`~consensus.redundancy.read_model_probs`); the model's top class
        is one more vote, from an annotator whose confusion matrix is fitted
        against the human posteriors.
    importance : array (n_items,), mapping item -> value, or frame (item, importance), optional
        Numbers >= 1 or categories (low/normal/medium = 1, high = 2,
        critical/safety = 10). An item's target becomes
        ``1 - (1 - target) / importance``: importance 2 halves the allowed error.
    method : str, default "auto"
        Aggregator fitted when ``data`` is not a fitted model: one of ``auto``,
        ``ds``, ``mv``, ``wawa``, ``onecoin``, ``glad``, ``mace``.
    exclude_workers : sequence of worker ids or bool mask (n_workers,), optional
        Annotators left out of the pool that labels next (e.g. flagged ones).
    plan_level : float, default 0.5
        ``extra_labels`` is the smallest k reaching the target with this probability.
    min_reach : float, default 0.5
        Items whose target is reached within the budget with a lower probability go to an expert.
    ambiguity_alpha : float, default 0.01
        Items not at target whose disagreement has a smaller p-value go to an expert.
    engine : {"auto", "exact", "simulate"}, default "auto"
    n_runs : int, default 4000
        Simulated label sequences per item (``simulate`` engine).
    seed : int, default 0
        Seed of the fit (tie-break) and of the simulation.
    calibration : {"auto", "per_item", "model"}, default "auto"
        ``per_item``: an item with ``n`` class answers has temperature
        ``T(n) = 1 + rho * (n - 1)`` (correlated errors: its answers are worth
        ``n / T(n)`` independent ones), applied to the model's raw posterior
        and to the simulated future ones; needs a model with per-worker
        confusion matrices and raw posteriors (Dawid-Skene, one-coin, MACE,
        GLAD). ``model``: the model's own calibrated posteriors and single
        temperature. ``auto``: ``per_item`` when the model allows it.
    rho : float in [0, 1], optional
        Intra-item error correlation of ``per_item``; by default fitted on the
        data (see :func:`fit_rho`).

    Returns
    -------
    RedundancyAdvice

    Raises
    ------
    ParameterError
        A parameter is out of range.
    InputError
        The data or the model-probability file cannot be used.
    """
    _check_params(target, max_labels, price_per_label, method, plan_level, min_reach,
                  ambiguity_alpha, engine, n_runs, seed)
    check_param("advise_redundancy", "calibration", calibration, calibration in CALIBRATIONS,
                f"one of {list(CALIBRATIONS)}")
    check_param("advise_redundancy", "rho", rho, rho is None or (
        isinstance(rho, (int, float, np.integer, np.floating)) and not isinstance(rho, bool)
        and bool(np.isfinite(rho)) and 0.0 <= rho <= 1.0), "None or a float in the range [0.0, 1.0]")
    model = _fitted(data, method, seed)
    judgments: Judgments = model.judgments_
    n_items, n_classes = judgments.n_items, judgments.n_classes
    n_labels = judgments.n_labels_per_item.astype(np.int64)
    n_na = judgments.n_na_per_item.astype(np.int64)

    weights = _pool_weights(judgments, exclude_workers)
    pool = pool_confusion(model.confusion_, weights)
    confusion = _filled_confusion(model.confusion_, pool)
    raw = _raw_posterior(model)
    if calibration == "per_item" and raw is None:
        raise ParameterError(f"calibration='per_item' of advise_redundancy needs a model with raw posteriors and "
                             f"per-worker confusion matrices (Dawid-Skene, one-coin, MACE, GLAD); "
                             f"got {_method_name(model)}.")
    per_item = raw is not None and calibration in ("auto", "per_item")
    if per_item:
        log_emission = np.ascontiguousarray(np.log(np.maximum(confusion, 1e-300)).transpose(0, 2, 1))
        log_prior = np.log(np.maximum(_class_prior(model, raw), 1e-300))
        rho_value, rho_source = (float(rho), "given") if rho is not None else \
            fit_rho(judgments, log_emission, log_prior, raw, _gold_posterior(model, judgments))
        temperature = item_temperature(n_labels, rho_value)
        post = _per_item_posterior(model, raw, temperature)
        update = np.ascontiguousarray(np.log(pool))
    else:
        rho_value, rho_source = 0.0, None
        temperature = np.full(n_items, _temperature(model))
        post = _posterior(model)
        update = np.ascontiguousarray(np.log(pool) / temperature[0]) if n_items else np.log(pool)

    importance_values = np.ones(n_items) if importance is None else importance_per_item(judgments, importance)
    targets = 1.0 - (1.0 - target) / importance_values

    caps = np.asarray(max_labels)
    if caps.ndim and caps.shape != (n_items,):
        raise ParameterError(f"The 'max_labels' array of advise_redundancy must have one entry per item "
                             f"({n_items}); got shape {caps.shape}.")
    caps = np.broadcast_to(caps.astype(np.int64), (n_items,))
    budget_left = np.maximum(caps - n_labels - n_na, 0)
    labels, status = item_status(n_labels, n_na, np.asarray(model.labels_))
    mostly_na = status == STATUS_MOSTLY_NA
    confidence = np.where(labels >= 0, post[np.arange(n_items), np.maximum(labels, 0)], np.nan)
    at_target = (labels >= 0) & (confidence >= targets - kr.REACH_TOL)

    machine = None
    start = post
    if model_probs is not None:
        machine = model_probs if isinstance(model_probs, ModelProbs) else read_model_probs(model_probs, judgments)
        start, model_label, model_confusion = _with_model_vote(post, machine, n_labels, temperature)
    combined_top = start.max(axis=1)
    by_model = ~at_target & ~mostly_na & (combined_top >= targets - kr.REACH_TOL) & \
        (machine.has_probs if machine is not None else False)

    ambiguity = kr.excess_disagreement(judgments.item_offsets, judgments.worker, judgments.label,
                                       confusion, np.ascontiguousarray(post))
    ambiguity = np.where(n_labels >= MIN_AMBIGUITY_LABELS, ambiguity, 1.0)

    # mostly-n/a items go to an expert whatever more labels say: nothing to compute (p_reach_target 0)
    open_items = np.flatnonzero(~at_target & ~by_model & ~mostly_na & (budget_left > 0))
    scale_rho = rho_value if per_item else 0.0
    cdf, chosen_engine = _stop_cdf(start[open_items], targets[open_items], pool, update,
                                   int(budget_left[open_items].max()) if open_items.size else 0,
                                   engine, n_runs, seed, n_labels[open_items], scale_rho)
    p_reach = np.where(at_target | by_model, 1.0, 0.0)
    expected = np.zeros(n_items)
    extra = np.zeros(n_items, dtype=np.int64)
    for row, i in enumerate(open_items):
        steps = cdf[row, : budget_left[i] + 1]
        p_reach[i] = steps[-1]
        expected[i] = float((1.0 - steps[:-1]).sum())
        goal = min(plan_level, p_reach[i]) - 1e-12
        extra[i] = max(1, int(np.argmax(steps >= goal))) if p_reach[i] > 0 else budget_left[i]

    action = np.full(n_items, "label_more", dtype=object)
    reason = np.full(n_items, "", dtype=object)
    ambiguous = ~at_target & ~by_model & (ambiguity < ambiguity_alpha)
    no_budget = budget_left <= 0
    unlikely = p_reach < min_reach
    for i in range(n_items):
        if mostly_na[i]:
            action[i], reason[i] = "expert_review", "mostly n/a"
        elif at_target[i]:
            action[i], reason[i] = "accept", "confidence at target"
        elif by_model[i]:
            action[i], reason[i] = "accept_model", "model's vote reaches the target"
        elif ambiguous[i]:
            action[i], reason[i] = "expert_review", \
                f"disagreement beyond annotator reliability (p={ambiguity[i]:.2g})"
        elif no_budget[i]:
            action[i], reason[i] = "expert_review", f"max_labels {caps[i]} reached"
        elif unlikely[i]:
            action[i], reason[i] = "expert_review", \
                f"target reached within {budget_left[i]} labels with p={p_reach[i]:.2f} only"
        else:
            reason[i] = f"{extra[i]} more labels reach the target with p>={min(plan_level, p_reach[i]):.2f}"
    label_more = action == "label_more"
    extra = np.where(label_more, extra, 0)
    expected = np.where(at_target | by_model, 0.0, expected)

    # an item the model's vote settles is delivered with the class that reached the target, which can
    # overrule a thin crowd (one spammer's answer against a reliable model)
    labels = np.where(by_model, start.argmax(axis=1), labels)
    confidence = np.where(labels >= 0, post[np.arange(n_items), np.maximum(labels, 0)], np.nan)
    classes = pl.Series(judgments.classes, dtype=pl.String)
    columns: dict[str, Any] = {
        "item": judgments.item_ids,
        "label": _names(classes, labels),
        "confidence": pl.Series(confidence).fill_nan(None),
        "n_labels": pl.Series(n_labels, dtype=pl.Int64),
        "n_na": pl.Series(n_na, dtype=pl.Int64),
        "status": pl.Series(status, dtype=pl.String),
    }
    if machine is not None:
        columns["model_label"] = _names(classes, model_label)
        columns["confidence_with_model"] = pl.Series(
            np.where(labels >= 0, start[np.arange(n_items), np.maximum(labels, 0)], np.nan)).fill_nan(None)
    columns.update({
        "importance": pl.Series(importance_values),
        "target": pl.Series(targets),
        "extra_labels": pl.Series(extra, dtype=pl.Int64),
        "expected_extra_labels": pl.Series(expected),
        "p_reach_target": pl.Series(p_reach),
        "ambiguity_p": pl.Series(ambiguity),
        "action": pl.Series(action.tolist(), dtype=pl.String),
        "reason": pl.Series(reason.tolist(), dtype=pl.String),
    })
    items = pl.DataFrame(columns)

    prior = _class_prior(model, post)
    fresh_cdf, fresh_engine = _fresh_item_cdf(prior, target, pool, update, int(np.max(caps)) if n_items else 1,
                                              engine, n_runs, seed, scale_rho)
    fresh_expected = float((1.0 - fresh_cdf[:-1]).sum())
    fresh_reach = float(fresh_cdf[-1])
    budget = _budget_table(n_labels + n_na, expected, label_more, fresh_expected, price_per_label)

    params = {
        "target": float(target), "price_per_label": price_per_label,
        "max_labels": int(max_labels) if np.ndim(max_labels) == 0 else "per item",
        "plan_level": float(plan_level), "min_reach": float(min_reach),
        "ambiguity_alpha": float(ambiguity_alpha), "engine": chosen_engine,
        "n_runs": int(n_runs) if "simulate" in (chosen_engine, fresh_engine) else None, "seed": int(seed),
        "next_batch_engine": fresh_engine,
        "method": _method_name(model), "calibration": "per_item" if per_item else "model",
        "rho": float(rho_value) if per_item else None, "rho_source": rho_source,
        "temperature": float(temperature.mean()) if n_items else 1.0,
        "pool_workers": int((weights > 0).sum()), "model_probs": machine.source if machine else None,
    }
    counts = {a: int((action == a).sum()) for a in ACTIONS}
    headline: dict[str, Any] = {
        "n_items": n_items, "actions": counts,
        "labels_now": int((n_labels + n_na).sum()),
        "extra_labels_requested": int(extra.sum()),
        "expected_extra_labels": float(expected[label_more].sum()),
        "p_reach_target_mean": float(p_reach[label_more].mean()) if label_more.any() else None,
        "next_batch_labels_per_item": fresh_expected,
        "next_batch_p_reach_target": fresh_reach,
        "pool_accuracy": float(np.trace(pool * prior[:, None])) if n_classes else None,
    }
    rows = {r["scheme"]: r for r in budget.to_dicts()}
    adaptive = rows[NEXT_BATCH]
    headline["savings_vs_fixed"] = {
        name: {"labels": r["total_labels"] - adaptive["total_labels"],
               "cost": None if r["cost"] is None else r["cost"] - adaptive["cost"]}
        for name, r in rows.items() if name.startswith("fixed")
    }
    if machine is not None:
        headline["model"] = {"items_scored": int(machine.has_probs.sum()),
                             "accuracy_estimate": float(np.trace(model_confusion * prior[:, None])),
                             "rows": machine.accounting_line()}
    return RedundancyAdvice(items, budget, _pool_table(pool, judgments.classes), params,
                            machine.quarantine if machine else None, headline)


# -- the model ----------------------------------------------------------------------------------

def _fitted(data: Any, method: str, seed: int) -> Aggregator:
    if isinstance(data, Aggregator):
        if not hasattr(data, "probas_"):
            raise ParameterError(f"This {data._name} is not fitted yet; call fit(data) first, "
                                 "or pass the judgments.")
        return data
    return make_model(method, random_state=seed).fit(as_judgments(data))


def _method_name(model: Aggregator) -> str:
    chosen = getattr(model, "chosen_method_", None)
    return f"auto ({chosen})" if chosen else model._name


def item_temperature(n_answers: np.ndarray, rho: float) -> np.ndarray:
    """``T(n) = 1 + rho * max(n - 1, 0)``: the design effect of ``n`` answers with error correlation ``rho``."""
    return 1.0 + rho * np.maximum(np.asarray(n_answers, dtype=np.float64) - 1.0, 0.0)


def fit_rho(judgments: Judgments, log_emission: np.ndarray, log_prior: np.ndarray,
            raw: np.ndarray, gold_posterior: np.ndarray | None = None) -> tuple[float, str]:
    """The intra-item error correlation ``rho`` of the per-item temperature, and how it was fitted.

    With gold items (``judgments.gold``) that have at least two class answers:
    maximum likelihood of the gold answers under the raw posteriors tempered by
    ``T(n_i)`` (``"gold"``); ``gold_posterior`` (same shape as ``raw``), when
    given, replaces ``raw`` there: the model's out-of-fold posteriors of the gold
    items, from refits that did not clamp them (see
    :mod:`consensus.calibration`), since a fit that clamps an item's gold is
    over-sure of it. Otherwise gold-free (``"loo"``): maximum
    leave-one-judgment-out predictive likelihood
    (:func:`loo_design_loglik`) over the items
    with at least 3 class answers (only they carry information about ``rho``;
    at most ``LOO_MAX_ITEMS`` of them, evenly spaced). Without such items,
    ``rho = 0`` (``"none"``). ``rho`` is chosen on a fixed grid over [0, 1]
    (coarse then fine), so it is exactly reproducible.
    """
    n = judgments.n_labels_per_item.astype(np.int64)
    gold = judgments.gold
    if gold is not None:
        known = np.flatnonzero((np.asarray(gold) >= 0) & (n >= 2))
        if known.size:
            source = raw if gold_posterior is None else gold_posterior
            logits = np.log(np.maximum(source[known], 1e-300))
            truth = np.asarray(gold)[known]

            def gold_nll(r: float) -> float:
                scaled = log_softmax(logits / item_temperature(n[known], r)[:, None], axis=1)
                return -float(scaled[np.arange(known.size), truth].sum())

            return _rho_grid_minimum(gold_nll), "gold"
    items = np.flatnonzero(n >= 3).astype(np.int64)
    if items.size == 0:
        return 0.0, "none"
    items = np.ascontiguousarray(items[:: max(1, -(-items.size // LOO_MAX_ITEMS))])

    def loo_nll(r: float) -> float:
        return -float(loo_design_loglik(judgments.item_offsets, judgments.worker, judgments.label,
                                        log_emission, log_prior, float(r), items).sum())

    return _rho_grid_minimum(loo_nll), "loo"


def loo_design_loglik(item_offsets: np.ndarray, worker: np.ndarray, label: np.ndarray, log_emission: np.ndarray,
                      log_prior: np.ndarray, rho: float, items: np.ndarray) -> np.ndarray:
    """Leave-one-judgment-out predictive log-likelihood per listed item under ``T(n) = 1 + rho (n - 1)``.

    For each class answer ``j`` of item ``i`` (``n_i`` of them), the truth
    posterior from the item's other answers, tempered by ``T(n_i - 1)``,
    predicts ``j``'s answer through ``log_emission[w_j, l_j, :]``
    (``[w, given, true]``). The calibration kernel
    :func:`~consensus.kernels.calibration.loo_rows_loglik` with base
    temperature 1 on those emission rows. Returns float64 ``(len(items),)``.
    """
    row_offsets, rows = calibration.answer_positions(item_offsets, label, items)
    log_rows = np.ascontiguousarray(np.asarray(log_emission)[worker[rows], label[rows], :], dtype=np.float64)
    return loo_rows_loglik(row_offsets, log_rows, np.ascontiguousarray(log_prior, dtype=np.float64), 1.0,
                           float(rho))


def _rho_grid_minimum(objective: Any, coarse: int = 21, fine: int = 11) -> float:
    grid = np.linspace(0.0, 1.0, coarse)
    best = grid[int(np.argmin([objective(r) for r in grid]))]
    step = grid[1] - grid[0]
    fine_grid = np.linspace(max(best - step, 0.0), min(best + step, 1.0), fine)
    return float(fine_grid[int(np.argmin([objective(r) for r in fine_grid]))])


def _gold_posterior(model: Aggregator, judgments: Judgments) -> np.ndarray | None:
    """Out-of-fold posteriors of the gold items (EM models), normalised like :func:`_raw_posterior`.

    None when there is no gold item with at least two class answers (:func:`fit_rho` would not use
    them, so the refits are skipped) or the model has no out-of-fold refits.
    """
    inner = getattr(model, "model_", model)
    gold = judgments.gold
    if gold is None or not hasattr(inner, "_out_of_fold_posteriors") or inner.judgments_ is not judgments:
        return None
    gold = np.ascontiguousarray(gold, dtype=np.int32)
    if not ((gold >= 0) & (judgments.n_labels_per_item >= 2)).any():
        return None
    return _normalised_rows(inner._out_of_fold_posteriors(judgments, gold))


def _raw_posterior(model: Aggregator) -> np.ndarray | None:
    """The model's uncalibrated posterior (rows summing to one) when it has one and confusion matrices."""
    inner = getattr(model, "model_", model)
    raw = getattr(inner, "raw_probas_", None)
    if raw is None or getattr(model, "confusion_", None) is None:
        return None
    if np.shape(raw) != np.shape(model.probas_):
        return None
    return _normalised_rows(raw)


def _normalised_rows(posterior: np.ndarray) -> np.ndarray:
    """A float64 copy with rows summing to one; non-finite or all-zero rows become uniform."""
    posterior = np.array(posterior, dtype=np.float64)
    bad = ~np.isfinite(posterior).all(axis=1) | (posterior.sum(axis=1) <= 0)
    posterior[bad] = 1.0 / posterior.shape[1]
    posterior = np.clip(posterior, 0.0, None)
    return np.ascontiguousarray(posterior / posterior.sum(axis=1, keepdims=True))


def _per_item_posterior(model: Aggregator, raw: np.ndarray, temperature: np.ndarray) -> np.ndarray:
    """``softmax(log raw / T_i)`` per item; gold items stay clamped as the model has them."""
    log_rows = getattr(getattr(model, "model_", model), "_raw_log_rows", None)
    post = np.exp(log_softmax(log_posterior(raw, log_rows) / temperature[:, None], axis=1))
    gold = model.judgments_.gold
    if gold is not None:
        known = np.flatnonzero(np.asarray(gold) >= 0)
        post[known] = 0.0
        post[known, np.asarray(gold)[known]] = 1.0
    return np.ascontiguousarray(post)


def _temperature(model: Aggregator) -> float:
    inner = getattr(model, "model_", model)
    value = float(getattr(inner, "temperature_", 1.0))
    return value if np.isfinite(value) and value > 0 else 1.0


def _posterior(model: Aggregator) -> np.ndarray:
    """The model's posterior, rows summing to one; uniform where the model has none."""
    post = np.array(model.probas_, dtype=np.float64)
    bad = ~np.isfinite(post).all(axis=1) | (post.sum(axis=1) <= 0)
    post[bad] = 1.0 / post.shape[1]
    post = np.clip(post, 0.0, None)
    return np.ascontiguousarray(post / post.sum(axis=1, keepdims=True))


def _class_prior(model: Aggregator, post: np.ndarray) -> np.ndarray:
    inner = getattr(model, "model_", model)
    prior = getattr(inner, "priors_", None)
    if prior is None or not np.isfinite(prior).all():
        prior = post.mean(axis=0)
    prior = np.asarray(prior, dtype=np.float64)
    return prior / prior.sum()


def _pool_weights(judgments: Judgments, exclude: Any) -> np.ndarray:
    """Class answers per worker, zero for excluded workers."""
    weights = np.bincount(judgments.worker[judgments.label >= 0], minlength=judgments.n_workers).astype(float)
    if exclude is None:
        return weights
    array = np.asarray(exclude)
    if array.dtype == bool:
        if array.shape != (judgments.n_workers,):
            raise ParameterError(f"The 'exclude_workers' mask must have one entry per worker "
                                 f"({judgments.n_workers}); got shape {array.shape}.")
        drop = array
    else:
        wanted = {str(w) for w in array.reshape(-1).tolist()}
        drop = np.array([str(w) in wanted for w in judgments.worker_ids.cast(pl.String).to_list()], dtype=bool)
    weights[drop] = 0.0
    if weights.sum() <= 0:
        raise ParameterError("The 'exclude_workers' parameter leaves no annotator in the pool that labels next.")
    return weights


def pool_confusion(confusion: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Work-weighted mean confusion ``M[true, given]`` of the pool, smoothed, rows summing to one.

    Workers whose row for a true class is undefined (NaN) are left out of that
    row; a row nobody defines is uniform.
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    n_classes = confusion.shape[1]
    pool = np.full((n_classes, n_classes), 1.0 / n_classes)
    for t in range(n_classes):
        rows = confusion[:, t, :]
        ok = np.isfinite(rows).all(axis=1) & (weights > 0)
        if ok.any():
            pool[t] = (weights[ok, None] * rows[ok]).sum(axis=0) / weights[ok].sum()
    pool = pool / pool.sum(axis=1, keepdims=True)
    return np.ascontiguousarray((1.0 - POOL_SMOOTHING) * pool + POOL_SMOOTHING / n_classes)


def _filled_confusion(confusion: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Per-worker confusion with undefined rows replaced by the pool's."""
    filled = np.array(confusion, dtype=np.float64)
    bad = ~np.isfinite(filled).all(axis=2)
    filled[bad] = np.broadcast_to(pool, filled.shape)[bad]
    return np.ascontiguousarray(filled)


def _with_model_vote(post: np.ndarray, machine: ModelProbs, n_labels: np.ndarray,
                     temperature: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior after the machine model's vote, the model's label per item, and its confusion.

    The model's top class counts as one judgment from a machine annotator whose
    confusion ``[true, given]`` is fitted on the items with at least two human
    class answers: expected counts under the human posterior plus a
    Dawid-Skene-style prior (``MODEL_PRIOR_STRENGTH`` pseudo-judgments per
    true class, mean accuracy ``MODEL_PRIOR_ACCURACY``).
    """
    n_items, n_classes = post.shape
    has = machine.has_probs
    model_label = np.full(n_items, -1, dtype=np.int64)
    model_label[has] = np.argmax(machine.probs[has], axis=1)
    off = (1.0 - MODEL_PRIOR_ACCURACY) / max(n_classes - 1, 1)
    counts = np.full((n_classes, n_classes), MODEL_PRIOR_STRENGTH * off)
    np.fill_diagonal(counts, MODEL_PRIOR_STRENGTH * (MODEL_PRIOR_ACCURACY if n_classes > 1 else 1.0))
    fit = np.flatnonzero(has & (n_labels >= 2))
    for k in range(n_classes):
        chosen = fit[model_label[fit] == k]
        counts[:, k] += post[chosen].sum(axis=0)
    confusion = counts / counts.sum(axis=1, keepdims=True)
    log_post = np.log(np.maximum(post, 1e-300))
    scored = np.flatnonzero(has)
    log_post[scored] += np.log(confusion[:, model_label[scored]]).T / np.asarray(temperature)[scored, None]
    log_post -= log_post.max(axis=1, keepdims=True)
    combined = np.exp(log_post)
    combined[post <= 0] = 0.0
    combined /= combined.sum(axis=1, keepdims=True)
    return np.ascontiguousarray(combined), model_label, confusion


def _fresh_item_cdf(prior: np.ndarray, target: float, pool: np.ndarray, update: np.ndarray, max_labels: int,
                    engine: str, n_runs: int, seed: int, rho: float) -> tuple[np.ndarray, str]:
    """P(a new item reaches ``target`` within m labels), m = 0..max_labels; and the engine used.

    A new item is never accepted on the class prior alone, however skewed: it gets
    at least one label (``cdf[0] = 0``). The first label ``g`` comes with
    probability ``sum_t prior[t] pool[t, g]`` and leaves the posterior
    ``prior * exp(update[:, g])`` (temperatures T(0) = T(1) = 1); from there the
    stopping time is that of an item with one answer, :func:`_stop_cdf`.
    """
    cdf = np.zeros(max(max_labels, 1) + 1)
    first = prior @ pool  # (K,) probability of each first label
    with np.errstate(divide="ignore"):
        log_post = np.log(prior)[None, :] + update.T  # row g: after a first label g
    log_post -= log_post.max(axis=1, keepdims=True)
    after_one = np.exp(log_post)
    after_one /= after_one.sum(axis=1, keepdims=True)
    steps = max_labels - 1
    if steps > 0:
        rest, used = _stop_cdf(after_one, np.full(after_one.shape[0], target), pool, update, steps, engine,
                               n_runs, seed, np.ones(after_one.shape[0], dtype=np.int64), rho)
    else:  # one label at most: reached or not on that label alone
        rest, used = (after_one.max(axis=1) >= target - kr.REACH_TOL).astype(np.float64)[:, None], "exact"
    cdf[1:] = first @ rest
    return cdf, used


def _stop_cdf(post: np.ndarray, targets: np.ndarray, pool: np.ndarray, update: np.ndarray, n_steps: int,
              engine: str, n_runs: int, seed: int, n_now: np.ndarray, rho: float) -> tuple[np.ndarray, str]:
    """P(target reached within m labels), m = 0..n_steps, per row; and the engine used.

    ``post`` is tempered at ``T(n_now)``; after ``m`` more labels the item's
    temperature is ``T(n_now + m)`` (all ones when ``rho = 0``).
    """
    n_classes = pool.shape[0]
    if post.shape[0] == 0 or n_steps <= 0:
        return np.ones((post.shape[0], max(n_steps, 0) + 1)), "none"
    n_states = kr.n_count_states(n_classes, n_steps)
    if engine == "exact" and n_states > EXACT_STATE_LIMIT:
        raise ParameterError(f"The 'engine' parameter of advise_redundancy is 'exact', which would enumerate "
                             f"{n_states:,} vote-count states ({n_classes} classes, up to {n_steps} more labels; "
                             f"the limit is {EXACT_STATE_LIMIT:,}); use 'simulate' or 'auto' (or fewer --max-labels).")
    exact = engine == "exact" or (engine == "auto" and n_states <= MAX_EXACT_STATES)
    post = np.ascontiguousarray(post, dtype=np.float64)
    targets = np.ascontiguousarray(targets, dtype=np.float64)
    now = item_temperature(n_now, rho)
    later = item_temperature(n_now[:, None] + np.arange(n_steps + 1)[None, :], rho)
    prior_scale = np.ascontiguousarray(now[:, None] / later)
    vote_scale = np.ascontiguousarray(1.0 / later)
    if exact:
        counts, child, offsets = kr.count_states(n_classes, n_steps)
        return kr.stop_cdf_exact(post, targets, pool, update, prior_scale, vote_scale, counts, child, offsets), "exact"
    return kr.stop_cdf_simulated(post, targets, pool, update, prior_scale, vote_scale, int(n_steps), int(n_runs),
                                 int(seed)), "simulate"


# -- output -------------------------------------------------------------------------------------

def _budget_table(n_now: np.ndarray, expected: np.ndarray, label_more: np.ndarray, fresh: float,
                  price: float | None) -> pl.DataFrame:
    """Labels and cost of fixed k-redundancy versus the advice."""
    n_items = n_now.size
    now_k = int(round(float(n_now.mean()))) if n_items else 0
    rows = []
    rows.append(("current labels", float(n_now.mean()) if n_items else 0.0, float(n_now.sum()), 0.0))
    for k in sorted({now_k, 3, 5} - {0}):
        rows.append((f"fixed k={k}", float(k), float(k * n_items), float(np.maximum(k - n_now, 0).sum())))
    extra_total = float(expected[label_more].sum())
    rows.append(("adaptive (this batch)", (float(n_now.sum()) + extra_total) / max(n_items, 1),
                 float(n_now.sum()) + extra_total, extra_total))
    rows.append((NEXT_BATCH, fresh, fresh * n_items, fresh * n_items))
    frame = pl.DataFrame(rows, schema=["scheme", "labels_per_item", "total_labels", "additional_labels"],
                         orient="row")
    if price is None:
        return frame.with_columns(pl.lit(None, dtype=pl.Float64).alias("cost"),
                                  pl.lit(None, dtype=pl.Float64).alias("additional_cost"))
    return frame.with_columns((pl.col("total_labels") * price).alias("cost"),
                              (pl.col("additional_labels") * price).alias("additional_cost"))


def _pool_table(pool: np.ndarray, classes: list[str]) -> pl.DataFrame:
    n = len(classes)
    return pl.DataFrame({
        "true": [classes[t] for t in range(n) for _ in range(n)],
        "given": [classes[g] for _ in range(n) for g in range(n)],
        "probability": pool.reshape(-1),
    })


def _names(classes: pl.Series, codes: np.ndarray) -> pl.Series:
    codes = np.asarray(codes)
    names = classes.gather(np.where(codes >= 0, codes, 0).astype(np.int64))
    missing = np.flatnonzero(codes < 0)
    return names.scatter(missing, None) if missing.size else names




def _check_params(target: float, max_labels: Any, price: float | None, method: str, plan_level: float,
                  min_reach: float, ambiguity_alpha: float, engine: str, n_runs: int, seed: int,
                  owner: str = "advise_redundancy") -> None:

    def real(x: Any) -> bool:
        return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) \
            and bool(np.isfinite(x))

    check_param(owner, "target", target, real(target) and 0.0 < target < 1.0, "a float in the range (0.0, 1.0)")
    caps = np.asarray(max_labels)
    check_param(owner, "max_labels", max_labels, not isinstance(max_labels, bool) and caps.size > 0
                and np.issubdtype(caps.dtype, np.integer) and caps.ndim <= 1
                and bool(((caps >= 1) & (caps <= 1000)).all()),
                "an int (or an array of ints, one per item) in the range [1, 1000]")
    check_param(owner, "price_per_label", price, price is None or (real(price) and price >= 0),
                "None or a float in the range [0.0, inf)")
    check_param(owner, "method", method, method in METHODS, f"one of {list(METHODS)}")
    for name, value in (("plan_level", plan_level), ("min_reach", min_reach)):
        check_param(owner, name, value, real(value) and 0.0 < value <= 1.0, "a float in the range (0.0, 1.0]")
    check_param(owner, "ambiguity_alpha", ambiguity_alpha, real(ambiguity_alpha) and 0.0 <= ambiguity_alpha < 1.0,
                "a float in the range [0.0, 1.0)")
    check_param(owner, "engine", engine, engine in ENGINES, f"one of {list(ENGINES)}")
    check_param(owner, "n_runs", n_runs, isinstance(n_runs, (int, np.integer)) and n_runs >= 1,
                "an int in the range [1, inf)")
    check_param(owner, "seed", seed, isinstance(seed, (int, np.integer)) and seed >= 0, "a non-negative int")
