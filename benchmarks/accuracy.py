"""Accuracy of consensus vs crowd-kit on real crowdsourcing datasets with gold.

    python benchmarks/accuracy.py [--data ../shared/datasets] [--out benchmarks/results]

For every folder under ``--data`` (default: ``../shared/datasets`` relative to
the repository root) that has ``judgments.csv`` and ``gold.csv``:

* load the judgments with ``consensus.read_judgments(path)`` -- *without* gold,
  so Dawid-Skene is fully unsupervised (no gold clamping); the loader
  quarantines repeated (item, worker) judgments (keeps the first), and the
  number of quarantined rows is reported;
* fit consensus ``MajorityVote()`` and ``DawidSkene()`` (defaults: max_iter=100,
  tol=1e-7) and crowd-kit ``MajorityVote()`` and ``DawidSkene(n_iter=100)``
  (default tol=1e-5, which often stops it after 2-3 iterations; a second run
  with tol=-inf does all 100) on the same de-duplicated judgments;
* score accuracy on the gold items that have judgments. For majority vote the
  expected accuracy under a uniformly random tie-break (a tie of t classes that
  includes the gold class counts 1/t) is reported too -- that is how the
  SOURCE notes count their MV figures -- plus the same figure on the raw rows
  with duplicates kept, to show how much the quarantine moves MV;
* print the table next to the reference figures copied from each SOURCE.md and
  flag datasets where our DS is below crowd-kit's DS or below the reference
  D&S figure, or where our MV (ties split) is more than 1 point from the
  SOURCE MV figure.

Results: Markdown on stdout and ``accuracy.md`` + ``accuracy.json`` in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# External reference figures -- NOT our results. Each entry is copied from
# /work/shared/datasets/<name>/SOURCE.md (sections "Counts" and "Published or
# reference accuracies"):
#   mv: the SOURCE note's own majority-vote accuracy on gold items, ties split
#       evenly (computed by whoever prepared the dataset, on the raw file);
#   ds: the D&S (c_EM) figure from zhydhkcws/crowd_truth_infer stored outputs
#       (exp-3, 0% golden tasks, averaged over the stored runs), where given.
REFERENCE: dict[str, dict] = {
    # adult_content2/SOURCE.md: "On the 333 judged gold items, MV (ours) is 0.7598."
    "adult_content2": {"mv": 0.7598},
    # bluebirds/SOURCE.md: D&S (c_EM) 0.8796; MV (ours) 0.7593.
    "bluebirds": {"mv": 0.7593, "ds": 0.8796},
    # music_genre/SOURCE.md: MV 0.7042 (188 tied items); no published table retrieved.
    "music_genre": {"mv": 0.7042},
    # snow_rte/SOURCE.md: MV 0.8969; accuracy_c_EM 0.9275 "indicative only" (split unclear).
    "snow_rte": {"mv": 0.8969, "ds": 0.9275, "note": "D&S reference indicative only (golden split unclear)"},
    # snow_temp/SOURCE.md: MV 0.9361.
    "snow_temp": {"mv": 0.9361},
    # snow_wsd/SOURCE.md: MV 0.9944.
    "snow_wsd": {"mv": 0.9944},
    # weather_sentiment_amt/SOURCE.md: D&S 0.8567 (6000-answer copy); MV 0.8533 (6030-row file).
    "weather_sentiment_amt": {"mv": 0.8533, "ds": 0.8567, "note": "D&S reference on the 6000-answer copy"},
    # weather_sentiment_cf/SOURCE.md: MV 0.8822; README: "sparse workers; MV beats DS".
    "weather_sentiment_cf": {"mv": 0.8822},
    # zencrowd/SOURCE.md: MV 0.8319 (146 tied items) on ZenCrowd_all.
    "zencrowd": {"mv": 0.8319},
    # zheng_dog/SOURCE.md: D&S (c_EM) 0.8426; MV (ours) 0.8222.
    "zheng_dog": {"mv": 0.8222, "ds": 0.8426},
    # zheng_face/SOURCE.md: D&S (c_EM) 0.6404; MV (ours) 0.6367.
    "zheng_face": {"mv": 0.6367, "ds": 0.6404},
}

MV_TOLERANCE = 0.01  # flag our MV when it is more than 1 point from the SOURCE figure


def raw_mv_expected(judgments_csv: Path, gold: pl.DataFrame) -> tuple[float, int]:
    """MV expected accuracy (ties split) on every raw row, duplicates included."""
    raw = pl.read_csv(judgments_csv, infer_schema=False).select(
        pl.col("item"), pl.col("label").str.strip_chars())
    counts = raw.group_by("item", "label").len()
    top = counts.with_columns(pl.col("len").max().over("item").alias("top")).filter(pl.col("len") == pl.col("top"))
    per_item = top.group_by("item").agg(pl.col("label"), pl.len().alias("n_top"))
    scored = gold.join(per_item, on="item", how="inner").with_columns(
        (pl.col("label_right").list.contains(pl.col("label")).cast(pl.Float64) / pl.col("n_top")).alias("score"))
    return float(scored.get_column("score").mean()), scored.height


def evaluate(folder: Path) -> dict:
    import consensus
    from crowdkit.aggregation import DawidSkene as CKDawidSkene
    from crowdkit.aggregation import MajorityVote as CKMajorityVote
    import pandas as pd

    name = folder.name
    started = time.perf_counter()
    judgments = consensus.read_judgments(folder / "judgments.csv")
    quarantine = judgments.quarantine
    reasons = {}
    if quarantine is not None and quarantine.height:
        short = quarantine.get_column("reason").str.replace(r";.*$", "")
        reasons = dict(zip(*short.value_counts(sort=True).to_dict(as_series=False).values()))

    gold_table = pl.read_csv(folder / "gold.csv", infer_schema=False).select(
        pl.col("item"), pl.col("label").str.strip_chars())
    item_index = pl.DataFrame({"item": judgments.item_ids.cast(pl.String),
                               "code": np.arange(judgments.n_items)})
    joined = gold_table.join(item_index, on="item", how="inner")
    class_code = {c: k for k, c in enumerate(judgments.classes)}
    gold_items = joined.get_column("code").to_numpy()
    gold_labels = np.array([class_code.get(c, -1) for c in joined.get_column("label").to_list()], dtype=np.int64)
    n_gold_unknown_class = int((gold_labels < 0).sum())

    def acc(labels) -> float:
        return float(((np.asarray(labels)[gold_items] == gold_labels) & (gold_labels >= 0)).mean())

    mv = consensus.MajorityVote().fit(judgments)
    ds = consensus.DawidSkene().fit(judgments)
    # diagnostic: classical maximum-likelihood settings (no default prior), the model crowd-kit fits
    ds_ml = consensus.DawidSkene(prior_strength=0.0, alpha=1e-9, beta=0.0, calibration="none").fit(judgments)
    # a gold class nobody chose (code -1) can never be right
    per_item = expected_hits(mv.probas_[gold_items], np.where(gold_labels >= 0, gold_labels, 0))
    mv_expected = float(np.where(gold_labels >= 0, per_item, 0.0).mean())

    used = judgments.label >= 0
    frame = pd.DataFrame({"task": judgments.item[used], "worker": judgments.worker[used],
                          "label": judgments.label[used]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ck_mv = CKMajorityVote().fit_predict(frame)
        ck_ds_model = CKDawidSkene(n_iter=100).fit(frame)
        ck_ds_full = CKDawidSkene(n_iter=100, tol=-np.inf).fit(frame)  # all 100 iterations
    codes = np.arange(judgments.n_items)
    ck_mv_labels = ck_mv.reindex(codes).fillna(-1).to_numpy().astype(np.int64)
    ck_ds_labels = ck_ds_model.labels_.reindex(codes).fillna(-1).to_numpy().astype(np.int64)
    ck_ds_full_labels = ck_ds_full.labels_.reindex(codes).fillna(-1).to_numpy().astype(np.int64)

    raw_mv, _ = raw_mv_expected(folder / "judgments.csv", gold_table)
    pairs = (pl.read_csv(folder / "judgments.csv", infer_schema=False)
             .group_by("item", "worker").agg(pl.len(), pl.col("label").str.strip_chars().n_unique().alias("n_labels"))
             .filter(pl.col("len") > 1))
    result = {
        "dataset": name,
        "n_classes": judgments.n_classes,
        "n_items": judgments.n_items,
        "n_workers": judgments.n_workers,
        "n_input_rows": judgments.n_input_rows,
        "n_judgments": judgments.n_judgments,
        "n_quarantined": judgments.n_quarantined,
        "quarantine_reasons": reasons,
        "duplicated_pairs": pairs.height,
        "duplicated_pairs_conflicting": int((pairs.get_column("n_labels") > 1).sum()),
        "n_gold_rows": gold_table.height,
        "n_gold_evaluated": int(gold_items.size),
        "n_gold_unknown_class": n_gold_unknown_class,
        "mv_expected": mv_expected,
        "mv_seeded": acc(mv.labels_),
        "mv_n_tied_gold": int((mv.n_tied_[gold_items] > 1).sum()),
        "mv_raw_expected": raw_mv,
        "crowdkit_mv": acc(ck_mv_labels),
        "ds": acc(ds.labels_),
        "ds_n_iter": ds.n_iter_,
        "ds_converged": bool(ds.converged_),
        "ds_ml": acc(ds_ml.labels_),
        "ds_ml_n_iter": ds_ml.n_iter_,
        "crowdkit_ds": acc(ck_ds_labels),
        "crowdkit_ds_n_iter": len(ck_ds_model.loss_history_),
        "crowdkit_ds_full": acc(ck_ds_full_labels),
        "reference": REFERENCE.get(name, {}),
        "seconds": time.perf_counter() - started,
    }
    result["flags"] = flags(result)
    return result


def expected_hits(scores: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Per row: [gold is among the top-scoring classes] / (number of top classes); 0 when no votes."""
    top = np.nanmax(scores, axis=1, keepdims=True) if scores.size else np.zeros((0, 1))
    tied = (scores == top) & (top > 0)
    n_tied = tied.sum(axis=1)
    return np.where(n_tied > 0, tied[np.arange(gold.size), gold] / np.maximum(n_tied, 1), 0.0)


def flags(r: dict) -> list[str]:
    out = []
    ref = r["reference"]
    n = r["n_gold_evaluated"]
    if r["ds"] < r["crowdkit_ds"]:
        out.append(f"our DS {r['ds']:.4f} < crowd-kit DS {r['crowdkit_ds']:.4f} (n_iter=100, default tol; "
                   f"stopped after {r['crowdkit_ds_n_iter']}): {round((r['crowdkit_ds'] - r['ds']) * n)} "
                   f"gold item(s)")
    if r["ds"] < r["crowdkit_ds_full"]:
        out.append(f"our DS {r['ds']:.4f} < crowd-kit DS run for all 100 iterations "
                   f"{r['crowdkit_ds_full']:.4f}: {round((r['crowdkit_ds_full'] - r['ds']) * n)} gold item(s)")
    if "ds" in ref and round(r["ds"], 4) < ref["ds"]:  # the reference is given to 4 decimals
        out.append(f"our DS {r['ds']:.4f} < reference D&S {ref['ds']:.4f}: "
                   f"{(ref['ds'] - r['ds']) * n:.1f} gold item(s)")
    if "mv" in ref and abs(r["mv_expected"] - ref["mv"]) > MV_TOLERANCE:
        out.append(f"our MV {r['mv_expected']:.4f} is {100 * (r['mv_expected'] - ref['mv']):+.1f} points "
                   f"from SOURCE MV {ref['mv']:.4f}")
    return out


def git_state(repo: Path) -> str:
    """``<commit> (+ uncommitted changes in src/)`` of the code being measured, or "unknown"."""
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--", "src"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes in src/" if dirty else "")


def ds_defaults() -> str:
    """The default parameters of consensus.DawidSkene, as ``name=value`` text."""
    import inspect

    from consensus import DawidSkene

    return ", ".join(f"{name}={p.default!r}" for name, p in inspect.signature(DawidSkene).parameters.items()
                     if p.default is not inspect.Parameter.empty and p.default is not None)


def render(results: list[dict], command: str, versions: dict) -> str:
    def f(x):
        return "-" if x is None else f"{x:.4f}"

    lines = [
        "# consensus accuracy benchmark",
        "",
        f"Command: `{command}`",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        "",
        "Accuracy on gold items that have judgments. Judgments loaded with `consensus.read_judgments` "
        "(no gold: fully unsupervised); every method sees the same de-duplicated judgments. "
        "*MV ½*: expected accuracy with a t-way tie counted 1/t (how the SOURCE notes count); "
        "*MV seeded*: our MajorityVote's actual labels (seeded random tie-break); "
        "*MV raw ½*: MV ½ on all raw rows, duplicates included. "
        "*ref* columns are external figures copied from each dataset's SOURCE.md, not our results.",
        "",
        "| dataset | K | items | gold | rows | quarantined | MV ½ | MV seeded | MV raw ½ | ref MV | "
        "crowd-kit MV | DS | DS iter | DS ML | crowd-kit DS | ck iter | crowd-kit DS 100 it | ref D&S | flags |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        ref = r["reference"]
        lines.append(
            f"| {r['dataset']} | {r['n_classes']} | {r['n_items']:,} | {r['n_gold_evaluated']:,} | "
            f"{r['n_input_rows']:,} | {r['n_quarantined']:,} | {f(r['mv_expected'])} | {f(r['mv_seeded'])} | "
            f"{f(r['mv_raw_expected'])} | {f(ref.get('mv'))} | {f(r['crowdkit_mv'])} | {f(r['ds'])} | "
            f"{r['ds_n_iter']}{'' if r['ds_converged'] else '*'} | {f(r['ds_ml'])} | {f(r['crowdkit_ds'])} | "
            f"{r['crowdkit_ds_n_iter']} | {f(r['crowdkit_ds_full'])} | {f(ref.get('ds'))} | {len(r['flags']) or ''} |")
    lines += ["", f"*DS*: consensus `DawidSkene()` with its defaults ({ds_defaults()}); `*` = hit "
              "max_iter without converging. *DS ML*: ours with classical maximum-likelihood settings "
              "(prior_strength=0, alpha=1e-9, beta=0), a diagnostic, not flagged. *crowd-kit DS*: `DawidSkene(n_iter=100)` with its default tol=1e-5 "
              "(*ck iter* = iterations it ran); *crowd-kit DS 100 it*: tol=-inf, all 100 iterations.",
              "", "## Flags", ""]
    flagged = [r for r in results if r["flags"]]
    if not flagged:
        lines.append("None.")
    for r in flagged:
        for text in r["flags"]:
            lines.append(f"- **{r['dataset']}**: {text}")
    below_mv = [r for r in results if r["ds"] < r["mv_expected"]]
    if below_mv:
        lines += ["", "Not a flag, but worth knowing: our DS is below MV (ties split) on "
                  + ", ".join(f"{r['dataset']} ({r['ds']:.4f} vs {r['mv_expected']:.4f})" for r in below_mv) + "."]
    lines += ["", "## Quarantined rows", ""]
    for r in results:
        if r["n_quarantined"]:
            reasons = "; ".join(f"{n} x {reason}" for reason, n in r["quarantine_reasons"].items())
            lines.append(f"- {r['dataset']}: {r['n_quarantined']:,} of {r['n_input_rows']:,} rows ({reasons}); "
                         f"{r['duplicated_pairs']:,} (item, worker) pairs are repeated, "
                         f"{r['duplicated_pairs_conflicting']:,} of them with different labels (the first is kept)")
    notes = [f"- {r['dataset']}: {r['reference']['note']}" for r in results if "note" in r["reference"]]
    if notes:
        lines += ["", "## Reference notes", "", *notes]
    unknown = [r for r in results if r["n_gold_unknown_class"]]
    for r in unknown:
        lines.append(f"- {r['dataset']}: {r['n_gold_unknown_class']} gold items name a class no annotator "
                     "chose (always counted wrong)")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO / ".." / "shared" / "datasets",
                        help="folder of dataset folders (default ../shared/datasets from the repo root)")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="output folder")
    args = parser.parse_args(argv)
    data = args.data.resolve()
    folders = sorted(p for p in data.iterdir()
                     if p.is_dir() and (p / "judgments.csv").exists() and (p / "gold.csv").exists())
    if not folders:
        parser.error(f"no folder with judgments.csv and gold.csv under {data}")

    import consensus
    import crowdkit
    import pandas

    versions = {"consensus": consensus.__version__, "crowd-kit": crowdkit.__version__,
                "pandas": pandas.__version__, "polars": pl.__version__, "numpy": np.__version__,
                "code": git_state(REPO)}
    started = time.perf_counter()
    results = []
    for folder in folders:
        r = evaluate(folder)
        print(f"{r['dataset']:<24} MV {r['mv_expected']:.4f}  DS {r['ds']:.4f}  crowd-kit DS {r['crowdkit_ds']:.4f}"
              f"  ({r['seconds']:.1f} s){'  FLAG' if r['flags'] else ''}", flush=True)
        results.append(r)
    command = "python benchmarks/accuracy.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = render(results, command.strip(), versions)
    print("\n" + text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "accuracy.md").write_text(text)
    (args.out / "accuracy.json").write_text(json.dumps(
        {"command": command.strip(), "data": str(data), "versions": versions,
         "consensus_ds_defaults": ds_defaults(), "results": results,
         "total_seconds": time.perf_counter() - started}, indent=2) + "\n")
    print(f"wrote {args.out / 'accuracy.md'} and {args.out / 'accuracy.json'} "
          f"(total {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
