"""Speed of the audit planner: ``plan_audit`` and its binomial quantiles against scipy's ppf.

    python benchmarks/planner.py [--margins 0.02 0.005 0.001] [--claimed 0.96] [--out benchmarks/results]

``plan_audit`` evaluates the verdict rule at every sample size up to the stable one (242,485 at a claim of
0.96 with a 0.1-point margin), and the rule's critical values are binomial quantiles. For each margin:

* ``plan_audit`` wall time (median of 3, after one warm-up call) and the plan it returns;
* the same plan with the quantiles from ``scipy.stats.binom.ppf`` (what the planner used before; patched
  into ``consensus.claims.planning.binom_quantile`` for the run), checked to give the same plan: the
  ratio is the speed-up of the current code on the same machine in the same process;
* ``binom_quantile`` vs ``stats.binom.ppf`` alone on ``n = 1 .. N`` (N = the plan's n), asserted equal.

Writes ``planner.md`` and ``planner.json`` to ``--out``; prints the table, wall time and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from consensus.claims import planning  # noqa: E402


def _median_seconds(run, repeats: int = 3) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _scipy_quantile(prob: float, n: np.ndarray, p: float, max_steps: int = 64) -> np.ndarray:
    """The previous quantile: scipy's ppf (its root finder) on every entry."""
    return stats.binom.ppf(prob, np.asarray(n, dtype=np.int64), p)


def measure(claimed: float, margin: float) -> dict:
    plan = planning.plan_audit(claimed, margin=margin)
    ours = _median_seconds(lambda: planning.plan_audit(claimed, margin=margin))
    current = planning.binom_quantile
    planning.binom_quantile = _scipy_quantile
    try:
        old_plan = planning.plan_audit(claimed, margin=margin)
        scipy_seconds = _median_seconds(lambda: planning.plan_audit(claimed, margin=margin), repeats=1)
    finally:
        planning.binom_quantile = current
    assert (old_plan.n, old_plan.n_confirm, old_plan.n_refute) == (plan.n, plan.n_confirm, plan.n_refute)
    n = np.arange(1, (plan.n or planning.MAX_N) + 1)
    quantile = _median_seconds(lambda: planning.binom_quantile(0.05, n, claimed))
    ppf = _median_seconds(lambda: stats.binom.ppf(0.05, n, claimed), repeats=1)
    np.testing.assert_array_equal(planning.binom_quantile(0.05, n, claimed), stats.binom.ppf(0.05, n, claimed))
    return {"claimed": claimed, "margin": margin, "n": plan.n, "n_confirm": plan.n_confirm,
            "n_refute": plan.n_refute, "plan_seconds": ours, "plan_seconds_scipy_ppf": scipy_seconds,
            "quantile_seconds": quantile, "ppf_seconds": ppf, "quantile_entries": int(n.size)}


def render(rows: list[dict], command: str, seconds: float, rss_mb: float) -> str:
    lines = ["# Audit planner speed", "", f"Command: `{command}`; wall {seconds:.0f} s, peak RSS {rss_mb:.0f} MB.", "",
             "Same machine, same process; medians of 3 after a warm-up (the scipy-ppf columns: one timed call). "
             "Plans are asserted identical, and the quantiles equal to `stats.binom.ppf` on every n.", "",
             "| claim | margin | plan n (confirm / refute) | plan_audit s | with scipy ppf s | ratio | "
             "quantiles over n = 1..N: ours s | scipy ppf s | ratio |",
             "|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['claimed']:g} | {r['margin']:g} | {r['n']:,} ({r['n_confirm']:,} / {r['n_refute']:,}) | "
                     f"{r['plan_seconds']:.3f} | {r['plan_seconds_scipy_ppf']:.3f} | "
                     f"{r['plan_seconds_scipy_ppf'] / r['plan_seconds']:.1f}x | {r['quantile_seconds']:.4f} | "
                     f"{r['ppf_seconds']:.4f} | {r['ppf_seconds'] / r['quantile_seconds']:.1f}x |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--claimed", type=float, default=0.96)
    parser.add_argument("--margins", type=float, nargs="+", default=[0.02, 0.005, 0.001])
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = [measure(args.claimed, m) for m in args.margins]
    seconds = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    command = "python benchmarks/planner.py" + ("" if argv is None and len(sys.argv) == 1 else
                                                " " + " ".join(sys.argv[1:] if argv is None else argv))
    text = render(rows, command, seconds, rss_mb)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "planner.md").write_text(text, encoding="utf-8")
    (args.out / "planner.json").write_text(json.dumps({"command": command, "rows": rows}, indent=2) + "\n",
                                           encoding="utf-8")
    print(text)
    print(f"wall {seconds:.0f} s, peak RSS {rss_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
