"""`auto` with GLAD among its candidates, on the real datasets with gold.

    python benchmarks/auto_glad.py [--data ../shared/datasets] [--out benchmarks/results]

GLAD is opt-in for ``Auto`` (see the README, "Why GLAD is opt-in"). This measures what opting in
gives: per dataset, the method ``Auto(candidates=("ds", "onecoin", "glad", "mace"))`` picks and its
accuracy on the gold items, against the default ``Auto()``; every model fitted without gold on the same
de-duplicated judgments (``consensus.read_judgments``), accuracy scored as in ``accuracy.py``
(``gold_codes``: gold items with judgments; a gold class no annotator chose counts as wrong).
Writes ``results/auto_glad.md`` and ``results/auto_glad.json``.
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

from accuracy import add_data_options, gold_codes, gold_folders  # noqa: E402

import consensus  # noqa: E402

WITH_GLAD = ("ds", "onecoin", "glad", "mace")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_options(parser)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = []
    for folder in gold_folders(args.data.resolve()):
        judgments = consensus.read_judgments(folder / "judgments.csv")
        _, _, codes, truth = gold_codes(folder / "gold.csv", judgments)
        row = {"dataset": folder.name}
        for name, model in (("default", consensus.Auto()), ("with_glad", consensus.Auto(candidates=WITH_GLAD))):
            model.fit(judgments)
            row[name] = {"chose": model.chosen_method_,
                         "accuracy": float(np.mean(np.asarray(model.labels_)[codes] == truth))}
        rows.append(row)
        print(f"{folder.name:<22} default {row['default']['chose']:<7} {row['default']['accuracy']:.4f}  "
              f"with GLAD {row['with_glad']['chose']:<7} {row['with_glad']['accuracy']:.4f}", flush=True)
    seconds = time.perf_counter() - started
    mean = {k: float(np.mean([r[k]["accuracy"] for r in rows])) for k in ("default", "with_glad")}
    lines = ["# `auto` with GLAD among its candidates", "",
             f"Command: `python benchmarks/auto_glad.py`; {len(rows)} datasets; {seconds:.0f} s.", "",
             "| dataset | `Auto()` chose | accuracy | `Auto(candidates=ds, onecoin, glad, mace)` chose | accuracy |",
             "|---|---|---:|---|---:|"]
    lines += [f"| {r['dataset']} | {r['default']['chose']} | {r['default']['accuracy']:.4f} | "
              f"{r['with_glad']['chose']} | {r['with_glad']['accuracy']:.4f} |" for r in rows]
    lines += [f"| *mean* | | {mean['default']:.4f} | | {mean['with_glad']:.4f} |", ""]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "auto_glad.md").write_text("\n".join(lines))
    (args.out / "auto_glad.json").write_text(json.dumps({"results": rows, "mean": mean, "seconds": seconds},
                                                        indent=2) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
