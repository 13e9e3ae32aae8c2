"""Re-aggregate without the flagged annotators (``consensus aggregate --exclude-flagged``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from consensus.data import Judgments
from consensus.fraud.config import FraudConfig
from consensus.fraud.detect import FraudReport, run_detectors


def without_workers(judgments: Judgments, drop: np.ndarray, reasons: list[str] | None = None) -> Judgments:
    """The judgments minus those of the workers with ``drop[code]`` set.

    Code books (items, workers, classes) and gold are kept, so item and worker
    codes mean the same in both; dropped workers keep a row with no judgments.
    With ``reasons`` (one string per worker code) the dropped judgments join the
    quarantine with their annotator's reason, so every input row stays used or
    quarantined. The input is not modified.
    """
    keep = ~np.asarray(drop, dtype=bool)[judgments.worker]

    def sub(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else np.asarray(a)[keep]

    quarantine = judgments.quarantine
    if reasons is not None and not keep.all():
        quarantine = _with_dropped_rows(judgments, np.flatnonzero(~keep), reasons)
    return Judgments(
        judgments.item[keep], judgments.worker[keep], judgments.label[keep],
        judgments.item_ids, judgments.worker_ids, judgments.classes,
        duration=sub(judgments.duration), submitted=sub(judgments.submitted), gold=judgments.gold,
        input_row=sub(judgments.input_row), n_input_rows=judgments.n_input_rows,
        input_files=judgments.input_files,
        quarantine=quarantine, gold_quarantine=judgments.gold_quarantine,
        source=judgments.source)


def _with_dropped_rows(judgments: Judgments, dropped: np.ndarray, reasons: list[str]) -> pl.DataFrame:
    """``judgments.quarantine`` plus the judgments at positions ``dropped``, in input order, with
    ``reasons[worker]``."""
    position = judgments.input_row[dropped] if judgments.input_row is not None else np.full(dropped.size, -1)
    dropped = dropped[np.argsort(position, kind="stable")]
    frame = judgments.judgment_rows(dropped).with_columns(
        pl.col("item", "worker").cast(pl.String),
        pl.Series("reason", [reasons[w] for w in judgments.worker[dropped]], dtype=pl.String))
    if judgments.quarantine is None or judgments.quarantine.height == 0:
        return frame
    return pl.concat([judgments.quarantine, frame], how="diagonal_relaxed")


@dataclass
class Exclusion:
    """The flagged annotators left out, and the labels that aggregating everyone gave.

    Attributes
    ----------
    report : FraudReport
    n_excluded_workers, n_excluded_judgments : int
    labels_before : ndarray of int32, shape (n_items,)
        Labels of the same model fitted on every judgment (``-1`` = none).
    """

    report: FraudReport
    n_excluded_workers: int
    n_excluded_judgments: int
    labels_before: np.ndarray

    def changed(self, labels_after: np.ndarray) -> tuple[int, int]:
        """(item labels that differ, items left without any label that had one)."""
        after = np.asarray(labels_after)
        return int((after != self.labels_before).sum()), int(((after < 0) & (self.labels_before >= 0)).sum())

    def summary_lines(self, labels_after: np.ndarray) -> list[str]:
        changed, lost = self.changed(labels_after)
        total = int(self.labels_before.size)
        names = self.report.flagged_workers
        shown = ", ".join(str(n) for n in names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        return [
            f"exclude-flagged: left out {self.n_excluded_workers} flagged annotators"
            + (f" ({shown})" if names else "") + f", {self.n_excluded_judgments} judgments",
            f"exclude-flagged: item labels changed: {changed} of {total} compared with aggregating everyone"
            + (f" ({lost} items have no judgment left)" if lost else ""),
        ]


def exclude_flagged(judgments: Judgments, model: Any, *, config: FraudConfig | None = None,
                    log: Callable[[str], None] | None = None) -> tuple[Judgments, Exclusion]:
    """Detect fraud, fit ``model`` on everything for reference, and drop the flagged annotators.

    Parameters
    ----------
    judgments : Judgments
    model : an unfitted aggregator (e.g. ``DawidSkene()``); fitted here on every judgment
    config : FraudConfig, optional
    log : callable, optional
        Receives the detector's summary lines.

    Returns
    -------
    (Judgments without the flagged annotators, Exclusion)
    """
    report = run_detectors(judgments, config or FraudConfig())
    if log is not None:
        for line in report.summary_lines():
            log(line)
    labels_before = np.asarray(model.fit(judgments).labels_).copy()
    drop = report.flagged_mask
    flags = dict(zip(report.workers.get_column("worker").cast(pl.String).to_list(),
                     report.workers.get_column("flags").to_list()))
    reasons = [f"annotator flagged by fraud detection ({', '.join(flags.get(str(w)) or [])}); left out by "
               "--exclude-flagged" for w in judgments.worker_ids.to_list()]
    kept = without_workers(judgments, drop, reasons)
    return kept, Exclusion(report, int(drop.sum()), judgments.n_judgments - kept.n_judgments, labels_before)
