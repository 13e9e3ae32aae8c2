"""Fraud detection benchmark: injected fraudsters in real crowds, untouched real crowds, speed.

    python benchmarks/fraud.py [--data ../shared/datasets] [--rates 0.05 0.15] [--seeds 0 1 2]
                               [--honeypots 0.1] [--size 1e7] [--skip-speed] [--out benchmarks/results]

1. **Injection** (every dataset folder under ``--data`` with ``judgments.csv`` and
   ``gold.csv`` and categorical labels). Every annotator gets per-judgment durations
   and submission times: real durations where the dataset has them
   (weather_sentiment_amt, zencrowd), otherwise the durations of a randomly drawn
   real annotator of those two datasets (a "timing donor"), resampled; submission
   times are sessions (a start within a 14-day window, then each judgment's
   duration plus an exponential 3 s gap, with occasional breaks). Then
   ``rate x annotators`` synthetic fraudsters are added, cycling through:

   * ``random``: uniform random answers, a donor's (normal) timings;
   * ``fast``: durations of the crowd's own (real or donor) judgments divided by
     5-10 and rounded to whole seconds like the sources (at least 1 s): about
     1-3 s per judgment where the crowd's median is 9-22 s (the real speeder of
     zencrowd works at 3 s against a 22 s median); careless answers (the gold
     answer with probability 0.5, else uniform random);
   * ``straight``: one answer (a random class) 95% of the time, else uniform random;
   * ``copy`` (a pair, two fraudsters): a leader answering like a weak annotator
     (gold answer w.p. 0.7, else uniform random) and a follower who labels
     80-100% of the leader's items, copies the leader's answer w.p. 0.9 (else
     uniform random) and submits 1-8 s after the leader.

   Each fraudster's number of judgments is drawn from the real annotators'
   activity (at least 10; items drawn without replacement). Detection runs
   without gold (and once more with ``--honeypots`` of the items as gold). Scored
   on annotators with >= 30 judgments: per detector, recall on the fraud type it
   targets (speed: fast; straight_lining: straight; random: random; collusion:
   copy; honeypot: random and straight, whose answers ignore the truth, among
   those with >= 10 honeypot answers, the least the test needs) and precision (share of the annotators it flags that are
   injected fraudsters); overall, any flag. Real annotators count as false
   positives; "precision (new)" leaves out real annotators that are already
   flagged on the same crowd before injection (with the same synthetic timings):
   those are the real crowd's own suspects, reported in section 2.
2. **Untouched real datasets**, exactly as delivered (no synthetic timings, no gold
   given to the detector): how many annotators are flagged, their accuracy on the
   gold answers, and how many flagged annotators have gold accuracy >= 0.8 over
   >= 30 gold-covered judgments (goal: none).
3. **The learned speed floor on weather_sentiment_amt** (real timings) and who tripped it.
4. **Speed**: all detectors (with durations, submission times and 2% gold) on
   ``--size`` synthetic judgments (``benchmarks/synthetic.py``), after warming the
   kernels up on a small input, in a fresh process; wall time per stage and peak RSS.

Writes ``fraud.md`` and ``fraud.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

TYPES = ("random", "fast", "straight", "copy")
TARGET = {"speed": ("fast",), "straight_lining": ("straight",), "random": ("random",),
          "collusion": ("copy",), "honeypot": ("random", "straight")}
TIMED = ("weather_sentiment_amt", "zencrowd")
MIN_EVAL = 30
DAY = 86400.0


# -- data ---------------------------------------------------------------------------------------

def datasets(data_dir: Path) -> list[str]:
    names = []
    for folder in sorted(data_dir.iterdir()):
        if (folder / "judgments.csv").exists() and (folder / "gold.csv").exists():
            names.append(folder.name)
    return names


def load(data_dir: Path, name: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    folder = data_dir / name
    frame = pl.read_csv(folder / "judgments.csv", infer_schema=False)
    frame = frame.select(
        pl.col("item"), pl.col("worker"), pl.col("label"),
        (pl.col("time_spent_s").cast(pl.Float64) if "time_spent_s" in frame.columns
         else pl.lit(None, dtype=pl.Float64)).alias("duration"))
    frame = frame.unique(["item", "worker"], keep="first", maintain_order=True)
    gold = pl.read_csv(folder / "gold.csv", infer_schema=False).select("item", "label")
    return frame, gold


def timing_donors(data_dir: Path) -> list[np.ndarray]:
    """Per-annotator durations of the timed real datasets: annotators with >= 10 timed
    judgments whose median is at least a third of their dataset's (real speeders, such
    as zencrowd's 3-second annotator, would make honest annotators look fast)."""
    donors = []
    for name in TIMED:
        frame, _ = load(data_dir, name)
        typical = float(frame["duration"].median())
        for (_, ), group in frame.group_by(["worker"], maintain_order=True):
            d = group["duration"].drop_nulls().to_numpy()
            if d.size >= 10 and np.median(d) >= typical / 3.0:
                donors.append(d.astype(np.float64))
    return donors


def add_timings(frame: pl.DataFrame, donors: list[np.ndarray], rng: np.random.Generator) -> pl.DataFrame:
    """Durations for rows without one (a donor per annotator) and session-like submission times."""
    workers = frame["worker"].to_numpy()
    duration = frame["duration"].fill_null(np.nan).to_numpy().astype(np.float64).copy()
    submitted = np.full(frame.height, np.nan)
    codes, inverse = np.unique(workers, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(codes.size + 1))
    for w in range(codes.size):
        rows = order[bounds[w]:bounds[w + 1]]
        missing = np.isnan(duration[rows])
        if missing.any():
            donor = donors[rng.integers(len(donors))]
            duration[rows[missing]] = rng.choice(donor, size=int(missing.sum()))
        submitted[rows] = sessions(duration[rows], rng)
    return frame.with_columns(pl.Series("duration", duration), pl.Series("submitted", submitted))


def sessions(duration: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Submission times of one annotator's judgments, in a random order, as work sessions."""
    n = duration.size
    gaps = rng.exponential(3.0, n)
    breaks = np.where(rng.random(n) < 0.03, rng.uniform(600, 5 * 3600, n), 0.0)
    order = rng.permutation(n)
    times = np.empty(n)
    times[order] = rng.uniform(0, 14 * DAY) + np.cumsum(duration[order] + gaps + breaks)
    return times


def inject(frame: pl.DataFrame, gold: pl.DataFrame, rate: float, donors: list[np.ndarray],
           rng: np.random.Generator) -> tuple[pl.DataFrame, dict[str, str]]:
    """Add synthetic fraudsters; returns the new frame and {fraudster id: type}."""
    classes = sorted(frame["label"].unique().drop_nulls().to_list())
    items = frame["item"].unique(maintain_order=True).to_numpy()
    truth = dict(zip(*gold.select("item", "label").to_dict(as_series=False).values()))
    majority = frame.group_by("item").agg(pl.col("label").mode().sort().first())
    answer_of = {i: truth.get(i, m) for i, m in majority.iter_rows()}
    activity = frame.group_by("worker").len().sort("worker")["len"].to_numpy()
    crowd_durations = frame["duration"].drop_nulls().drop_nans().to_numpy()
    n_real = int(activity.size)
    n_fraud = max(1, int(round(rate * n_real)))
    start = int(rng.integers(len(TYPES)))
    plan: list[str] = []
    k = start
    while len(plan) < n_fraud:
        kind = TYPES[k % len(TYPES)]
        k += 1
        if kind == "copy":
            if n_fraud - len(plan) < 2:
                continue
            plan += ["copy_leader", "copy_follower"]
        else:
            plan.append(kind)
    K = len(classes)
    rows: list[pl.DataFrame] = []
    truth_type: dict[str, str] = {}
    leader: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    for f, kind in enumerate(plan):
        wid = f"FRAUD{f:03d}_{kind}"
        truth_type[wid] = kind.split("_")[0]
        if kind == "copy_follower" and leader is not None:
            l_items, l_labels, l_times = leader
            keep = rng.random(l_items.size) < rng.uniform(0.8, 1.0)
            keep[: min(10, keep.size)] = True
            it, lab = l_items[keep], l_labels[keep].copy()
            noise = rng.random(it.size) >= 0.9
            lab[noise] = rng.choice(classes, size=int(noise.sum()))
            sub = l_times[keep] + rng.uniform(1.0, 8.0, it.size)
            donor = donors[rng.integers(len(donors))]
            dur = rng.choice(donor, size=it.size)
        else:
            n = int(np.clip(rng.choice(activity), 10, max(10, int(0.9 * items.size))))
            it = rng.choice(items, size=min(n, items.size), replace=False)
            right = np.array([answer_of[i] for i in it], dtype=object)
            uniform = rng.choice(classes, size=it.size)
            donor = donors[rng.integers(len(donors))]
            dur = rng.choice(donor, size=it.size)
            if kind == "random":
                lab = uniform
            elif kind == "fast":
                lab = np.where(rng.random(it.size) < 0.5, right, uniform)
                dur = np.maximum(1.0, np.round(rng.choice(crowd_durations, size=it.size)
                                               / rng.uniform(5.0, 10.0, size=it.size)))
            elif kind == "straight":
                lab = np.where(rng.random(it.size) < 0.95, classes[int(rng.integers(K))], uniform)
            else:  # copy leader: a weak annotator
                lab = np.where(rng.random(it.size) < 0.7, right, uniform)
            sub = sessions(dur, rng)
            if kind == "copy_leader":
                leader = (it, np.asarray(lab, dtype=object), sub)
        rows.append(pl.DataFrame({"item": it.astype(str), "worker": [wid] * it.size,
                                  "label": np.asarray(lab).astype(str), "duration": dur.astype(np.float64),
                                  "submitted": np.asarray(sub, dtype=np.float64)}))
    return pl.concat([frame, *rows], how="vertical_relaxed"), truth_type


def to_judgments(frame: pl.DataFrame, gold: pl.DataFrame | None = None, *, timed: bool = True):
    from consensus import read_judgments

    cols = {"item_col": "item", "worker_col": "worker", "label_col": "label"}
    if timed:
        cols.update(duration_col="duration", submit_col="submitted")
    elif frame["duration"].null_count() < frame.height:
        cols.update(duration_col="duration")
    keep = [c for c in ("item", "worker", "label", "duration", "submitted") if c in frame.columns]
    return read_judgments(frame.select(keep), gold=gold, na_labels=(), **cols)


def gold_accuracy(judgments, gold: pl.DataFrame) -> pl.DataFrame:
    """Per worker: judgments on gold items and the share that are right."""
    classes = {c: k for k, c in enumerate(judgments.classes)}
    item_index = {str(v): k for k, v in enumerate(judgments.item_ids.cast(pl.String).to_list())}
    g = np.full(judgments.n_items, -1)
    for item, label in gold.iter_rows():
        k = item_index.get(str(item))
        if k is not None and label in classes:
            g[k] = classes[label]
    gi = g[judgments.item]
    ok = (gi >= 0) & (judgments.label >= 0)
    n = np.bincount(judgments.worker[ok], minlength=judgments.n_workers)
    right = np.bincount(judgments.worker[ok & (judgments.label == gi)], minlength=judgments.n_workers)
    return pl.DataFrame({"worker": judgments.worker_ids.cast(pl.String), "n_gold": n,
                         "gold_accuracy": np.where(n > 0, right / np.maximum(n, 1), np.nan)})


# -- scoring ------------------------------------------------------------------------------------

def flagged_by(workers: pl.DataFrame) -> dict[str, set[str]]:
    from consensus.fraud import DETECTORS

    out: dict[str, set[str]] = {"overall": set(workers.filter(pl.col("flagged"))["worker"].cast(pl.String))}
    for det, tests in DETECTORS.items():
        hit = workers.filter(pl.col("flags").list.eval(pl.element().is_in(list(tests))).list.any())
        out[det] = set(hit["worker"].cast(pl.String))
    return out


def score(workers: pl.DataFrame, truth: dict[str, str], baseline: set[str]) -> dict[str, dict[str, int]]:
    n = dict(zip(workers["worker"].cast(pl.String).to_list(), workers["n_judgments"].to_list()))
    evaluable = {w for w, c in n.items() if c >= MIN_EVAL}
    fraud = {w for w in truth if w in evaluable}
    flagged = flagged_by(workers)
    out = {}
    gold_n = dict(zip(workers["worker"].cast(pl.String).to_list(), workers["failed_honeypots_n"].to_list()))
    for det, who in flagged.items():
        who = who & evaluable
        targets = {w for w in fraud if truth[w] in TARGET.get(det, TYPES)}
        if det == "honeypot":  # only fraudsters with enough honeypot answers can be tested
            targets = {w for w in targets if (gold_n.get(w) or 0) >= 10}
        out[det] = {
            "targets": len(targets), "found": len(who & targets),
            "flagged": len(who), "flagged_fraud": len(who & fraud),
            "flagged_new": len(who - baseline), "flagged_fraud_new": len((who - baseline) & fraud),
        }
    return out


def add(total: dict, part: dict) -> None:
    for det, counts in part.items():
        slot = total.setdefault(det, {k: 0 for k in counts})
        for k, v in counts.items():
            slot[k] += v


def ratio(a: int, b: int) -> str:
    return f"{a / b:.3f}" if b else "-"


def score_table(total: dict) -> list[str]:
    lines = ["| detector | target fraudsters | found | recall | flagged | of them fraudsters | precision | precision (new) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for det in ("speed", "straight_lining", "random", "collusion", "honeypot", "overall"):
        c = total.get(det)
        if not c:
            continue
        lines.append(f"| {det} | {c['targets']} | {c['found']} | {ratio(c['found'], c['targets'])} | {c['flagged']} | "
                     f"{c['flagged_fraud']} | {ratio(c['flagged_fraud'], c['flagged'])} | "
                     f"{ratio(c['flagged_fraud_new'], c['flagged_new'])} |")
    return lines


# -- sections -----------------------------------------------------------------------------------

def injection(data_dir: Path, names: list[str], rates: list[float], seeds: list[int], honeypots: float,
              report: dict) -> list[str]:
    from consensus.fraud import detect_fraud

    donors = timing_donors(data_dir)
    lines = ["## 1. Injected fraudsters", "",
             f"Datasets: {', '.join(names)}; seeds {seeds}; scored on annotators with >= {MIN_EVAL} judgments "
             f"(fraudsters and real annotators). Timing donors: {len(donors)} real annotators of "
             f"{' and '.join(TIMED)}.", ""]
    report["injection"] = {}
    for rate in rates:
        totals: dict[str, dict] = {"no gold": {}, f"{honeypots:.0%} honeypots": {}}
        per_dataset = []
        start = time.perf_counter()
        for name in names:
            frame, gold = load(data_dir, name)
            ds_total: dict = {}
            for seed in seeds:
                rng = np.random.default_rng([seed, int(rate * 1000), len(name)])
                timed = add_timings(frame, donors, rng)
                baseline_report = detect_fraud(to_judgments(timed))
                baseline = set(baseline_report.workers.filter(pl.col("flagged"))["worker"].cast(pl.String))
                injected, truth = inject(timed, gold, rate, donors, rng)
                result = score(detect_fraud(to_judgments(injected)).workers, truth, baseline)
                add(totals["no gold"], result)
                add(ds_total, result)
                items = injected["item"].unique().sort()
                hp_items = items.sample(fraction=honeypots, seed=seed, shuffle=True) if honeypots > 0 else items.head(0)
                hp_gold = gold.filter(pl.col("item").is_in(hp_items.implode()))
                hp_base = detect_fraud(to_judgments(timed, hp_gold))
                hp_baseline = set(hp_base.workers.filter(pl.col("flagged"))["worker"].cast(pl.String))
                add(totals[f"{honeypots:.0%} honeypots"],
                    score(detect_fraud(to_judgments(injected, hp_gold)).workers, truth, hp_baseline))
            o = ds_total["overall"]
            per_dataset.append(f"| {name} | {o['targets']} | {ratio(o['found'], o['targets'])} | {o['flagged']} | "
                               f"{ratio(o['flagged_fraud'], o['flagged'])} | {ratio(o['flagged_fraud_new'], o['flagged_new'])} |")
        elapsed = time.perf_counter() - start
        report["injection"][str(rate)] = totals
        for setting, total in totals.items():
            lines += [f"### {rate:.0%} of annotators injected, {setting}", "", *score_table(total), ""]
        lines += [f"Per dataset ({rate:.0%}, no gold, all seeds), overall:", "",
                  "| dataset | fraudsters >= 30 | recall | flagged | precision | precision (new) |",
                  "|---|---:|---:|---:|---:|---:|", *per_dataset, "",
                  f"({elapsed:.0f} s for this rate)", ""]
    return lines


def untouched(data_dir: Path, names: list[str], report: dict) -> list[str]:
    from consensus.fraud import detect_fraud

    lines = ["## 2. Untouched real datasets (as delivered, no gold given to the detector)", "",
             "| dataset | annotators | tested | flagged | flags | gold accuracy of flagged (mean, min-max) "
             "| flagged with gold acc >= 0.8 over >= 30 |", "|---|---:|---:|---:|---|---|---:|"]
    report["untouched"] = {}
    violations = 0
    for name in names:
        frame, gold = load(data_dir, name)
        judgments = to_judgments(frame, timed=False)
        result = detect_fraud(judgments)
        acc = gold_accuracy(judgments, gold)
        flagged = result.workers.filter(pl.col("flagged")).with_columns(pl.col("worker").cast(pl.String)) \
            .join(acc, on="worker", how="left")
        bad = flagged.filter((pl.col("gold_accuracy") >= 0.8) & (pl.col("n_gold") >= 30))
        violations += bad.height
        counts = flagged["flags"].explode().value_counts().sort("flags")
        flag_text = ", ".join(f"{f} {c}" for f, c in counts.iter_rows()) if flagged.height else "-"
        ga = flagged["gold_accuracy"].drop_nans().drop_nulls()
        acc_text = f"{ga.mean():.3f} ({ga.min():.2f}-{ga.max():.2f})" if ga.len() else "-"
        lines.append(f"| {name} | {judgments.n_workers} | {result.n_tested} | {flagged.height} | {flag_text} | "
                     f"{acc_text} | {bad.height} |")
        report["untouched"][name] = {
            "annotators": judgments.n_workers, "flagged": flagged.height, "violations": bad.height,
            "flagged_workers": flagged.select("worker", "n_judgments", "flags", "fraud_score", "n_gold",
                                              "gold_accuracy").to_dicts()}
    lines += ["", f"Flagged annotators with gold accuracy >= 0.8 over >= 30 gold-covered judgments: "
              f"**{violations}** (goal 0).", ""]
    report["untouched_violations"] = violations
    return lines


def speed_floor(data_dir: Path, report: dict) -> list[str]:
    from consensus.fraud import detect_fraud

    frame, gold = load(data_dir, "weather_sentiment_amt")
    judgments = to_judgments(frame, timed=False)
    result = detect_fraud(judgments)
    floor = result.speed_floor
    acc = gold_accuracy(judgments, gold)
    lines = ["## 3. Learned speed floor on weather_sentiment_amt (real timings)", "", floor.describe(), ""]
    duration = np.asarray(judgments.duration)
    fast = np.isfinite(duration) & (duration < floor.item_floor[judgments.item])
    per = np.bincount(judgments.worker[fast], minlength=judgments.n_workers)
    who = pl.DataFrame({"worker": judgments.worker_ids.cast(pl.String), "below_floor": per}) \
        .filter(pl.col("below_floor") > 0)
    table = result.workers.with_columns(pl.col("worker").cast(pl.String)).join(who, on="worker") \
        .join(acc, on="worker", how="left").sort(["below_floor", "worker"], descending=[True, False])
    lines += ["| annotator | judgments below floor | timed | share | too_fast p-value | flagged | flags | gold accuracy |",
              "|---|---:|---:|---:|---:|---|---|---:|"]
    shown = 15
    for row in table.head(shown).iter_rows(named=True):
        p = row["too_fast_p_value"]
        lines.append(f"| {row['worker']} | {row['below_floor']} | {row['too_fast_n']} | {row['too_fast_statistic']:.3f} | "
                     f"{'-' if p is None else f'{p:.3g}'} | {row['flagged']} | {', '.join(row['flags']) or '-'} | "
                     f"{row['gold_accuracy']:.3f} |")
    if table.height > shown:
        lines.append(f"| ... and {table.height - shown} more annotators with fewer judgments below the floor | | | | | | | |")
    lines.append("")
    report["speed_floor"] = {"describe": floor.describe(), "seconds": floor.seconds, "mode": floor.mode,
                             "tripped": table.select("worker", "below_floor", "too_fast_n", "flagged").to_dicts()}
    return lines


def speed(size: float, report: dict) -> list[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--speed-child", str(size)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return ["## 4. Speed", "", "speed run failed:", "```", out.stderr[-3000:], "```", ""]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    report["speed"] = result
    lines = ["## 4. Speed: all detectors on synthetic judgments", "",
             f"{result['summary']}; durations, session submission times, gold on 2% of items. Fresh process; "
             f"kernels warmed up on a 20k-judgment input first (compilation / cache load "
             f"{result['warmup_seconds']:.1f} s, not counted).", "",
             "| stage | seconds |", "|---|---:|"]
    for stage, seconds in result["stages"].items():
        lines.append(f"| {stage} | {seconds:.2f} |")
    lines += [f"| **total (detect_fraud on Judgments)** | **{result['total_seconds']:.2f}** |", "",
              f"Peak RSS of the process {result['peak_rss_mb']:.0f} MB; RSS before detection (data loaded) "
              f"{result['rss_before_mb']:.0f} MB, so detection added at most {result['peak_increase_mb']:.0f} MB "
              f"({result['peak_how']}). Flagged {result['flagged']} of {result['n_workers']} synthetic annotators "
              f"(the generator's spammers, straight-liners and adversarial annotators). Goal: < 30 s.", ""]
    return lines


def _status() -> dict[str, int]:
    values = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, rest = line.split(":")
                values[key] = int(rest.split()[0]) * 1024
    return values


def speed_child(size: float) -> None:
    import numba

    import synthetic
    from consensus.data import Judgments
    from consensus.fraud import FraudConfig, run_detectors
    from consensus.fraud import detect as detect_module
    from consensus.fraud._base import Context

    def build(data, seed: int) -> Judgments:
        rng = np.random.default_rng(seed)
        W = data.n_workers
        order = np.lexsort((rng.random(data.n_judgments), data.worker))
        duration = data.duration.astype(np.float64)
        steps = np.cumsum(duration[order] + rng.exponential(3.0, order.size))
        offsets = np.zeros(W + 1, dtype=np.int64)
        np.cumsum(np.bincount(data.worker, minlength=W), out=offsets[1:])
        before = np.where(offsets[:-1] > 0, steps[np.maximum(offsets[:-1] - 1, 0)], 0.0)
        submitted = np.empty(data.n_judgments)
        submitted[order] = np.repeat(rng.uniform(0, 14 * DAY, W) - before, np.diff(offsets)) + steps
        gold = np.where(rng.random(data.n_items) < 0.02, data.truth, -1).astype(np.int32)
        return Judgments(data.item, data.worker, data.label, pl.Series("item", np.arange(data.n_items)),
                         pl.Series("worker", np.arange(W)), [str(k) for k in range(data.n_classes)],
                         duration=duration, submitted=submitted, gold=gold,
                         input_row=np.arange(data.n_judgments, dtype=np.int64))

    t = time.perf_counter()
    run_detectors(build(synthetic.for_size(20_000, 5, seed=1), 1), FraudConfig())
    warmup = time.perf_counter() - t
    data = synthetic.for_size(int(size), 5, seed=0)
    summary = data.summary()
    config = FraudConfig()
    judgments = build(data, 0)
    del data
    before = _status()
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        how = "VmHWM reset before detection"
    except OSError:
        how = "process VmHWM"
    # stage times on one Context, as run_detectors runs them
    stages: dict[str, float] = {}
    start = time.perf_counter()
    ctx = Context(judgments, config)
    t = time.perf_counter()
    _ = judgments.worker_order, judgments.worker_offsets, judgments.item_by_worker, judgments.label_by_worker
    stages["worker index (Judgments)"] = time.perf_counter() - t
    t = time.perf_counter()
    _ = ctx.model
    stages[f"Dawid-Skene consensus ({ctx.model.n_iter_} EM iterations)"] = time.perf_counter() - t
    t = time.perf_counter()
    _ = ctx.post, ctx.factor, ctx.agreement, ctx.sequence_order
    stages["leave-one-out consensus, agreement, sequence order"] = time.perf_counter() - t
    outputs = {}
    for name, runner in detect_module._RUNNERS.items():
        t = time.perf_counter()
        outputs[name] = runner(ctx)
        stages[f"detector {name}"] = time.perf_counter() - t
    stage_total = time.perf_counter() - start
    # the real end-to-end call, on a fresh Judgments (nothing cached)
    fresh = Judgments(judgments.item, judgments.worker, judgments.label, judgments.item_ids, judgments.worker_ids,
                      judgments.classes, duration=judgments.duration, submitted=judgments.submitted,
                      gold=judgments.gold, input_row=judgments.input_row)
    del ctx, outputs
    t = time.perf_counter()
    result = run_detectors(fresh, config)
    total = time.perf_counter() - t
    after = _status()
    print(json.dumps({
        "summary": summary, "warmup_seconds": warmup, "stages": stages, "stage_total": stage_total,
        "total_seconds": total, "peak_rss_mb": after["VmHWM"] / 2**20, "rss_before_mb": before["VmRSS"] / 2**20,
        "peak_increase_mb": (after["VmHWM"] - before["VmRSS"]) / 2**20, "peak_how": how,
        "flagged": int(result.flagged_mask.sum()), "n_workers": fresh.n_workers,
        "threads": numba.get_num_threads(), "threading_layer": numba.threading_layer(),
    }))


def machine() -> str:
    import numba

    import consensus

    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"Machine: {cpu}, {os.cpu_count()} logical cores, numba threads {numba.get_num_threads()}; "
            f"load average at start {load:.1f} (other processes share the cores). Versions: python "
            f"{platform.python_version()}, consensus {consensus.__version__}, numba {numba.__version__}, "
            f"polars {pl.__version__}, numpy {np.__version__}.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "datasets"),
                        help="folder of real datasets (default ../shared/datasets next to the repository)")
    parser.add_argument("--datasets", nargs="*", help="only these dataset folders")
    parser.add_argument("--rates", nargs="+", type=float, default=[0.05, 0.15])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--honeypots", type=float, default=0.1, help="share of items given as gold (default 0.1)")
    parser.add_argument("--size", type=float, default=1e7, help="judgments in the speed run (default 1e7)")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-injection", action="store_true")
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--speed-child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.speed_child:
        speed_child(args.speed_child)
        return 0
    data_dir = Path(args.data)
    names = args.datasets or datasets(data_dir)
    report: dict = {"args": {k: os.path.relpath(Path(v).resolve(), ROOT) if k in ("data", "out") else v
                             for k, v in vars(args).items()}, "machine": machine()}
    lines = ["# consensus fraud benchmark", "", report["machine"], "",
             f"Command: `python benchmarks/fraud.py {' '.join(argv if argv is not None else sys.argv[1:])}`", ""]
    if not args.skip_injection:
        lines += injection(data_dir, names, args.rates, args.seeds, args.honeypots, report)
    lines += untouched(data_dir, names, report)
    if "weather_sentiment_amt" in names:
        lines += speed_floor(data_dir, report)
    if not args.skip_speed:
        lines += speed(args.size, report)
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fraud.md").write_text(text, encoding="utf-8")
    (out / "fraud.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
