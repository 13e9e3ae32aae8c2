"""What strict IEEE arithmetic costs: Dawid-Skene fits with the kernels as shipped vs with fastmath.

    python benchmarks/fastmath.py [--size 1e7] [--classes 2 5] [--repeats 3] [--out benchmarks/results]

The kernels are compiled without fastmath (``src/consensus/_jit.py``: with it, a fresh compile and
the code loaded from the disk cache summed differently in the last bit). This runs the same
``DawidSkene(max_iter=20, tol=0, calibration="none").fit`` on the same synthetic judgments in two
fresh processes, each with its own empty ``NUMBA_CACHE_DIR``: *strict* (as shipped) and *fastmath*
(``numba.njit`` wrapped before ``import consensus`` so every kernel gets the flags the project used
before: nsz, arcp, contract, afn, reassoc). One warm-up fit (compilation), then the best of
``--repeats`` fits; peak RSS of each process; the largest difference of the posteriors between the
two. Prints the table and writes ``fastmath.md`` / ``fastmath.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OLD_FLAGS = ["nsz", "arcp", "contract", "afn", "reassoc"]


def child(spec: dict) -> dict:
    if spec["variant"] == "fastmath":
        import functools

        import numba

        original = numba.njit

        @functools.wraps(original)
        def njit(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            kwargs["fastmath"] = set(OLD_FLAGS)
            return original(*args, **kwargs)

        numba.njit = njit
    sys.path.insert(0, str(ROOT / "src"))
    import consensus

    rng = np.random.default_rng(0)
    n, n_items, n_workers, K = spec["size"], spec["size"] // 5, max(spec["size"] // 1000, 10), spec["classes"]
    item = np.repeat(np.arange(n_items, dtype=np.int32), 5)
    worker = rng.integers(0, n_workers, item.size).astype(np.int32)
    truth = rng.integers(0, K, n_items)
    label = np.where(rng.random(item.size) < 0.75, truth[item], rng.integers(0, K, item.size)).astype(np.int32)
    judgments = consensus.Judgments.from_codes(item, worker, label, n_classes=K)

    def fit():
        return consensus.DawidSkene(max_iter=20, tol=0, calibration="none").fit(judgments)

    t0 = time.perf_counter()
    fit()
    first = time.perf_counter() - t0
    times = []
    for _ in range(spec["repeats"]):
        t0 = time.perf_counter()
        model = fit()
        times.append(time.perf_counter() - t0)
    np.save(spec["probas"], np.asarray(model.probas_, dtype=np.float64))
    return {"first_fit_s": first, "best_s": min(times), "times_s": times,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "n_judgments": n}


def run(variant: str, size: int, classes: int, repeats: int, tmp: Path) -> dict:
    spec = {"variant": variant, "size": size, "classes": classes, "repeats": repeats,
            "probas": str(tmp / f"{variant}_{classes}.npy")}
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp / f"cache_{variant}")}
    done = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=float, default=1e7, help="judgments (default 1e7)")
    parser.add_argument("--classes", type=int, nargs="+", default=[2, 5])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        for K in args.classes:
            strict = run("strict", int(args.size), K, args.repeats, tmp)
            fast = run("fastmath", int(args.size), K, args.repeats, tmp)
            diff = float(np.nanmax(np.abs(np.load(tmp / f"strict_{K}.npy") - np.load(tmp / f"fastmath_{K}.npy"))))
            rows.append({"classes": K, "strict": strict, "fastmath": fast, "max_proba_difference": diff,
                         "ratio_strict_over_fastmath": strict["best_s"] / fast["best_s"]})
    lines = ["# Strict IEEE kernels vs fastmath", "",
             f"Command: `python benchmarks/fastmath.py{'' if argv is None else ' ' + ' '.join(argv)}`", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} logical cores; load average before "
             f"{load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} (a shared machine: compare within a row).", "",
             f"`DawidSkene(max_iter=20, tol=0, calibration='none')` on {int(args.size):,} synthetic judgments "
             "(5 per item, 75% correct), best of "
             f"{args.repeats} fits after a warm-up fit, each variant in a fresh process with an empty cache.", "",
             "| K | strict s | fastmath s | strict / fastmath | strict first fit s | fastmath first fit s "
             "| strict peak RSS MB | fastmath peak RSS MB | max posterior difference |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        s, f = r["strict"], r["fastmath"]
        lines.append(f"| {r['classes']} | {s['best_s']:.3f} | {f['best_s']:.3f} | {r['ratio_strict_over_fastmath']:.2f} "
                     f"| {s['first_fit_s']:.1f} | {f['first_fit_s']:.1f} | {s['peak_rss_mb']:.0f} | "
                     f"{f['peak_rss_mb']:.0f} | {r['max_proba_difference']:.1e} |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fastmath.md").write_text(text)
    (args.out / "fastmath.json").write_text(json.dumps({"rows": rows, "size": int(args.size)}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
