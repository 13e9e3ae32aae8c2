"""Speed and peak memory of consensus vs crowd-kit on synthetic judgments.

    python benchmarks/speed.py [--sizes 1e6] [--classes 2 5] [--iters 20] [--no-peers]
                               [--repeats 5] [--peer-repeats 3] [--seed 0] [--out benchmarks/results]

For every (size, classes) tier it generates seeded synthetic judgments with
known truth (``benchmarks/synthetic.py``) and measures:

* consensus ``MajorityVote()`` and ``DawidSkene(max_iter=ITERS, tol=0)`` fitted on
  ``Judgments.from_codes(...)``: median (and min - max) wall time of ``--repeats`` calls after
  one warm-up call in this process. Every timed call gets a fresh ``Judgments``
  (same sorted arrays, derived per-worker index not yet built), so the time
  includes everything ``fit`` does except the one-off ``from_codes`` sort,
  which is reported separately.
* the cold first call in a fresh subprocess, twice: with numba's on-disk cache
  switched off (``CONSENSUS_NUMBA_CACHE=0``: includes JIT compilation) and with
  the cache warm (what a user sees from the second run on).
* crowd-kit ``MajorityVote()`` and ``DawidSkene(n_iter=ITERS, tol=-inf)`` (tol=-inf
  so it runs all ITERS iterations, like ``tol=0`` for ours) on the same data as a
  pandas DataFrame (columns task, worker, label; int32 codes), same process,
  after a warm-up call on a small frame; median of ``--peer-repeats`` calls.
* peak memory: for each method a fresh subprocess loads the data, builds the
  input (Judgments or DataFrame), warms the method up on a tiny input, resets
  the kernel's peak-RSS counter (``/proc/self/clear_refs``), fits once and
  reports ``VmHWM - VmRSS(before fit)``: the extra resident memory the fit needed.
* accuracy of every method against the synthetic truth, and a check that our
  Dawid-Skene is at least as accurate as crowd-kit's.

Results: a Markdown table on stdout, and ``speed.md`` + ``speed.json`` in ``--out``.
Exit status 1 when the accuracy check fails.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
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

METHODS = ("consensus-mv", "consensus-ds", "consensus-ds-nocal", "crowdkit-mv", "crowdkit-ds")
LABELS = {
    "consensus-mv": "consensus MajorityVote",
    "consensus-ds": "consensus DawidSkene",
    "consensus-ds-nocal": "consensus DawidSkene, calibration='none'",
    "crowdkit-mv": "crowd-kit MajorityVote",
    "crowdkit-ds": "crowd-kit DawidSkene",
}


# -- the methods -----------------------------------------------------------------------------

def make_input(method: str, item, worker, label, n_classes: int):
    """The input a method fits on: Judgments for ours, a pandas frame for crowd-kit."""
    if method.startswith("consensus"):
        from consensus import Judgments

        return Judgments.from_codes(item, worker, label, n_classes=n_classes)
    import pandas as pd

    return pd.DataFrame({"task": item, "worker": worker, "label": label})


def fresh(method: str, data):
    """A Judgments whose derived per-worker index is not built yet (frames are used as is)."""
    if method.startswith("consensus"):
        from consensus import Judgments

        return Judgments(data.item, data.worker, data.label, data.item_ids, data.worker_ids, data.classes)
    return data


def fit(method: str, data, iters: int):
    """Fit; return (predicted label per item code (int array or pandas Series), iterations run)."""
    if method == "consensus-mv":
        from consensus import MajorityVote

        return MajorityVote().fit(data).labels_, 1
    if method in ("consensus-ds", "consensus-ds-nocal", "consensus-ds-ml"):
        from consensus import DawidSkene

        extra = {"consensus-ds": {},
                 "consensus-ds-nocal": {"calibration": "none"},
                 # classical maximum-likelihood Dawid-Skene, the model crowd-kit fits
                 "consensus-ds-ml": {"calibration": "none", "prior_strength": 0.0, "alpha": 1e-9, "beta": 0.0},
                 }[method]
        model = DawidSkene(max_iter=iters, tol=0, **extra).fit(data)
        return model.labels_, model.n_iter_
    if method == "crowdkit-mv":
        from crowdkit.aggregation import MajorityVote

        return MajorityVote().fit_predict(data), 1
    if method == "crowdkit-ds":
        from crowdkit.aggregation import DawidSkene

        model = DawidSkene(n_iter=iters, tol=-np.inf).fit(data)
        return model.labels_, len(model.loss_history_)
    raise ValueError(method)


def as_codes(labels, n_items: int) -> np.ndarray:
    if hasattr(labels, "reindex"):  # crowd-kit: Series indexed by task code
        return labels.reindex(np.arange(n_items)).fillna(-1).to_numpy().astype(np.int64)
    return np.asarray(labels, dtype=np.int64)


def warm_up(method: str, n_classes: int, iters: int) -> None:
    tiny = synthetic.generate(200, 20, n_classes, 3, seed=1)
    fit(method, make_input(method, tiny.item, tiny.worker, tiny.label, n_classes), iters)


# -- subprocess measurements -------------------------------------------------------------------

def _proc_status() -> dict[str, int]:
    values = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, rest = line.split(":")
                values[key] = int(rest.split()[0]) * 1024
    return values


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def child(spec: dict) -> dict:
    """Run one measurement in this (fresh) process; see :func:`run_child`."""
    import resource

    folder = Path(spec["data"])
    item, worker, label = (np.load(folder / f"{name}.npy") for name in ("item", "worker", "label"))
    method, iters, n_classes = spec["method"], spec["iters"], spec["n_classes"]
    if spec["task"] == "cold":
        data = make_input(method, item, worker, label, n_classes)
        start = time.perf_counter()
        fit(method, data, iters)
        return {"seconds": time.perf_counter() - start}
    # memory
    data = make_input(method, item, worker, label, n_classes)
    del item, worker, label
    warm_up(method, n_classes, iters)
    gc.collect()
    reset = _reset_peak()
    before = _proc_status()
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    fit(method, data, iters)
    seconds = time.perf_counter() - start
    after = _proc_status()
    if reset:
        peak_increase, how = after["VmHWM"] - before["VmRSS"], "VmHWM after clear_refs"
    else:  # fall back to the process high-water mark (may include the loading peak)
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        peak_increase, how = maxrss - max(maxrss_before, before["VmRSS"]), "ru_maxrss"
    return {"seconds": seconds, "rss_before": before["VmRSS"], "peak_increase": peak_increase,
            "how": how}


def run_child(spec: dict, env_extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env.update(env_extra or {})
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"child {spec} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- machine ---------------------------------------------------------------------------------
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


def machine_info() -> dict:
    import numba

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem_gb = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    versions = {"python": platform.python_version()}
    for module in ("consensus", "numpy", "numba", "polars", "pandas", "crowdkit", "sklearn"):
        try:
            versions[module] = __import__(module).__version__
        except Exception:  # noqa: BLE001 - absent peers are fine
            versions[module] = None
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = "not initialised"
    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer": layer,
        "memory_gb": mem_gb,
        "platform": platform.platform(),
        "versions": versions,
        "code": git_state(HERE.parent),
    }


# -- one tier --------------------------------------------------------------------------------

def run_tier(size: int, n_classes: int, args, tmp: Path) -> dict:
    start = time.perf_counter()
    data = synthetic.for_size(size, n_classes, seed=args.seed)
    gen_seconds = time.perf_counter() - start
    print(f"\n### {size:,} judgments, {n_classes} classes: {data.summary()} "
          f"(generated in {gen_seconds:.2f} s)", flush=True)
    folder = tmp / f"{size}_{n_classes}"
    folder.mkdir()
    for name in ("item", "worker", "label"):
        np.save(folder / f"{name}.npy", getattr(data, name))

    methods = [m for m in METHODS if args.peers or m.startswith("consensus")]
    tier: dict = {"n_judgments": data.n_judgments, "n_items": data.n_items, "n_workers": data.n_workers,
                  "n_classes": n_classes, "labels_per_item": 5, "seed": args.seed,
                  "generate_seconds": gen_seconds, "methods": {}}
    inputs = {}
    for kind in ("consensus", "crowdkit"):
        if kind == "crowdkit" and not args.peers:
            continue
        start = time.perf_counter()
        inputs[kind] = make_input(kind, data.item, data.worker, data.label, n_classes)
        tier[f"{kind}_input_seconds"] = time.perf_counter() - start

    for method in methods:
        base = inputs[method.split("-")[0]]
        result: dict = {}
        # warm-up (compiles or loads the kernels; first pandas paths for crowd-kit)
        start = time.perf_counter()
        if method.startswith("consensus"):
            fit(method, fresh(method, base), args.iters)
        else:
            warm_up(method, n_classes, args.iters)
        result["warmup_seconds"] = time.perf_counter() - start
        times = []
        for _ in range(args.repeats if method.startswith("consensus") else args.peer_repeats):
            run_input = fresh(method, base)
            gc.collect()
            start = time.perf_counter()
            labels, n_iter = fit(method, run_input, args.iters)
            times.append(time.perf_counter() - start)
        result["seconds_all"] = times
        result["seconds"] = statistics.median(times)
        result["judgments_per_s"] = data.n_judgments / result["seconds"]
        result["n_iter"] = n_iter
        predicted = as_codes(labels, data.n_items)
        result["accuracy"] = float((predicted == data.truth).mean())
        if method == "crowdkit-ds":
            result["_labels"] = predicted
        print(f"  {LABELS[method]:<40} {result['seconds']:8.3f} s  acc {result['accuracy']:.5f}  "
              f"(iterations {n_iter})", flush=True)
        tier["methods"][method] = result

    # fresh-process measurements: peak memory (all methods), cold first call (ours)
    spec_base = {"data": str(folder), "iters": args.iters, "n_classes": n_classes}
    for method in methods:
        result = tier["methods"][method]
        mem = run_child({**spec_base, "task": "memory", "method": method})
        result["peak_rss_increase_bytes"] = mem["peak_increase"]
        result["rss_before_bytes"] = mem["rss_before"]
        result["memory_child_seconds"] = mem["seconds"]
        result["memory_how"] = mem["how"]
        if method in ("consensus-mv", "consensus-ds"):  # the no-calibration variant shares the kernels
            result["cold_compile_seconds"] = run_child(
                {**spec_base, "task": "cold", "method": method}, {"CONSENSUS_NUMBA_CACHE": "0"})["seconds"]
            result["cold_cached_seconds"] = run_child(
                {**spec_base, "task": "cold", "method": method})["seconds"]
        print(f"  {LABELS[method]:<40} peak RSS +{mem['peak_increase'] / 2**20:8.1f} MB"
              + (f"  cold {result['cold_compile_seconds']:.2f} s (compile), "
                 f"{result['cold_cached_seconds']:.2f} s (disk cache)" if "cold_compile_seconds" in result else ""),
              flush=True)

    if args.peers:
        # untimed: classical ML settings should reproduce crowd-kit's labels (same model, same init)
        ml_labels, _ = fit("consensus-ds-ml", fresh("consensus-ds-ml", inputs["consensus"]), args.iters)
        ck_labels = tier["methods"]["crowdkit-ds"].pop("_labels")
        tier["ml_agreement_with_crowdkit"] = {
            "params": "DawidSkene(max_iter=ITERS, tol=0, prior_strength=0, alpha=1e-9, beta=0, calibration='none')",
            "items_disagreeing": int((np.asarray(ml_labels) != ck_labels).sum()),
            "accuracy": float((np.asarray(ml_labels) == data.truth).mean()),
        }
        ours, theirs = tier["methods"]["consensus-ds"]["accuracy"], tier["methods"]["crowdkit-ds"]["accuracy"]
        tier["ds_accuracy_check"] = {"consensus": ours, "crowdkit": theirs, "passed": ours >= theirs,
                                     "items_difference": int(round((ours - theirs) * data.n_items))}
    return tier


# -- report ----------------------------------------------------------------------------------

def _mb(value: float) -> str:
    return f"{value / 2**20:,.1f}"


def _rate(value: float) -> str:
    return f"{value / 1e6:,.2f} M" if value >= 1e6 else f"{value / 1e3:,.0f} k"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:,.1f}x" if b > 0 else "n/a"


def render(report: dict) -> str:
    m = report["machine"]
    v = m["versions"]
    lines = [
        "# consensus speed benchmark",
        "",
        f"Machine: {m['cpu']}, {m['logical_cores']} logical cores ({m['usable_cores']} usable), "
        f"{m['memory_gb']} GB RAM; numba threads {m['numba_threads']} "
        f"(threading layer {m['numba_threading_layer']}); {m['platform']}.",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val) + f"; code: {m['code']}.",
        f"Command: `{report['command'].strip()}`",
        f"Load average (1/5/15 min) before: {'/'.join(f'{x:.2f}' for x in report['load_average']['before'])}, "
        f"after: {'/'.join(f'{x:.2f}' for x in report['load_average']['after'])} "
        f"(anything well above 0 means other processes shared the {m['usable_cores']} cores).",
        "",
        f"Time = median of {report['args']['repeats']} fits (crowd-kit: {report['args']['peer_repeats']}) "
        "after a warm-up call, in one process; judgments/s from the median; "
        "peak RSS = extra resident memory of one fit, measured in a fresh subprocess "
        "(VmHWM after resetting it, minus RSS before the fit). Dawid-Skene runs exactly "
        f"{report['args']['iters']} EM iterations in both libraries; consensus DawidSkene's other parameters are "
        f"its defaults ({report['ds_defaults']}), so its time includes the 'loo' confidence calibration "
        "unless calibration='none'.",
    ]
    for tier in report["tiers"]:
        methods = tier["methods"]
        lines += [
            "",
            f"## {tier['n_judgments']:,} judgments, {tier['n_items']:,} items, {tier['n_workers']:,} workers, "
            f"{tier['n_classes']} classes",
            "",
            f"Input preparation (not timed below): `Judgments.from_codes` "
            f"{tier['consensus_input_seconds']:.3f} s"
            + (f"; pandas DataFrame {tier['crowdkit_input_seconds']:.3f} s" if "crowdkit_input_seconds" in tier
               else "") + ".",
            "",
            "| method | time (s), median | min - max (s) | judgments/s | peak RSS increase (MB) | accuracy vs truth | cold first call, compile (s) | cold first call, disk cache (s) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for method, r in methods.items():
            cold_c = f"{r['cold_compile_seconds']:.2f}" if "cold_compile_seconds" in r else "-"
            cold_d = f"{r['cold_cached_seconds']:.2f}" if "cold_cached_seconds" in r else "-"
            lines.append(
                f"| {LABELS[method]} | {r['seconds']:.3f} | {min(r['seconds_all']):.3f} - "
                f"{max(r['seconds_all']):.3f} | {_rate(r['judgments_per_s'])} | "
                f"{_mb(r['peak_rss_increase_bytes'])} | {r['accuracy']:.4f} | {cold_c} | {cold_d} |")
        if "crowdkit-ds" in methods:
            lines += ["", "| ratio crowd-kit / consensus | time | peak RSS increase |", "|---|---:|---:|"]
            for name, ours_key in (("mv", "consensus-mv"), ("ds", "consensus-ds"), ("ds", "consensus-ds-nocal")):
                ours, theirs = methods[ours_key], methods[f"crowdkit-{name}"]
                lines.append(
                    f"| {LABELS[f'crowdkit-{name}']} / {LABELS[ours_key]} | "
                    f"{_ratio(theirs['seconds'], ours['seconds'])} | "
                    f"{_ratio(theirs['peak_rss_increase_bytes'], ours['peak_rss_increase_bytes'])} |")
            ml = tier["ml_agreement_with_crowdkit"]
            lines += ["", f"Sanity check: consensus `{ml['params']}` (classical maximum-likelihood Dawid-Skene) "
                          f"disagrees with crowd-kit's labels on {ml['items_disagreeing']:,} of "
                          f"{tier['n_items']:,} items (accuracy {ml['accuracy']:.5f})."]
            check = tier["ds_accuracy_check"]
            lines += ["", f"DS accuracy check (consensus >= crowd-kit): {check['consensus']:.5f} vs "
                          f"{check['crowdkit']:.5f} ({check['items_difference']:+d} of {tier['n_items']:,} items): "
                          f"**{'PASS' if check['passed'] else 'FAIL'}**"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e6], help="judgments per tier (default 1e6)")
    parser.add_argument("--classes", type=int, nargs="+", default=[2, 5], help="classes per tier (default 2 5)")
    parser.add_argument("--iters", type=int, default=20, help="Dawid-Skene EM iterations (default 20)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed fits per consensus method (median; default 5)")
    parser.add_argument("--peer-repeats", type=int, default=3,
                        help="timed fits per crowd-kit method (median; default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-peers", dest="peers", action="store_false", help="skip crowd-kit")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="output folder")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    if args.peers:
        try:
            import crowdkit  # noqa: F401
            import pandas  # noqa: F401
        except ImportError:
            parser.error("crowd-kit and pandas are needed for the peer comparison; "
                         "pip install -e '.[bench]' or pass --no-peers")

    import consensus.data  # noqa: F401 - import polars & co. before anything is timed

    started = time.perf_counter()
    load_before = os.getloadavg()
    report: dict = {"command": "python benchmarks/speed.py " + " ".join(sys.argv[1:] if argv is None else argv),
                    "args": {k: (os.path.relpath(v.resolve(), HERE.parent) if isinstance(v, Path) else v) for k, v in vars(args).items()
                             if k != "child"},
                    "tiers": []}
    with tempfile.TemporaryDirectory(prefix="consensus-speed-") as tmp:
        for size in args.sizes:
            for n_classes in args.classes:
                report["tiers"].append(run_tier(int(size), n_classes, args, Path(tmp)))
    import inspect

    from consensus import DawidSkene

    report["ds_defaults"] = ", ".join(
        f"{name}={p.default!r}" for name, p in inspect.signature(DawidSkene).parameters.items()
        if p.default is not inspect.Parameter.empty and p.default is not None and name not in ("max_iter", "tol"))
    report["machine"] = machine_info()  # after the runs: numba's threading layer is known by then
    report["total_seconds"] = time.perf_counter() - started
    report["load_average"] = {"before": load_before, "after": os.getloadavg()}

    text = render(report)
    print("\n" + text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "speed.md").write_text(text)
    (args.out / "speed.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out / 'speed.md'} and {args.out / 'speed.json'} "
          f"(total {report['total_seconds']:.0f} s)")
    failed = [t for t in report["tiers"] if not t.get("ds_accuracy_check", {"passed": True})["passed"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
