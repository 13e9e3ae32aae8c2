"""The whole audit of one delivery: aggregation, agreement, fraud, claim, redundancy, boxes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from consensus._json import jsonable as _jsonable
from consensus.audit.instructions import confused_pairs, disputed_items, pooled_confusion
from consensus.audit.progress import Progress
from consensus.data import Judgments
from consensus.errors import check_param
from consensus.io.judgments import Source
from consensus.methods import METHODS, make_model



@dataclass
class AuditResult:
    """Everything :func:`audit` found about one delivery.

    Attributes
    ----------
    summary : dict
        Every headline figure, JSON-serialisable. ``summary["verdict"]`` is
        the claim's verdict (``supported`` / ``not_supported`` / ``refuted``)
        or None when no claim was given.
    items, workers, confusion : polars.DataFrame
        The aggregated labels (one row per item), annotator reliability joined
        with the fraud flags (one row per annotator, most reliable first) and
        the confusion matrices in long form.
    agreement : AgreementReport
    fraud : FraudReport or None
    claim : ClaimValidation or None
    advice : redundancy advice or None
    boxes : box audit result or None
    calibration : dict or None
        With gold: ``confidence`` and ``correct`` arrays over the gold items of
        a gold-free fit, its ``ece`` and ``n``.
    confused_pairs, disputed_items : polars.DataFrame
        The instructions section: class pairs mixed up most, items split most.
    pooled_confusion : ndarray of float64, shape (n_classes, n_classes)
        ``[true, given]`` shares over all annotators.
    judgments : Judgments
    """

    summary: dict[str, Any]
    items: pl.DataFrame
    workers: pl.DataFrame
    confusion: pl.DataFrame
    agreement: Any
    fraud: Any
    claim: Any
    advice: Any
    boxes: Any
    calibration: dict[str, Any] | None
    confused_pairs: pl.DataFrame
    disputed_items: pl.DataFrame
    pooled_confusion: np.ndarray
    judgments: Judgments
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def verdict(self) -> str | None:
        return self.summary.get("verdict")

    @property
    def tables(self) -> dict[str, pl.DataFrame]:
        """Every output table by name (what :meth:`write` stores as Parquet)."""
        tables: dict[str, pl.DataFrame] = {
            "items": self.items, "workers": self.workers, "confusion": self.confusion,
            "agreement_items": self.agreement.items, "agreement_pairs": self.agreement.pairs,
            "confused_pairs": self.confused_pairs, "disputed_items": self.disputed_items,
        }
        if self.fraud is not None:
            tables["fraud_workers"] = self.fraud.workers
            tables["fraud_judgments"] = self.fraud.judgments
            tables["fraud_pairs"] = self.fraud.pairs
            if self.fraud.gold_items is not None:
                tables["gold_items"] = self.fraud.gold_items
        if self.claim is not None:
            for name, table in self.claim.tables.items():
                tables[f"claim_{name}"] = table
        if self.advice is not None:
            tables["advice"] = self.advice.items
            tables["redundancy_budget"] = self.advice.budget
        if self.boxes is not None:
            tables.update(box_tables(self.boxes))
        quarantine = [q for q in (self.judgments.quarantine, self.judgments.gold_quarantine)
                      if q is not None and q.height]
        if quarantine:
            tables["quarantine"] = pl.concat(quarantine, how="diagonal_relaxed")
        return tables

    def to_json(self) -> str:
        return json.dumps(self.summary, indent=2, allow_nan=False)

    def write(self, folder: str | Path) -> list[Path]:
        """Write ``report.html``, ``summary.json`` and ``tables/<name>.parquet`` into ``folder``.

        ``folder/tables`` then holds this audit's tables only: Parquet files an earlier audit left
        there (a section this run skipped) are removed, so the folder never mixes two deliveries.
        Returns the paths written.
        """
        from consensus.report.html import render_report

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        (out / "tables").mkdir(exist_ok=True)
        written = []
        for name, table in self.tables.items():
            path = out / "tables" / f"{name}.parquet"
            _parquet_safe(table).write_parquet(path)
            written.append(path)
        for stale in sorted(set((out / "tables").glob("*.parquet")) - set(written)):
            stale.unlink()
        summary_path = out / "summary.json"
        summary_path.write_text(self.to_json() + "\n", encoding="utf-8")
        report_path = out / "report.html"
        report_path.write_text(render_report(self), encoding="utf-8")
        return [report_path, summary_path, *written]


def box_tables(boxes: Any) -> dict[str, pl.DataFrame]:
    """The box audit's tables by name: consensus boxes, images, annotators, flagged boxes, quarantine."""
    tables = {"boxes": boxes.boxes, "box_images": boxes.images, "box_workers": boxes.workers,
              "box_flags": boxes.box_flags}
    if boxes.quarantine is not None and boxes.quarantine.height:
        tables["box_quarantine"] = boxes.quarantine
    return tables




def _parquet_safe(table: pl.DataFrame) -> pl.DataFrame:
    """Object-free columns only; a Null-typed column becomes String so every reader accepts it."""
    casts = [pl.col(name).cast(pl.String) for name, dtype in table.schema.items() if dtype == pl.Null]
    return table.with_columns(casts) if casts else table


def build_model(method: str, *, calibration: str, seed: int):  # noqa: ANN201 - an Aggregator
    """The estimator named ``method`` with its default settings."""
    return make_model(method, calibration=calibration, tie_break="random", random_state=seed)


def audit(
    data: Judgments | Source,
    *,
    gold: Source | None = None,
    claimed_accuracy: float | None = None,
    claim_level: str = "row",
    confidence: float = 0.95,
    margin: float = 0.02,
    method: str = "auto",
    fraud: bool = True,
    redundancy: bool = True,
    target: float = 0.95,
    max_labels: int = 7,
    price_per_label: float | None = None,
    boxes: Any = None,
    box_options: dict[str, Any] | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    log: Any = None,
) -> AuditResult:
    """Audit a delivery end to end.

    Steps: read and validate the judgments; aggregate them with ``method``
    (gold, if any, is clamped and calibrates the confidence); annotator
    reliability and confusion matrices; agreement (Krippendorff's alpha,
    Fleiss' kappa); fraud and speed traps; with gold, the calibration of a
    gold-free fit measured on the gold items; the claimed accuracy (when
    ``claimed_accuracy`` is given; see :func:`consensus.validate_claim`);
    per-row redundancy advice; box agreement when ``boxes`` is given; and the
    instructions section (class pairs confused most, items disputed most).

    Parameters
    ----------
    data : Judgments, path, glob or polars/pandas DataFrame
        The delivery.
    gold : path or frame, optional
        Gold answers (item, label).
    claimed_accuracy : float, optional
        The vendor's claim, in (0, 1].
    claim_level, confidence, margin
        As in :func:`consensus.validate_claim`.
    method : str, default "auto"
        Aggregation model: one of auto, mv, wawa, ds, onecoin, glad, mace.
    fraud, redundancy : bool, default True
        Run the fraud detectors / the redundancy advice.
    target, max_labels, price_per_label
        Redundancy advice settings.
    boxes : path or frame, optional
        Bounding boxes of the same delivery (image, annotator, corners, label).
    box_options : dict, optional
        Keyword options for the box audit.
    seed : int, default 0
        Seed of tie-breaks, bootstrap and simulations.
    progress : Progress, optional
        Where step progress goes (none by default).
    log : callable, optional
        Receives one-line messages about each step.

    Returns
    -------
    AuditResult
    """
    claim_options = check_options(method=method, seed=seed, claimed_accuracy=claimed_accuracy,
                                  claim_level=claim_level, confidence=confidence, margin=margin,
                                  redundancy=redundancy, target=target, max_labels=max_labels,
                                  price_per_label=price_per_label)
    say = log if log is not None else (lambda message: None)
    steps = Progress(0, enabled=False) if progress is None else progress
    from consensus.models.base import as_judgments

    with steps.step("read"):
        judgments = as_judgments(data, gold)
    has_gold = judgments.gold is not None and bool((judgments.gold >= 0).any())
    say(judgments.accounting_line())

    with steps.step("aggregate"):
        model = build_model(method, calibration="item_gold" if has_gold else "item", seed=seed)
        model.fit(judgments)
        items = model.item_table()
        reliability = model.worker_table()
        confusion = model.confusion_table()
        counts = model._confusion_counts()
    chosen = getattr(model, "chosen_method_", method)
    say(f"aggregate: {method}" + (f" (chose {chosen})" if method == "auto" else "")
        + f", {items.height} items")

    with steps.step("agreement"):
        from consensus.agreement_metrics import agreement

        agreement_report = agreement(judgments)

    fraud_report = None
    if fraud:
        with steps.step("fraud"):
            from consensus.fraud import FraudConfig
            from consensus.fraud.detect import run_detectors

            fraud_report = run_detectors(judgments, FraudConfig(seed=seed))
        say(f"fraud: flagged {int(fraud_report.flagged_mask.sum())} of {judgments.n_workers} annotators")

    # One fit without gold serves the calibration check and the claim: the labels the crowd alone delivers.
    from consensus.claims.validation import fit_without_gold, validate_fitted

    blind = None
    calibration = None
    if has_gold:
        with steps.step("calibration"):
            blind = fit_without_gold(judgments, method, seed)
            calibration = _gold_free_calibration(judgments, blind)
        say(f"calibration: ECE {calibration['ece']:.3f} of a gold-free fit on {calibration['n']} gold items")

    claim = None
    if claim_options is not None:
        with steps.step("claim"):
            if blind is None:
                blind = fit_without_gold(judgments, method, seed)
            claim = validate_fitted(judgments, blind, claim_options)
        say(f"claim: {claim.message}")

    advice = None
    if redundancy:
        with steps.step("redundancy"):
            advice = _redundancy(model, fraud_report, target=target, max_labels=max_labels,
                                 price_per_label=price_per_label, seed=seed)
        say("redundancy: " + _advice_line(advice))
        if fraud_report is not None and fraud_report.flagged_mask.size and fraud_report.flagged_mask.all():
            say("redundancy: every annotator is flagged; the advice assumes the same pool labels next")

    box_result = None
    if boxes is not None:
        with steps.step("boxes"):
            from consensus.boxes import fit_boxes

            box_result = fit_boxes(boxes, **(box_options or {}))

    with steps.step("instructions"):
        confusion_pairs = confused_pairs(counts, judgments.classes)
        # with gold the fitted model's label of a gold item is the gold answer at confidence 1; the items
        # whose answers split are shown with the label and confidence of the fit that did not see the gold
        shown = blind.item_table() if blind is not None else items
        confidence_arr = shown["confidence"].to_numpy().astype(np.float64)
        disputed = disputed_items(judgments, shown["label"], confidence_arr)
        pooled = pooled_confusion(counts)

    workers = _workers_with_flags(reliability, fraud_report)
    result = AuditResult(
        summary={}, items=items, workers=workers, confusion=confusion, agreement=agreement_report,
        fraud=fraud_report, claim=claim, advice=advice, boxes=box_result, calibration=calibration,
        confused_pairs=confusion_pairs, disputed_items=disputed, pooled_confusion=pooled, judgments=judgments,
        timings=steps.timings)
    result.summary = _summary(result, model=model, method=method, chosen=chosen, claimed=claimed_accuracy)
    return result


def check_options(*, method: str, seed: int, claimed_accuracy: float | None, claim_level: str, confidence: float,
                  margin: float, redundancy: bool, target: float, max_labels: int,
                  price_per_label: float | None) -> Any:
    """Check the audit's options before any step runs (``ParameterError``); returns the claim's settings or None.

    The CLI calls it before reading the input, so a bad option writes nothing.
    """
    owner = "audit"
    check_param(owner, "method", method, method in METHODS, f"one of {list(METHODS)}")
    check_param(owner, "seed", seed, isinstance(seed, int) and seed >= 0, "a non-negative int")
    if redundancy:
        from consensus.redundancy.advice import _check_params

        _check_params(target, max_labels, price_per_label, "auto", 0.5, 0.5, 0.01, "auto", 4000, seed, owner)
    if claimed_accuracy is None:  # the claim's options are still checked: a typo is not ignored
        from consensus.claims.validation import _is_real

        check_param(owner, "confidence", confidence, _is_real(confidence) and 0.5 <= confidence < 1.0,
                    "a float in the range [0.5, 1)")
        check_param(owner, "margin", margin, _is_real(margin) and 0.0 <= margin < 1.0, "a float in the range [0, 1)")
        return None
    from consensus.claims.validation import claim_settings

    return claim_settings(owner, claimed_accuracy, confidence, margin, claim_level, method, 2000, seed)


def _gold_free_calibration(judgments: Judgments, model: Any) -> dict[str, Any]:
    """Score the confidence of each gold item's label from a fit without gold against gold."""
    from consensus.calibration import expected_calibration_error

    gold = judgments.gold
    rows = np.flatnonzero((gold >= 0) & (model.labels_ >= 0) & (judgments.n_na_per_item <= judgments.n_labels_per_item))
    labels = model.labels_[rows]
    conf = model.probas_[rows, labels]
    correct = (labels == gold[rows]).astype(np.float64)
    keep = np.isfinite(conf)
    conf, correct = conf[keep], correct[keep]
    return {"confidence": conf, "correct": correct, "n": int(conf.size),
            "ece": expected_calibration_error(conf, correct), "accuracy": float(correct.mean()) if conf.size else None,
            "mean_confidence": float(conf.mean()) if conf.size else None}


def _redundancy(model: Any, fraud_report: Any, **options: Any) -> Any:
    """Advice from the fitted model; flagged annotators are not in the pool that labels next.

    When every annotator is flagged nobody would be left: the advice then assumes the same pool
    (the fraud section of the report shows the flags; the audit still runs to the end).
    """
    from consensus.redundancy import advise_redundancy

    flagged = fraud_report.flagged_mask if fraud_report is not None else None
    exclude = flagged if flagged is not None and flagged.any() and not flagged.all() else None
    return advise_redundancy(model, exclude_workers=exclude, **options)


def _advice_line(advice: Any) -> str:
    counts = advice.items.group_by("action").len().sort("action")
    return ", ".join(f"{action} {n}" for action, n in counts.iter_rows())


def _workers_with_flags(reliability: pl.DataFrame, fraud_report: Any) -> pl.DataFrame:
    base = reliability.sort(["rank", "worker"], nulls_last=True)
    if fraud_report is None:
        return base
    flags = fraud_report.workers.select("worker", "flagged", "flags", "fraud_score")
    return base.join(flags, on="worker", how="left", maintain_order="left")


def _num(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    return value


def _summary(result: AuditResult, *, model: Any, method: str, chosen: str, claimed: float | None) -> dict[str, Any]:
    j = result.judgments
    items = result.items
    # gold items are clamped to their gold label: the model's own figures are about the other rows
    unchecked = items.filter(pl.col("gold").is_null()) if "gold" in items.columns else items
    labelled = unchecked.filter(pl.col("label").is_not_null())
    summary: dict[str, Any] = {
        "verdict": result.claim.verdict if result.claim is not None else None,
        # "estimate": no gold item was scored, the verdict rests on the model's own posteriors
        "verdict_basis": None if result.claim is None else (
            "estimate" if result.claim.summary.get("is_estimate") else "gold"),
        "claimed_accuracy": claimed,
        "source": j.source,
        "rows": {"input": j.n_input_rows, "used": j.n_judgments, "quarantined": j.n_quarantined},
        "n_items": j.n_items, "n_workers": j.n_workers, "classes": j.classes,
        "labels_per_item": _num(float(j.n_labels_per_item.mean())) if j.n_items else None,
        "aggregation": {
            "method": method, "chosen": chosen,
            "n_labelled": int(items["label"].is_not_null().sum()),
            "n_mostly_na": int(items["label"].is_null().sum()),
            "n_gold_items": items.height - unchecked.height,
            # over the rows without gold: mean confidence of the label, and the expected share right
            # (a row without a label counts as wrong)
            "mean_confidence": _num(labelled["confidence"].mean()) if labelled.height else None,
            "estimated_accuracy": _num(labelled["confidence"].sum() / unchecked.height) if unchecked.height else None,
            "temperature": _num(getattr(getattr(model, "model_", model), "temperature_", None)),
        },
        "agreement": {k: _num(v) for k, v in result.agreement.summary.items()},
        # the steps that may not run are null then, so every key is always there
        "claim": None, "fraud": None, "calibration": None, "redundancy": None, "boxes": None,
    }
    if result.claim is not None:
        summary["claim"] = result.claim.summary
    if result.fraud is not None:
        flagged = result.fraud.workers.filter(pl.col("flagged"))
        by_flag: dict[str, int] = {}
        for flag_list in flagged["flags"].to_list():
            for flag in flag_list:
                by_flag[flag] = by_flag.get(flag, 0) + 1
        floor = result.fraud.speed_floor
        summary["fraud"] = {
            "n_flagged": flagged.height, "flagged": [str(w) for w in flagged["worker"].to_list()],
            "by_flag": dict(sorted(by_flag.items())),
            "judgments_by_flagged": int(flagged["n_judgments"].sum()) if flagged.height else 0,
            "speed_floor_seconds": _num(floor.seconds) if floor is not None else None,
            "n_fast_judgments": floor.n_fast if floor is not None else None,
            "n_gold_contradicted": int(result.fraud.gold_items["contradicted"].sum())
            if result.fraud.gold_items is not None else None,
        }
    if result.calibration is not None:
        cal = result.calibration
        summary["calibration"] = {"basis": "gold-free fit scored on the gold items", "ece": _num(cal["ece"]),
                                  "n": cal["n"], "accuracy": _num(cal["accuracy"]),
                                  "mean_confidence": _num(cal["mean_confidence"])}
    if result.advice is not None:
        summary["redundancy"] = result.advice.summary()
    if result.boxes is not None:
        summary["boxes"] = _jsonable(result.boxes.summary())
    summary["instructions"] = {
        "confused_pairs": [{k: _num(v) for k, v in row.items()} for row in result.confused_pairs.head(5).iter_rows(named=True)],
        "n_disputed_listed": result.disputed_items.height,
    }
    # step timings stay out of the summary (AuditResult.timings): the outputs depend only on input and seed
    return _jsonable(summary)

