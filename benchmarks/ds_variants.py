"""Dawid-Skene regularisation variants vs crowd-kit's DawidSkene on the real datasets with gold.

    python benchmarks/ds_variants.py [--data ../shared/datasets] [--out benchmarks/results]

The question: is there a principled Dawid-Skene setting that stays within 0.3 points of crowd-kit's
default ``DawidSkene(n_iter=100)`` (or above it) on every dataset? crowd-kit's default run stops
after 2-5 EM iterations on some sets (its loss falls, its tolerance test ends the loop: see (i)), so it stays
near majority vote there; our ``DawidSkene()`` runs to convergence under a weak Dirichlet prior.

For every folder under ``--data`` (default ``../shared/datasets`` from the repository root) with
``judgments.csv`` and ``gold.csv``, the judgments are loaded once with ``consensus.read_judgments``
(no gold given to any model) and every method below is fitted on the same de-duplicated judgments:

- *ck DS*: crowd-kit ``DawidSkene(n_iter=100)`` (its default tol=1e-5), on a pandas frame of the
  class answers; accuracy and the iterations it ran;
- *DS*: our ``DawidSkene()`` with its defaults;
- (a) our ``DawidSkene(max_iter=k)`` for k = 1, 2, 3, 5 (public API);
- (b) MAP EM with prior strength 0, 4, 20, 64 (numpy, :func:`map_ds`); strength 4 must give
  exactly the labels of ``DawidSkene()`` on every set (asserted: it validates the numpy EM that
  (c)-(g) build on);
- (c) E-step tempered by the design effect ``1 + rho (n_i - 1)`` (:func:`tempered_ds`), rho fixed
  at 0.05, 0.1, 0.2, 0.3, and rho estimated without gold by
  ``consensus.calibration.answer_correlation`` on the raw posteriors of ``DawidSkene()``;
- (d) empirical-Bayes prior centred on the pooled confusion matrix, strength shared or per row
  (:func:`eb_pooled_ds`);
- (e) empirical-Bayes prior centred on each worker's one-coin matrix (:func:`eb_one_coin_ds`);
- (f) the default EM stopped at the iteration of highest leave-one-judgment-out predictive
  likelihood (:func:`loo_stopped_ds`);
- (g) the class prior held fixed, uniform or at the majority-vote shares (:func:`fixed_prior_ds`);
- (h) the default model and prior, EM started from the posteriors of our Wawa, one-coin
  Dawid-Skene or GLAD (:func:`initialised_ds`): does another start reach another maximum?
- (i) crowd-kit's own ``DawidSkene(n_iter=100)`` with one change, its loss (:func:`crowdkit_free_energy`):
  crowd-kit adds the log class prior to every *judgment* before weighting by the item posterior, so
  its "evidence lower bound" counts the class prior once per answer (n_i times for an item with n_i
  answers), which is not the EM objective and can fall while EM's likelihood rises; its
  ``new_loss - loss < tol`` test then ends the run. The row counts it once per item (the free energy
  EM never lowers: asserted up to rounding), everything else (start, steps, tol=1e-5 per judgment) as
  shipped: what crowd-kit's default reports once its stop is a convergence test.

Per variant: accuracy on the gold items per dataset, on how many datasets it is within 0.3 points of
crowd-kit's DS (or better), its worst shortfall, its mean accuracy, and an exact McNemar test against
crowd-kit's DS (``accuracy.paired_test``) on the datasets where it is below. Results: Markdown on
stdout and ``ds_variants.md`` + ``ds_variants.json`` in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from scipy.special import gammaln, logsumexp

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from accuracy import (  # noqa: E402  (benchmarks/accuracy.py)
    DS_TOLERANCE,
    _plain,
    add_data_options,
    crowdkit_outputs,
    ds_defaults,
    git_state,
    gold_codes,
    gold_folders,
    header_lines,
    numba_threads,
    paired_test,
)
from consensus.methods import make_model  # noqa: E402

# Our DawidSkene defaults, restated for the numpy EM (checked against DawidSkene() on every dataset).
ALPHA = 0.01
BETA = 1.0
PRIOR_ACCURACY = 0.8
DEFAULT_STRENGTH = 4.0
MAX_ITER = 100
OBJECTIVE_TOL = 1e-7  # DawidSkene's tol: relative improvement of the penalised log-likelihood
#: Variants whose M-step prior moves with the posteriors, or whose E-step is tempered, have no
#: objective EM is guaranteed to raise: they stop when no posterior moves by more than this.
POSTERIOR_TOL = 1e-7
#: Candidate Dirichlet strengths (pseudo-judgments per confusion row) of the empirical-Bayes priors,
#: log-spaced, as in the session's probes.
POOLED_GRID = np.exp(np.linspace(np.log(0.5), np.log(1000.0), 40))
ONE_COIN_GRID = np.exp(np.linspace(np.log(0.5), np.log(3000.0), 50))

STOP_ITERS = (1, 2, 3, 5)
STRENGTHS = (0.0, 4.0, 20.0, 64.0)
RHOS = (0.05, 0.1, 0.2, 0.3)
#: (h) Starts of the EM: our model key -> its name in the table.
INIT_MODELS = {"wawa": "Wawa", "onecoin": "one-coin Dawid-Skene", "glad": "GLAD"}


# -- the judgments as flat arrays ---------------------------------------------------------------------
@dataclass(frozen=True)
class Crowd:
    """The class answers of one dataset: one entry per judgment with a class label (int64 codes)."""

    item: np.ndarray
    worker: np.ndarray
    label: np.ndarray
    n_items: int
    n_workers: int
    n_classes: int

    @classmethod
    def from_judgments(cls, judgments) -> Crowd:  # noqa: ANN001
        used = np.asarray(judgments.label) >= 0
        return cls(np.asarray(judgments.item, dtype=np.int64)[used],
                   np.asarray(judgments.worker, dtype=np.int64)[used],
                   np.asarray(judgments.label, dtype=np.int64)[used],
                   int(judgments.n_items), int(judgments.n_workers), int(judgments.n_classes))

    @property
    def n_answers(self) -> np.ndarray:
        """Class answers per item: int64 (n_items,)."""
        return np.bincount(self.item, minlength=self.n_items)


# -- numpy EM building blocks -------------------------------------------------------------------------
def majority_posterior(crowd: Crowd) -> np.ndarray:
    """Majority-vote shares per item (uniform where no answer): float64 (n_items, K), our EM's start."""
    votes = np.zeros((crowd.n_items, crowd.n_classes))
    np.add.at(votes, (crowd.item, crowd.label), 1.0)
    totals = votes.sum(axis=1, keepdims=True)
    return np.where(totals > 0, votes / np.maximum(totals, 1.0), 1.0 / crowd.n_classes)


def expected_counts(crowd: Crowd, posterior: np.ndarray) -> np.ndarray:
    """Expected answer counts ``[worker, true, given]`` under ``posterior``: float64 (W, K, K)."""
    k = crowd.n_classes
    cell = crowd.worker * k + crowd.label
    counts = np.empty((crowd.n_workers, k, k))
    for true in range(k):
        counts[:, true, :] = np.bincount(cell, weights=posterior[crowd.item, true],
                                         minlength=crowd.n_workers * k).reshape(crowd.n_workers, k)
    return counts


def class_log_prior(posterior: np.ndarray, beta: float) -> np.ndarray:
    """Log class priors: posterior column sums plus ``beta``, normalised. float64 (K,)."""
    totals = posterior.sum(axis=0) + beta
    return np.log(totals / totals.sum())


def e_step(crowd: Crowd, log_confusion: np.ndarray, log_prior: np.ndarray,
           temperature: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Posteriors ``p(z_i = k)`` and per-item log evidence: float64 (n_items, K), (n_items,).

    ``temperature`` (n_items,), when given, divides each item's answer log-likelihood before the
    class prior is added (a tempered E-step).
    """
    loglik = np.empty((crowd.n_items, crowd.n_classes))
    for true in range(crowd.n_classes):
        loglik[:, true] = np.bincount(crowd.item, weights=log_confusion[crowd.worker, true, crowd.label],
                                      minlength=crowd.n_items)
    if temperature is not None:
        loglik /= temperature[:, None]
    joint = log_prior[None, :] + loglik
    evidence = logsumexp(joint, axis=1)
    return np.exp(joint - evidence[:, None]), evidence


def default_pseudo_counts(n_classes: int, strength: float, accuracy: float = PRIOR_ACCURACY,
                          alpha: float = ALPHA) -> np.ndarray:
    """Our default Dirichlet pseudo-counts per confusion row ``[true, given]``: float64 (K, K).

    ``strength`` pseudo-judgments per row, a share ``accuracy`` on the diagonal and the rest spread
    evenly over the wrong answers, plus ``alpha`` on every cell.
    """
    table = np.full((n_classes, n_classes), (1.0 - accuracy) / max(n_classes - 1, 1))
    np.fill_diagonal(table, accuracy if n_classes > 1 else 1.0)
    return strength * table + alpha


@dataclass
class EMResult:
    """A numpy EM fit: final posteriors (n_items, K), iterations run, and per-variant details."""

    posterior: np.ndarray
    n_iter: int
    details: dict


PseudoCounts = Callable[[np.ndarray], np.ndarray]


def run_em(crowd: Crowd, pseudo_counts: PseudoCounts, *, max_iter: int = MAX_ITER, beta: float = BETA,
           temperature: np.ndarray | None = None, stop: str = "objective", fixed_prior: np.ndarray | None = None,
           on_iteration: Callable[[int, np.ndarray, np.ndarray, np.ndarray], None] | None = None,
           initial: np.ndarray | None = None) -> EMResult:
    """MAP EM from majority-vote shares (or ``initial``), the loop of ``consensus.models.em`` in numpy.

    Each iteration: expected counts (W, K, K) from the posteriors, Dirichlet pseudo-counts
    ``pseudo_counts(counts)`` (broadcastable to (W, K, K), ``alpha`` included) added, rows
    normalised to the log confusion matrices; class priors with ``beta``; then the E-step.
    ``stop="objective"``: stop when the penalised log-likelihood (log evidence + sum of
    pseudo-count x log parameter) improves by at most ``OBJECTIVE_TOL`` relative (DawidSkene's
    rule); ``stop="posterior"``: when no posterior moves by more than ``POSTERIOR_TOL``.
    ``on_iteration(t, log_confusion, log_prior, posterior)`` sees every iteration's state.
    ``fixed_prior`` (K,), when given, is the class prior in every iteration instead of the estimate.
    ``initial`` (n_items, K), when given, replaces the majority-vote shares as the first posteriors.
    """
    posterior = majority_posterior(crowd) if initial is None else initial
    history: list[float] = []
    n_iter = 0
    for t in range(max_iter):
        counts = expected_counts(crowd, posterior)
        pseudo = np.broadcast_to(pseudo_counts(counts), counts.shape)
        cells = counts + pseudo
        log_confusion = np.log(cells / cells.sum(axis=2, keepdims=True))
        log_prior = class_log_prior(posterior, beta) if fixed_prior is None else np.log(fixed_prior)
        new, evidence = e_step(crowd, log_confusion, log_prior, temperature)
        n_iter = t + 1
        if on_iteration is not None:
            on_iteration(n_iter, log_confusion, log_prior, new)
        if stop == "objective":
            penalty = float(np.where(pseudo > 0, pseudo * log_confusion, 0.0).sum()) + beta * float(log_prior.sum())
            history.append(float(evidence.sum()) + penalty)
            done = len(history) > 1 and history[-1] - history[-2] <= OBJECTIVE_TOL * abs(history[-2])
        else:
            done = float(np.abs(new - posterior).max()) < POSTERIOR_TOL
        posterior = new
        if done:
            break
    return EMResult(posterior, n_iter, {})


# -- the variants ------------------------------------------------------------------------------------
def map_ds(crowd: Crowd, strength: float, max_iter: int = MAX_ITER) -> EMResult:
    """(b) Dawid-Skene, MAP EM under our default Dirichlet prior with ``strength`` pseudo-judgments.

    Model: ``z_i ~ Cat(pi)``, answers ``l_ij ~ Cat(theta_w[z_i])``; prior ``theta_w[t] ~
    Dir(strength * (0.8 on the diagonal, 0.2 spread) + alpha)``, ``pi ~ Dir(beta + 1)`` (pseudo-count
    beta). Strength 4 is ``DawidSkene()``; strength 0 keeps only ``alpha`` = 0.01 (near maximum
    likelihood).
    """
    pseudo = default_pseudo_counts(crowd.n_classes, strength)
    return run_em(crowd, lambda counts: pseudo, max_iter=max_iter)


def tempered_ds(crowd: Crowd, rho: float) -> EMResult:
    """(c) Dawid-Skene whose E-step divides item i's answer log-likelihood by ``1 + rho (n_i - 1)``.

    The design effect of ``n_i`` answers with intra-item correlation ``rho``: correlated answers
    carry the evidence of ``n_i / (1 + rho (n_i - 1))`` independent ones, so the posterior is
    ``pi_k prod_j theta[k, l_ij] ^ (1 / T_i)``. M-step and prior as in :func:`map_ds` (strength 4).
    """
    pseudo = default_pseudo_counts(crowd.n_classes, DEFAULT_STRENGTH)
    temperature = 1.0 + rho * np.maximum(crowd.n_answers - 1, 0)
    result = run_em(crowd, lambda counts: pseudo, temperature=temperature.astype(np.float64), stop="posterior")
    result.details["rho"] = float(rho)
    return result


def fixed_prior_ds(crowd: Crowd, prior: str) -> EMResult:
    """(g) Dawid-Skene with the class prior held fixed instead of estimated.

    ``prior="uniform"``: ``pi_k = 1/K``; ``prior="votes"``: ``pi`` = the majority-vote shares
    (mean of the initial posteriors). Confusion prior as in :func:`map_ds` (strength 4); stops when no
    posterior moves by more than ``POSTERIOR_TOL``.
    """
    pseudo = default_pseudo_counts(crowd.n_classes, DEFAULT_STRENGTH)
    shares = (np.full(crowd.n_classes, 1.0 / crowd.n_classes) if prior == "uniform"
              else majority_posterior(crowd).mean(axis=0))
    return run_em(crowd, lambda counts: pseudo, stop="posterior", fixed_prior=shares)


def dirichlet_multinomial_loglik(counts: np.ndarray, concentration: np.ndarray) -> float:
    """Dirichlet-multinomial log marginal likelihood of (soft) count rows, summed over rows.

    ``counts`` (..., K) rows of counts, ``concentration`` broadcastable to it; the multinomial
    coefficient, which does not depend on the concentration, is left out.
    """
    a = np.broadcast_to(concentration, counts.shape)
    return float((gammaln(a.sum(-1)) - gammaln((counts + a).sum(-1))
                  + (gammaln(counts + a) - gammaln(a)).sum(-1)).sum())


def eb_pooled_ds(crowd: Crowd, per_row: bool) -> EMResult:
    """(d) Dawid-Skene with a hierarchical prior centred on the crowd's pooled confusion matrix.

    Model: ``theta_w[t] ~ Dir(s_t * m[t])`` with ``m`` = the pooled expected counts of all workers
    (+1 per cell), rows normalised; ``s`` re-estimated every iteration by empirical Bayes: the grid
    value (``POOLED_GRID``) maximising the Dirichlet-multinomial marginal likelihood of the workers'
    expected counts, one ``s`` for all rows (``per_row=False``) or one per true class. M-step:
    ``theta_w[t] ∝ counts + s_t m[t] + alpha``. Stops on posterior change.
    """
    strengths: list[np.ndarray] = []

    def pseudo_counts(counts: np.ndarray) -> np.ndarray:
        base = counts.sum(axis=0) + 1.0
        base /= base.sum(axis=1, keepdims=True)
        if per_row:
            s = np.array([POOLED_GRID[np.argmax([dirichlet_multinomial_loglik(counts[:, t], g * base[t])
                                                 for g in POOLED_GRID])] for t in range(crowd.n_classes)])
        else:
            s = np.full(crowd.n_classes, POOLED_GRID[np.argmax([dirichlet_multinomial_loglik(counts, g * base)
                                                                for g in POOLED_GRID])])
        strengths.append(s)
        return s[None, :, None] * base[None] + ALPHA

    result = run_em(crowd, pseudo_counts, stop="posterior")
    result.details["strength"] = [float(x) for x in strengths[-1]]
    return result


def eb_one_coin_ds(crowd: Crowd) -> EMResult:
    """(e) Dawid-Skene with a prior centred on each worker's own one-coin matrix.

    Model: ``theta_w[t] ~ Dir(s * c_w[t])``, ``c_w`` = ``a_w`` on the diagonal and
    ``(1 - a_w) / (K - 1)`` elsewhere, ``a_w`` the worker's expected share of right answers smoothed
    by our default prior (4 pseudo-judgments per row at 0.8); one ``s`` for all workers re-estimated
    every iteration by empirical Bayes (grid ``ONE_COIN_GRID``, Dirichlet-multinomial marginal
    likelihood). Large ``s`` tends to the one-coin model, small ``s`` to full Dawid-Skene. M-step:
    ``theta_w[t] ∝ counts + s c_w[t] + alpha``. Stops on posterior change.
    """
    k = crowd.n_classes
    eye = np.eye(k)
    strengths: list[float] = []

    def pseudo_counts(counts: np.ndarray) -> np.ndarray:
        right = np.trace(counts, axis1=1, axis2=2)
        total = counts.sum(axis=(1, 2))
        accuracy = (right + DEFAULT_STRENGTH * PRIOR_ACCURACY * k) / (total + DEFAULT_STRENGTH * k)
        centre = accuracy[:, None, None] * eye + ((1.0 - accuracy) / max(k - 1, 1))[:, None, None] * (1.0 - eye)
        s = float(ONE_COIN_GRID[np.argmax([dirichlet_multinomial_loglik(counts, g * centre)
                                           for g in ONE_COIN_GRID])])
        strengths.append(s)
        return s * centre + ALPHA

    result = run_em(crowd, pseudo_counts, stop="posterior")
    result.details["strength"] = strengths[-1]
    return result


def loo_stopped_ds(crowd: Crowd) -> EMResult:
    """(f) ``DawidSkene()``'s EM trajectory, stopped at the iteration of best held-out-answer fit.

    After every iteration, the mean leave-one-judgment-out predictive log-likelihood of the answers
    is computed: answer ``j`` of item ``i`` is predicted by ``sum_k p(z_i = k | the other answers)
    theta_w[k, l_ij]`` under the current parameters. The posteriors kept are those of the iteration
    where it is highest (the run itself goes to DawidSkene's convergence).
    """
    best = {"loo": -np.inf, "iteration": 0, "posterior": None}

    def watch(t: int, log_confusion: np.ndarray, log_prior: np.ndarray, posterior: np.ndarray) -> None:
        contribution = log_confusion[crowd.worker, :, crowd.label]  # (J, K)
        joint = np.zeros((crowd.n_items, crowd.n_classes))
        for true in range(crowd.n_classes):
            joint[:, true] = np.bincount(crowd.item, weights=contribution[:, true], minlength=crowd.n_items)
        joint += log_prior[None, :]
        others = joint[crowd.item] - contribution
        others -= logsumexp(others, axis=1, keepdims=True)
        loo = float(logsumexp(others + contribution, axis=1).mean())
        if loo > best["loo"]:
            best.update(loo=loo, iteration=t, posterior=posterior.copy())

    pseudo = default_pseudo_counts(crowd.n_classes, DEFAULT_STRENGTH)
    run = run_em(crowd, lambda counts: pseudo, on_iteration=watch)
    return EMResult(best["posterior"], run.n_iter,
                    {"chosen_iteration": best["iteration"], "loo_per_answer": best["loo"]})


# -- the benchmark -----------------------------------------------------------------------------------
def initialised_ds(crowd: Crowd, initial: np.ndarray) -> EMResult:
    """(h) ``DawidSkene()``'s model and prior, EM started from another model's posteriors.

    Converged EM finds a local maximum; if a different start reached a better-scoring one, the
    default's shortfall would be its start (majority-vote shares), not the model. Items another
    model leaves without a posterior start uniform.
    """
    initial = np.where(np.isfinite(initial), initial, 1.0 / crowd.n_classes)
    pseudo = default_pseudo_counts(crowd.n_classes, DEFAULT_STRENGTH)
    return run_em(crowd, lambda counts: pseudo, initial=np.ascontiguousarray(initial, dtype=np.float64))


def crowdkit_free_energy(self, data, probas, priors, errors) -> float:  # noqa: ANN001
    """The EM free energy (nats) of crowd-kit's ``DawidSkene`` at its own iterate, class prior once per item.

    ``sum_i sum_c q_ic (log p_c + sum_{j answers i} log e_j(l_ij | c)) + H(q)``, with crowd-kit's
    ``errors`` (its clipped, normalised confusion matrices) and ``priors``. crowd-kit's
    ``_evidence_lower_bound`` computes the same except that ``log p_c`` is added per judgment.
    Used as that method's replacement (same signature; the caller divides by the judgments).
    """
    from crowdkit.aggregation.classification.dawid_skene import _EPS

    joined = data.join(np.log(errors), on=["worker", "label"])
    per_item = joined.drop(columns=["worker", "label"]).groupby("task", sort=False).sum()
    per_item = per_item.add(np.log(priors.clip(lower=_EPS)), axis=1)
    q = probas.loc[per_item.index, per_item.columns].to_numpy(dtype=np.float64)
    entropy = -float((q * np.log(np.clip(q, _EPS, None))).sum())
    return float((q * per_item.to_numpy(dtype=np.float64)).sum()) + entropy


def crowdkit_em(frame):  # noqa: ANN001, ANN201
    """crowd-kit's ``DawidSkene(n_iter=100)`` with :func:`crowdkit_free_energy` as its loss (fitted)."""
    from crowdkit.aggregation import DawidSkene as CKDawidSkene

    class FreeEnergyDawidSkene(CKDawidSkene):
        _evidence_lower_bound = crowdkit_free_energy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return FreeEnergyDawidSkene(n_iter=100).fit(frame)


def labels_of(posterior: np.ndarray, item_keys: np.ndarray) -> np.ndarray:
    """Labels with DawidSkene's tie-break (seeded random among exactly equal posteriors, seed 0, keyed by item id)."""
    from consensus.kernels import vote
    from consensus.models.majority_vote import TIE_POLICIES

    labels, _ = vote.pick_labels(np.ascontiguousarray(posterior), TIE_POLICIES["random"], 0, item_keys)
    return labels


def variant_keys() -> list[tuple[str, str, str]]:
    """(key, family, description) of every row of the table, in order."""
    rows = [("ds", "default", "our `DawidSkene()`")]
    rows += [(f"iter{k}", "a", f"`DawidSkene(max_iter={k})`") for k in STOP_ITERS]
    rows += [(f"strength{s:g}", "b", f"prior strength {s:g}" + (" (alpha 0.01 only: near ML)" if s == 0 else ""))
             for s in STRENGTHS]
    rows += [(f"rho{r:g}", "c", f"tempered E-step, rho {r:g}") for r in RHOS]
    rows += [("rho_hat", "c", "tempered E-step, rho estimated gold-free")]
    rows += [("eb_pooled_shared", "d", "EB pooled-confusion prior, shared strength"),
             ("eb_pooled_row", "d", "EB pooled-confusion prior, per-row strength"),
             ("eb_one_coin", "e", "EB prior centred on each worker's one-coin matrix"),
             ("loo_stop", "f", "stopped at best leave-one-judgment-out likelihood"),
             ("prior_uniform", "g", "class prior fixed uniform"),
             ("prior_votes", "g", "class prior fixed at the vote shares")]
    rows += [(f"init_{m}", "h", f"EM started from {name} posteriors") for m, name in INIT_MODELS.items()]
    rows += [("ck_free_energy", "i", "crowd-kit's `DawidSkene`, its loss = the EM free energy (class prior once per item)")]
    return rows


def evaluate(folder: Path, threads: int) -> dict:
    """Every method on one dataset: accuracy and per-gold-item correctness, plus fit details."""
    import consensus
    from consensus.calibration import answer_correlation
    from crowdkit.aggregation import DawidSkene as CKDawidSkene

    started = time.perf_counter()
    judgments = consensus.read_judgments(folder / "judgments.csv")
    _, _, gold_items, gold_labels = gold_codes(folder / "gold.csv", judgments)
    crowd = Crowd.from_judgments(judgments)

    def correct(labels: np.ndarray) -> np.ndarray:
        return (np.asarray(labels)[gold_items] == gold_labels) & (gold_labels >= 0)

    hits: dict[str, np.ndarray] = {}
    details: dict[str, dict] = {}

    import pandas as pd

    frame = pd.DataFrame({"task": crowd.item, "worker": crowd.worker, "label": crowd.label})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ck = CKDawidSkene(n_iter=100).fit(frame)
    ck_labels, _ = crowdkit_outputs(ck, judgments.n_items, judgments.n_classes)
    hits["ck_ds"] = correct(ck_labels)
    own_loss = np.asarray(ck.loss_history_)
    details["ck_ds"] = {"n_iter": len(ck.loss_history_), "loss_history": own_loss.tolist(),
                        "loss_fell": bool(own_loss.size > 1 and own_loss[-1] < own_loss[-2])}
    em = crowdkit_em(frame)
    free_energy = np.asarray(em.loss_history_)
    steps = np.diff(free_energy)
    # EM never lowers its free energy: a fall beyond rounding would mean the replacement loss is wrong
    assert steps.size == 0 or steps.min() >= -1e-9 * np.abs(free_energy).max(), (folder.name, steps.min())
    em_labels, _ = crowdkit_outputs(em, judgments.n_items, judgments.n_classes)
    hits["ck_free_energy"] = correct(em_labels)
    details["ck_free_energy"] = {"n_iter": len(em.loss_history_),
                                 "smallest_step": float(steps.min()) if steps.size else None}

    with numba_threads(threads):
        ours = consensus.DawidSkene().fit(judgments)
        hits["ds"] = correct(ours.labels_)
        details["ds"] = {"n_iter": ours.n_iter_}
        for k in STOP_ITERS:
            hits[f"iter{k}"] = correct(consensus.DawidSkene(max_iter=k, calibration="none").fit(judgments).labels_)
        raw = consensus.DawidSkene(calibration="none").fit(judgments).raw_probas_
        starts = {m: np.asarray(make_model(m, calibration="none").fit(judgments).probas_, dtype=np.float64)
                  if m != "wawa" else np.asarray(make_model(m).fit(judgments).probas_, dtype=np.float64)
                  for m in INIT_MODELS}
        rho_hat = answer_correlation(judgments, raw)

    for s in STRENGTHS:
        fit = map_ds(crowd, s)
        labels = labels_of(fit.posterior, judgments.item_keys)
        if s == DEFAULT_STRENGTH:  # the numpy EM must be our DawidSkene
            differ = int((labels != ours.labels_).sum())
            assert differ == 0, f"{folder.name}: numpy EM at strength 4 differs from DawidSkene() on {differ} items"
            details["numpy_check"] = {"items": judgments.n_items, "labels_differ": differ,
                                      "n_iter_numpy": fit.n_iter, "n_iter_ours": ours.n_iter_}
        hits[f"strength{s:g}"] = correct(labels)
        details[f"strength{s:g}"] = {"n_iter": fit.n_iter}
    fits = {f"rho{r:g}": (lambda r=r: tempered_ds(crowd, r)) for r in RHOS}
    fits["rho_hat"] = lambda: tempered_ds(crowd, rho_hat)
    fits["eb_pooled_shared"] = lambda: eb_pooled_ds(crowd, per_row=False)
    fits["eb_pooled_row"] = lambda: eb_pooled_ds(crowd, per_row=True)
    fits["eb_one_coin"] = lambda: eb_one_coin_ds(crowd)
    fits["loo_stop"] = lambda: loo_stopped_ds(crowd)
    fits["prior_uniform"] = lambda: fixed_prior_ds(crowd, "uniform")
    fits["prior_votes"] = lambda: fixed_prior_ds(crowd, "votes")
    for m, start in starts.items():
        fits[f"init_{m}"] = lambda start=start: initialised_ds(crowd, start)
    for key, fit_variant in fits.items():
        fit = fit_variant()
        hits[key] = correct(labels_of(fit.posterior, judgments.item_keys))
        details[key] = {"n_iter": fit.n_iter, **fit.details}

    return {
        "dataset": folder.name,
        "n_classes": judgments.n_classes,
        "n_items": judgments.n_items,
        "n_judgments": int(crowd.item.size),
        "n_gold": int(gold_items.size),
        "accuracy": {key: float(h.mean()) for key, h in hits.items()},
        "paired_vs_ck_ds": {key: paired_test(h, hits["ck_ds"]) for key, h in hits.items() if key != "ck_ds"},
        "details": details,
        "rho_hat": float(rho_hat),
        "seconds": time.perf_counter() - started,
    }


def summarise(results: list[dict]) -> dict[str, dict]:
    """Per variant: datasets within DS_TOLERANCE of crowd-kit DS (or better), worst shortfall, mean."""
    eps = 1e-12
    out = {}
    for key, _, _ in variant_keys():
        gaps = {r["dataset"]: r["accuracy"][key] - r["accuracy"]["ck_ds"] for r in results}
        failing = [d for d, g in gaps.items() if g < -DS_TOLERANCE - eps]
        worst = min(gaps, key=gaps.get)
        out[key] = {"n_within": len(results) - len(failing), "failing": failing, "gaps": gaps,
                    "worst_dataset": worst, "worst_gap": gaps[worst],
                    "mean_accuracy": float(np.mean([r["accuracy"][key] for r in results]))}
    return out


def _strength(value: float, grid: np.ndarray) -> str:
    """An empirical-Bayes strength, marked when it sits at an end of its grid (the optimum may be beyond)."""
    edge = "≥" if value >= grid[-1] else "≤" if value <= grid[0] else ""
    return f"{edge}{value:.1f}"


def _p(p: float) -> str:
    return f"{p:.2g}" if p < 0.01 else f"{p:.2f}"


def render(results: list[dict], summary: dict, command: str, versions: dict, settings: dict) -> str:
    names = [r["dataset"] for r in results]
    n = len(results)
    short = {name: name.replace("weather_sentiment", "ws").replace("adult_content2", "adult2") for name in names}
    lines = [
        *header_lines("Dawid-Skene regularisation variants vs crowd-kit's DawidSkene", command, versions,
                      f"every folder with `judgments.csv` and `gold.csv` ({n})", settings["seconds"], settings),
        f"Criterion: accuracy on gold within {100 * DS_TOLERANCE:.1f} points of crowd-kit "
        "`DawidSkene(n_iter=100)` (default tol=1e-5), or above it. Every model is fitted without gold on the "
        "same de-duplicated judgments. *within*: datasets meeting it; *worst*: the largest shortfall "
        "(points, negative = below crowd-kit); *mean*: mean accuracy over the datasets.",
        "",
        "## Headline",
        "",
    ]
    families = {"default": "our default", "a": "(a) early stop", "b": "(b) prior strength",
                "c": "(c) tempered E-step", "d": "(d) EB pooled prior", "e": "(e) EB one-coin prior",
                "f": "(f) LOO stopping", "g": "(g) fixed class prior", "h": "(h) other starts",
                "i": "(i) crowd-kit's EM, converged"}
    everywhere = [key for key, _, _ in variant_keys() if summary[key]["n_within"] == n]
    lines.append("Variants meeting the criterion on all datasets: "
                 + (", ".join(f"`{k}`" for k in everywhere) if everywhere else "**none**") + ".")
    lines.append("")
    for key, family, text in variant_keys():
        s = summary[key]
        fails = ", ".join(f"{d} ({100 * s['gaps'][d]:+.2f})" for d in s["failing"])
        lines.append(f"- {families[family]}: {text} (`{key}`): {s['n_within']}/{n}"
                     + (f"; fails on {fails}" if fails else "") + f"; mean {s['mean_accuracy']:.4f}.")
    same_iterations = sum(r["details"]["numpy_check"]["n_iter_numpy"] == r["details"]["numpy_check"]["n_iter_ours"]
                          for r in results)
    lines += [
        "",
        "## Accuracy on gold per dataset",
        "",
        "| variant | " + " | ".join(short[d] for d in names) + f" | within (of {n}) | worst (pts) | mean |",
        "|---|" + "---:|" * (len(names) + 3),
        "| **ck DS** (iterations) | " + " | ".join(
            f"{r['accuracy']['ck_ds']:.4f} ({r['details']['ck_ds']['n_iter']})" for r in results)
        + f" | | | {np.mean([r['accuracy']['ck_ds'] for r in results]):.4f} |",
    ]
    for key, family, text in variant_keys():
        s = summary[key]
        cells = []
        for r in results:
            a, ck = r["accuracy"][key], r["accuracy"]["ck_ds"]
            cell = f"{a:.4f}"
            cells.append(f"**{cell}**" if a < ck - DS_TOLERANCE - 1e-12 else cell)
        label = f"{'' if family == 'default' else '(' + family + ') '}{text}"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {s['n_within']} | "
                     f"{100 * s['worst_gap']:+.2f} ({short[s['worst_dataset']]}) | {s['mean_accuracy']:.4f} |")
    lines += [
        "",
        "Bold: more than the tolerance below crowd-kit's DS. (a) runs through the public API "
        "(`calibration=\"none\"`: labels do not depend on it); (b)-(h) are numpy EMs in this script "
        "(one function each, docstring = model; (h) starts from our public models' posteriors, "
        "`calibration=\"none\"`); "
        f"(b) at strength 4 gives exactly the labels of `DawidSkene()` on every dataset (asserted; "
        f"{same_iterations}/{n} with the same number of iterations). Variants (c)-(e) and (g) stop when no posterior moves by more "
        f"than {POSTERIOR_TOL:g} (at most {MAX_ITER} iterations); (b) and (f) use DawidSkene's "
        f"objective rule (tol {OBJECTIVE_TOL:g}), as does (h). (i) is crowd-kit's class with its loss "
        "replaced (see below).",
        "",
        "## Why crowd-kit's DawidSkene stops early",
        "",
        "crowd-kit's `DawidSkene._evidence_lower_bound` adds `log prior[c]` to every judgment's row before "
        "weighting by the item posterior, so its loss counts the class prior once per *answer*; the EM "
        "free energy counts it once per *item*. Its loss is therefore not what EM raises and can fall; "
        "`fit` ends the loop at the first `new_loss - loss < tol`, a fall included. (i) replaces only that "
        "method (`crowdkit_free_energy`), keeping crowd-kit's start, E- and M-steps and tol=1e-5 per "
        "judgment; its loss then never falls (asserted on every dataset, smallest step below).",
        "",
        "| dataset | ck DS iterations | its loss history (per judgment) | last step fell | (i) iterations | (i) smallest step | ck DS | (i) | our DS |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        d, a = r["details"], r["accuracy"]
        history = ", ".join(f"{x:.5f}" for x in d["ck_ds"]["loss_history"][:6]) + (
            ", ..." if len(d["ck_ds"]["loss_history"]) > 6 else "")
        step = d["ck_free_energy"]["smallest_step"]
        lines.append(f"| {r['dataset']} | {d['ck_ds']['n_iter']} | {history} | "
                     f"{'yes' if d['ck_ds']['loss_fell'] else 'no'} | {d['ck_free_energy']['n_iter']} | "
                     f"{'' if step is None else f'{step:.2e}'} | {a['ck_ds']:.4f} | {a['ck_free_energy']:.4f} | "
                     f"{a['ds']:.4f} |")
    lines += [
        "",
        "## Paired tests where a variant is below crowd-kit's DS",
        "",
        "Exact McNemar test on the gold items (`accuracy.paired_test`): gold items only the variant gets "
        "right / only crowd-kit's DS gets right, two-sided p.",
        "",
        "| variant | " + " | ".join(short[d] for d in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for key, family, text in variant_keys():
        cells = []
        for r in results:
            if r["accuracy"][key] < r["accuracy"]["ck_ds"]:
                t = r["paired_vs_ck_ds"][key]
                cells.append(f"{t['only_ours']}/{t['only_theirs']}, p {_p(t['p'])}")
            else:
                cells.append("")
        lines.append(f"| `{key}` | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Fit details",
        "",
        "| dataset | K | judgments | gold | ck DS iter | DS iter | rho (gold-free) | EB pooled s (shared; per row) "
        "| EB one-coin s | LOO-chosen iteration | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in results:
        d = r["details"]
        lines.append(
            f"| {r['dataset']} | {r['n_classes']} | {r['n_judgments']:,} | {r['n_gold']:,} | {d['ck_ds']['n_iter']} | "
            f"{d['ds']['n_iter']} | {r['rho_hat']:.3f} | "
            f"{_strength(d['eb_pooled_shared']['strength'][0], POOLED_GRID)}; "
            + ", ".join(_strength(x, POOLED_GRID) for x in d["eb_pooled_row"]["strength"])
            + f" | {_strength(d['eb_one_coin']['strength'], ONE_COIN_GRID)} | {d['loo_stop']['chosen_iteration']} of "
            f"{d['loo_stop']['n_iter']} | {r['seconds']:.1f} |")
    lines += ["", f"*DS*: consensus `DawidSkene()` with its defaults ({ds_defaults()}). *rho (gold-free)*: "
              "`consensus.calibration.answer_correlation` on the raw posteriors of `DawidSkene()`, the rho of "
              "the `rho_hat` row. *EB s*: the empirical-Bayes strengths (pseudo-judgments per confusion row) "
              "at the last iteration; ≥ / ≤: at the end of the grid "
              f"({POOLED_GRID[0]:g}-{POOLED_GRID[-1]:g} pooled, {ONE_COIN_GRID[0]:g}-{ONE_COIN_GRID[-1]:g} "
              "one-coin). *LOO-chosen iteration*: the iteration (f) keeps, of the iterations DawidSkene runs."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_options(parser)
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these dataset folders")
    parser.add_argument("--threads", type=int, default=1,
                        help="numba threads for our fits (default 1; results are the same for any count)")
    args = parser.parse_args(argv)
    data = args.data.resolve()
    folders = gold_folders(data, args.only)
    if not folders:
        parser.error(f"no folder with judgments.csv and gold.csv under {data}")

    import consensus
    import crowdkit
    import pandas
    import scipy

    versions = {"consensus": consensus.__version__, "crowd-kit": crowdkit.__version__, "numpy": np.__version__,
                "scipy": scipy.__version__, "pandas": pandas.__version__, "polars": pl.__version__,
                "code": git_state(REPO)}
    settings = {"threads": args.threads, "load_before": os.getloadavg()[0]}
    started = time.perf_counter()
    results = []
    for folder in folders:
        r = evaluate(folder, args.threads)
        a = r["accuracy"]
        print(f"{r['dataset']:<24} ck DS {a['ck_ds']:.4f}  DS {a['ds']:.4f}  ({r['seconds']:.1f} s)", flush=True)
        results.append(r)
    settings["seconds"] = time.perf_counter() - started
    settings["load_after"] = os.getloadavg()[0]
    summary = summarise(results)
    command = ("python benchmarks/ds_variants.py " + " ".join(sys.argv[1:] if argv is None else argv)).strip()
    text = render(results, summary, command, versions, settings)
    print("\n" + text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ds_variants.md").write_text(text)
    (args.out / "ds_variants.json").write_text(json.dumps(_plain(
        {"command": command, "data": os.path.relpath(data, REPO), "versions": versions, "settings": settings,
         "tolerance": DS_TOLERANCE, "consensus_ds_defaults": ds_defaults(),
         "variants": [{"key": k, "family": f, "description": t} for k, f, t in variant_keys()],
         "summary": summary, "results": results}), indent=2) + "\n")
    print(f"wrote {args.out / 'ds_variants.md'} and {args.out / 'ds_variants.json'} "
          f"({settings['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
