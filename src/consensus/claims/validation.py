"""Check a vendor's claimed accuracy against gold answers, or estimate it from the model without gold.

See :func:`validate_claim`. The statistics and the decision rule live in
:mod:`consensus.claims._binomial`; this module scores delivered labels and
judgments, builds the tables and words the result.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl

from consensus._json import jsonable as _jsonable
from consensus.claims import _binomial as binomial
from consensus.claims.planning import _is_real, plan_audit
from consensus.data import Judgments
from consensus.errors import check_param
from consensus.io.readers import Source
from consensus.methods import METHODS, make_model
from consensus.models.base import item_status

LEVELS = ("row", "judgment")
#: Calibration of the gold-free fit whose labels are validated: the per-item temperature, the
#: gold-free mode with the lowest ECE on the real datasets (``benchmarks/accuracy.py``); gold is
#: never given to this fit, so it cannot be calibrated on gold.
BLIND_CALIBRATION = "item"
#: Interval reported as the headline with gold: its average coverage is closest to nominal
#: (the simulation test measures it; exact Clopper-Pearson over-covers).
HEADLINE_INTERVAL = "wilson"

DECISION_RULE = (
    "refuted: the one-sided exact binomial test of 'accuracy >= claim' rejects at 1 - confidence "
    "(P(X <= correct | n, claim) <= 1 - confidence; equivalently the one-sided exact upper bound is "
    "at or below the claim). supported: not refuted, and the one-sided exact lower bound at the same "
    "confidence is at least claim - margin (P(X >= correct | n, claim - margin) <= 1 - confidence). "
    "not_supported: otherwise (the data do not contradict the claim but are too few to show the "
    "accuracy is within the margin of it). Without gold the same rule is applied to bootstrap "
    "percentile bounds of the model's estimate, and the result is an estimate, not a test."
)


@dataclass
class ClaimValidation:
    """The result of :func:`validate_claim`.

    Attributes
    ----------
    verdict : str
        ``supported``, ``not_supported`` or ``refuted``.
    summary : dict
        Every headline figure, JSON-serialisable (``summary["verdict"]`` is the
        verdict; ``summary["is_estimate"]`` is True without gold).
    message : str
        The verdict in plain words.
    overall : polars.DataFrame
        One row per level (``row``, ``judgment``): ``level``, ``basis``, ``n``,
        ``correct``, ``accuracy``, ``interval``, ``lower``, ``upper`` (headline
        two-sided interval), ``cp_lower``, ``cp_upper`` (Clopper-Pearson),
        ``lower_bound``, ``upper_bound`` (one-sided bounds of the verdict rule),
        ``p_value`` (one-sided exact test of ``accuracy >= claim``), ``verdict``,
        ``model_estimate``.
    by_class, by_annotator, by_day : polars.DataFrame or None
        With gold: accuracy per gold class (both levels), per annotator
        (judgments; most clearly worst first, by the Wilson upper bound), per
        UTC day of submission (both levels; a row's day is that of its last
        judgment; None without timestamps). Columns: the group, ``n``, ``correct``, ``accuracy``,
        ``lower``, ``upper`` (Wilson), ``cp_lower``, ``cp_upper``, ``p_value``,
        ``below_claim`` (one-sided exact test against the claim rejects; no
        correction for testing many groups).
    bootstrap : polars.DataFrame or None
        Without gold: the model estimate per bootstrap replicate (``replicate``,
        ``row``, ``judgment``).
    """

    verdict: str
    summary: dict[str, Any]
    message: str
    overall: pl.DataFrame
    by_class: pl.DataFrame | None = None
    by_annotator: pl.DataFrame | None = None
    by_day: pl.DataFrame | None = None
    bootstrap: pl.DataFrame | None = field(default=None, repr=False)

    @property
    def tables(self) -> dict[str, pl.DataFrame]:
        """The tables that exist, by name."""
        names = ("overall", "by_class", "by_annotator", "by_day", "bootstrap")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    def to_json(self) -> str:
        """``summary`` as indented JSON."""
        return json.dumps(self.summary, indent=2, allow_nan=False)

    def __str__(self) -> str:
        return self.message


def validate_claim(
    data: Judgments | Source,
    claimed_accuracy: float,
    *,
    gold: Source | None = None,
    confidence: float = 0.95,
    margin: float = 0.02,
    claim_level: str = "row",
    method: str = "auto",
    n_boot: int = 2000,
    random_state: int = 0,
) -> ClaimValidation:
    """Check a claimed accuracy ("96% accurate") of a delivery.

    **With gold** (``gold=`` or gold already attached to ``data``): the model
    ``method`` is fitted on the judgments *without* gold (gold is not clamped,
    so it scores the labels the vendor's crowd alone would deliver), and

    * ``row`` level: the delivered label of every gold item (the model's label;
      none for an item whose answers are mostly "can't tell", which counts as
      wrong) is compared with gold;
    * ``judgment`` level: every class judgment on a gold item is compared with
      gold (abstentions are left out and counted).

    Accuracy gets two-sided exact Clopper-Pearson and Wilson intervals, the
    claim a one-sided exact binomial test, and the verdict follows the rule
    (``alpha = 1 - confidence``):

    * ``refuted`` -- ``P(X <= correct | n, claim) <= alpha``: the one-sided
      exact upper bound is at or below the claim;
    * ``supported`` -- not refuted, and ``P(X >= correct | n, claim - margin) <= alpha``:
      the one-sided exact lower bound is at least ``claim - margin``;
    * ``not_supported`` -- otherwise (too little evidence either way).

    At a true claim at most ``alpha`` of audits end ``refuted``; a vendor more
    than ``margin`` below the claim ends ``supported`` in at most ``alpha``.
    The headline interval is Wilson's (average coverage closest to the nominal
    level; Clopper-Pearson is conservative and reported alongside).

    **Without gold**: the model's own estimate of accuracy -- the mean
    posterior probability of each delivered label (rows; a row without a label
    counts as 0), and of the answer of each class judgment (judgments; for the
    EM models this is their ``worker_accuracy_`` weighted by class judgments) -- with
    a percentile bootstrap interval over items resampled with replacement
    (``n_boot`` replicates, seeded by ``random_state``, deterministic). The
    model is fitted once; the interval covers which items happened to be
    delivered, not the model's own error (refitting on resampled items was
    tried and rejected: duplicated items make EM more confident, and the
    refitted intervals missed their own point estimate). The verdict applies
    the same rule to the bootstrap's one-sided percentile bounds and is flagged
    as an estimate (``summary["is_estimate"]``): an overconfident model
    inflates it.

    Parameters
    ----------
    data : Judgments, path, glob or polars/pandas DataFrame
        The delivery.
    claimed_accuracy : float
        Claimed accuracy in (0, 1].
    gold : path or frame, optional
        Gold answers (item and label columns), added to ``data``'s.
    confidence : float, default 0.95
        Confidence level of the intervals, bounds and test, in [0.5, 1).
    margin : float, default 0.02
        How far below the claim (accuracy points) the lower bound may be for ``supported``.
    claim_level : {"row", "judgment"}, default "row"
        What the claim is about: delivered row labels or individual judgments.
    method : {"auto", "mv", "wawa", "ds", "onecoin", "glad", "mace"}, default "auto"
        The model that delivers the row labels (as ``consensus aggregate --method``),
        fitted without gold with the gold-free per-item calibration
        (:data:`BLIND_CALIBRATION`).
    n_boot : int, default 2000
        Bootstrap replicates without gold.
    random_state : int, default 0
        Seed of the bootstrap and of tie-breaks.

    Returns
    -------
    ClaimValidation

    Raises
    ------
    ParameterError
        When a parameter is out of range.
    InputError
        When the data or gold cannot be read.
    """
    from consensus.models.base import as_judgments

    settings = claim_settings("validate_claim", claimed_accuracy, confidence, margin, claim_level, method, n_boot,
                               random_state)
    judgments = as_judgments(data, gold)
    return validate_fitted(judgments, fit_without_gold(judgments, method, settings.random_state), settings)


@dataclass
class ClaimSettings:
    """The checked parameters of one validation (see :func:`validate_claim`); ``level`` is the claim level."""

    claimed: float
    confidence: float
    margin: float
    level: str
    method: str
    n_boot: int
    random_state: int


def claim_settings(owner: str, claimed_accuracy: float, confidence: float, margin: float, claim_level: str,
                   method: str, n_boot: int, random_state: int) -> ClaimSettings:
    """Check the parameters of a validation (``ParameterError`` naming ``owner``) and bundle them."""
    check_param(owner, "claimed_accuracy", claimed_accuracy,
                _is_real(claimed_accuracy) and 0.0 < claimed_accuracy <= 1.0, "a float in the range (0, 1]")
    check_param(owner, "confidence", confidence, _is_real(confidence) and 0.5 <= confidence < 1.0,
                "a float in the range [0.5, 1)")
    check_param(owner, "margin", margin, _is_real(margin) and 0.0 <= margin < claimed_accuracy,
                f"a float in the range [0, claimed_accuracy={claimed_accuracy})")
    check_param(owner, "claim_level", claim_level, claim_level in LEVELS, f"one of {list(LEVELS)}")
    check_param(owner, "method", method, method in METHODS, f"one of {list(METHODS)}")
    check_param(owner, "n_boot", n_boot, isinstance(n_boot, (int, np.integer)) and not isinstance(n_boot, bool)
                and n_boot >= 10, "an int >= 10")
    check_param(owner, "random_state", random_state,
                isinstance(random_state, (int, np.integer)) and random_state >= 0, "a non-negative int")
    return ClaimSettings(float(claimed_accuracy), float(confidence), float(margin), claim_level, method,
                         int(n_boot), int(random_state))


def fit_without_gold(judgments: Judgments, method: str, seed: int) -> Any:
    """``method`` fitted on ``judgments`` with their gold removed (calibration :data:`BLIND_CALIBRATION`).

    These are the row labels the crowd alone delivers: what a claim is about
    and what gold then scores.
    """
    blind = copy.copy(judgments)
    blind.gold = None
    return make_model(method, calibration=BLIND_CALIBRATION, tie_break="random", random_state=seed).fit(blind)


def validate_fitted(judgments: Judgments, model: Any, settings: ClaimSettings) -> ClaimValidation:
    """:func:`validate_claim` on a model already fitted without gold on ``judgments`` (see :func:`fit_without_gold`).

    The audit uses it to share one gold-free fit between its calibration check and the claim.
    """
    fit = _delivery(judgments, model)
    chosen = getattr(model, "chosen_method_", None)
    if chosen is not None:
        settings = replace(settings, method=f"{settings.method} ({chosen})")
    has_gold = judgments.gold is not None and bool((judgments.gold >= 0).any())
    if has_gold:
        return _with_gold(judgments, fit, settings)
    return _without_gold(judgments, fit, settings)


@dataclass
class _Fit:
    delivered: np.ndarray  # int32 (n_items,), -1 = no label delivered
    probas: np.ndarray  # float64 (n_items, K)
    estimate_row: float
    estimate_judgment: float


def _delivery(judgments: Judgments, model: Any) -> _Fit:
    """The delivered labels of a fitted model (none for mostly-n/a items) and the model's estimates."""
    delivered = item_status(judgments.n_labels_per_item, judgments.n_na_per_item, model.labels_)[0].astype(np.int32)
    probas = np.asarray(model.probas_, dtype=np.float64)
    row, judgment = _model_estimates(judgments, delivered, probas)
    return _Fit(delivered, probas, row, judgment)


def _model_estimates(judgments: Judgments, delivered: np.ndarray, probas: np.ndarray) -> tuple[float, float]:
    """Expected accuracy of delivered rows (unlabelled rows count as wrong) and of class judgments."""
    row, judgment, answers = item_contributions(judgments, delivered, probas)
    row_estimate = float(row.mean()) if row.size else math.nan
    judgment_estimate = float(judgment.sum() / answers.sum()) if answers.sum() > 0 else math.nan
    return row_estimate, judgment_estimate


# -- with gold ------------------------------------------------------------------------------

def _with_gold(judgments: Judgments, fit: _Fit, s: ClaimSettings) -> ClaimValidation:
    gold = np.asarray(judgments.gold, dtype=np.int32)
    gold_items = np.flatnonzero(gold >= 0)
    row_correct = fit.delivered[gold_items] == gold[gold_items]
    on_gold = gold[judgments.item] >= 0
    answered = on_gold & (judgments.label >= 0)
    judgment_idx = np.flatnonzero(answered)
    judgment_correct = judgments.label[judgment_idx] == gold[judgments.item[judgment_idx]]

    estimates = {"row": fit.estimate_row, "judgment": fit.estimate_judgment}
    levels = {
        "row": _level_stats(int(row_correct.sum()), row_correct.size, s),
        "judgment": _level_stats(int(judgment_correct.sum()), judgment_correct.size, s),
    }
    overall = _overall_table(levels, "gold", HEADLINE_INTERVAL, estimates)
    classes = pl.Series("class", judgments.classes, dtype=pl.String)
    by_class = pl.concat([
        _group_table("row", classes, gold[gold_items], row_correct, s),
        _group_table("judgment", classes, gold[judgments.item[judgment_idx]], judgment_correct, s),
    ])
    by_annotator = _group_table(
        None, judgments.worker_ids.cast(pl.String).alias("worker"),
        judgments.worker[judgment_idx], judgment_correct, s).sort(["upper", "n"], descending=[False, True])
    by_day = _by_day(judgments, gold_items, row_correct, judgment_idx, judgment_correct, s)

    head = levels[s.level]
    verdict = head["verdict"]
    counts = {
        "items": judgments.n_items, "gold_items": int(gold_items.size),
        "gold_rows_without_label": int((fit.delivered[gold_items] < 0).sum()),
        "judgments": judgments.n_judgments, "gold_judgments": int(on_gold.sum()),
        "gold_abstentions_excluded": int((on_gold & (judgments.label < 0)).sum()),
    }
    message = _gold_message(head, s, counts)
    summary = _summary(s, "gold", head, levels, estimates, counts, message,
                       interval_method=HEADLINE_INTERVAL, bound_method="exact one-sided (Clopper-Pearson)")
    summary["source"] = judgments.source
    return ClaimValidation(verdict, summary, message, overall, by_class, by_annotator, by_day)


def _level_stats(k: int, n: int, s: ClaimSettings) -> dict[str, Any]:
    cp_lower, cp_upper = binomial.clopper_pearson_interval(k, n, s.confidence)
    w_lower, w_upper = binomial.wilson_interval(k, n, s.confidence)
    return {
        "n": n, "correct": k, "accuracy": k / n if n else math.nan,
        "lower": float(w_lower), "upper": float(w_upper),
        "cp_lower": float(cp_lower), "cp_upper": float(cp_upper),
        "wilson_lower": float(w_lower), "wilson_upper": float(w_upper),
        "lower_bound": float(binomial.exact_lower_bound(k, n, s.confidence)),
        "upper_bound": float(binomial.exact_upper_bound(k, n, s.confidence)),
        "p_value": float(binomial.p_value_below(k, n, s.claimed)),
        "verdict": binomial.verdict(k, n, s.claimed, confidence=s.confidence, margin=s.margin),
    }


def _overall_table(levels: dict[str, dict[str, Any]], basis: str, interval: str,
                   estimates: dict[str, float]) -> pl.DataFrame:
    rows = []
    for level in LEVELS:
        st = levels[level]
        rows.append({
            "level": level, "basis": basis, "n": st["n"], "correct": st.get("correct"),
            "accuracy": st["accuracy"], "interval": interval, "lower": st["lower"], "upper": st["upper"],
            "cp_lower": st.get("cp_lower"), "cp_upper": st.get("cp_upper"),
            "lower_bound": st["lower_bound"], "upper_bound": st["upper_bound"],
            "p_value": st.get("p_value"), "verdict": st["verdict"], "model_estimate": estimates[level],
        })
    schema = {"level": pl.String, "basis": pl.String, "n": pl.Int64, "correct": pl.Int64,
              "accuracy": pl.Float64, "interval": pl.String, "lower": pl.Float64, "upper": pl.Float64,
              "cp_lower": pl.Float64, "cp_upper": pl.Float64, "lower_bound": pl.Float64,
              "upper_bound": pl.Float64, "p_value": pl.Float64, "verdict": pl.String,
              "model_estimate": pl.Float64}
    return pl.DataFrame(rows, schema=schema).fill_nan(None)


def _group_table(level: str | None, names: pl.Series, codes: np.ndarray, correct: np.ndarray,
                 s: ClaimSettings) -> pl.DataFrame:
    """Accuracy per group code (groups without answers are left out)."""
    n_groups = len(names)
    n = np.bincount(codes, minlength=n_groups)
    k = np.bincount(codes, weights=correct.astype(np.float64), minlength=n_groups).round().astype(np.int64)
    keep = np.flatnonzero(n > 0)
    n, k = n[keep], k[keep]
    w_lower, w_upper = binomial.wilson_interval(k, n, s.confidence)
    cp_lower, cp_upper = binomial.clopper_pearson_interval(k, n, s.confidence)
    p_value = binomial.p_value_below(k, n, s.claimed)
    columns: dict[str, Any] = {}
    if level is not None:
        columns["level"] = pl.Series("level", [level] * keep.size, dtype=pl.String)
    columns[names.name] = names.gather(keep)
    columns.update({
        "n": pl.Series(n, dtype=pl.Int64), "correct": pl.Series(k, dtype=pl.Int64),
        "accuracy": k / n, "lower": w_lower, "upper": w_upper, "cp_lower": cp_lower, "cp_upper": cp_upper,
        "p_value": p_value, "below_claim": p_value <= 1.0 - s.confidence,
    })
    return pl.DataFrame(columns)


def _by_day(judgments: Judgments, gold_items: np.ndarray, row_correct: np.ndarray, judgment_idx: np.ndarray,
            judgment_correct: np.ndarray, s: ClaimSettings) -> pl.DataFrame | None:
    """Accuracy per UTC day of submission; a row's day is that of its last submitted judgment."""
    submitted = judgments.submitted
    if submitted is None or not np.isfinite(submitted).any():
        return None
    submitted = np.asarray(submitted, dtype=np.float64)
    day = np.floor(submitted / 86400.0)
    offsets = judgments.item_offsets
    item_day = np.full(judgments.n_items, np.nan)
    has = np.flatnonzero(offsets[1:] > offsets[:-1])
    if has.size:
        item_day[has] = np.fmax.reduceat(day, offsets[has])
    tables = []
    for level, days, correct in (("row", item_day[gold_items], row_correct),
                                 ("judgment", day[judgment_idx], judgment_correct)):
        known = np.isfinite(days)
        values = np.unique(days[known])
        names = [str(np.datetime64(int(d), "D")) for d in values]
        codes = np.searchsorted(values, np.where(known, days, 0.0)).astype(np.int64)
        if not known.all():
            names.append("unknown")
            codes = np.where(known, codes, len(values))
        tables.append(_group_table(level, pl.Series("day", names, dtype=pl.String), codes, correct, s))
    return pl.concat(tables)


def _pct(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100.0 * x:.1f}%"


def _gold_message(st: dict[str, Any], s: ClaimSettings, counts: dict[str, int]) -> str:
    what = "gold-checked rows" if s.level == "row" else "judgments on gold items"
    lvl = binomial.given_percent(s.confidence)
    if st["n"] == 0:
        return f"not_supported: no {what} to score; nothing can be said about the claimed {binomial.given_percent(s.claimed, 1)}."
    head = (f"{st['verdict']}: {st['correct']:,} of {st['n']:,} {what} are right ({_pct(st['accuracy'])}; "
            f"{lvl} Wilson interval {_pct(st['lower'])} to {_pct(st['upper'])}).")
    p = f"one-sided exact binomial test p = {st['p_value']:.3g}"
    if st["verdict"] == binomial.REFUTED:
        # at an exact tie (p = alpha) the bound equals the claim: the test rejects, "below" would be untrue
        relation = "below" if st["upper_bound"] < s.claimed else "not above"
        return (f"{head} With {lvl} confidence the accuracy is at most {_pct(st['upper_bound'])}, "
                f"{relation} the claimed {binomial.given_percent(s.claimed, 1)} ({p}).")
    if st["verdict"] == binomial.SUPPORTED:
        return (f"{head} With {lvl} confidence the accuracy is at least {_pct(st['lower_bound'])}, no more than "
                f"{binomial.given_percent(s.margin, 1)[:-1]} points below the claimed {binomial.given_percent(s.claimed, 1)}, and the data do not "
                f"contradict the claim ({p}).")
    text = (f"{head} The data do not contradict the claimed {binomial.given_percent(s.claimed, 1)} ({p}), but with {lvl} "
            f"confidence the accuracy is only known to be at least {_pct(st['lower_bound'])}, more than "
            f"{binomial.given_percent(s.margin, 1)[:-1]} points below the claim: too little evidence.")
    return text + _plan_hint(s)


def _plan_hint(s: ClaimSettings) -> str:
    if s.margin <= 0:
        return ""
    plan = plan_audit(s.claimed, margin=s.margin, confidence=s.confidence)
    if plan.n_confirm is None:
        return ""
    unit = "gold rows" if s.level == "row" else "gold judgments"
    return (f" About {plan.n_confirm:,} {unit} would confirm a true claim with 80% power "
            "(consensus validate --plan).")


def _summary(s: ClaimSettings, basis: str, head: dict[str, Any], levels: dict[str, dict[str, Any]],
             estimates: dict[str, float], counts: dict[str, int], message: str, *, interval_method: str,
             bound_method: str) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "verdict": head["verdict"], "message": message, "claimed_accuracy": s.claimed,
        "claim_level": s.level, "confidence": s.confidence, "margin": s.margin, "method": s.method,
        "basis": basis, "is_estimate": basis != "gold",
        "n": head["n"], "correct": head.get("correct"), "accuracy": head["accuracy"],
        "interval": {"method": interval_method, "lower": head["lower"], "upper": head["upper"]},
        "lower_bound": head["lower_bound"], "upper_bound": head["upper_bound"], "bound_method": bound_method,
        "p_value": head.get("p_value"),
        "levels": levels, "model_estimate": estimates, "counts": counts, "decision_rule": DECISION_RULE,
    }
    if basis == "gold":
        summary["clopper_pearson"] = {"lower": head["cp_lower"], "upper": head["cp_upper"]}
        summary["wilson"] = {"lower": head["wilson_lower"], "upper": head["wilson_upper"]}
    return _jsonable(summary)




# -- without gold ------------------------------------------------------------------------------

def item_contributions(judgments: Judgments, delivered: np.ndarray, probas: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per item: expected right delivered label (0 when none), expected right class judgments, class judgments.

    Float64 arrays of shape (n_items,). The model estimates are ``row.mean()``
    and ``judgment.sum() / answers.sum()``.
    """
    row = np.zeros(judgments.n_items)
    labelled = np.flatnonzero(delivered >= 0)
    row[labelled] = np.nan_to_num(probas[labelled, delivered[labelled]], nan=0.0)
    answered = np.flatnonzero(judgments.label >= 0)
    items = judgments.item[answered]
    p = np.nan_to_num(probas[items, judgments.label[answered]], nan=0.0)
    judgment = np.bincount(items, weights=p, minlength=judgments.n_items)
    answers = np.bincount(items, minlength=judgments.n_items).astype(np.float64)
    return row, judgment, answers


def bootstrap_estimates(row: np.ndarray, judgment: np.ndarray, answers: np.ndarray, n_boot: int,
                        random_state: int) -> np.ndarray:
    """Model estimates on ``n_boot`` resamples of items (with replacement), float64 ``(n_boot, 2)``.

    Replicate ``b`` draws ``rng.integers(0, n_items, n_items)`` from one
    ``numpy.random.default_rng(random_state)`` (replicates in order) and returns
    ``(mean of row, sum of judgment / sum of answers)`` over the drawn items.
    """
    n_items = row.size
    rng = np.random.default_rng(random_state)
    out = np.full((n_boot, 2), np.nan)
    if n_items == 0:
        return out
    for b in range(n_boot):
        draws = rng.integers(0, n_items, n_items)
        out[b, 0] = row[draws].mean()
        total = answers[draws].sum()
        if total > 0:
            out[b, 1] = judgment[draws].sum() / total
    return out


def _without_gold(judgments: Judgments, fit: _Fit, s: ClaimSettings) -> ClaimValidation:
    row, judgment, answers = item_contributions(judgments, fit.delivered, fit.probas)
    replicates = bootstrap_estimates(row, judgment, answers, s.n_boot, s.random_state)
    alpha = 1.0 - s.confidence
    estimates = {"row": fit.estimate_row, "judgment": fit.estimate_judgment}
    n_answers = int(answers.sum())
    levels: dict[str, dict[str, Any]] = {}
    for j, level in enumerate(LEVELS):
        values = replicates[:, j][np.isfinite(replicates[:, j])]
        if values.size:
            lower, upper = np.quantile(values, [alpha / 2.0, 1.0 - alpha / 2.0])
            lower_bound, upper_bound = np.quantile(values, [alpha, 1.0 - alpha])
            code = 2 if upper_bound < s.claimed else (0 if lower_bound >= s.claimed - s.margin else 1)
        else:
            lower = upper = lower_bound = upper_bound = math.nan
            code = 1
        levels[level] = {
            "n": judgments.n_items if level == "row" else n_answers, "accuracy": estimates[level],
            "lower": float(lower), "upper": float(upper),
            "lower_bound": float(lower_bound), "upper_bound": float(upper_bound),
            "verdict": binomial.VERDICTS[code],
        }
    overall = _overall_table(levels, "model_estimate", "bootstrap_percentile", estimates)
    head = levels[s.level]
    counts = {"items": judgments.n_items, "judgments": judgments.n_judgments, "class_judgments": n_answers,
              "bootstrap_replicates": s.n_boot}
    what = "delivered rows" if s.level == "row" else "class judgments"
    lvl = binomial.given_percent(s.confidence)
    message = (
        f"ESTIMATE, NO GOLD -- {head['verdict']} by the model's own reckoning: the {s.method} model expects "
        f"{_pct(head['accuracy'])} of the {head['n']:,} {what} to be right ({lvl} bootstrap interval over "
        f"items {_pct(head['lower'])} to {_pct(head['upper'])}, {s.n_boot:,} resamples) against the claimed "
        f"{binomial.given_percent(s.claimed, 1)}. This is not a test: it trusts the model's posteriors, which are often "
        f"overconfident, and the interval covers only which items were delivered, not the model's error. "
        f"Check gold items to decide." + _plan_hint(s)
    )
    summary = _summary(s, "model_estimate", head, levels, estimates, counts, message,
                       interval_method="bootstrap_percentile", bound_method="bootstrap percentile (one-sided)")
    summary["random_state"] = s.random_state
    summary["n_boot"] = s.n_boot
    summary["source"] = judgments.source
    bootstrap = pl.DataFrame({"replicate": np.arange(s.n_boot), "row": replicates[:, 0],
                              "judgment": replicates[:, 1]}).fill_nan(None)
    return ClaimValidation(head["verdict"], summary, message, overall, bootstrap=bootstrap)
