"""Dawid-Skene EM on a Dask cluster against the in-memory fit, same data, same process.

Writes synthetic judgments (integer item/worker/label ids, items partitioned
by range across ``--files`` Parquet files) to ``--dir`` in chunks, then:

* local: ``DawidSkene(tol=0, calibration="none").fit(glob)`` in memory, time per EM iteration;
* dask: load the files as partitions on a ``LocalCluster`` (or ``--scheduler``),
  time per EM iteration, the engine overhead per iteration (a no-op task per
  partition plus the gather, as one EM iteration does) and peak RSS per worker.

    python benchmarks/distributed.py --sizes 10e6 --files 16
    python benchmarks/distributed.py --sizes 100e6 --files 16 --scheduler tcp://host:8786

With ``--scheduler`` the files must be readable by the workers at the same path (``--dir``).
"""

from __future__ import annotations

import argparse
import glob
import os
import resource
import sys
import time
from pathlib import Path

# This file is named like the ``distributed`` package: run as a script, its folder must not shadow it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402


def write_files(n: int, n_files: int, folder: Path, n_classes: int = 5, per_item: int = 10,
                n_workers: int | None = None, seed: int = 0) -> str:
    """Synthetic Dawid-Skene crowd, written file by file (items split by range): returns the glob."""
    import polars as pl

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("part-*.parquet"):
        old.unlink()
    n_items = n // per_item
    n_workers = n_workers or max(100, n // 1000)
    rng = np.random.default_rng(seed)
    skill = rng.uniform(0.4, 0.95, n_workers)
    bounds = np.linspace(0, n_items, n_files + 1).astype(np.int64)
    for f in range(n_files):
        items = np.arange(bounds[f], bounds[f + 1])
        truth = rng.integers(0, n_classes, items.size)
        item = np.repeat(items, per_item)
        worker = rng.integers(0, n_workers, item.size)
        right = rng.random(item.size) < skill[worker]
        label = np.where(right, np.repeat(truth, per_item), rng.integers(0, n_classes, item.size))
        pl.DataFrame({"item": item, "worker": worker, "label": label.astype(np.int64)}) \
            .write_parquet(folder / f"part-{f:03d}.parquet")
    return str(folder / "part-*.parquet")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def run(size: int, args: argparse.Namespace) -> None:
    from consensus import DawidSkene
    from consensus.backends import DaskBackend, tasks

    t0 = time.perf_counter()
    pattern = write_files(size, args.files, Path(args.dir))
    print(f"\n== {size:,} judgments in {len(glob.glob(pattern))} Parquet files ({time.perf_counter() - t0:.1f} s to write)")
    iters = args.iterations

    def per_iteration(fit) -> float:  # noqa: ANN001
        """(time of max_iter = 1 + iters) - (time of max_iter = 1), divided by iters: loading excluded."""
        fit(1)  # warm-up: compilation and caches
        t = time.perf_counter()
        fit(1)
        one = time.perf_counter() - t
        t = time.perf_counter()
        model = fit(1 + iters)
        assert model.n_iter_ == 1 + iters
        return (time.perf_counter() - t - one) / iters

    local = None
    if not args.skip_local:
        from consensus.io.judgments import read_judgments

        t = time.perf_counter()
        judgments = read_judgments(pattern)
        load_local = time.perf_counter() - t
        local = per_iteration(lambda k: DawidSkene(max_iter=k, tol=0.0, calibration="none").fit(judgments))
        print(f"local : load {load_local:7.2f} s | EM iteration {local * 1e3:8.1f} ms | "
              f"driver peak RSS {peak_rss_mb():,.0f} MB")
        del judgments

    options = {"scheduler": args.scheduler} if args.scheduler else {
        "n_workers": args.workers, "threads_per_worker": args.threads, "processes": True}
    with DaskBackend(**options) as backend:
        t = time.perf_counter()
        data = backend.load(pattern)
        load = time.perf_counter() - t
        per_iter = per_iteration(lambda k: DawidSkene(max_iter=k, tol=0.0, calibration="none").fit(
            data, engine=backend))
        n_parts = data.n_partitions
        t = time.perf_counter()
        for _ in range(iters):
            states = backend.map(tasks.noop, data.parts, per_part=[(None,)] * n_parts)
            backend.map_gather(tasks.second, states)
            backend.release(states)
        overhead = (time.perf_counter() - t) / iters
        workers_rss = backend.client.run(peak_rss_mb)
        workers_now = backend.client.run(rss_mb)
        print(f"dask  : {backend.describe()}; data in {n_parts} partitions")
        print(f"dask  : load {load:7.2f} s | EM iteration {per_iter * 1e3:8.1f} ms | no-op iteration "
              f"{overhead * 1e3:6.1f} ms | peak RSS per worker "
              + ", ".join(f"{v:,.0f}" for v in workers_rss.values()) + " MB (RSS now "
              + ", ".join(f"{v:,.0f}" for v in workers_now.values()) + " MB)")
        if local:
            print(f"ratio : dask / local per EM iteration = {per_iter / local:.2f}")
        data.release()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10e6", help="comma-separated judgment counts (default 10e6)")
    parser.add_argument("--files", type=int, default=16, help="Parquet files (default 16)")
    parser.add_argument("--dir", default="/tmp/consensus-distributed", help="where the files go")
    parser.add_argument("--iterations", type=int, default=5, help="timed EM iterations (default 5)")
    parser.add_argument("--workers", type=int, default=2, help="local cluster worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker (default 1)")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler instead of a local cluster")
    parser.add_argument("--skip-local", action="store_true", help="do not run the in-memory fit")
    args = parser.parse_args()
    print(f"cores {os.cpu_count()}")
    for size in args.sizes.split(","):
        run(int(float(size)), args)


if __name__ == "__main__":
    main()
