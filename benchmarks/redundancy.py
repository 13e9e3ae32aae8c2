"""Redundancy replay benchmark: adaptive labelling driven by ``advise_redundancy`` vs fixed k-redundancy.

    python benchmarks/redundancy.py [--data ../shared/datasets] [--datasets snow_rte ...]
                                    [--targets 0.95 0.99] [--start 1] [--reveal advice|one]
                                    [--order-seed 0] [--out benchmarks/results]

For every dataset folder under ``--data`` with ``judgments.csv`` and ``gold.csv``
and at least 5 judgments per item on average, each item's real judgments are put
in a fixed random order (seeded by ``--order-seed``).

* **Fixed k** (k = 1 .. the most any item has): Dawid-Skene on each item's first
  k judgments (all of them where it has fewer); accuracy on the gold items and
  labels used.
* **All**: Dawid-Skene on every judgment (the reference accuracy).
* **Adaptive** (per ``--targets``): reveal each item's first ``--start``
  judgments; then repeat: fit Dawid-Skene on what is revealed, ask
  ``advise_redundancy(model, target=T, max_labels=<judgments the item has>)``,
  and reveal the next judgments (``extra_labels`` of them with ``--reveal advice``,
  one with ``--reveal one``) of every ``label_more`` item; stop when no
  ``label_more`` item has judgments left. Items the advice sends to
  ``expert_review`` get no more crowd labels (the replay has no expert: they keep
  the crowd's label, and are counted); with ``--experts crowd`` they instead keep
  getting one more crowd label per round while any is left (the stopping rule
  alone is measured).

Reported per dataset: accuracy on gold and labels used (total and share of all
judgments) for every scheme; for the adaptive runs, the fixed-k accuracy at the
same budget (linear interpolation between the neighbouring k), rounds and
expert items. The goal: adaptive accuracy within 0.5 points of Dawid-Skene on
all labels with at most 50% of the labels, and above fixed redundancy at equal
budget. Writes ``redundancy.md`` and ``redundancy.json`` to ``--out`` and prints
the tables, wall time and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

from consensus import DawidSkene, Judgments, advise_redundancy, read_judgments  # noqa: E402

MIN_MEAN_LABELS = 5.0


# -- data ---------------------------------------------------------------------------------------

def eligible(data_dir: Path) -> list[str]:
    names = []
    for folder in sorted(data_dir.iterdir()):
        if (folder / "judgments.csv").exists() and (folder / "gold.csv").exists():
            items = pl.read_csv(folder / "judgments.csv", infer_schema=False, columns=["item"])
            if items.height / items["item"].n_unique() >= MIN_MEAN_LABELS:
                names.append(folder.name)
    return names


def load(folder: Path) -> tuple[Judgments, np.ndarray]:
    """Judgments (no gold attached: the fits must not see it) and gold class codes per item (-1 = none)."""
    judgments = read_judgments(folder / "judgments.csv")
    gold = pl.read_csv(folder / "gold.csv", infer_schema=False)
    item_col = next(c for c in gold.columns if c.lower() in ("item", "task", "id"))
    label_col = next(c for c in gold.columns if c != item_col)
    codes = {name: k for k, name in enumerate(judgments.classes)}
    by_item = dict(zip(gold[item_col].to_list(), gold[label_col].to_list(), strict=True))
    truth = np.array([codes.get(by_item.get(str(i)), -1) for i in judgments.item_ids.cast(pl.String).to_list()],
                     dtype=np.int32)
    return judgments, truth


def order_ranks(judgments: Judgments, seed: int) -> np.ndarray:
    """Position of every judgment in its item's fixed random order (0 = revealed first)."""
    rng = np.random.default_rng(seed)
    key = rng.random(judgments.n_judgments)
    order = np.lexsort((key, judgments.item))
    rank = np.empty(judgments.n_judgments, dtype=np.int64)
    starts = judgments.item_offsets[judgments.item[order]]
    rank[order] = np.arange(judgments.n_judgments) - starts
    return rank


def subset(judgments: Judgments, keep: np.ndarray) -> Judgments:
    """The revealed judgments, with the same item/worker/class code books."""
    return Judgments(judgments.item[keep], judgments.worker[keep], judgments.label[keep],
                     judgments.item_ids, judgments.worker_ids, judgments.classes, source=judgments.source)


def accuracy(model: DawidSkene, truth: np.ndarray) -> float:
    known = truth >= 0
    return float((model.labels_[known] == truth[known]).mean())


# -- schemes ------------------------------------------------------------------------------------

def fixed(judgments: Judgments, truth: np.ndarray, rank: np.ndarray) -> list[dict]:
    rows = []
    top = int(np.diff(judgments.item_offsets).max())
    for k in range(1, top + 1):
        keep = rank < k
        model = DawidSkene().fit(subset(judgments, keep))
        rows.append({"scheme": f"fixed k={k}", "k": k, "labels": int(keep.sum()), "accuracy": accuracy(model, truth)})
    return rows


def adaptive(judgments: Judgments, truth: np.ndarray, rank: np.ndarray, target: float, start: int,
             reveal: str, experts_mode: str = "keep", max_rounds: int = 200) -> dict:
    available = np.diff(judgments.item_offsets)
    revealed = np.minimum(start, available)
    rounds = 0
    experts = np.zeros(judgments.n_items, dtype=bool)
    while rounds < max_rounds:
        keep = rank < revealed[judgments.item]
        model = DawidSkene().fit(subset(judgments, keep))
        advice = advise_redundancy(model, target=target, max_labels=available.astype(np.int64))
        action = advice.items["action"].to_numpy()
        experts = action == "expert_review"
        asked = (action == "label_more") | (experts if experts_mode == "crowd" else False)
        more = asked & (revealed < available)
        if not more.any():
            break
        step = advice.items["extra_labels"].to_numpy() if reveal == "advice" else np.ones(judgments.n_items, int)
        step = np.where(experts, 1, step)  # --experts crowd: one more crowd label per round instead of the expert
        revealed = np.where(more, np.minimum(revealed + np.maximum(step, 1), available), revealed)
        rounds += 1
    keep = rank < revealed[judgments.item]
    counts = {a: int((action == a).sum()) for a in ("accept", "label_more", "expert_review")}
    known = truth >= 0
    expert_known = experts & known
    return {
        "scheme": f"adaptive target={target}", "target": target, "labels": int(keep.sum()),
        "accuracy": accuracy(model, truth), "rounds": rounds, "final_actions": counts,
        "expert_items": int(experts.sum()),
        "expert_accuracy": float((model.labels_[expert_known] == truth[expert_known]).mean())
        if expert_known.any() else None,
        "temperature": float(model.temperature_),
    }


def at_budget(fixed_rows: list[dict], labels: float) -> float:
    """Fixed-k accuracy interpolated linearly in labels used."""
    xs = np.array([r["labels"] for r in fixed_rows], dtype=float)
    ys = np.array([r["accuracy"] for r in fixed_rows])
    return float(np.interp(labels, xs, ys))


def run_dataset(folder: Path, targets: list[float], start: int, reveal: str, seed: int,
                experts_mode: str = "keep") -> dict:
    t0 = time.perf_counter()
    judgments, truth = load(folder)
    rank = order_ranks(judgments, seed)
    everything = DawidSkene().fit(judgments)
    all_row = {"scheme": "all labels", "labels": judgments.n_judgments, "accuracy": accuracy(everything, truth)}
    fixed_rows = fixed(judgments, truth, rank)
    adaptive_rows = []
    for target in targets:
        row = adaptive(judgments, truth, rank, target, start, reveal, experts_mode)
        row["fixed_at_budget"] = at_budget(fixed_rows, row["labels"])
        row["label_share"] = row["labels"] / judgments.n_judgments
        row["gap_to_all_points"] = 100 * (all_row["accuracy"] - row["accuracy"])
        row["goal_met"] = bool(row["gap_to_all_points"] <= 0.5 and row["label_share"] <= 0.5)
        row["beats_fixed"] = bool(row["accuracy"] > row["fixed_at_budget"])
        adaptive_rows.append(row)
    return {"dataset": folder.name, "items": judgments.n_items, "gold_items": int((truth >= 0).sum()),
            "classes": judgments.n_classes, "judgments": judgments.n_judgments, "all": all_row,
            "fixed": fixed_rows, "adaptive": adaptive_rows, "seconds": time.perf_counter() - t0}


# -- report -------------------------------------------------------------------------------------

def table(result: dict) -> list[str]:
    n = result["judgments"]
    lines = [f"### {result['dataset']} ({result['items']} items, {result['gold_items']} with gold, "
             f"{result['classes']} classes, {n} judgments)", "",
             "| scheme | labels | share of all | accuracy | fixed k at same budget | rounds | expert items |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    all_row = result["all"]
    lines.append(f"| DS, all labels | {all_row['labels']} | 100% | {all_row['accuracy']:.4f} | | | |")
    for r in result["adaptive"]:
        mark = " (goal met)" if r["goal_met"] else ""
        lines.append(f"| **{r['scheme']}**{mark} | {r['labels']} | {r['labels'] / n:.1%} | {r['accuracy']:.4f} | "
                     f"{r['fixed_at_budget']:.4f} | {r['rounds']} | {r['expert_items']} |")
    for r in result["fixed"]:
        lines.append(f"| {r['scheme']} | {r['labels']} | {r['labels'] / n:.1%} | {r['accuracy']:.4f} | | | |")
    return lines + [""]


def summary(results: list[dict]) -> list[str]:
    lines = ["| dataset | target | DS all | adaptive | gap (points) | labels used | fixed at budget | "
             "goal (<=0.5 pt, <=50%) | beats fixed |", "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for res in results:
        for r in res["adaptive"]:
            lines.append(f"| {res['dataset']} | {r['target']} | {res['all']['accuracy']:.4f} | {r['accuracy']:.4f} | "
                         f"{r['gap_to_all_points']:+.2f} | {r['label_share']:.1%} | {r['fixed_at_budget']:.4f} | "
                         f"{'yes' if r['goal_met'] else 'no'} | {'yes' if r['beats_fixed'] else 'no'} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--datasets", nargs="*", help="folder names (default: every eligible one)")
    parser.add_argument("--targets", nargs="+", type=float, default=[0.95, 0.99])
    parser.add_argument("--start", type=int, default=1, help="judgments revealed per item before the first fit")
    parser.add_argument("--reveal", choices=("advice", "one"), default="advice",
                        help="reveal extra_labels per round (advice) or one (one)")
    parser.add_argument("--experts", choices=("keep", "crowd"), default="keep",
                        help="expert_review items: keep their crowd label and stop (keep; the replay has no "
                        "expert), or keep revealing their crowd labels one per round (crowd)")
    parser.add_argument("--order-seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    names = args.datasets or eligible(args.data)
    t0 = time.perf_counter()
    results = []
    for name in names:
        res = run_dataset(args.data / name, args.targets, args.start, args.reveal, args.order_seed, args.experts)
        results.append(res)
        print("\n".join(table(res)), flush=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    command = "python benchmarks/redundancy.py " + " ".join(argv if argv is not None else sys.argv[1:])
    head = [f"# Redundancy replay ({platform.python_version()}, {platform.machine()})", "",
            f"`{command.strip()}`: start {args.start} label(s) per item, reveal {args.reveal}, "
            f"expert items {args.experts}, "
            f"order seed {args.order_seed}; wall {time.perf_counter() - t0:.0f} s, peak RSS {peak_mb:.0f} MB", ""]
    text = head + ["## Summary", ""] + summary(results) + ["", "## Per dataset", ""] + \
        [line for res in results for line in table(res)]
    print("\n".join(["## Summary", ""] + summary(results)))
    print(f"wall {time.perf_counter() - t0:.0f} s, peak RSS {peak_mb:.0f} MB")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "redundancy.md").write_text("\n".join(text) + "\n", encoding="utf-8")
    (args.out / "redundancy.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                          "results": results}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
