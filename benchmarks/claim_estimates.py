"""How far off is the gold-free accuracy estimate of ``consensus validate``? Measured on real crowds with gold.

    python benchmarks/claim_estimates.py [--data ../shared/datasets] [--datasets zencrowd ...] [--n-boot 2000]
                                         [--out benchmarks/results]

Without gold, ``validate_claim`` reports the model's own estimate of the
delivered accuracy (mean posterior probability of each delivered row label,
and of each class judgment) with a bootstrap interval over items. For every
dataset with ``judgments.csv`` and ``gold.csv`` this script fits the model
without gold exactly as ``validate`` does, takes that estimate, and compares
it with the accuracy measured on the gold items:

- *estimate (all rows)*: what ``validate`` reports, with its 95% bootstrap
  interval; it covers every delivered row, while gold may cover only some
  (adult_content2: 333 of 11,040, not a random sample);
- *estimate (gold rows)*: the same expectation over the gold rows only, the
  like-for-like figure; *error* = estimate on gold rows - measured;
- *covered*: whether the bootstrap interval contains the measured accuracy.

Configurations: ``validate``'s default (``auto``, per-item calibration) and the
earlier default (Dawid-Skene with the ``loo`` temperature). Writes
``claim_estimates.md`` / ``.json`` to ``--out`` and prints the table.
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

from accuracy import gold_folders  # noqa: E402
from redundancy import ROOT, load, peak_rss_mb  # noqa: E402

from consensus.claims._binomial import wilson_interval  # noqa: E402
from consensus.claims.validation import (  # noqa: E402
    BLIND_CALIBRATION, claim_settings, item_contributions, validate_fitted)
from consensus.methods import make_model  # noqa: E402

#: (name, method, calibration): validate's default, and the default before per-item calibration.
CONFIGS = (("auto/item", "auto", BLIND_CALIBRATION), ("ds/loo", "ds", "loo"))


def run_dataset(folder: Path, n_boot: int) -> dict:
    judgments, truth = load(folder)  # no gold attached
    gold_items = np.flatnonzero(truth >= 0)
    answered = np.flatnonzero((judgments.label >= 0) & (truth[judgments.item] >= 0))
    judgment_right = judgments.label[answered] == truth[judgments.item[answered]]
    out = {"dataset": folder.name, "n_items": judgments.n_items, "n_gold": int(gold_items.size), "configs": {}}
    for name, method, calibration in CONFIGS:
        settings = claim_settings("claim_estimates", 0.9, 0.95, 0.02, "row", method, n_boot, 0)
        model = make_model(method, calibration=calibration, tie_break="random", random_state=0).fit(judgments)
        result = validate_fitted(judgments, model, settings)
        mostly_na = judgments.n_na_per_item > judgments.n_labels_per_item
        delivered = np.where(mostly_na, -1, model.labels_).astype(np.int32)
        row, judgment, answers = item_contributions(judgments, delivered, np.asarray(model.probas_, dtype=np.float64))
        row_right = delivered[gold_items] == truth[gold_items]
        levels = {}
        for level, right, on_gold in (
                ("row", row_right, row[gold_items].mean()),
                ("judgment", judgment_right, judgment[gold_items].sum() / max(answers[gold_items].sum(), 1.0))):
            measured = float(right.mean())
            lower, upper = wilson_interval(int(right.sum()), right.size, 0.95)
            reported = result.summary["levels"][level]
            levels[level] = {
                "measured": measured, "wilson": [float(lower), float(upper)], "n_gold": int(right.size),
                "estimate_all": reported["accuracy"], "bootstrap": [reported["lower"], reported["upper"]],
                "estimate_gold_rows": float(on_gold), "error": float(on_gold) - measured,
                "covered": bool(reported["lower"] <= measured <= reported["upper"]),
            }
        out["configs"][name] = {"method": result.summary["method"], "levels": levels}
    return out


def table(results: list[dict], level: str) -> list[str]:
    names = [c[0] for c in CONFIGS]
    head = "| dataset | gold | measured [Wilson 95%] | " + " | ".join(
        f"{n}: estimate all rows [bootstrap] / on gold rows (error) / covered" for n in names) + " |"
    lines = [head, "|---|---:|---|" + "---|" * len(names)]
    for r in results:
        first = r["configs"][names[0]]["levels"][level]
        cells = []
        for n in names:
            v = r["configs"][n]["levels"][level]
            cells.append(f"{v['estimate_all']:.3f} [{v['bootstrap'][0]:.3f}, {v['bootstrap'][1]:.3f}] / "
                         f"{v['estimate_gold_rows']:.3f} ({v['error']:+.3f}) / {'yes' if v['covered'] else 'no'}")
        lines.append(f"| {r['dataset']} | {first['n_gold']:,} | {first['measured']:.3f} "
                     f"[{first['wilson'][0]:.3f}, {first['wilson'][1]:.3f}] | " + " | ".join(cells) + " |")
    means = []
    for n in names:
        errors = np.array([r["configs"][n]["levels"][level]["error"] for r in results])
        covered = sum(r["configs"][n]["levels"][level]["covered"] for r in results)
        means.append(f"mean error {errors.mean():+.3f}, mean abs {np.abs(errors).mean():.3f}, "
                     f"covered {covered}/{len(results)}")
    lines.append("| *all* | | | " + " | ".join(means) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--datasets", nargs="*", help="folder names (default: every one with gold)")
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    results = []
    for folder in gold_folders(args.data, args.datasets):
        results.append(run_dataset(folder, args.n_boot))
        print(f"{folder.name}: done ({time.perf_counter() - t0:.0f} s)", flush=True)
    given = argv if argv is not None else sys.argv[1:]
    command = "python benchmarks/claim_estimates.py" + ("" if not given else " " + " ".join(given))
    lines = ["# Gold-free accuracy estimates against gold", "",
             f"`{command}`: {time.perf_counter() - t0:.0f} s, peak RSS {peak_rss_mb():.0f} MB.", "",
             "What `consensus validate` reports without gold (the model's expected accuracy of the delivered "
             "rows, 95% bootstrap interval over items) against the accuracy measured on gold. *error*: the "
             "estimate over the gold rows only minus the measured accuracy (like for like). *covered*: the "
             "bootstrap interval contains the measured accuracy.", "",
             "## Delivered rows", "", *table(results, "row"), "",
             "## Judgments", "", *table(results, "judgment"), ""]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "claim_estimates.md").write_text("\n".join(lines))
    (args.out / "claim_estimates.json").write_text(json.dumps({"command": command, "results": results}, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
