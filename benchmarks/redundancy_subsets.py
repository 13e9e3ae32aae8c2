"""How steady is the replay's target? Dawid-Skene on random shares of the labels vs on all of them.

    python benchmarks/redundancy_subsets.py [--data ../shared/datasets] [--datasets snow_rte ...]
                                            [--shares 0.5 0.7 0.9] [--draws 20] [--out benchmarks/results]

The redundancy replay (``benchmarks/redundancy.py``) asks adaptive labelling to
come within 0.5 points of Dawid-Skene on *all* labels. That figure is one draw:
on a few hundred gold items it moves by a gold item or two with any change of
the labels. For every dataset the replay uses (same eligibility, same loading),
this script fits Dawid-Skene on ``--draws`` seeded random subsets keeping each
judgment with probability S (every S of ``--shares``) and reports the mean and
standard deviation of the gold accuracy and the share of draws that land within
0.5 points of the all-labels figure. Where even 90% of the labels, chosen at
random, rarely get there, the all-labels figure is above what Dawid-Skene
typically reaches on that crowd, and an adaptive scheme with half the labels
must beat it by choosing which labels to buy, not by luck.
Labels do not depend on the calibration, so the fits use ``calibration="none"``.
Writes ``redundancy_subsets.md`` / ``.json`` to ``--out``; prints the table,
wall time and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from redundancy import ROOT, accuracy, eligible, load, peak_rss_mb, subset  # noqa: E402

from consensus import DawidSkene  # noqa: E402

TOLERANCE = 0.005  # the replay's goal: within 0.5 points of Dawid-Skene on all labels


def run_dataset(folder: Path, shares: list[float], draws: int) -> dict:
    judgments, truth = load(folder)
    no_gold = np.full(judgments.n_items, -1, dtype=np.int32)
    everything = accuracy(DawidSkene(calibration="none").fit(judgments), truth)
    rows = []
    for share in shares:
        scores = []
        for draw in range(draws):
            keep = np.random.default_rng([draw, int(round(share * 1000))]).random(judgments.n_judgments) < share
            scores.append(accuracy(DawidSkene(calibration="none").fit(subset(judgments, keep, no_gold)), truth))
        scores = np.array(scores)
        rows.append({"share": share, "mean": float(scores.mean()), "sd": float(scores.std()),
                     "within": float((scores >= everything - TOLERANCE - 1e-12).mean()),
                     "accuracies": scores.tolist()})
    return {"dataset": folder.name, "n_gold": int((truth >= 0).sum()), "n_judgments": judgments.n_judgments,
            "all": everything, "subsets": rows}


def table(results: list[dict], shares: list[float], draws: int) -> list[str]:
    lines = [
        f"Each cell: Dawid-Skene gold accuracy on a random share of the judgments, mean ± sd over {draws} "
        "seeded draws, and in brackets the share of draws within 0.5 points of Dawid-Skene on all judgments.",
        "",
        "| dataset | gold items | one item (points) | DS all | " + " | ".join(f"{s:.0%} of labels" for s in shares) + " |",
        "|---|---:|---:|---:|" + "---|" * len(shares),
    ]
    for r in results:
        cells = [f"{row['mean']:.4f} ± {row['sd']:.4f} ({row['within']:.0%})" for row in r["subsets"]]
        lines.append(f"| {r['dataset']} | {r['n_gold']} | {100 / r['n_gold']:.2f} | {r['all']:.4f} | "
                     + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--datasets", nargs="*", help="folder names (default: every one the replay uses)")
    parser.add_argument("--shares", nargs="+", type=float, default=[0.5, 0.7, 0.9])
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    names = args.datasets or eligible(args.data)
    results = []
    for name in names:
        results.append(run_dataset(args.data / name, args.shares, args.draws))
        print(f"{name}: done ({time.perf_counter() - t0:.0f} s)", flush=True)
    command = "python benchmarks/redundancy_subsets.py" + (" " + " ".join(argv if argv is not None else sys.argv[1:])
                                                           if (argv if argv is not None else sys.argv[1:]) else "")
    lines = ["# Dawid-Skene on random shares of the labels", "", f"`{command}`: {time.perf_counter() - t0:.0f} s, "
             f"peak RSS {peak_rss_mb():.0f} MB.", "", *table(results, args.shares, args.draws), ""]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "redundancy_subsets.md").write_text("\n".join(lines))
    (args.out / "redundancy_subsets.json").write_text(json.dumps(
        {"command": command, "shares": args.shares, "draws": args.draws, "results": results}, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
