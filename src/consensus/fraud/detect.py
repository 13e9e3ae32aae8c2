"""Run every detector, control the false discovery rate, and build the output tables.

Combining the tests
-------------------
Each detector gives, per annotator and test, an effect-size statistic, the
threshold it must pass and a p-value (:class:`consensus.fraud._base.TestResult`);
a test is *run* for an annotator only with at least ``min_judgments`` judgments
behind it (no flag from 3 judgments). Per annotator, tests whose effect misses
its threshold count with p = 1, and the smallest p-value is multiplied by the
number of tests run (Bonferroni within the annotator). Benjamini-Hochberg across
annotators turns these into q-values; an annotator is flagged when ``q <= fdr``,
so the expected share of wrongly flagged annotators among the flagged is at
most ``fdr``. Its flags are the tests that pass the same BH cutoff.
``fraud_score = 1 - q`` (0 for an annotator without any test): at least
``1 - fdr`` for every flagged annotator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from consensus.data import Judgments
from consensus.fraud import _stats, clicking, collusion, honeypot, speed, straight
from consensus.fraud._base import Context, DetectorOutput, TestResult
from consensus.fraud.config import DETECTORS, TESTS, FraudConfig
from consensus.fraud.speed import SpeedFloor

_RUNNERS = {
    "speed": speed.run,
    "straight_lining": straight.run,
    "random": clicking.run,
    "collusion": collusion.run,
    "honeypot": honeypot.run,
}
#: Per-judgment flags, in the order they are listed.
JUDGMENT_FLAGS = ("too_fast", "burst", "copied", "co_timed", "gold_miss")


@dataclass
class FraudReport:
    """What :func:`detect_fraud` found.

    Attributes
    ----------
    workers : polars.DataFrame
        One row per annotator, most suspicious first: ``worker``, ``n_judgments``,
        ``flagged``, ``flags`` (list), ``fraud_score`` in [0, 1], ``q_value``,
        ``n_tests``, then for every test ``<test>_n`` (judgments behind it),
        ``<test>_statistic``, ``<test>_threshold``, ``<test>_p_value`` (null where
        not run), then evidence columns (see the README).
    judgments : polars.DataFrame
        One row per judgment that tripped a per-judgment rule: ``input_row``
        (0-based, in the concatenated input), ``source`` and ``row`` (the file and
        its 1-based data row, as errors and the quarantine name them), ``item``, ``worker``, ``label``, ``duration``, ``floor_seconds``,
        ``submitted``, ``gold``, ``flags`` (list of ``too_fast``, ``burst``,
        ``copied``, ``co_timed``, ``gold_miss``).
    pairs : polars.DataFrame
        Annotator pairs with a raw p-value <= fdr on a pair test, or flagged.
    gold_items : polars.DataFrame or None
        Every gold item with the crowd's support and ``contradicted``.
    speed_floor : SpeedFloor or None
        The floor in force (None without durations or without the speed detector).
    flagged_mask : ndarray of bool, shape (n_workers,)
        Flagged annotators by worker code.
    config : FraudConfig
    judgments_ : Judgments
        The input.
    """

    workers: pl.DataFrame
    judgments: pl.DataFrame
    pairs: pl.DataFrame
    gold_items: pl.DataFrame | None
    speed_floor: SpeedFloor | None
    flagged_mask: np.ndarray
    config: FraudConfig
    judgments_: Judgments
    tests_run: tuple[str, ...] = ()
    n_tested: int = 0
    test_flags: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def flagged_workers(self) -> list[Any]:
        """Ids of the flagged annotators, in worker-code order."""
        return self.judgments_.worker_ids.gather(np.flatnonzero(self.flagged_mask)).to_list()

    def summary_lines(self, max_names: int = 10) -> list[str]:
        """Human-readable summary (what the CLI prints)."""
        config = self.config
        j = self.judgments_
        n_flagged = int(self.flagged_mask.sum())
        lines = [f"fraud: tested {self.n_tested} of {j.n_workers} annotators with "
                 f"{', '.join(self.tests_run) or 'no test'} (tests need >= {config.min_judgments} "
                 f"judgments); flagged {n_flagged} at FDR {config.fdr:g}"]
        for test in self.tests_run:
            mask = self.test_flags.get(test)
            count = int(mask.sum()) if mask is not None else 0
            names = _names(j.worker_ids, np.flatnonzero(mask) if mask is not None else np.zeros(0, int), max_names)
            lines.append(f"  {test}: {count}" + (f" ({names})" if count else ""))
        floor = self.speed_floor
        has_gold = j.gold is not None and bool((np.asarray(j.gold) >= 0).any())
        one_class = "one class only: answers cannot disagree" if j.n_classes < 2 else None
        skipped = [(name, why) for detector, name, why in (
            ("speed", "speed", "no usable durations or submission times (--duration-col, or --start-col and "
             "--submit-col)" if floor is None and not _any_finite(j.submitted) else None),
            ("speed", "too_fast", "no durations (--duration-col, or --start-col with --submit-col); submission "
             "times alone give bursts" if floor is None and _any_finite(j.submitted) else None),
            ("straight_lining", "straight_lining", one_class), ("random", "random", one_class),
            ("honeypot", "honeypot", "no gold answers (--gold or --gold-col)" if self.gold_items is None
             and not has_gold else one_class if has_gold else None),
        ) if detector in config.detectors and why]
        for name, why in skipped:
            lines.append(f"  {name}: not run: {why}")
        if floor is not None:
            lines.append(floor.describe())
            duration = np.asarray(j.duration, dtype=np.float64)
            fast = np.isfinite(duration) & (duration < floor.item_floor[j.item])
            per_worker = np.bincount(j.worker[fast], minlength=j.n_workers)
            who = np.flatnonzero(per_worker)
            who = who[np.lexsort((who, -per_worker[who]))]
            if who.size:
                timed = np.bincount(j.worker[np.isfinite(duration)], minlength=j.n_workers)
                shown = ", ".join(
                    f"{j.worker_ids[int(w)]} {per_worker[w]}/{timed[w]}"
                    + (" (flagged)" if self.flagged_mask[w] else "") for w in who[:max_names])
                more = f" and {who.size - max_names} more" if who.size > max_names else ""
                lines.append(f"  tripped by {who.size} annotators (below floor / timed): {shown}{more}")
        if self.gold_items is not None:
            contradicted = self.gold_items.filter(pl.col("contradicted"))
            lines.append(f"gold: {contradicted.height} of {self.gold_items.height} gold items contradicted "
                         "by the crowd (not used to judge annotators)"
                         + (f": {', '.join(str(x) for x in contradicted['item'].head(max_names).to_list())}"
                            if contradicted.height else ""))
        return lines


def _names(ids: pl.Series, codes: np.ndarray, limit: int) -> str:
    shown = ", ".join(str(ids[int(c)]) for c in codes[:limit])
    return shown + (f" and {codes.size - limit} more" if codes.size > limit else "")


def detect_fraud(data: Any, gold: Any = None, **params: Any) -> FraudReport:
    """Audit annotators for speeding, straight-lining, random clicking, copying and failed honeypots.

    Parameters
    ----------
    data : Judgments, path, glob, or polars/pandas DataFrame
        The delivery (read with :func:`consensus.read_judgments` when not Judgments).
    gold : path or DataFrame, optional
        Gold answers (item and label columns) for the honeypot detector.
    **params
        Options of :class:`consensus.fraud.config.FraudConfig` (``fdr``,
        ``min_judgments``, ``min_seconds``, ``detectors``, thresholds, ``seed``).

    Returns
    -------
    FraudReport
        ``.workers`` (one row per annotator) and ``.judgments`` (flagged
        judgments), plus ``.pairs``, ``.gold_items`` and ``.speed_floor``.

    Raises
    ------
    ParameterError
        An option is out of range or unknown.
    InputError
        The data cannot be read.

    Examples
    --------
    >>> import consensus
    >>> report = consensus.detect_fraud("delivery.csv", gold="gold.csv")  # doctest: +SKIP
    >>> report.workers.filter(report.workers["flagged"])  # doctest: +SKIP
    """
    from consensus.models.base import as_judgments

    config = FraudConfig.from_kwargs(**params)
    judgments = as_judgments(data, gold)
    return run_detectors(judgments, config)


def run_detectors(judgments: Judgments, config: FraudConfig) -> FraudReport:
    """:func:`detect_fraud` on validated Judgments and a validated config."""
    ctx = Context(judgments, config)
    outputs: dict[str, DetectorOutput] = {}
    for name in config.detectors:
        if judgments.n_judgments == 0 and name != "speed":
            continue
        outputs[name] = _RUNNERS[name](ctx)
    tests = {t.name: t for out in outputs.values() for t in out.tests}
    W = judgments.n_workers
    order = [t for t in TESTS if t in tests]

    p_eff = np.full((len(order), W), np.nan)
    for r, name in enumerate(order):
        t = tests[name]
        p_eff[r] = np.where(np.isfinite(t.p_value), np.where(t.effect, t.p_value, 1.0), np.nan)
    n_tests = np.isfinite(p_eff).sum(axis=0) if order else np.zeros(W, dtype=np.int64)
    with np.errstate(invalid="ignore"):
        best = np.where(n_tests > 0, np.nanmin(np.where(np.isfinite(p_eff), p_eff, np.inf), axis=0)
                        if order else np.inf, np.nan)
    p_worker = np.minimum(1.0, best * n_tests)
    q_worker, m = _stats.benjamini_hochberg(p_worker)
    flagged = np.nan_to_num(q_worker, nan=1.0) <= config.fdr
    n_rejected = int(flagged.sum())
    cutoff = config.fdr * n_rejected / m if m else 0.0
    # BH rejects exactly the p-values <= cutoff; the max() guards the flagged against rounding
    limit = np.where(flagged, np.maximum(cutoff, np.nan_to_num(p_worker, nan=0.0)), -1.0)
    test_flags = {}
    for r, name in enumerate(order):
        test_flags[name] = flagged & np.isfinite(p_eff[r]) & (p_eff[r] * n_tests <= limit) & tests[name].effect

    columns: dict[str, Any] = {}
    for out in outputs.values():
        columns.update(out.columns)
    pairs_frame = _empty_pairs(judgments)
    judgment_flags: dict[str, np.ndarray] = {}
    for out in outputs.values():
        judgment_flags.update(out.judgment_flags)
    if "collusion" in outputs:
        pairs_frame = _finish_collusion(ctx, outputs["collusion"], test_flags, cutoff, n_tests, columns,
                                        judgment_flags)

    floor = outputs["speed"].info.get("speed_floor") if "speed" in outputs else None
    gold_items = outputs["honeypot"].info.get("gold_items") if "honeypot" in outputs else None
    workers = _workers_table(judgments, tests, test_flags, flagged, q_worker, n_tests, columns)
    flagged_judgments = _judgments_table(judgments, judgment_flags, floor)
    return FraudReport(workers, flagged_judgments, pairs_frame, gold_items, floor, flagged, config,
                       judgments, tuple(order), int(m), test_flags)


def _finish_collusion(ctx: Context, out: DetectorOutput, test_flags: dict[str, np.ndarray], cutoff: float,
                      n_tests: np.ndarray, columns: dict[str, Any], judgment_flags: dict[str, np.ndarray]
                      ) -> pl.DataFrame:
    """Partners, roles, groups and per-judgment flags of the flagged pairs."""
    from consensus.kernels import fraud_pairs as fp

    j = ctx.judgments
    W = j.n_workers
    pairs: collusion.Pairs = out.info["pairs"]
    copy_tested = out.info.get("copy_tested", np.zeros(W, dtype=np.int64))
    co_tested = out.info.get("co_tested", np.zeros(W, dtype=np.int64))
    # a pair p-value is adjusted like the worker's test: x tested pairs x tests run
    copy_tested = copy_tested * n_tests
    co_tested = co_tested * n_tests
    copy_pair = collusion.flagged_pairs(pairs, pairs.p_copy, copy_tested, cutoff) \
        if "copying" in test_flags else np.zeros(pairs.size, dtype=bool)
    co_pair = collusion.flagged_pairs(pairs, pairs.p_co_timed, co_tested, cutoff) \
        if "co_timed" in test_flags else np.zeros(pairs.size, dtype=bool)
    ids = j.worker_ids.cast(pl.String).to_list()
    copy_partners: list[list[str]] = [[] for _ in range(W)]
    co_partners: list[list[str]] = [[] for _ in range(W)]
    role: list[str | None] = [None] * W
    later = pairs.counts[fp.W_LATER]
    timed = pairs.counts[fp.TIMED]
    for k in np.flatnonzero(copy_pair):
        a, b, p = int(pairs.a[k]), int(pairs.b[k]), pairs.p_copy[k]
        for me, other, later_share in ((a, b, _share(later[k], timed[k])),
                                       (b, a, 1.0 - _share(later[k], timed[k]))):
            if p * copy_tested[me] <= cutoff:
                copy_partners[me].append(ids[other])
                if role[me] is None:
                    role[me] = "unknown" if not np.isfinite(later_share) or later_share == 0.5 else (
                        "copier" if later_share > 0.5 else "source")
    for k in np.flatnonzero(co_pair):
        a, b, p = int(pairs.a[k]), int(pairs.b[k]), pairs.p_co_timed[k]
        if p * co_tested[a] <= cutoff:
            co_partners[a].append(ids[b])
        if p * co_tested[b] <= cutoff:
            co_partners[b].append(ids[a])
    columns["copy_partners"] = pl.Series(copy_partners, dtype=pl.List(pl.String))
    columns["copy_role"] = pl.Series(role, dtype=pl.String)
    group = collusion.groups(W, pairs.a[copy_pair], pairs.b[copy_pair])
    columns["copy_group"] = pl.Series(np.where(group > 0, group, 0), dtype=pl.Int64).replace(0, None)
    columns["co_timed_partners"] = pl.Series(co_partners, dtype=pl.List(pl.String))

    copied = np.zeros(j.n_judgments, dtype=bool)
    co_timed = np.zeros(j.n_judgments, dtype=bool)
    wo, offsets = j.worker_order, j.worker_offsets
    for flags_out, chosen, same_label in ((copied, copy_pair, True), (co_timed, co_pair, False)):
        for k in np.flatnonzero(chosen):
            a, b = int(pairs.a[k]), int(pairs.b[k])
            ja, jb = wo[offsets[a]:offsets[a + 1]], wo[offsets[b]:offsets[b + 1]]
            _, ia, ib = np.intersect1d(j.item[ja], j.item[jb], assume_unique=True, return_indices=True)
            ja, jb = ja[ia], jb[ib]
            if same_label:
                hit = (j.label[ja] >= 0) & (j.label[ja] == j.label[jb])
            else:
                sub = np.asarray(j.submitted, dtype=np.float64)
                hit = np.abs(sub[ja] - sub[jb]) <= ctx.config.co_window
            flags_out[ja[hit]] = True
            flags_out[jb[hit]] = True
    judgment_flags["copied"] = copied
    if j.submitted is not None:
        judgment_flags["co_timed"] = co_timed
    return collusion.pairs_table(ctx, pairs, copy_pair, co_pair)


def _flag_lists(names: list[str], masks: list[np.ndarray], n: int) -> pl.Series:
    """A list[str] column: per row, the names whose mask is set (vectorised in polars)."""
    if not names:
        return pl.Series("flags", [[]] * n, dtype=pl.List(pl.String))
    frame = pl.DataFrame({f"m{r}": pl.Series(mask, dtype=pl.Boolean) for r, mask in enumerate(masks)})
    lists = frame.select(pl.concat_list([
        pl.when(pl.col(f"m{r}")).then(pl.lit(name)).otherwise(pl.lit(None, dtype=pl.String))
        for r, name in enumerate(names)]).list.drop_nulls().alias("flags"))
    return lists.get_column("flags")


def _share(a: float, b: float) -> float:
    return float(a) / float(b) if b > 0 else float("nan")


def _empty_pairs(judgments: Judgments) -> pl.DataFrame:
    return pl.DataFrame({"worker_a": judgments.worker_ids.head(0), "worker_b": judgments.worker_ids.head(0)})


def _workers_table(j: Judgments, tests: dict[str, TestResult], test_flags: dict[str, np.ndarray],
                   flagged: np.ndarray, q: np.ndarray, n_tests: np.ndarray, columns: dict[str, Any]
                   ) -> pl.DataFrame:
    W = j.n_workers
    names = [t for t in TESTS if t in test_flags]
    flag_lists = _flag_lists(names, [test_flags[t] for t in names], W)
    score = np.where(np.isfinite(q), 1.0 - q, 0.0)
    data: dict[str, Any] = {
        "worker": j.worker_ids,
        "n_judgments": pl.Series(j.n_judgments_per_worker, dtype=pl.Int64),
        "flagged": pl.Series(flagged, dtype=pl.Boolean),
        "flags": flag_lists,
        "fraud_score": pl.Series(score, dtype=pl.Float64),
        "q_value": pl.Series(q, dtype=pl.Float64).fill_nan(None),
        "n_tests": pl.Series(n_tests, dtype=pl.Int64),
    }
    for name in TESTS:
        t = tests.get(name)
        run = t is not None and np.isfinite(t.p_value)
        if t is None:
            data[f"{name}_n"] = pl.Series([None] * W, dtype=pl.Int64)
            for col in ("statistic", "threshold", "p_value"):
                data[f"{name}_{col}"] = pl.Series([None] * W, dtype=pl.Float64)
            continue
        data[f"{name}_n"] = pl.Series(t.n, dtype=pl.Int64)
        data[f"{name}_statistic"] = pl.Series(np.where(np.isfinite(t.statistic), t.statistic, np.nan),
                                              dtype=pl.Float64).fill_nan(None)
        data[f"{name}_threshold"] = pl.Series(np.where(run, t.threshold, np.nan), dtype=pl.Float64).fill_nan(None)
        data[f"{name}_p_value"] = pl.Series(t.p_value, dtype=pl.Float64).fill_nan(None)
    extras = ("median_seconds", "top_label", "top_label_share", "top_label_expected_share", "longest_run",
              "consensus_agreement",
              "chance_agreement", "random_p_above_chance", "spammer_score", "gold_lower", "gold_upper",
              "copy_partners", "copy_role", "copy_group", "co_timed_partners")
    classes = pl.Series(j.classes, dtype=pl.String)
    for name in extras:
        value = columns.get(name)
        if value is None:
            dtype = {"top_label": pl.String, "copy_role": pl.String, "copy_partners": pl.List(pl.String),
                     "co_timed_partners": pl.List(pl.String), "longest_run": pl.Int64,
                     "copy_group": pl.Int64}.get(name, pl.Float64)
            data[name] = pl.Series([None] * W, dtype=dtype)
        elif name == "top_label":
            codes = np.asarray(value)
            names = classes.gather(np.where(codes >= 0, codes, 0).astype(np.int64)) if W else classes.head(0)
            data[name] = names.scatter(np.flatnonzero(codes < 0), None) if (codes < 0).any() else names
        elif isinstance(value, pl.Series):
            data[name] = value
        else:
            arr = np.asarray(value)
            data[name] = pl.Series(arr).fill_nan(None) if arr.dtype.kind == "f" else pl.Series(arr)
    frame = pl.DataFrame(data).with_row_index("_code")
    return frame.sort(["fraud_score", "_code"], descending=[True, False]).drop("_code")


def _any_finite(values: np.ndarray | None) -> bool:
    return values is not None and bool(np.isfinite(np.asarray(values, dtype=np.float64)).any())


def _judgments_table(j: Judgments, flags: dict[str, np.ndarray], floor: SpeedFloor | None) -> pl.DataFrame:
    names = [f for f in JUDGMENT_FLAGS if f in flags]
    any_flag = np.zeros(j.n_judgments, dtype=bool)
    for f in names:
        any_flag |= flags[f]
    idx = np.flatnonzero(any_flag)
    where = j.judgment_rows(idx)
    data: dict[str, Any] = {
        "input_row": pl.Series(j.input_row[idx] if j.input_row is not None else [None] * idx.size, dtype=pl.Int64),
        **where.to_dict(),
        "duration": pl.Series(np.asarray(j.duration, dtype=np.float64)[idx] if j.duration is not None
                              else [None] * idx.size, dtype=pl.Float64),
        "floor_seconds": pl.Series(floor.item_floor[j.item[idx]] if floor is not None else [None] * idx.size,
                                   dtype=pl.Float64),
        "submitted": pl.Series(np.asarray(j.submitted, dtype=np.float64)[idx] if j.submitted is not None
                               else [None] * idx.size, dtype=pl.Float64),
    }
    if j.gold is not None:
        classes = pl.Series(j.classes, dtype=pl.String)
        g = np.asarray(j.gold)[j.item[idx]]
        gold_names = classes.gather(np.where(g >= 0, g, 0).astype(np.int64)) if idx.size else classes.head(0)
        data["gold"] = gold_names.scatter(np.flatnonzero(g < 0), None) if (g < 0).any() else gold_names
    data["flags"] = _flag_lists(names, [flags[f][idx] for f in names], idx.size)
    frame = pl.DataFrame(data)
    for col in ("duration", "submitted"):
        frame = frame.with_columns(pl.col(col).fill_nan(None))
    return frame


__all__ = ["DETECTORS", "TESTS", "FraudConfig", "FraudReport", "detect_fraud", "run_detectors"]
