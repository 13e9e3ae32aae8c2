"""Speed traps: judgments faster than a floor, and bursts of submissions.

The floor
---------
Durations are compared on the log scale, where they are roughly symmetric.
Without ``min_seconds`` the floor is learned robustly: the center is the median
log duration and the scale ``1.4826 * MAD``, so a minority of fast workers moves
neither. The within-item scale ``s`` is the robust scale of the differences
between two judgments of one item, / sqrt(2) (unbiased however few judgments an
item has; residuals around an item's own median are not). When items take
different times (the spread of per-item medians is larger than their sampling
noise, ``(pi / 2) * s^2 / n_i``, explains), each item gets its own center,
shrunk toward the global one by how much data it has (empirical Bayes: weight
``w = tau^2 / (tau^2 + (pi / 2) s^2 / n_i)``), and its scale is
``sqrt(s^2 + w (pi / 2) s^2 / n_i)`` (the center's own uncertainty). The floor is
``exp(center - floor_sds * scale)``: with the default 1.5, about 7% of an
honest log-normal crowd's judgments would fall below it (real crowds have a
lighter lower tail, since reading takes a minimum time: 1.3% on
weather_sentiment_amt), and a worker needs ``min_fast_share`` (40%) of its work
below it, significantly more than the rest of the crowd, to be flagged. With a
typical log-scale of 0.6-0.9 the floor is a quarter to a third of the median
time. Medians and MADs use at most ``ROBUST_SAMPLE`` evenly spaced values.

Worker tests
------------
``too_fast``: the share of a worker's timed judgments below the floor, against
the share in the rest of the crowd (exact one-sided binomial test); flagged only
when the share also reaches ``min_fast_share``. ``bursts``: the share of a
worker's submissions inside a burst (``burst_size`` submissions within
``burst_window`` seconds), tested the same way against ``min_burst_share``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from consensus.fraud import _stats
from consensus.fraud._base import Context, DetectorOutput, TestResult, full
from consensus.kernels.fraud_speed import burst_flags, group_median, worker_flag_counts

#: Durations below this many seconds are clipped before taking logs (0 s happens).
LOG_FLOOR_SECONDS = 0.01
#: Medians and MADs use at most this many evenly spaced values (their standard error is
#: then about 0.001 robust sd; a median of 10M values costs more than the kernels).
ROBUST_SAMPLE = 1_000_000
#: Least timed judgments per item for the item's median to count in "do items differ?".
MIN_PER_ITEM = 3
#: Per-item floors when the between-item spread (sd of true log centers) exceeds this
#: share of the within-item scale.
ITEMS_DIFFER = 0.25
#: The within-item scale uses every pair of an item's timed judgments, of at most this many of
#: its quantiles, and at most ``PAIR_BUDGET`` differences in all.
PAIR_POINTS = 20
PAIR_BUDGET = 2_000_000


@dataclass
class SpeedFloor:
    """The speed floor in force.

    Attributes
    ----------
    mode : {"user", "global", "per_item"}
    seconds : float
        The floor (``per_item``: the median item floor).
    item_floor : float64 (n_items,)
        Floor per item in seconds.
    median_seconds : float
        Median duration of all timed judgments.
    log_scale : float
        Robust within-item scale of log durations (NaN for ``user``).
    between_items : float
        Estimated spread (sd) of true per-item log centers (NaN when not estimated).
    floor_sds : float
    n_timed, n_fast : int
        Timed judgments, and those below the floor.
    """

    mode: str
    seconds: float
    item_floor: np.ndarray
    median_seconds: float
    log_scale: float
    between_items: float
    floor_sds: float
    n_timed: int
    n_fast: int

    def describe(self) -> str:
        share = self.n_fast / self.n_timed if self.n_timed else 0.0
        if self.mode == "user":
            how = "given by --min-seconds"
        elif not self.log_scale > 0:
            how = (f"not learned: the durations do not vary around their median {self.median_seconds:.3g} s, so "
                   "no judgment is fast relative to the others; set a floor with --min-seconds")
        else:
            how = (f"learned: median {self.median_seconds:.3g} s, floor = exp(center - "
                   f"{self.floor_sds:g} x {self.log_scale:.3f}"
                   + (" widened by the item center's uncertainty" if self.mode == "per_item" else "")
                   + ") on log seconds")
            if self.mode == "per_item":
                finite = self.item_floor[np.isfinite(self.item_floor)]
                how += (f", per item (items differ: between-item sd {self.between_items:.3f}); item floors "
                        f"{finite.min():.3g}-{finite.max():.3g} s")
            else:
                how += ", one floor for all items"
        return (f"speed floor {self.seconds:.3g} s ({how}); {self.n_fast} of {self.n_timed} timed "
                f"judgments ({share:.2%}) below it")


def learn_floor(ctx: Context) -> SpeedFloor | None:
    """The speed floor from ``min_seconds`` or from the durations; None without durations."""
    j = ctx.judgments
    config = ctx.config
    if j.duration is None:
        return None
    duration = np.asarray(j.duration, dtype=np.float64)
    valid = np.isfinite(duration) & (duration >= 0)
    n_timed = int(valid.sum())
    if n_timed == 0:
        return None
    median_seconds = float(np.median(_sample(duration[valid])))
    if config.min_seconds is not None:
        item_floor = full(j.n_items, float(config.min_seconds))
        n_fast = int((duration[valid] < config.min_seconds).sum())
        return SpeedFloor("user", float(config.min_seconds), item_floor, median_seconds, np.nan, np.nan,
                          config.floor_sds, n_timed, n_fast)

    log_d = np.where(valid, np.log(np.maximum(duration, LOG_FLOOR_SECONDS)), np.nan)
    logs = _sample(log_d[valid])
    center = float(np.median(logs))
    scale = _robust_scale(logs - center)
    item_center = full(j.n_items, center)
    mode = "global"
    between = np.nan
    if config.per_item_floor != "never" and j.n_items > 1:
        med_i, n_i = group_median(j.item_offsets, log_d)
        ok = n_i >= MIN_PER_ITEM
        if ok.sum() >= 10 or (config.per_item_floor == "always" and ok.any()):
            within = _within_item_scale(j.item, j.item_offsets, log_d)
            if within <= 0:
                within = scale
            noise = np.pi / 2.0 * within**2 / np.maximum(n_i[ok], 1)
            item_medians = _sample(med_i[ok])
            spread = _robust_scale(item_medians - np.median(item_medians))
            tau2 = max(spread**2 - float(np.mean(noise)), 0.0)
            between = float(np.sqrt(tau2))
            if config.per_item_floor == "always" or between > ITEMS_DIFFER * within:
                mode = "per_item"
                weight = np.zeros(j.n_items)
                noise_all = np.pi / 2.0 * within**2 / np.maximum(n_i, 1)
                weight[ok] = tau2 / (tau2 + noise_all[ok]) if tau2 > 0 else 0.0
                item_center = center + weight * (np.where(ok, med_i, center) - center)
                scale = within
    item_scale = scale
    if mode == "per_item":  # a judgment's spread around an estimated center: the center's own uncertainty too
        item_scale = np.sqrt(within**2 + weight * noise_all)
    item_floor = np.exp(item_center - config.floor_sds * item_scale) if scale > 0 else full(j.n_items, 0.0)
    fast = valid & (duration < item_floor[j.item])
    seconds = float(np.median(item_floor)) if mode == "per_item" else float(item_floor[0]) if j.n_items else 0.0
    return SpeedFloor(mode, seconds, item_floor, median_seconds, scale, between, config.floor_sds,
                      n_timed, int(fast.sum()))


def _within_item_scale(item: np.ndarray, item_offsets: np.ndarray, log_d: np.ndarray) -> float:
    """Robust sd of log durations around their item's true center, from differences within items.

    Residuals around each item's *own* median shrink with few judgments per item (with 3, one of
    them is 0), which made items look different when they were not. The difference of two
    judgments of one item has sd ``sqrt(2) * sd`` whatever the item's center and however few
    judgments it has: the robust scale of every within-item difference, / sqrt(2). It does not
    depend on the order of the judgments (ids can be renamed). An item with more than
    ``PAIR_POINTS`` timed judgments contributes the pairs of ``PAIR_POINTS`` of its quantiles (at
    (k + 1/2) / PAIR_POINTS); past ``PAIR_BUDGET`` differences, every k-th item (in item-id order)
    is used, so on such large inputs renaming items can move the estimate by its sampling error,
    as for the medians (:func:`_sample`).
    """
    n_timed = np.bincount(item[np.isfinite(log_d)], minlength=item_offsets.size - 1)
    points = np.minimum(n_timed, PAIR_POINTS)
    pairs = points * (points - 1) // 2
    step = max(1, -(-int(pairs.sum()) // PAIR_BUDGET))
    kept = np.zeros(n_timed.size, dtype=bool)
    kept[::step] = True
    differences = []
    for n in np.unique(n_timed[kept & (n_timed >= 2)]):
        owners = np.flatnonzero(kept & (n_timed == n))
        rows = _timed_rows(item_offsets, log_d, owners, int(n))
        if n > PAIR_POINTS:
            rows = rows[:, np.round((np.arange(PAIR_POINTS) + 0.5) * n / PAIR_POINTS - 0.5).astype(np.int64)]
        first, second = np.triu_indices(rows.shape[1], 1)
        differences.append((rows[:, first] - rows[:, second]).ravel())
    if not differences:
        return 0.0
    return _robust_scale(np.concatenate(differences)) / np.sqrt(2.0)


def _timed_rows(item_offsets: np.ndarray, log_d: np.ndarray, owners: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` timed log durations of each item in ``owners`` (each has exactly ``n``), sorted, one row each."""
    lengths = item_offsets[owners + 1] - item_offsets[owners]
    index = np.repeat(item_offsets[owners], lengths) + (np.arange(lengths.sum())
                                                        - np.repeat(np.cumsum(lengths) - lengths, lengths))
    values = log_d[index]
    values = values[np.isfinite(values)].reshape(owners.size, n)
    return np.sort(values, axis=1)


def _sample(values: np.ndarray) -> np.ndarray:
    """Every k-th value, so at most ``ROBUST_SAMPLE`` values go into a median (deterministic)."""
    step = -(-values.size // ROBUST_SAMPLE)
    return values[::step] if step > 1 else values


def _robust_scale(deviations: np.ndarray) -> float:
    """1.4826 * median |deviation|, falling back to the mean absolute deviation when the MAD is 0."""
    if deviations.size == 0:
        return 0.0
    absdev = np.abs(deviations)
    mad = 1.4826 * float(np.median(absdev))
    return mad if mad > 0 else 1.2533 * float(np.mean(absdev))


def _share_test(name: str, n_valid: np.ndarray, n_hit: np.ndarray, min_share: float,
                min_judgments: int) -> TestResult:
    """A worker's share of hits against the rest of the crowd's (exact binomial), per worker."""
    total_valid = float(n_valid.sum())
    total_hit = float(n_hit.sum())
    rest_valid = total_valid - n_valid
    rest_hit = total_hit - n_hit
    population = (rest_hit + 0.5) / (rest_valid + 1.0)  # leave-one-out, smoothed
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n_valid > 0, n_hit / np.maximum(n_valid, 1), np.nan)
    p = _stats.binom_upper(n_hit, n_valid, population)
    p = np.where(n_valid >= min_judgments, p, np.nan)
    threshold = np.maximum(full(n_valid.size, min_share), population)
    effect = np.nan_to_num(share, nan=-1.0) >= threshold
    return TestResult(name, n_valid.astype(np.int64), share, threshold, p, effect)


def run(ctx: Context) -> DetectorOutput:
    """``too_fast`` (needs durations) and ``bursts`` (needs submission times)."""
    j = ctx.judgments
    config = ctx.config
    out = DetectorOutput()
    floor = learn_floor(ctx)
    out.info["speed_floor"] = floor
    if floor is not None:
        duration = np.asarray(j.duration, dtype=np.float64)
        valid = np.isfinite(duration) & (duration >= 0)
        fast = valid & (duration < floor.item_floor[j.item])
        n_valid, n_fast = worker_flag_counts(j.worker_offsets, j.worker_order, fast, valid)
        out.tests.append(_share_test("too_fast", n_valid, n_fast, config.min_fast_share, config.min_judgments))
        median, _ = group_median(j.worker_offsets, np.where(valid, duration, np.nan)[j.worker_order])
        out.columns["median_seconds"] = median
        out.judgment_flags["too_fast"] = fast
    if j.submitted is not None:
        submitted = np.ascontiguousarray(j.submitted, dtype=np.float64)
        in_burst, n_timed, n_burst = burst_flags(j.worker_offsets, j.worker_order, submitted,
                                                 float(config.burst_window), int(config.burst_size))
        out.tests.append(_share_test("bursts", n_timed, n_burst, config.min_burst_share, config.min_judgments))
        out.judgment_flags["burst"] = in_burst.astype(bool)
    return out
