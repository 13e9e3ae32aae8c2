"""Scale benchmark: 1M / 10M / 100M judgments on this machine, against crowd-kit and the memory bandwidth.

    python benchmarks/scale.py [--sizes 1e6 1e7 1e8] [--classes 2 5] [--iters 20]
                               [--peer-sizes 2.5e5 1e6] [--fraud-size 1e7] [--boxes 1e6]
                               [--tmp /tmp/consensus-scale] [--out benchmarks/results]

Every measurement runs in a fresh subprocess (so peak RSS is that measurement's
own) on seeded synthetic judgments (``benchmarks/synthetic.py``: good annotators,
spammers, straight-liners, adversarial ones, log-normal durations; 5 labels per
item, one worker per 1,000 judgments). The load average is recorded with every
measurement: the machine may be shared, and anything well above 0 means other
processes took CPU time. It measures:

* machine: CPU, cores, memory, versions, numba threads; the memory bandwidth
  (best of 5 ``numpy.copyto`` of a 1 GiB float64 array; read + written bytes / time);
* ``import consensus`` wall time (median of 5 fresh interpreters), and that it
  imports neither numba nor polars;
* cold vs warm first call: a fresh interpreter with an empty ``NUMBA_CACHE_DIR``
  reads a small delivery and fits MajorityVote and DawidSkene (compiles every
  kernel), then a second interpreter with the same cache directory does the same;
  numba's dispatcher statistics (``cache_misses``) of every consensus kernel show
  whether the second process compiled anything;
* per tier (size x classes), in memory after generation: ``Judgments.from_codes``
  (O(n) counting sort), the majority-vote kernels on one thread (judgments/s per
  core) and ``MajorityVote().fit``, ``DawidSkene(max_iter=ITERS, tol=0)`` with
  ``calibration='none'`` and with the default ('loo'), one EM iteration of the
  kernels (``emission_from_counts`` + ``em_pass_into`` into buffers allocated once, as
  the fit does; best of 5) against the bytes it must touch, and the extra peak RSS of the DS fit;
* crowd-kit ``MajorityVote`` and ``DawidSkene(n_iter=ITERS, tol=-inf)`` at
  ``--peer-sizes`` (same data, same process as our tier); its time at 10M is
  extrapolated with the log-log slope measured between the peer sizes;
* 1 -> 2 threads: the 10M K=2 DS fit in subprocesses with ``NUMBA_NUM_THREADS=1`` and ``=2``;
* ``consensus.detect_fraud`` over ``--fraud-size`` judgments (with durations);
* end to end, per size (K=2): a Parquet file with int32 ids, text labels and
  durations is written to ``--tmp`` (not timed), then a fresh interpreter
  (kernels loaded from the warm disk cache) runs ``read_judgments`` ->
  ``DawidSkene(max_iter=ITERS, tol=0, calibration='none')`` -> an item table
  ``(item, label, confidence)`` written with polars ``write_parquet``; wall time
  per stage and the process peak RSS (``ru_maxrss``); the log-log slopes of time
  and peak RSS against size;
* box IoU/matching throughput through ``benchmarks/boxes.py`` when ``consensus.boxes`` exists.

Results: ``scale.md`` and ``scale.json`` in ``--out``; large files in ``--tmp`` are deleted.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import synthetic  # noqa: E402
from speed import _proc_status, _reset_peak, machine_info  # noqa: E402

GIB = 2**30


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def maxrss() -> int:
    """Peak resident memory of this process (VmHWM; ``ru_maxrss`` would include the parent's
    peak, which Linux carries over fork + exec)."""
    try:
        return _proc_status()["VmHWM"]
    except (OSError, KeyError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# -- children ---------------------------------------------------------------------------------

def child_import(spec: dict) -> dict:
    start = time.perf_counter()
    import consensus  # noqa: F401

    seconds = time.perf_counter() - start
    return {"seconds": seconds, "numba_imported": "numba" in sys.modules,
            "polars_imported": "polars" in sys.modules}


def _kernel_cache_stats() -> dict:
    """Compiled signatures, cache hits and misses over every consensus kernel loaded so far."""
    from numba.core.registry import CPUDispatcher

    hits = misses = compiled = 0
    for name, module in list(sys.modules.items()):
        if not name.startswith("consensus.kernels") or module is None:
            continue
        for obj in vars(module).values():
            if isinstance(obj, CPUDispatcher) and obj.__module__ == name:
                stats = obj.stats
                hits += sum(stats.cache_hits.values())
                misses += sum(stats.cache_misses.values())
                compiled += len(obj.signatures)
    return {"cache_hits": hits, "cache_misses": misses, "signatures": compiled}


def child_cold(spec: dict) -> dict:
    import polars as pl

    from consensus import DawidSkene, MajorityVote, read_judgments

    data = synthetic.generate(2000, 50, 2, 5, seed=3)
    frame = pl.DataFrame({"item": data.item, "worker": data.worker, "label": data.label.astype(str),
                          "seconds": data.duration})
    start = time.perf_counter()
    judgments = read_judgments(frame, duration_col="seconds")
    MajorityVote().fit(judgments)
    DawidSkene(max_iter=20, tol=0).fit(judgments)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    judgments = read_judgments(frame, duration_col="seconds")
    MajorityVote().fit(judgments)
    DawidSkene(max_iter=20, tol=0).fit(judgments)
    return {"first_call_seconds": seconds, "second_call_seconds": time.perf_counter() - start,
            **_kernel_cache_stats()}


def _em_iteration_bytes(n: int, n_items: int, n_workers: int, K: int, n_chunks: int) -> int:
    """Bytes one EM iteration (em_pass + emission_from_counts) must read or write at least."""
    judgments = 8 * n                                   # worker + label, int32, read once
    items = 8 * (n_items + 1) + 4 * n_items             # offsets (int64) + gold (int32), read
    out = 8 * K * n_items + 8 * n_items                 # posterior + item log-likelihood, written
    tables = 8 * n_workers * K * K * (2 + 2 * n_chunks)  # emission read/write, per-chunk counts write + read
    return judgments + items + out + tables


def child_tier(spec: dict) -> dict:
    import numba

    from consensus import DawidSkene, Judgments, MajorityVote
    from consensus.kernels import dawid_skene as ds
    from consensus.kernels import vote

    n, K, iters = int(spec["n"]), int(spec["K"]), int(spec["iters"])
    out: dict = {"n": n, "K": K, "load_before": load(), "threads": numba.get_num_threads()}
    start = time.perf_counter()
    data = synthetic.for_size(n, K, seed=spec.get("seed", 0))
    out["seconds_generate"] = time.perf_counter() - start
    # warm-up on a small input: load (or compile) every kernel used below
    small = Judgments.from_codes(data.item[:20000], data.worker[:20000], data.label[:20000], n_classes=K,
                                 duration=data.duration[:20000])
    MajorityVote().fit(small)
    DawidSkene(max_iter=2, tol=0).fit(small)
    DawidSkene(max_iter=2, tol=0, calibration="none").fit(small)

    start = time.perf_counter()
    judgments = Judgments.from_codes(data.item, data.worker, data.label, n_classes=K,
                                     duration=data.duration if spec.get("fraud") else None)
    out["seconds_from_codes"] = time.perf_counter() - start
    out.update(n_items=judgments.n_items, n_workers=judgments.n_workers)
    truth = data.truth
    item, worker, label = data.item, data.worker, data.label
    if not spec.get("peers"):
        del data, item, worker, label
    gc.collect()
    threads = numba.get_num_threads()

    if not spec.get("ds_only"):
        # majority vote kernels on one thread (per-core throughput), then the full fit
        numba.set_num_threads(1)
        times = []
        for _ in range(3):
            t = time.perf_counter()
            counts = vote.vote_counts(judgments.item_offsets, judgments.label, K)
            vote.pick_labels(counts, vote.TIE_RANDOM, 0, judgments.item_keys)
            times.append(time.perf_counter() - t)
        numba.set_num_threads(threads)
        out["mv_kernels_1thread_seconds"] = min(times)
        out["mv_judgments_per_second_per_core"] = n / min(times)
        times = []
        for _ in range(3):
            t = time.perf_counter()
            mv = MajorityVote().fit(judgments)
            times.append(time.perf_counter() - t)
        out["mv_fit_seconds"] = statistics.median(times)
        out["mv_accuracy"] = float((mv.labels_ == truth).mean())

    # one EM iteration of the kernels, against the bytes it must touch
    model = DawidSkene(max_iter=iters, tol=0, calibration="none")
    model._prepare(judgments)
    gold = np.full(judgments.n_items, -1, np.int32)
    posterior = np.full((judgments.n_items, K), 1.0 / K)
    counts = ds.emission_counts(judgments.item_offsets, judgments.worker, judgments.label, posterior,
                                judgments.n_workers)
    log_prior = np.log(np.full(K, 1.0 / K))
    # the buffers the fit reuses every iteration (DawidSkene._em_buffers): allocated once, not timed
    bounds = ds.reduction_chunks(judgments.item_offsets, judgments.n_workers, K)
    workspace = np.empty((bounds.size - 1, judgments.n_workers * K, 2 * K))
    posterior, loglik = np.empty((judgments.n_items, K)), np.empty(judgments.n_items)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        emission = ds.emission_from_counts(counts, 0.01, model._prior_index, model._prior_counts)
        ds.em_pass_into(judgments.item_offsets, judgments.worker, judgments.label, emission, log_prior, gold,
                        bounds, workspace, posterior, loglik, counts)
        times.append(time.perf_counter() - t)
    n_chunks = bounds.size - 1
    del workspace, loglik
    out["em_iteration_seconds"] = min(times)
    out["em_iteration_bytes"] = _em_iteration_bytes(n, judgments.n_items, judgments.n_workers, K, n_chunks)
    out["em_chunks"] = n_chunks
    del posterior, counts
    gc.collect()

    # Dawid-Skene fits: peak RSS increase of the first, times of all
    reset = _reset_peak()
    before = _proc_status()
    t = time.perf_counter()
    model = DawidSkene(max_iter=iters, tol=0, calibration="none").fit(judgments)
    fit_times = [time.perf_counter() - t]
    after = _proc_status()
    out["ds_fit_peak_increase"] = after["VmHWM"] - before["VmRSS"] if reset else None
    out["ds_iterations"] = model.n_iter_
    out["ds_accuracy"] = float((model.labels_ == truth).mean())
    for _ in range(int(spec.get("repeats", 2)) - 1):
        t = time.perf_counter()
        DawidSkene(max_iter=iters, tol=0, calibration="none").fit(judgments)
        fit_times.append(time.perf_counter() - t)
    out["ds_fit_seconds"] = statistics.median(fit_times)
    out["ds_fit_seconds_all"] = fit_times
    if not spec.get("ds_only"):
        t = time.perf_counter()
        default = DawidSkene(max_iter=iters, tol=0).fit(judgments)
        out["ds_default_fit_seconds"] = time.perf_counter() - t
        out["ds_default_accuracy"] = float((default.labels_ == truth).mean())
    out["load_after_consensus"] = load()

    if spec.get("fraud"):
        from consensus import detect_fraud

        t = time.perf_counter()
        report = detect_fraud(judgments)
        out["fraud_seconds"] = time.perf_counter() - t
        out["fraud_workers_flagged"] = int(getattr(report, "n_flagged", -1)) \
            if hasattr(report, "n_flagged") else None

    if spec.get("peers"):
        import pandas as pd
        from crowdkit.aggregation import DawidSkene as CKDawidSkene
        from crowdkit.aggregation import MajorityVote as CKMajorityVote

        tiny = synthetic.generate(200, 20, K, 3, seed=1)
        tiny_frame = pd.DataFrame({"task": tiny.item, "worker": tiny.worker, "label": tiny.label})
        CKMajorityVote().fit_predict(tiny_frame)
        CKDawidSkene(n_iter=2, tol=-np.inf).fit(tiny_frame)
        frame = pd.DataFrame({"task": item, "worker": worker, "label": label})
        for peer_n in spec["peers"]:
            peer_n = int(peer_n)
            sub = frame.iloc[: peer_n] if peer_n < n else frame
            sub = sub.copy()
            t = time.perf_counter()
            ck = CKDawidSkene(n_iter=iters, tol=-np.inf).fit(sub)
            ck_ds = time.perf_counter() - t
            t = time.perf_counter()
            ck_mv = CKMajorityVote().fit_predict(sub)
            ck_mv_seconds = time.perf_counter() - t
            tasks = ck.labels_.index.to_numpy()
            out.setdefault("crowdkit", []).append({
                "n": int(len(sub)), "ds_seconds": ck_ds, "ds_iterations": len(ck.loss_history_),
                "mv_seconds": ck_mv_seconds,
                "ds_accuracy": float((ck.labels_.to_numpy() == truth[tasks]).mean()),
                "mv_accuracy": float((ck_mv.to_numpy() == truth[ck_mv.index.to_numpy()]).mean()),
                "load": load()})
            if peer_n < n:  # our DS on the same prefix, same process
                part = Judgments.from_codes(item[:peer_n], worker[:peer_n], label[:peer_n], n_classes=K)
                times = []
                for _ in range(3):
                    t = time.perf_counter()
                    DawidSkene(max_iter=iters, tol=0, calibration="none").fit(part)
                    times.append(time.perf_counter() - t)
                out["crowdkit"][-1]["consensus_ds_seconds"] = statistics.median(times)
            else:
                out["crowdkit"][-1]["consensus_ds_seconds"] = out["ds_fit_seconds"]
    out["peak_rss"] = maxrss()
    out["load_after"] = load()
    return out


def child_write(spec: dict) -> dict:
    start = time.perf_counter()
    data = synthetic.for_size(int(spec["n"]), 2, seed=spec.get("seed", 0))
    generated = time.perf_counter() - start
    start = time.perf_counter()
    synthetic.write_parquet(data, spec["path"], ids="int", labels="str", row_group_size=1 << 22)
    return {"seconds_generate": generated, "seconds_write": time.perf_counter() - start,
            "bytes": os.path.getsize(spec["path"]), "peak_rss": maxrss()}


def child_e2e(spec: dict) -> dict:
    out: dict = {"load_before": load()}
    t0 = time.perf_counter()
    import polars as pl

    from consensus import DawidSkene, read_judgments

    out["seconds_import"] = time.perf_counter() - t0
    t = time.perf_counter()
    judgments = read_judgments(spec["path"], duration_col="duration_s")
    out["seconds_read"] = time.perf_counter() - t
    out["accounting"] = judgments.accounting_line()
    out["rss_after_read"] = _proc_status()["VmRSS"]
    t = time.perf_counter()
    model = DawidSkene(max_iter=int(spec["iters"]), tol=0, calibration=spec.get("calibration", "none")).fit(judgments)
    out["seconds_fit"] = time.perf_counter() - t
    t = time.perf_counter()
    labels = model.labels_
    confidence = np.take_along_axis(model.probas_, np.maximum(labels, 0)[:, None], axis=1)[:, 0]
    table = pl.DataFrame({"item": judgments.item_ids,
                          "label": pl.Series(model.classes_, dtype=pl.String).gather(labels),
                          "confidence": confidence})
    table.write_parquet(spec["out"])
    out["seconds_write"] = time.perf_counter() - t
    out["seconds_total"] = time.perf_counter() - t0
    out["n_items"] = judgments.n_items
    out["peak_rss"] = maxrss()
    out["load_after"] = load()
    return out


CHILDREN = {"import": child_import, "cold": child_cold, "tier": child_tier, "write": child_write,
            "e2e": child_e2e}


def run_child(spec: dict, env: dict | None = None) -> dict:
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
                          capture_output=True, text=True, env=full_env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"child {spec} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- parent -----------------------------------------------------------------------------------

def bandwidth() -> dict:
    a = np.ones(GIB // 8)
    b = np.empty_like(a)
    np.copyto(b, a)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        np.copyto(b, a)
        times.append(time.perf_counter() - t)
    best = min(times)
    return {"bytes_moved": 2 * a.nbytes, "seconds": best, "gb_per_second": 2 * a.nbytes / best / 1e9,
            "load": load()}


def slope(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < 2:
        return None
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e6, 1e7, 1e8])
    parser.add_argument("--classes", type=int, nargs="+", default=[2, 5])
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--peer-sizes", type=float, nargs="*", default=[2.5e5, 1e6])
    parser.add_argument("--fraud-size", type=float, default=1e7)
    parser.add_argument("--boxes", type=float, default=1e6, help="boxes for the box throughput (0: skip)")
    parser.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()) / "consensus-scale")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--only", choices=("all", "e2e"), default="all",
                        help="e2e: only the end-to-end runs (results named scale_e2e.*)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps(CHILDREN[spec["task"]](spec)))
        return 0

    sizes = sorted(int(s) for s in args.sizes)
    command = "python benchmarks/scale.py" + ("" if argv is None and len(sys.argv) == 1
                                              else " " + " ".join(sys.argv[1:] if argv is None else argv))
    report: dict = {"command": command, "machine": machine_info(), "load_start": load(), "iters": args.iters}
    print(f"machine: {report['machine']['cpu']}, load {report['load_start']}", flush=True)
    report["bandwidth"] = bandwidth()
    print(f"bandwidth {report['bandwidth']['gb_per_second']:.1f} GB/s", flush=True)

    report.update(tiers=[], threads={}, boxes=None)
    if args.only == "e2e":
        return _e2e_only(report, args, sizes)
    imports = [run_child({"task": "import"}) for _ in range(5)]
    report["import"] = {"seconds_median": statistics.median(i["seconds"] for i in imports),
                        "numba_imported": any(i["numba_imported"] for i in imports),
                        "polars_imported": any(i["polars_imported"] for i in imports), "load": load()}
    print(f"import {report['import']}", flush=True)

    with tempfile.TemporaryDirectory(prefix="numba-cold-") as cache_dir:
        env = {"NUMBA_CACHE_DIR": cache_dir}
        report["cold"] = {"first_process": run_child({"task": "cold"}, env),
                          "second_process": run_child({"task": "cold"}, env), "load": load()}
    print(f"cold {report['cold']}", flush=True)

    report["tiers"] = []
    peer_tier = max((s for s in sizes if s <= 1_000_000), default=None)
    for n in sizes:
        for K in args.classes:
            spec = {"task": "tier", "n": n, "K": K, "iters": args.iters, "repeats": 3 if n <= 1e6 else 2 if n <= 1e7 else 1}
            if n == peer_tier and args.peer_sizes:
                spec["peers"] = [int(p) for p in args.peer_sizes]
            if n == int(args.fraud_size) and K == args.classes[0]:
                spec["fraud"] = True
            result = run_child(spec)
            report["tiers"].append(result)
            print(f"tier {n:,} K={K}: DS {result['ds_fit_seconds']:.2f} s, EM iteration "
                  f"{result['em_iteration_seconds'] * 1e3:.1f} ms, load {result['load_after']}", flush=True)

    ten = [n for n in sizes if n == 10_000_000] or sizes[-1:]
    report["threads"] = {}
    for threads in (1, 2):
        result = run_child({"task": "tier", "n": ten[0], "K": 2, "iters": args.iters, "ds_only": True,
                            "repeats": 2}, {"NUMBA_NUM_THREADS": str(threads)})
        report["threads"][threads] = {"n": ten[0], "ds_fit_seconds": result["ds_fit_seconds"],
                                      "em_iteration_seconds": result["em_iteration_seconds"],
                                      "load": result["load_after"]}
    print(f"threads {report['threads']}", flush=True)

    _run_e2e(report, args, sizes)
    report["boxes"] = None
    if args.boxes > 0:
        try:
            import consensus.boxes  # noqa: F401
            import boxes as boxes_bench

            report["boxes"] = {**boxes_bench.speed(int(args.boxes)), "load": load()}
        except Exception as exc:  # noqa: BLE001 - reported, not fatal
            report["boxes"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    report["load_end"] = load()
    return _write(report, args, "scale")


def _e2e_only(report: dict, args, sizes: list[int]) -> int:  # noqa: ANN001
    _run_e2e(report, args, sizes)
    report["load_end"] = load()
    e2e = report["e2e"]
    lines = [line for line in render_e2e(report)]
    text = "\n".join([f"# consensus end-to-end scale run", "", f"Command: `{report['command']}`", "",
                      f"Load average at start {report['load_start']}, at end {report['load_end']}; memory bandwidth "
                      f"{report['bandwidth']['gb_per_second']:.1f} GB/s.", ""] + lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale_e2e.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "scale_e2e.md").write_text(text)
    print(text)
    return 0 if e2e else 1


def _write(report: dict, args, name: str) -> int:  # noqa: ANN001
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps(report, indent=1) + "\n")
    text = render(report)
    (args.out / f"{name}.md").write_text(text)
    print(text)
    return 0


def _run_e2e(report: dict, args, sizes: list[int]) -> None:  # noqa: ANN001
    args.tmp.mkdir(parents=True, exist_ok=True)
    report["e2e"] = []
    try:
        for n in sizes:
            path = args.tmp / f"scale_{n}.parquet"
            written = run_child({"task": "write", "n": n, "path": str(path)})
            result = run_child({"task": "e2e", "path": str(path), "iters": args.iters,
                                "out": str(args.tmp / f"items_{n}.parquet")})
            result.update(n=n, parquet_bytes=written["bytes"], seconds_write_input=written["seconds_write"])
            report["e2e"].append(result)
            path.unlink(missing_ok=True)
            (args.tmp / f"items_{n}.parquet").unlink(missing_ok=True)
            print(f"e2e {n:,}: {result['seconds_total']:.1f} s, peak RSS {result['peak_rss'] / GIB:.2f} GiB, "
                  f"load {result['load_after']}", flush=True)
    finally:
        shutil.rmtree(args.tmp, ignore_errors=True)
    e2e = report["e2e"]
    report["slopes"] = {
        "e2e_time": slope([r["n"] for r in e2e], [r["seconds_total"] for r in e2e]),
        "e2e_peak_rss": slope([r["n"] for r in e2e], [r["peak_rss"] for r in e2e]),
        "ds_fit_time_K2": slope([t["n"] for t in report["tiers"] if t["K"] == 2],
                                [t["ds_fit_seconds"] for t in report["tiers"] if t["K"] == 2]),
    }


# -- report -----------------------------------------------------------------------------------

def _s(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def crowdkit_at(report: dict, K: int, n: int) -> tuple[float | None, float | None, str]:
    """crowd-kit DS time at ``n`` (measured or extrapolated) and the slope used."""
    for tier in report["tiers"]:
        if tier["K"] == K and tier.get("crowdkit"):
            peers = tier["crowdkit"]
            xs = [p["n"] for p in peers]
            ys = [p["ds_seconds"] for p in peers]
            for p in peers:
                if p["n"] == n:
                    return p["ds_seconds"], None, "measured"
            b = slope(xs, ys)
            if b is None:
                return None, None, "-"
            return ys[-1] * (n / xs[-1]) ** b, b, f"extrapolated from {xs[-1]:,} with slope {b:.2f}"
    return None, None, "-"


def render(report: dict) -> str:
    m = report["machine"]
    bw = report["bandwidth"]
    lines = [
        "# consensus scale benchmark", "",
        f"Command: `{report['command']}`", "",
        f"Machine: {m['cpu']}, {m['logical_cores']} logical cores ({m['usable_cores']} usable), "
        f"{m['memory_gb']} GB RAM; numba {m['versions'].get('numba')} with {m['numba_threads']} threads "
        f"({m['numba_threading_layer']}); numpy {m['versions'].get('numpy')}, polars {m['versions'].get('polars')}, "
        f"crowd-kit {m['versions'].get('crowdkit')}; {m['platform']}; code {m['code']}.",
        f"Load average (1/5/15 min) at start {report['load_start']}, at end {report['load_end']} "
        "(the machine was shared: figures above ~0 mean other processes took CPU time; each row "
        "below gives the load after its measurement).", "",
        f"Memory bandwidth: {bw['gb_per_second']:.1f} GB/s (best of 5 `numpy.copyto` of 1 GiB, bytes read + "
        f"written / time; load {bw['load']}).", "",
        f"`import consensus`: {report['import']['seconds_median']:.3f} s (median of 5 fresh interpreters); "
        f"imports numba: {report['import']['numba_imported']}, polars: {report['import']['polars_imported']}.", "",
    ]
    cold = report["cold"]
    first, second = cold["first_process"], cold["second_process"]
    lines += [
        "## First call: cold cache vs warm", "",
        "read_judgments + MajorityVote + DawidSkene (20 iterations, default calibration) on 10,000 judgments, "
        "in fresh interpreters sharing a new `NUMBA_CACHE_DIR`.", "",
        "| process | first call (s) | second call, same process (s) | kernel signatures | cache hits | cache misses (compiled) |",
        "|---|---:|---:|---:|---:|---:|",
        f"| 1st, empty cache | {first['first_call_seconds']:.2f} | {first['second_call_seconds']:.3f} | "
        f"{first['signatures']} | {first['cache_hits']} | {first['cache_misses']} |",
        f"| 2nd, same cache | {second['first_call_seconds']:.2f} | {second['second_call_seconds']:.3f} | "
        f"{second['signatures']} | {second['cache_hits']} | {second['cache_misses']} |", "",
        f"The second process compiled {'nothing' if second['cache_misses'] == 0 else str(second['cache_misses']) + ' signatures'} "
        "(numba dispatcher `stats.cache_misses` summed over every consensus kernel).", "",
    ]
    iters = report["iters"]
    lines += [
        f"## In memory: Dawid-Skene ({iters} EM iterations) and majority vote", "",
        "From `Judgments.from_codes` (judgments already in memory). DS = `DawidSkene(max_iter=20, tol=0, "
        "calibration='none')`, median of the timed fits; 'DS default' adds the 'loo' confidence calibration. "
        "EM iteration = `emission_from_counts` + `em_pass_into` kernels (buffers reused, as in the fit), best of 5; "
        "bound = bytes it must touch / "
        "measured bandwidth. MV/core = vote kernels (`vote_counts` + `pick_labels`) on one thread.", "",
        "| judgments | K | items | workers | from_codes s | DS s | DS default s | EM iteration ms | bytes/iteration MB | "
        "bandwidth bound ms | x bound | MV/core (M judgments/s) | MV fit s | DS fit extra peak RSS MB | "
        "DS accuracy | load after |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for t in report["tiers"]:
        bound = t["em_iteration_bytes"] / (bw["gb_per_second"] * 1e9)
        mv = t.get("mv_judgments_per_second_per_core")
        peak = "-" if t["ds_fit_peak_increase"] is None else f"{t['ds_fit_peak_increase'] / 2**20:.0f}"
        lines.append(
            f"| {t['n']:,} | {t['K']} | {t['n_items']:,} | {t['n_workers']:,} | {t['seconds_from_codes']:.2f} | "
            f"{t['ds_fit_seconds']:.2f} | {_s(t.get('ds_default_fit_seconds'))} | {t['em_iteration_seconds'] * 1e3:.1f} | "
            f"{t['em_iteration_bytes'] / 1e6:.0f} | {bound * 1e3:.1f} | {t['em_iteration_seconds'] / bound:.1f} | "
            f"{'-' if mv is None else f'{mv / 1e6:.0f}'} | {_s(t.get('mv_fit_seconds'))} | "
            f"{peak} | "
            f"{t['ds_accuracy']:.4f} | {t['load_after']} |")
    lines += ["", "## Against crowd-kit (same data, same process)", "",
              "| judgments | K | crowd-kit DS s | consensus DS s | ratio | crowd-kit MV s | DS accuracy crowd-kit / consensus | load |",
              "|---:|---:|---:|---:|---:|---:|---|---|"]
    for t in report["tiers"]:
        for p in t.get("crowdkit", []):
            ours = f"{t['ds_accuracy']:.4f}" if p["n"] == t["n"] else "-"
            lines.append(f"| {p['n']:,} | {t['K']} | {p['ds_seconds']:.2f} | {p['consensus_ds_seconds']:.3f} | "
                         f"{p['ds_seconds'] / p['consensus_ds_seconds']:.0f}x | {p['mv_seconds']:.2f} | "
                         f"{p['ds_accuracy']:.4f} / {ours} | {p['load']} |")
    lines += ["", "At 10M judgments (crowd-kit not run there: its time is extrapolated from the two peer sizes "
              "with its measured log-log slope):", "",
              "| K | crowd-kit DS s (extrapolated) | slope | consensus DS s (measured) | ratio |", "|---:|---:|---:|---:|---:|"]
    for t in report["tiers"]:
        if t["n"] == 10_000_000:
            ck, b, how = crowdkit_at(report, t["K"], t["n"])
            if ck is not None:
                lines.append(f"| {t['K']} | {ck:.0f} | {_s(b)} | {t['ds_fit_seconds']:.2f} | "
                             f"{ck / t['ds_fit_seconds']:.0f}x |")
    th = report["threads"]
    if th:
        one, two = th.get(1) or th.get("1"), th.get(2) or th.get("2")
        lines += ["", "## Threads", "",
                  f"DS fit on {one['n']:,} judgments, K=2: 1 thread {one['ds_fit_seconds']:.2f} s, 2 threads "
                  f"{two['ds_fit_seconds']:.2f} s (speed-up {one['ds_fit_seconds'] / two['ds_fit_seconds']:.2f}x); "
                  f"one EM iteration {one['em_iteration_seconds'] * 1e3:.1f} ms -> {two['em_iteration_seconds'] * 1e3:.1f} ms "
                  f"({one['em_iteration_seconds'] / two['em_iteration_seconds']:.2f}x). Loads {one['load']} / {two['load']}."]
    fraud = [t for t in report["tiers"] if "fraud_seconds" in t]
    for t in fraud:
        lines += ["", f"Fraud detectors (`consensus.detect_fraud`, default detectors, durations given) over "
                  f"{t['n']:,} judgments: {t['fraud_seconds']:.1f} s (load {t['load_after']})."]
    lines += [""] + render_e2e(report)
    bx = report.get("boxes")
    if bx:
        if "error" in bx:
            lines += ["", f"Box IoU/matching throughput: not measured ({bx['error']})."]
        else:
            lines += ["", f"Box IoU/matching (`benchmarks/boxes.py` throughput): {bx['n_boxes']:,} boxes, pairwise IoU "
                      f"{bx['seconds_pairwise_iou']:.2f} s + fit {bx['seconds_fit']:.2f} s = "
                      f"{bx['boxes_per_second']:,.0f} boxes/s (load {bx['load']})."]
    return "\n".join(lines) + "\n"


def render_e2e(report: dict) -> list[str]:
    iters = report["iters"]
    lines = [f"## End to end: Parquet file -> item output (DS K=2, {iters} iterations, calibration='none')", "",
              "Input: int32 item and worker ids, text labels, float durations (zstd Parquet). Fresh interpreter, "
              "kernels from the warm disk cache. Peak RSS = the process's peak resident memory (VmHWM).", "",
              "| judgments | Parquet MB | import s | read_judgments s | fit s | write items s | total s | peak RSS GiB | load after |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in report["e2e"]:
        lines.append(f"| {r['n']:,} | {r['parquet_bytes'] / 1e6:.0f} | {r['seconds_import']:.2f} | {r['seconds_read']:.2f} | "
                     f"{r['seconds_fit']:.2f} | {r['seconds_write']:.2f} | {r['seconds_total']:.2f} | "
                     f"{r['peak_rss'] / GIB:.2f} | {r['load_after']} |")
    sl = report["slopes"]
    lines += ["", f"Fitted log-log slopes against size (1.0 = linear): end-to-end time {_s(sl['e2e_time'])}, "
              f"end-to-end peak RSS {_s(sl['e2e_peak_rss'])}, in-memory DS fit time (K=2) {_s(sl['ds_fit_time_K2'])}."]
    return lines

if __name__ == "__main__":
    sys.exit(main())
