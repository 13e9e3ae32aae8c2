"""What the gold calibrations' out-of-fold refits cost, on synthetic judgments with a gold sample.

    python benchmarks/gold_calibration.py [--judgments 1e6] [--classes 5] [--gold 2000] [--repeats 3]

The gold calibrations (``calibration="gold"`` / ``"item_gold"``) refit the model
once per fold of the gold items (:data:`consensus.calibration.GOLD_FOLDS`) so
that each gold item's posterior comes from a fit that did not clamp it. This
script measures, on ``benchmarks/synthetic.py``'s standard tier with a seeded
random gold sample of ``--gold`` items (clamped in every fit):

* Dawid-Skene fitted with ``item`` (gold-free temperature, no refits) vs
  ``item_gold`` (the refits);
* ``Auto`` with ``item`` vs ``item_gold`` (it screens its candidates gold-free
  and refits only the chosen one);
* the whole ``consensus.audit`` with the gold sample, per step.

Median wall time of ``--repeats`` runs after a warm-up on a small input
(kernels compiled or loaded from cache), the ratio item_gold / item, and the
process's peak RSS. No peer runs this calibration, so the ratios are against
our own gold-free mode.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import consensus  # noqa: E402
from synthetic import for_size  # noqa: E402


def frames(n_judgments: int, n_classes: int, n_gold: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    data = for_size(n_judgments, n_classes, seed=0)
    judgments = pl.DataFrame({"item": data.item, "worker": data.worker, "label": data.label.astype(str)})
    chosen = np.sort(np.random.default_rng(1).choice(data.truth.size, size=min(n_gold, data.truth.size),
                                                     replace=False))
    gold = pl.DataFrame({"item": chosen.astype(np.int32), "label": data.truth[chosen].astype(str)})
    return judgments, gold


def timed(run, repeats: int) -> float:
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - t0)
    return float(np.median(seconds))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judgments", type=float, default=1e6)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--gold", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    small, small_gold = frames(5_000, args.classes, 100)
    consensus.audit(consensus.read_judgments(small, gold=small_gold), claimed_accuracy=0.9)  # warm-up

    frame, gold = frames(int(args.judgments), args.classes, args.gold)
    judgments = consensus.read_judgments(frame, gold=gold)
    print(f"{judgments.n_judgments:,} judgments, {judgments.n_items:,} items, {judgments.n_workers:,} workers, "
          f"{args.classes} classes, {args.gold:,} gold items; median of {args.repeats}")
    rows = []
    for label, model in (("DawidSkene", consensus.DawidSkene), ("Auto", consensus.Auto)):
        free = timed(lambda: model(calibration="item").fit(judgments), args.repeats)
        with_gold = timed(lambda: model(calibration="item_gold").fit(judgments), args.repeats)
        rows.append((label, free, with_gold))
        print(f"{label:10s} item {free:6.2f} s   item_gold {with_gold:6.2f} s   ratio {with_gold / free:4.2f}")
    result = consensus.audit(judgments, claimed_accuracy=0.9)
    steps = ", ".join(f"{k} {v:.2f}" for k, v in result.timings.items())
    print(f"audit with gold (one run): {sum(result.timings.values()):.2f} s ({steps})")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
