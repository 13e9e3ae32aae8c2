"""Research probe: EBCC (worker-correlation model) on the real datasets with gold, next to our methods.

    python benchmarks/ebcc_probe.py [--data ../shared/datasets] [--out benchmarks/results] [--only NAME ...]

EBCC (Y. Li, B. Rubinstein, T. Cohn, "Exploiting Worker Correlation for Label Aggregation in
Crowdsourcing", ICML 2019) gives every item a true class and a latent *subtype* of that class:

    tau ~ Dir(alpha)                                 class shares, shape (K,)
    psi_k ~ Dir(a_pi / M, ..., a_pi / M)             subtype shares of class k, shape (M,)
    v_{j,k,m} ~ Dir(beta_k), beta_kk = a_v, beta_kl = b_v   worker j's answer distribution, shape (K,)
    z_i ~ Cat(tau);  g_i | z_i = k ~ Cat(psi_k);  y_ij | z_i = k, g_i = m ~ Cat(v_{j,k,m})

Workers that err together on one kind of item of class k share a subtype m, so their agreement on
those items is explained by the subtype instead of being read as independent evidence.

Inference is mean-field variational Bayes with ``q(z, g) q(tau) q(psi) q(v)`` (q(z_i, g_i) a joint
categorical over K*M cells, the rest Dirichlet); each block update is exact coordinate ascent, so the
evidence lower bound (ELBO, computed exactly after every sweep: sum_i log-normaliser of q(z_i, g_i)
minus the Dirichlet KL terms) must not decrease; every decrease beyond rounding is counted and
reported. This is a numpy probe on the benchmark side, not a consensus model.

Settings (the same for every dataset, no per-dataset tuning):

- *paper*: M = 10, a_pi = 0.1, a_v = 4, b_v = 1, alpha = the class totals of the majority-vote
  fractions ("empirical prior"), 40 random restarts (subtype responsibilities drawn from
  Dir(1, ..., 1) times the vote fractions), the restart with the largest final ELBO kept -- the
  usage the authors' code documents;
- *flat_alpha*: the same with alpha = 1 (the default of the authors' function);
- *m1*: M = 1 (EBCC without subtypes, i.e. BCC: the ablation that isolates the correlation part);
  one run (its initialisation has no randomness).

Every run stops when the ELBO gains less than ``ELBO_TOL`` (relative) in one sweep, or after
``MAX_ITER`` sweeps. Seeds: the restart seeds are ``SeedSequence(seed).spawn(n_restarts)`` with
``--seed`` (default 0); results do not depend on thread count (scipy sparse products and numpy
reductions in a fixed order, no parallel code).

Per dataset the judgments are loaded with ``consensus.read_judgments(path)`` (abstentions, label
code -1, carry no class evidence and are left out of the likelihood; quarantined rows are counted),
gold joined by ``accuracy.gold_codes``; EBCC's labels are the argmax of q(z_i) and its confidence the
q(z_i) of that label (ECE: ``scoring.ece``, 10 equal-width bins). Our methods' and crowd-kit's
accuracies are read from ``benchmarks/results/accuracy.json`` (not rerun). Results: Markdown on
stdout and ``ebcc_probe.md`` + ``ebcc_probe.json`` in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.special import digamma, gammaln, logsumexp

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import scoring  # noqa: E402  (benchmarks/scoring.py)

MAX_ITER = 500  # the authors' default number of sweeps
ELBO_TOL = 1e-8  # stop when one sweep gains less than this fraction of |ELBO|
# A sweep "decreases" the ELBO when it loses more than this fraction of |ELBO| (float rounding of the
# sums over ~1e5 terms stays far below it).
DECREASE_TOL = 1e-10


@dataclass(frozen=True)
class EBCCSettings:
    """Hyperparameters of one EBCC configuration (the same on every dataset)."""

    n_subtypes: int = 10  # M
    a_pi: float = 0.1  # total concentration of the Dirichlet prior on each class's subtype shares
    a_v: float = 4.0  # prior pseudo-count of the right answer in every v_{j,k,m}
    b_v: float = 1.0  # prior pseudo-count of each wrong answer
    empirical_alpha: bool = True  # alpha = class totals of the vote fractions; else alpha = 1
    n_restarts: int = 40


SETTINGS = {
    "paper": EBCCSettings(),
    "flat_alpha": EBCCSettings(empirical_alpha=False),
    "m1": EBCCSettings(n_subtypes=1, n_restarts=1),
}


@dataclass
class RunResult:
    """One variational run: q(z) of shape (n_items, K), the ELBO after every sweep, and diagnostics."""

    posterior: np.ndarray
    elbo: list[float]
    n_decreases: int
    largest_decrease: float  # relative to |ELBO|; 0 when the trace never decreases
    converged: bool


def incidence_matrix(item: np.ndarray, worker: np.ndarray, label: np.ndarray, n_items: int, n_workers: int,
                     n_classes: int) -> sparse.csr_matrix:
    """Counts of (item, worker answer) pairs: shape (n_items, n_workers * n_classes).

    Column ``worker * n_classes + label``. Abstentions (label < 0) are left out.
    """
    keep = label >= 0
    cols = worker[keep].astype(np.int64) * n_classes + label[keep]
    data = np.ones(int(keep.sum()))
    return sparse.csr_matrix((data, (item[keep].astype(np.int64), cols)), shape=(n_items, n_workers * n_classes))


def vote_fractions(incidence: sparse.csr_matrix, n_classes: int) -> np.ndarray:
    """Share of each class among an item's answers, shape (n_items, K); uniform for an item without answers."""
    per_class = np.zeros((incidence.shape[0], n_classes))
    coo = incidence.tocoo()
    np.add.at(per_class, (coo.row, coo.col % n_classes), coo.data)
    totals = per_class.sum(axis=1, keepdims=True)
    return np.where(totals > 0, per_class / np.maximum(totals, 1), 1.0 / n_classes)


def expected_log_dirichlet(a: np.ndarray) -> np.ndarray:
    """E[log p] under Dir(a) along the last axis (same shape as ``a``)."""
    return digamma(a) - digamma(a.sum(axis=-1, keepdims=True))


def dirichlet_kl(a: np.ndarray, b: np.ndarray) -> float:
    """Sum over leading axes of KL(Dir(a) || Dir(b)), Dirichlets along the last axis (b broadcasts)."""
    b = np.broadcast_to(b, a.shape)
    a0 = a.sum(axis=-1)
    kl = (gammaln(a0) - gammaln(a).sum(axis=-1) - gammaln(b.sum(axis=-1)) + gammaln(b).sum(axis=-1)
          + ((a - b) * expected_log_dirichlet(a)).sum(axis=-1))
    return float(kl.sum())


@dataclass(frozen=True)
class Priors:
    """Dirichlet prior parameters: ``alpha`` (K,) on tau, ``eta`` (M,) on every psi_k, ``beta`` (K, K) on v_{j,k,m}
    (row k: the true class, column l: the answer)."""

    alpha: np.ndarray
    eta: np.ndarray
    beta: np.ndarray


def make_priors(settings: EBCCSettings, alpha: np.ndarray) -> Priors:
    """The priors of ``settings`` with class prior ``alpha`` (K,)."""
    K, M = alpha.size, settings.n_subtypes
    beta = np.full((K, K), settings.b_v) + np.eye(K) * (settings.a_v - settings.b_v)
    return Priors(alpha=alpha, eta=np.full(M, settings.a_pi / M), beta=beta)


def update_globals(incidence_t: sparse.csr_matrix, resp: np.ndarray, priors: Priors
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Optimal q(tau), q(psi), q(v) given q(z, g).

    ``incidence_t``: (n_workers * K, n_items) answer counts (row ``worker * K + answer``); ``resp``:
    q(z_i = k, g_i = m), shape (n_items, K, M). Returns the Dirichlet parameters ``nu`` (K,),
    ``eta`` (K, M) and ``mu`` (n_workers, K, M, K) (last axis: the answer).
    """
    n_items, K, M = resp.shape
    n_workers = incidence_t.shape[0] // K
    nu = priors.alpha + resp.sum(axis=(0, 2))
    eta = priors.eta + resp.sum(axis=0)
    answered = (incidence_t @ resp.reshape(n_items, K * M)).reshape(n_workers, K, K, M)  # (j, answer, k, m)
    mu = answered.transpose(0, 2, 3, 1) + priors.beta[None, :, None, :]
    return nu, eta, mu


def update_local(incidence: sparse.csr_matrix, nu: np.ndarray, eta: np.ndarray, mu: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Optimal q(z, g) given the Dirichlet factors.

    ``incidence``: (n_items, n_workers * K) answer counts. Returns ``resp`` (n_items, K, M) and the
    log-normaliser of every item's q(z_i, g_i) (n_items,).
    """
    n_workers, K, M, _ = mu.shape
    log_v = expected_log_dirichlet(mu)  # (J, K, M, answer)
    evidence = incidence @ log_v.transpose(0, 3, 1, 2).reshape(n_workers * K, K * M)  # (I, K*M)
    logits = (evidence.reshape(-1, K, M) + expected_log_dirichlet(nu)[None, :, None]
              + expected_log_dirichlet(eta)[None])
    log_norm = logsumexp(logits.reshape(-1, K * M), axis=1)
    return np.exp(logits - log_norm[:, None, None]), log_norm


def elbo_value(log_norm: np.ndarray, nu: np.ndarray, eta: np.ndarray, mu: np.ndarray, priors: Priors) -> float:
    """The ELBO right after :func:`update_local` (nats).

    With q(z, g) the softmax of its logits, E[log p(y, z, g | tau, psi, v)] + H[q(z, g)] equals the sum
    of the items' log-normalisers; the Dirichlet factors add minus their KL to the priors.
    """
    return (float(log_norm.sum()) - dirichlet_kl(nu, priors.alpha) - dirichlet_kl(eta, priors.eta)
            - dirichlet_kl(mu, priors.beta[None, :, None, :]))


def fit_once(incidence: sparse.csr_matrix, n_classes: int, settings: EBCCSettings, alpha: np.ndarray,
             initial: np.ndarray, rng: np.random.Generator, max_iter: int = MAX_ITER, tol: float = ELBO_TOL
             ) -> RunResult:
    """One mean-field run from a random subtype split of ``initial``.

    ``incidence``: (n_items, n_workers * K) answer counts; ``alpha``: (K,) class prior;
    ``initial``: (n_items, K) starting q(z) (vote fractions). q(z_i, g_i) starts as
    ``initial[i, k] * Dir(1, ..., 1)`` draws over the M subtypes. One sweep: globals, then q(z, g).
    """
    priors = make_priors(settings, alpha)
    incidence_t = incidence.T.tocsr()
    resp = rng.dirichlet(np.ones(settings.n_subtypes), size=(incidence.shape[0], n_classes)) * initial[:, :, None]
    elbo: list[float] = []
    n_decreases, largest = 0, 0.0
    converged = False
    for _ in range(max_iter):
        nu, eta, mu = update_globals(incidence_t, resp, priors)
        resp, log_norm = update_local(incidence, nu, eta, mu)
        value = elbo_value(log_norm, nu, eta, mu, priors)
        if elbo:
            gain = (value - elbo[-1]) / abs(value)
            if gain < -DECREASE_TOL:
                n_decreases += 1
                largest = max(largest, -gain)
            if abs(gain) < tol:
                converged = True
        elbo.append(value)
        if converged:
            break
    return RunResult(posterior=resp.sum(axis=2), elbo=elbo, n_decreases=n_decreases, largest_decrease=largest,
                     converged=converged)


@dataclass
class FitResult:
    """All restarts of one setting on one dataset; ``best`` is the index of the largest final ELBO."""

    runs: list[RunResult]
    best: int
    seconds: float

    @property
    def posterior(self) -> np.ndarray:
        return self.runs[self.best].posterior


def fit(item: np.ndarray, worker: np.ndarray, label: np.ndarray, n_items: int, n_workers: int, n_classes: int,
        settings: EBCCSettings, seed: int) -> FitResult:
    """EBCC with ``settings.n_restarts`` seeded restarts; the restart with the largest final ELBO is chosen.

    ``item``, ``worker``, ``label``: int codes of shape (n_judgments,), label -1 = abstention.
    """
    started = time.perf_counter()
    incidence = incidence_matrix(item, worker, label, n_items, n_workers, n_classes)
    initial = vote_fractions(incidence, n_classes)
    alpha = initial.sum(axis=0) if settings.empirical_alpha else np.ones(n_classes)
    runs = [fit_once(incidence, n_classes, settings, alpha, initial, np.random.default_rng(child))
            for child in np.random.SeedSequence(seed).spawn(settings.n_restarts)]
    best = int(np.argmax([r.elbo[-1] for r in runs]))
    return FitResult(runs=runs, best=best, seconds=time.perf_counter() - started)


# -- benchmark --------------------------------------------------------------------------------------
OURS = ("mv", "wawa", "ds", "onecoin", "glad", "mace", "auto")
CROWDKIT = ("ck_mv", "ck_wawa", "ck_ds", "ck_onecoin", "ck_glad", "ck_mace")


def reference_methods(accuracy_json: Path) -> dict[str, dict[str, float]]:
    """Per dataset: accuracy of every method in accuracy.json (ours and crowd-kit's)."""
    data = json.loads(accuracy_json.read_text())
    return {r["dataset"]: {k: v["accuracy"] for k, v in r["methods"].items() if k in OURS + CROWDKIT}
            for r in data["results"]}


def best_of(accuracies: dict[str, float], keys: tuple[str, ...]) -> tuple[str, float]:
    """The method among ``keys`` with the highest accuracy (first in ``keys`` order on ties)."""
    key = max(keys, key=lambda k: accuracies[k])
    return key, accuracies[key]


def evaluate(folder: Path, seed: int, reference: dict[str, float], extra_seeds: tuple[int, ...] = ()) -> dict:
    import consensus
    from accuracy import gold_codes

    judgments = consensus.read_judgments(folder / "judgments.csv")
    _, _, gold_items, gold_labels = gold_codes(folder / "gold.csv", judgments)
    item, worker, label = (np.asarray(a, dtype=np.int64) for a in (judgments.item, judgments.worker, judgments.label))
    out = {"dataset": folder.name, "n_judgments": judgments.n_judgments, "n_quarantined": judgments.n_quarantined,
           "n_abstentions": int((label < 0).sum()), "n_items": judgments.n_items, "n_workers": judgments.n_workers,
           "n_classes": judgments.n_classes, "n_gold": int(gold_items.size), "settings": {}}

    def score(posterior: np.ndarray) -> tuple[float, float]:
        labels = np.argmax(posterior, axis=1)
        correct = (labels[gold_items] == gold_labels) & (gold_labels >= 0)
        return float(correct.mean()), scoring.ece(scoring.chosen_confidence(posterior, labels)[gold_items], correct)

    for name, settings in SETTINGS.items():
        result = fit(item, worker, label, judgments.n_items, judgments.n_workers, judgments.n_classes, settings, seed)
        restart_acc = [score(r.posterior)[0] for r in result.runs]
        final_elbo = [r.elbo[-1] for r in result.runs]
        accuracy, ece = score(result.posterior)
        out["settings"][name] = {
            "accuracy": accuracy, "ece": ece, "seconds": result.seconds, "best_restart": result.best,
            "elbo": final_elbo[result.best],
            "restart_accuracy": restart_acc, "restart_elbo": final_elbo,
            "restart_n_iter": [len(r.elbo) for r in result.runs],
            "n_converged": sum(r.converged for r in result.runs),
            "n_runs_with_decrease": sum(r.n_decreases > 0 for r in result.runs),
            "largest_decrease": max(r.largest_decrease for r in result.runs),
            "elbo_accuracy_spearman": _spearman(final_elbo, restart_acc),
        }
        print(f"  {folder.name:<22} {name:<10} acc {accuracy:.4f} ece {ece:.3f} "
              f"restarts acc {min(restart_acc):.4f}-{max(restart_acc):.4f} "
              f"iters {min(out['settings'][name]['restart_n_iter'])}-{max(out['settings'][name]['restart_n_iter'])} "
              f"decreasing runs {out['settings'][name]['n_runs_with_decrease']} ({result.seconds:.1f} s)", flush=True)
    out["paper_other_seeds"] = {}
    for other in extra_seeds:  # is the max-ELBO choice over 40 restarts itself stable across seeds?
        result = fit(item, worker, label, judgments.n_items, judgments.n_workers, judgments.n_classes,
                     SETTINGS["paper"], other)
        accuracy, ece = score(result.posterior)
        out["paper_other_seeds"][str(other)] = {"accuracy": accuracy, "ece": ece,
                                                "elbo": result.runs[result.best].elbo[-1]}
        print(f"  {folder.name:<22} paper seed {other}: acc {accuracy:.4f} ece {ece:.3f}", flush=True)
    ours, ck = best_of(reference, OURS), best_of(reference, CROWDKIT)
    out.update({"our_best": ours, "ck_best": ck, "ds": reference["ds"], "mv": reference["mv"], "reference": reference})
    return out


def _spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman rank correlation (average ranks on ties); None with fewer than 3 runs or a constant side."""
    if len(x) < 3:
        return None
    from scipy import stats

    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(stats.spearmanr(x, y).statistic)


def render(results: list[dict], command: str, seed: int, total: float) -> str:
    names = {"mv": "MV", "wawa": "Wawa", "ds": "DS", "onecoin": "OneCoin", "glad": "GLAD", "mace": "MACE",
             "auto": "auto", "ck_mv": "ck MV", "ck_wawa": "ck Wawa", "ck_ds": "ck DS", "ck_onecoin": "ck OneCoinDS",
             "ck_glad": "ck GLAD", "ck_mace": "ck MACE"}
    p = SETTINGS["paper"]
    lines = [
        "# EBCC probe: worker-correlation model vs our methods and crowd-kit's", "",
        f"Command: `{command}` (seed {seed}); total run time {total:.0f} s on a shared 2-core machine.",
        "EBCC: numpy mean-field VB in `benchmarks/ebcc_probe.py` (own implementation). Our and crowd-kit's "
        "accuracies are read from `benchmarks/results/accuracy.json` (not rerun).", "",
        f"*paper* setting: M={p.n_subtypes}, a_pi={p.a_pi}, a_v={p.a_v:g}, b_v={p.b_v:g}, empirical alpha, "
        f"{p.n_restarts} restarts, the largest final ELBO kept; at most {MAX_ITER} sweeps, stop at a relative "
        f"ELBO gain < {ELBO_TOL:g}.", "",
        "## EBCC (paper setting) on gold", "",
        "| dataset | gold | EBCC | ECE | our best | ck best | EBCC - our best | EBCC - ck best | our DS | MV | "
        "time (s, all restarts) |",
        "|---|---:|---:|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        s = r["settings"]["paper"]
        (ok, oa), (ck, ca) = r["our_best"], r["ck_best"]
        lines.append(f"| {r['dataset']} | {r['n_gold']:,} | {s['accuracy']:.4f} | {s['ece']:.3f} | "
                     f"{names[ok]} {oa:.4f} | {names[ck]} {ca:.4f} | {100 * (s['accuracy'] - oa):+.2f} | "
                     f"{100 * (s['accuracy'] - ca):+.2f} | {r['ds']:.4f} | {r['mv']:.4f} | {s['seconds']:.1f} |")
    mean = lambda f: np.mean([f(r) for r in results])  # noqa: E731
    lines.append(f"| *mean* | | {mean(lambda r: r['settings']['paper']['accuracy']):.4f} | "
                 f"{mean(lambda r: r['settings']['paper']['ece']):.3f} | {mean(lambda r: r['our_best'][1]):.4f} | "
                 f"{mean(lambda r: r['ck_best'][1]):.4f} | | | {mean(lambda r: r['ds']):.4f} | "
                 f"{mean(lambda r: r['mv']):.4f} | {sum(r['settings']['paper']['seconds'] for r in results):.1f} |")
    lines += ["", "Differences in points (x100). *our best* / *ck best*: the most accurate of our 7 methods / "
              "crowd-kit's 6 in accuracy.json (oracle choices with gold, so a high bar for one fixed method). "
              "ECE of EBCC's q(z) for its chosen label, 10 equal-width bins.", "",
              "Single fixed methods, mean accuracy over these datasets: " + ", ".join(
                  f"{names[k]} {mean(lambda r, k=k: r['reference'][k]):.4f}"
                  for k in sorted(OURS + CROWDKIT, key=lambda k: -mean(lambda r, k=k: r["reference"][k]))[:4])
              + "; EBCC " + ", ".join(f"{n} {mean(lambda r, n=n: r['settings'][n]['accuracy']):.4f}" for n in SETTINGS)
              + ".", "",
              "## Would EBCC lift 'our best >= crowd-kit's best'?", "",
              "Lifted when max(our best, EBCC) >= ck best. EBCC cells: accuracy, *yes* when it lifts the check. "
              "Other seeds: the paper setting's whole 40-restart procedure with another seed.", "",
              f"| dataset | our best | ck best | paper (seed {seed}) | paper, other seeds | flat_alpha | m1 |",
              "|---|---|---|---:|---:|---:|---:|"]
    for r in results:
        if r["our_best"][1] >= r["ck_best"][1]:  # accuracy.md's check "our best >= crowd-kit's best" holds
            continue
        (ok, oa), (ck, ca) = r["our_best"], r["ck_best"]

        def cell(accuracy: float, oa: float = oa, ca: float = ca) -> str:
            return f"{accuracy:.4f}{' yes' if max(oa, accuracy) >= ca else ''}"

        others = ", ".join(f"{x}: {cell(v['accuracy'])}" for x, v in r["paper_other_seeds"].items()) or "n/a"
        lines.append(f"| {r['dataset']} | {names[ok]} {oa:.4f} | {names[ck]} {ca:.4f} | "
                     f"{cell(r['settings']['paper']['accuracy'])} | {others} | "
                     f"{cell(r['settings']['flat_alpha']['accuracy'])} | {cell(r['settings']['m1']['accuracy'])} |")
    lines += ["", "## Other settings (same on every dataset)", "",
              "Accuracy / ECE. *flat_alpha*: alpha = 1; *m1*: one subtype per class (= BCC, one run).", "",
              "| dataset | paper | flat_alpha | m1 (BCC) |", "|---|---:|---:|---:|"]
    for r in results:
        cells = [f"{r['settings'][n]['accuracy']:.4f} / {r['settings'][n]['ece']:.3f}" for n in SETTINGS]
        lines.append(f"| {r['dataset']} | " + " | ".join(cells) + " |")
    lines.append("| *mean* | " + " | ".join(
        f"{mean(lambda r, n=n: r['settings'][n]['accuracy']):.4f} / {mean(lambda r, n=n: r['settings'][n]['ece']):.3f}"
        for n in SETTINGS) + " |")
    lines += ["", "## Restarts, convergence and the ELBO", "",
              "Per setting with restarts: gold accuracy of the 40 restarts (min / median / max), Spearman correlation "
              "of final ELBO with gold accuracy over restarts, sweeps run (min-max), runs converged (relative gain "
              f"< {ELBO_TOL:g} before {MAX_ITER} sweeps), runs whose ELBO decreased in some sweep by more than "
              f"{DECREASE_TOL:g} relative (and the largest such drop).", "",
              "| dataset | setting | restart acc min / med / max | chosen | rho(ELBO, acc) | sweeps | converged | "
              "ELBO decreases |", "|---|---|---|---:|---:|---|---:|---|"]
    for r in results:
        for n in SETTINGS:
            s = r["settings"][n]
            acc = np.array(s["restart_accuracy"])
            rho = "n/a" if s["elbo_accuracy_spearman"] is None else f"{s['elbo_accuracy_spearman']:+.2f}"
            drops = f"{s['n_runs_with_decrease']}"
            if s["n_runs_with_decrease"]:
                drops += f" (max {s['largest_decrease']:.1e})"
            lines.append(f"| {r['dataset']} | {n} | {acc.min():.4f} / {np.median(acc):.4f} / {acc.max():.4f} | "
                         f"{s['accuracy']:.4f} | {rho} | {min(s['restart_n_iter'])}-{max(s['restart_n_iter'])} | "
                         f"{s['n_converged']}/{len(acc)} | {drops} |")
    seeds = list(results[0]["paper_other_seeds"]) if results else []
    if seeds:
        lines += ["", "## Paper setting with other seeds", "",
                  f"The whole 40-restart procedure again with seeds {', '.join(seeds)}: accuracy (final ELBO of the "
                  "chosen restart). A changing choice means the ELBO maximum over 40 restarts is not found reliably.",
                  "", "| dataset | seed " + str(seed) + " | " + " | ".join(f"seed {x}" for x in seeds) + " |",
                  "|---|" + "---:|" * (1 + len(seeds))]
        for r in results:
            s = r["settings"]["paper"]
            cells = [f"{s['accuracy']:.4f} ({s['elbo']:.1f})"] + [
                f"{r['paper_other_seeds'][x]['accuracy']:.4f} ({r['paper_other_seeds'][x]['elbo']:.1f})" for x in seeds]
            lines.append(f"| {r['dataset']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    from accuracy import add_data_options

    add_data_options(parser)
    parser.add_argument("--accuracy-json", type=Path, default=HERE / "results" / "accuracy.json",
                        help="accuracy.py results to compare with (default benchmarks/results/accuracy.json)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the restart seeds (default 0)")
    parser.add_argument("--extra-seeds", type=int, nargs="*", default=[1, 2],
                        help="refit the paper setting with these seeds too (default 1 2)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these dataset folders")
    parser.add_argument("--from-json", type=Path, metavar="JSON",
                        help="only re-render the Markdown of a saved ebcc_probe.json (next to it)")
    args = parser.parse_args(argv)
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        text = render(saved["results"], saved["command"], saved["seed"], saved["total_seconds"])
        args.from_json.with_suffix(".md").write_text(text)
        print(text)
        return 0
    from accuracy import gold_folders

    data = args.data.resolve()
    folders = gold_folders(data, args.only)
    if not folders:
        parser.error(f"no folder with judgments.csv and gold.csv under {data}")
    reference = reference_methods(args.accuracy_json)
    started = time.perf_counter()
    results = [evaluate(folder, args.seed, reference[folder.name], tuple(args.extra_seeds)) for folder in folders]
    total = time.perf_counter() - started
    command = "python benchmarks/ebcc_probe.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = render(results, command.strip(), args.seed, total)
    print("\n" + text)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "ebcc_probe" if not args.only else "ebcc_probe_" + "_".join(sorted(args.only))
    (args.out / f"{stem}.md").write_text(text)
    (args.out / f"{stem}.json").write_text(json.dumps(
        {"command": command.strip(), "seed": args.seed, "max_iter": MAX_ITER, "elbo_tol": ELBO_TOL,
         "extra_seeds": args.extra_seeds, "settings": {k: asdict(v) for k, v in SETTINGS.items()},
         "results": results, "total_seconds": total,
         "data": os.path.relpath(data, REPO)}, indent=2) + "\n")
    print(f"wrote {args.out / (stem + '.md')} and {args.out / (stem + '.json')} ({total:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
