"""Dawid-Skene EM on a Dask cluster against the in-memory fit, same data, same process.

Writes synthetic judgments (integer item/worker/label ids, items partitioned
by range across ``--files`` Parquet files) to ``--dir`` in chunks, then:

* in-memory: ``DawidSkene(tol=0, calibration="none").fit(judgments)`` (the default engine), time per
  EM iteration, in a process of its own (its memory is returned before the cluster starts);
* local backend (``--local-backend``): the partitioned fit in one process, same partitions;
* dask: load the files as partitions on a ``LocalCluster`` (or ``--scheduler``),
  time per EM iteration, the engine overhead per iteration (a no-op iteration:
  the same M-step, parameter shipping, one task per partition returning
  same-shaped zero sums, gather and reduce, without the E-step kernels) and
  the peak RSS of every worker process (its own high-water mark, ``VmHWM``).

    python benchmarks/distributed.py --sizes 10e6 --files 16
    python benchmarks/distributed.py --sizes 100e6 --files 16 --scheduler tcp://host:8786

With ``--scheduler`` the files must be readable by the workers at the same path
(``--dir``). The files are deleted at the end unless ``--keep``.
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
    """This process's peak RSS (MB): ``VmHWM`` (reset at exec, unlike ``ru_maxrss``, which a spawned
    worker inherits from the process that forked it), ``ru_maxrss`` where /proc is missing."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def cpu_seconds() -> float:
    """CPU time (user + system, all threads) this process has used."""
    return time.process_time()


def ds_model(k: int):  # noqa: ANN201
    from consensus import DawidSkene

    return DawidSkene(max_iter=k, tol=0.0, calibration="none")


def per_iteration(fit, cpu, iters: int) -> tuple[float, float]:  # noqa: ANN001
    """Wall and CPU seconds per EM iteration: (max_iter = 1 + iters) - (max_iter = 1), over iters
    (loading, the first M-step and the final pass excluded)."""
    fit(1)  # warm-up: compilation and caches
    t, c = time.perf_counter(), cpu()
    fit(1)
    one, one_cpu = time.perf_counter() - t, cpu() - c
    t, c = time.perf_counter(), cpu()
    model = fit(1 + iters)
    assert model.n_iter_ == 1 + iters
    return (time.perf_counter() - t - one) / iters, (cpu() - c - one_cpu) / iters


def no_op(data, cpu, iters: int) -> tuple[float, float]:  # noqa: ANN001
    """Wall and CPU seconds of an engine iteration without the E-step kernels."""
    from consensus.backends.em import _Run

    run = _Run(ds_model(1), data)
    run.start()
    run.step(noop=True)  # warm-up
    t, c = time.perf_counter(), cpu()
    for _ in range(iters):
        run.step(noop=True)
    return (time.perf_counter() - t) / iters, (cpu() - c) / iters


def in_memory(pattern: str, iters: int) -> dict[str, float]:
    """The default engine, in a process of its own (so its memory is gone before the cluster starts)."""
    from consensus.io.judgments import read_judgments

    t = time.perf_counter()
    judgments = read_judgments(pattern)
    load = time.perf_counter() - t
    wall, cpu = per_iteration(lambda k: ds_model(k).fit(judgments), cpu_seconds, iters)
    return {"load": load, "wall": wall, "cpu": cpu, "peak": peak_rss_mb()}


def local_backend(pattern: str, iters: int, n_partitions: int) -> dict[str, float]:
    """The partitioned fit in one process (LocalBackend), in a process of its own."""
    from consensus.backends import LocalBackend

    with LocalBackend(n_partitions=n_partitions) as backend:
        t = time.perf_counter()
        data = backend.load(pattern)
        load = time.perf_counter() - t
        wall, cpu = per_iteration(lambda k: ds_model(k).fit(data, engine=backend), cpu_seconds, iters)
        noop_wall, noop_cpu = no_op(data, cpu_seconds, iters)
        return {"load": load, "wall": wall, "cpu": cpu, "noop_wall": noop_wall, "noop_cpu": noop_cpu,
                "parts": data.n_partitions, "peak": peak_rss_mb()}


def in_subprocess(func, *args):  # noqa: ANN001, ANN201
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(func, *args).result()


def run(size: int, args: argparse.Namespace) -> None:
    from consensus.backends import DaskBackend

    t0 = time.perf_counter()
    pattern = write_files(size, args.files, Path(args.dir))
    print(f"\n== {size:,} judgments in {len(glob.glob(pattern))} Parquet files "
          f"({time.perf_counter() - t0:.1f} s to write)", flush=True)
    iters = args.iterations
    local = None
    if not args.skip_local:
        local = in_subprocess(in_memory, pattern, iters)
        print(f"in-memory     : load {local['load']:7.2f} s | EM iteration {local['wall'] * 1e3:8.1f} ms "
              f"(CPU {local['cpu'] * 1e3:7.1f} ms) | peak RSS {local['peak']:,.0f} MB (own process)", flush=True)
    if args.local_backend:
        lb = in_subprocess(local_backend, pattern, iters, args.files)
        print(f"local backend : load {lb['load']:7.2f} s | EM iteration {lb['wall'] * 1e3:8.1f} ms "
              f"(CPU {lb['cpu'] * 1e3:7.1f} ms) | no-op iteration {lb['noop_wall'] * 1e3:6.1f} ms "
              f"(CPU {lb['noop_cpu'] * 1e3:6.1f} ms) | peak RSS {lb['peak']:,.0f} MB; {lb['parts']} partitions "
              "in one process", flush=True)

    options = {"scheduler": args.scheduler} if args.scheduler else {
        "n_workers": args.workers, "threads_per_worker": args.threads, "processes": True}
    with DaskBackend(**options) as backend:
        client = backend.client

        def cluster_cpu() -> float:  # the driver (with a local cluster's scheduler) plus every worker process
            return cpu_seconds() + sum(client.run(cpu_seconds).values())

        t = time.perf_counter()
        data = backend.load(pattern)
        load = time.perf_counter() - t
        per_iter, per_iter_cpu = per_iteration(lambda k: ds_model(k).fit(data, engine=backend), cluster_cpu, iters)
        overhead, overhead_cpu = no_op(data, cluster_cpu, iters)
        workers_peak = client.run(peak_rss_mb)
        workers_now = client.run(rss_mb)
        print(f"dask          : {backend.describe()}, {backend.kernel_threads} kernel thread(s) per task; "
              f"data in {data.n_partitions} partitions")
        print(f"dask          : load {load:7.2f} s | EM iteration {per_iter * 1e3:8.1f} ms "
              f"(CPU {per_iter_cpu * 1e3:7.1f} ms) | no-op iteration {overhead * 1e3:6.1f} ms "
              f"(CPU {overhead_cpu * 1e3:6.1f} ms)")
        print("dask          : peak RSS per worker process "
              + ", ".join(f"{v:,.0f}" for v in workers_peak.values()) + " MB (RSS now "
              + ", ".join(f"{v:,.0f}" for v in workers_now.values()) + f" MB); driver peak {peak_rss_mb():,.0f} MB")
        if local:
            print(f"ratio         : dask / in-memory per EM iteration = {per_iter / local['wall']:.2f} (wall), "
                  f"{per_iter_cpu / local['cpu']:.2f} (CPU)")
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
    parser.add_argument("--local-backend", action="store_true",
                        help="also run the partitioned fit in process (LocalBackend, one partition per file)")
    parser.add_argument("--keep", action="store_true", help="keep the Parquet files")
    args = parser.parse_args()
    print(f"cores {os.cpu_count()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    try:
        for size in args.sizes.split(","):
            run(int(float(size)), args)
    finally:
        if not args.keep:
            for path in glob.glob(str(Path(args.dir) / "part-*.parquet")):
                os.unlink(path)
        print(f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
