"""Seeded synthetic crowd judgments with known truth (numpy only, vectorised).

The generator draws, in this order (all from one ``numpy.random.Generator``
seeded by ``seed``, so the same arguments always give the same data):

1. class priors (mildly skewed, Dirichlet) and the true class of every item;
2. a worker mix: ``good`` annotators with a class-dependent confusion matrix
   (skill ~ Beta, per-class jitter, errors spread unevenly over the other
   classes), ``spammer`` (uniform answers), ``straight_liner`` (always one
   class) and ``adversarial`` (mostly a fixed wrong class per true class);
3. a skewed (log-normal) worker activity distribution; every item gets its
   labels from distinct workers (no duplicate (item, worker) pairs), drawn
   with probability proportional to activity;
4. each answer from the worker's confusion row for the item's true class;
5. log-normal durations: per-worker speed x per-item difficulty x per-judgment
   noise, spammers and straight-liners much faster, plus a small share of
   long "went for coffee" outliers.

Memory is bounded for large runs (100M rows): per-judgment work is done in
chunks, and outputs are int32 codes plus float32 durations
(~16 bytes per judgment in total).

Command line (writes Parquet for end-to-end tests)::

    python benchmarks/synthetic.py --judgments 1e6 --classes 5 --out /tmp/synth.parquet [--ids int]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

WORKER_TYPES = ("good", "spammer", "straight_liner", "adversarial")
DEFAULT_MIX = {"good": 0.75, "spammer": 0.12, "straight_liner": 0.08, "adversarial": 0.05}
_CHUNK = 1 << 22  # judgments per chunk of per-row work


@dataclass
class SyntheticJudgments:
    """Generated judgments and the truth behind them.

    Attributes
    ----------
    item, worker, label : int32 (n_judgments,)
        Codes; sorted by item, then worker (unless generated with ``shuffle``).
    truth : int32 (n_items,)
        True class of every item.
    duration : float32 (n_judgments,)
        Seconds spent on each judgment.
    confusion : float64 (n_workers, n_classes, n_classes)
        True confusion matrices ``[w, true, given]`` (rows sum to one).
    worker_type : int8 (n_workers,)
        Index into :data:`WORKER_TYPES`.
    activity : float64 (n_workers,)
        Selection probability of each worker (sums to one).
    class_prior : float64 (n_classes,)
    """

    item: np.ndarray
    worker: np.ndarray
    label: np.ndarray
    truth: np.ndarray
    duration: np.ndarray
    confusion: np.ndarray
    worker_type: np.ndarray
    activity: np.ndarray
    class_prior: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def n_judgments(self) -> int:
        return int(self.item.size)

    @property
    def n_items(self) -> int:
        return int(self.truth.size)

    @property
    def n_workers(self) -> int:
        return int(self.confusion.shape[0])

    @property
    def n_classes(self) -> int:
        return int(self.confusion.shape[1])

    def worker_type_names(self) -> np.ndarray:
        return np.asarray(WORKER_TYPES)[self.worker_type]

    def summary(self) -> str:
        counts = np.bincount(self.worker_type, minlength=len(WORKER_TYPES))
        mix = ", ".join(f"{name} {n}" for name, n in zip(WORKER_TYPES, counts))
        per_worker = np.bincount(self.worker, minlength=self.n_workers)
        return (
            f"{self.n_judgments:,} judgments, {self.n_items:,} items, {self.n_workers:,} workers "
            f"({mix}), {self.n_classes} classes; judgments per worker: median "
            f"{int(np.median(per_worker))}, max {int(per_worker.max())}; "
            f"median duration {float(np.median(self.duration[:1_000_000])):.1f} s"
        )


def generate(
    n_items: int,
    n_workers: int,
    n_classes: int,
    labels_per_item: int | tuple[int, int] = 5,
    *,
    mix: dict[str, float] | None = None,
    good_skill: tuple[float, float] = (7.0, 2.0),
    activity_sigma: float = 1.2,
    max_worker_share: float = 0.5,
    class_concentration: float = 5.0,
    median_seconds: float = 12.0,
    seed: int = 0,
    shuffle: bool = False,
) -> SyntheticJudgments:
    """Generate crowd judgments with known truth.

    Parameters
    ----------
    n_items, n_workers, n_classes : int
    labels_per_item : int or (low, high)
        Labels per item, fixed or uniform in ``[low, high]`` (inclusive).
        Each item's labels come from distinct workers.
    mix : dict of worker type -> share, optional
        Shares of ``good``, ``spammer``, ``straight_liner``, ``adversarial``
        (normalised to sum to one). Defaults to :data:`DEFAULT_MIX`.
    good_skill : (a, b)
        Beta parameters of a good worker's mean accuracy (default mean 0.78).
    activity_sigma : float
        Sigma of the log-normal activity weights (larger = more skewed).
    max_worker_share : float
        Cap on any worker's chance of being picked for a given item
        (keeps sampling without replacement feasible).
    class_concentration : float
        Dirichlet concentration of the class priors (smaller = more skewed).
    median_seconds : float
        Median duration of a good worker's judgment.
    seed : int
    shuffle : bool
        Return the judgments in random order instead of item-major order.
    """
    k_lo, k_hi = (labels_per_item, labels_per_item) if np.isscalar(labels_per_item) else labels_per_item
    k_lo, k_hi = int(k_lo), int(k_hi)
    if not 1 <= k_lo <= k_hi:
        raise ValueError(f"labels_per_item must be >= 1 (low <= high), got {labels_per_item!r}")
    if n_workers < 2 * k_hi:
        raise ValueError(f"need n_workers >= 2 * labels_per_item ({2 * k_hi}), got {n_workers}")
    if n_classes < 2:
        raise ValueError("n_classes must be >= 2")
    if n_items < 1:
        raise ValueError("n_items must be >= 1")
    rng = np.random.default_rng(seed)
    K = int(n_classes)

    # 1. classes and truth
    class_prior = rng.dirichlet(np.full(K, class_concentration))
    truth = _categorical(rng, class_prior, n_items).astype(np.int32)

    # 2. worker mix and confusion matrices [w, true, given]
    mix = dict(DEFAULT_MIX if mix is None else mix)
    unknown = set(mix) - set(WORKER_TYPES)
    if unknown:
        raise ValueError(f"unknown worker types {sorted(unknown)}; use {WORKER_TYPES}")
    shares = np.array([mix.get(t, 0.0) for t in WORKER_TYPES], dtype=np.float64)
    shares = shares / shares.sum()
    counts = np.floor(shares * n_workers).astype(np.int64)
    counts[0] += n_workers - counts.sum()  # remainder goes to good workers
    worker_type = rng.permutation(np.repeat(np.arange(len(WORKER_TYPES), dtype=np.int8), counts))
    confusion = _confusions(rng, worker_type, K, good_skill)

    # 3. activity and assignment of workers to items (distinct per item)
    activity = _capped(rng.lognormal(0.0, activity_sigma, n_workers), max_worker_share / k_hi)
    assigned = _assign(rng, _alias_table(activity), n_items, k_hi)
    if k_lo == k_hi:
        item = np.repeat(np.arange(n_items, dtype=np.int32), k_hi)
        worker = assigned.reshape(-1)
    else:
        n_labels = rng.integers(k_lo, k_hi + 1, n_items)
        rank = np.argsort(np.argsort(rng.random((n_items, k_hi)), axis=1), axis=1)
        keep = rank < n_labels[:, None]
        item = np.repeat(np.arange(n_items, dtype=np.int32), n_labels)
        worker = assigned[keep]
    del assigned

    # 4. answers and 5. durations, chunk by chunk
    n = item.size
    label = np.empty(n, dtype=np.int32)
    duration = np.empty(n, dtype=np.float32)
    # answer thresholds, one contiguous float32 column per class boundary, rows = worker * K + true
    answer_cdf = np.cumsum(confusion, axis=2).reshape(n_workers * K, K)
    thresholds = [np.ascontiguousarray(answer_cdf[:, k], dtype=np.float32) for k in range(K - 1)]
    row_dtype = np.int32 if n_workers * K < 2**31 else np.int64
    type_speed = np.array([1.0, 0.2, 0.12, 0.8])  # median speed factor per worker type
    worker_speed = (type_speed[worker_type] * rng.lognormal(0.0, 0.35, n_workers)).astype(np.float32)
    item_difficulty = rng.lognormal(0.0, 0.4, n_items).astype(np.float32)
    log_median = np.float32(np.log(median_seconds))
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        w = worker[start:stop]
        i = item[start:stop]
        row = w.astype(row_dtype) * row_dtype(K) + truth[i]
        u = np.float32(1.0) - rng.random(stop - start, dtype=np.float32)  # (0, 1]: exact 0/1 rows stay exact
        answer = np.zeros(stop - start, dtype=np.int32)
        for column in thresholds:  # answer = number of cumulative thresholds below u
            answer += u > column[row]
        label[start:stop] = answer
        noise = rng.standard_normal(stop - start, dtype=np.float32) * np.float32(0.55)
        d = np.exp(log_median + noise) * worker_speed[w] * item_difficulty[i]
        slow = rng.random(stop - start, dtype=np.float32) < 0.01  # breaks: long tail
        d[slow] *= rng.lognormal(2.5, 1.0, int(slow.sum())).astype(np.float32)
        duration[start:stop] = np.maximum(d, np.float32(0.3))

    if shuffle:
        order = rng.permutation(n)
        item, worker, label, duration = item[order], worker[order], label[order], duration[order]

    params = dict(n_items=n_items, n_workers=n_workers, n_classes=K, labels_per_item=labels_per_item,
                  mix={t: float(s) for t, s in zip(WORKER_TYPES, shares)}, good_skill=good_skill,
                  activity_sigma=activity_sigma, max_worker_share=max_worker_share,
                  class_concentration=class_concentration, median_seconds=median_seconds,
                  seed=seed, shuffle=shuffle)
    return SyntheticJudgments(
        item=np.ascontiguousarray(item, dtype=np.int32),
        worker=np.ascontiguousarray(worker, dtype=np.int32),
        label=label, truth=truth, duration=duration, confusion=confusion,
        worker_type=worker_type, activity=activity, class_prior=class_prior, params=params,
    )


def for_size(n_judgments: int, n_classes: int, *, labels_per_item: int = 5, seed: int = 0,
             **kwargs) -> SyntheticJudgments:
    """Standard benchmark tier: ``n_judgments`` rows, 5 labels per item,
    one worker per 1,000 judgments (at least 100)."""
    n_items = max(1, int(n_judgments) // labels_per_item)
    n_workers = max(100, int(n_judgments) // 1000)
    return generate(n_items, n_workers, n_classes, labels_per_item, seed=seed, **kwargs)


# -- pieces ---------------------------------------------------------------------------------

def _categorical(rng: np.random.Generator, p: np.ndarray, size: int) -> np.ndarray:
    cdf = np.cumsum(p)
    cdf[-1] = 1.0
    return np.searchsorted(cdf, rng.random(size), side="right")


def _capped(weights: np.ndarray, cap: float) -> np.ndarray:
    """Normalise weights to probabilities with none above ``cap`` (water-filling)."""
    p = weights / weights.sum()
    cap = max(cap, 1.0 / p.size)
    for _ in range(100):
        over = p > cap
        if not over.any():
            break
        excess = (p[over] - cap).sum()
        p[over] = cap
        under = ~over & (p < cap)
        p[under] += excess * p[under] / p[under].sum()
    return p


def _alias_table(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker's alias table for O(1) categorical draws: (threshold, alias)."""
    n = p.size
    scaled = p * (n / p.sum())
    threshold = np.ones(n, dtype=np.float64)
    alias = np.arange(n, dtype=np.int32)
    small = np.flatnonzero(scaled < 1.0).tolist()
    large = np.flatnonzero(scaled >= 1.0).tolist()
    while small and large:
        s, g = small.pop(), large.pop()
        threshold[s] = scaled[s]
        alias[s] = g
        scaled[g] -= 1.0 - scaled[s]
        (small if scaled[g] < 1.0 else large).append(g)
    return threshold, alias


def _assign(rng: np.random.Generator, table: tuple[np.ndarray, np.ndarray], n_items: int,
            k: int) -> np.ndarray:
    """(n_items, k) int32 worker codes, distinct within a row, each row sorted.

    Draws with replacement proportional to activity (alias method: one uniform
    per draw, its integer part picks a column, its fraction accepts it or takes
    the alias), then redraws only the duplicate slots until every row is
    distinct (rejection sampling).
    """
    threshold, alias = table
    n = threshold.size

    def draw(shape):
        scaled = rng.random(shape) * n
        column = np.minimum(scaled.astype(np.int32), n - 1)
        scaled -= column
        return np.where(scaled < threshold[column], column, alias[column]).astype(np.int32, copy=False)

    out = draw((n_items, k))
    out.sort(axis=1)
    rows = np.arange(n_items)
    for _ in range(1000):
        sub = out[rows] if rows.size < n_items else out
        dup = np.zeros(sub.shape, dtype=bool)
        dup[:, 1:] = sub[:, 1:] == sub[:, :-1]
        bad = dup.any(axis=1)
        if not bad.any():
            return out
        rows = rows[bad]
        sub = sub[bad]
        dup = dup[bad]
        sub[dup] = draw(int(dup.sum()))
        sub.sort(axis=1)
        out[rows] = sub
    raise RuntimeError("could not draw distinct workers per item; lower max_worker_share")


def _confusions(rng: np.random.Generator, worker_type: np.ndarray, K: int,
                good_skill: tuple[float, float]) -> np.ndarray:
    n_workers = worker_type.size
    conf = np.empty((n_workers, K, K), dtype=np.float64)
    eye = np.eye(K, dtype=bool)

    # good: accuracy per (worker, true class) around a worker skill; the error mass is
    # spread over the other classes by a Dirichlet draw (so confusions are class-dependent)
    good = np.flatnonzero(worker_type == 0)
    if good.size:
        skill = rng.beta(*good_skill, good.size)
        diag = np.clip(skill[:, None] + rng.normal(0.0, 0.08, (good.size, K)), 1.0 / K + 0.05, 0.995)
        off = rng.dirichlet(np.full(K - 1, 1.0), (good.size, K)) if K > 2 else np.ones((good.size, K, 1))
        block = np.zeros((good.size, K, K))
        block[:, eye] = diag
        block[:, ~eye] = (off * (1.0 - diag)[:, :, None]).reshape(good.size, K * (K - 1))
        conf[good] = block

    # spammer: uniform answers, whatever the truth
    conf[worker_type == 1] = 1.0 / K

    # straight-liner: always the same class
    straight = np.flatnonzero(worker_type == 2)
    if straight.size:
        conf[straight] = 0.0
        favourite = rng.integers(0, K, straight.size)
        conf[straight[:, None], np.arange(K)[None, :], favourite[:, None]] = 1.0

    # adversarial: answers a fixed wrong class (a derangement of the classes) most of the time
    adv = np.flatnonzero(worker_type == 3)
    if adv.size:
        shift = rng.integers(1, K, adv.size)  # true t -> (t + shift) % K, never t itself
        strength = rng.uniform(0.6, 0.9, adv.size)
        conf[adv] = ((1.0 - strength) / K)[:, None, None]
        wrong = (np.arange(K)[None, :] + shift[:, None]) % K
        conf[adv[:, None], np.arange(K)[None, :], wrong] += strength[:, None]
    return conf


# -- output ---------------------------------------------------------------------------------

def write_parquet(data: SyntheticJudgments, path: str | Path, *, ids: str = "str",
                  gold_path: str | Path | None = None, with_duration: bool = True,
                  row_group_size: int = 1 << 20, labels: str = "str") -> Path:
    """Write the judgments as Parquet (``item, worker, label[, duration_s]``), chunk by chunk.

    ``ids="str"`` writes ids as text (``i123``, ``w45``) as deliveries have them,
    ``ids="int"`` as the integer codes (int32). ``labels="str"`` writes the class
    codes as text (``"0"``, ``"1"``, ...; dictionary-encoded by Parquet),
    ``labels="int"`` as int32. With ``gold_path``, the truth of every item is
    written there as ``item, label``.

    Each row group is built from one slice of the arrays and written before the
    next is made (pyarrow ``ParquetWriter``), so memory stays at one row group
    of text, never 100M Python objects.
    """
    import polars as pl
    import pyarrow.parquet as pq

    if ids not in ("str", "int") or labels not in ("str", "int"):
        raise ValueError("ids and labels must be 'str' or 'int'")

    def id_column(name: str, prefix: str, codes: np.ndarray) -> pl.Series:
        series = pl.Series(name, codes)
        if ids == "str":
            series = pl.select((pl.lit(prefix) + series.cast(pl.String)).alias(name)).to_series()
        return series

    def label_column(codes: np.ndarray) -> pl.Series:
        series = pl.Series("label", codes)
        return series.cast(pl.String) if labels == "str" else series

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    try:
        for start in range(0, max(data.n_judgments, 1), row_group_size):
            stop = min(start + row_group_size, data.n_judgments)
            columns = [
                id_column("item", "i", data.item[start:stop]),
                id_column("worker", "w", data.worker[start:stop]),
                label_column(data.label[start:stop]),
            ]
            if with_duration:
                columns.append(pl.Series("duration_s", data.duration[start:stop]))
            table = pl.DataFrame(columns).to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=row_group_size)
    finally:
        if writer is not None:
            writer.close()
    if gold_path is not None:
        gold = pl.DataFrame([
            id_column("item", "i", np.arange(data.n_items, dtype=np.int32)),
            label_column(data.truth),
        ])
        Path(gold_path).parent.mkdir(parents=True, exist_ok=True)
        gold.write_parquet(gold_path)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--judgments", type=float, default=1e6, help="number of judgments (default 1e6)")
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--labels-per-item", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ids", choices=("str", "int"), default="str")
    parser.add_argument("--labels", choices=("str", "int"), default="str")
    parser.add_argument("--out", type=Path, help="Parquet file to write (gold next to it as *.gold.parquet)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    data = for_size(int(args.judgments), args.classes, labels_per_item=args.labels_per_item, seed=args.seed)
    print(f"generated in {time.perf_counter() - start:.2f} s: {data.summary()}")
    if args.out:
        start = time.perf_counter()
        gold = args.out.with_name(args.out.stem + ".gold.parquet")
        write_parquet(data, args.out, ids=args.ids, labels=args.labels, gold_path=gold)
        print(f"wrote {args.out} and {gold} in {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
