"""Collusion and copying: pairs of annotators who answer or submit together too often.

Pairs come from the item -> workers lists (:func:`consensus.kernels.fraud_pairs.pair_stats`),
never from a loop over all pairs of workers; only pairs with at least
``min_judgments`` co-judged items are kept. Per pair:

* **too few disagreements**: the pair disagrees on ``D`` co-labelled items where
  independent annotators with their estimated confusion matrices would
  disagree on ``E = sum_i (1 - P(agree_i))`` (``P(agree_i)`` from the
  leave-two-out posterior of the item's truth). The copy strength
  ``1 - D / E`` is 1 for a perfect copy and 0 for independent annotators; the
  p-value is the Poisson lower tail ``P(X <= D)`` (conservative below the mean),
  or for an **identical sequence** (``D = 0`` over at least ``min_judgments``
  items) the exact ``prod_i P(agree_i)`` when smaller.
* **shared errors**: co-labelled items where both give the same answer against a
  strong majority of the others, against the count independent annotators
  would produce. Two careful annotators who never err cannot be told from a
  copy, and copying them does no harm, so a copying flag also needs at least
  ``min_shared_errors`` shared errors, ``min_copy_ratio`` times the expected.
* **co-timed submissions** (with timestamps): co-judged items submitted within
  ``co_window`` seconds of each other, against the count expected if the
  partner's submission on the item were any one of its other submissions.

``copying`` needs a copy strength of at least ``min_copy_strength`` and the
shared errors above; per worker it takes the smallest pair p-value times the
worker's number of tested pairs (Bonferroni over partners); ``co_timed`` likewise. Groups
are the connected components of flagged pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import polars as pl

from consensus.fraud import _stats
from consensus.fraud._base import Context, DetectorOutput, TestResult, full
from consensus.kernels import fraud_pairs as fp

#: Co-timed items must also be this many times what chance predicts.
CO_TIMED_MIN_RATIO = 3.0


@dataclass
class Pairs:
    """Every tested pair (``a < b`` worker codes) with its statistics and p-values."""

    a: np.ndarray
    b: np.ndarray
    counts: np.ndarray
    sums: np.ndarray
    p_copy: np.ndarray
    copy_strength: np.ndarray
    copy_ratio: np.ndarray
    identical: np.ndarray
    p_co_timed: np.ndarray
    co_share: np.ndarray

    @property
    def size(self) -> int:
        return int(self.a.size)


def chunk_bounds(worker_offsets: np.ndarray, n_chunks: int) -> np.ndarray:
    """Worker codes splitting the workers into ``n_chunks`` runs of about equal judgments."""
    n_workers = worker_offsets.size - 1
    targets = np.linspace(0, worker_offsets[-1], n_chunks + 1)
    bounds = np.searchsorted(worker_offsets, targets, side="left").clip(0, n_workers)
    bounds[0], bounds[-1] = 0, n_workers
    return np.maximum.accumulate(bounds).astype(np.int64)


def pair_statistics(ctx: Context) -> Pairs:
    j = ctx.judgments
    config = ctx.config
    has_time = j.submitted is not None
    submitted = np.ascontiguousarray(j.submitted, dtype=np.float64) if has_time else np.zeros(0)
    n_chunks = max(1, min(j.n_workers, 4 * numba.get_num_threads()))
    pair_offsets, partner, counts, sums = fp.pair_stats(
        j.item_offsets, j.worker, j.label, j.worker_offsets, j.worker_order, j.item_by_worker,
        j.label_by_worker, ctx.emission, ctx.n_class, ctx.votes, submitted,
        float(config.co_window), int(config.min_judgments), chunk_bounds(j.worker_offsets, n_chunks))
    a = np.repeat(np.arange(j.n_workers, dtype=np.int32), np.diff(pair_offsets))
    b = partner

    common = counts[fp.COMMON]
    disagree = common - counts[fp.AGREE]
    expected_disagree = np.maximum(common - sums[fp.EXP_AGREE], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        strength = np.where(expected_disagree > 0, 1.0 - disagree / expected_disagree, np.nan)
    p_disagree = _stats.poisson_lower(disagree, expected_disagree)
    identical = (common >= config.min_judgments) & (disagree == 0)
    p_disagree = np.where(identical, np.minimum(p_disagree, np.exp(sums[fp.LOG_P_AGREE])), p_disagree)
    shared = counts[fp.SHARED_WRONG]
    expected = sums[fp.EXP_SHARED_WRONG]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(expected > 0, shared / expected, np.where(shared > 0, np.inf, np.nan))
    effect = (np.nan_to_num(strength, nan=-np.inf) >= config.min_copy_strength) \
        & (shared >= config.min_shared_errors) & (np.nan_to_num(ratio, nan=0.0) >= config.min_copy_ratio)
    p_copy = np.where(effect, p_disagree, 1.0)
    p_copy = np.where(common >= config.min_judgments, p_copy, np.nan)

    timed = counts[fp.TIMED]
    co = counts[fp.CO_TIMED]
    with np.errstate(invalid="ignore", divide="ignore"):
        co_share = np.where(timed > 0, co / np.maximum(timed, 1), np.nan)
    # the expected count needs binary searches: only for pairs whose share can flag them
    candidate = np.flatnonzero((timed >= config.min_judgments)
                               & (np.nan_to_num(co_share, nan=0.0) >= config.min_co_share))
    if has_time and candidate.size:
        finite = np.isfinite(submitted)
        order = np.lexsort((submitted, j.worker))
        order = order[finite[order]]
        time_offsets = np.zeros(j.n_workers + 1, dtype=np.int64)
        np.cumsum(np.bincount(j.worker[order], minlength=j.n_workers), out=time_offsets[1:])
        sums[fp.EXP_CO_TIMED, candidate] = fp.expected_co_timed(
            np.ascontiguousarray(a[candidate]), np.ascontiguousarray(b[candidate]), j.worker_offsets,
            j.worker_order, j.item_by_worker, submitted, time_offsets,
            np.ascontiguousarray(submitted[order]), float(config.co_window))
    co_expected = sums[fp.EXP_CO_TIMED]
    with np.errstate(invalid="ignore", divide="ignore"):
        co_ratio = np.where(co_expected > 0, co / co_expected, np.where(co > 0, np.inf, 0.0))
    co_effect = np.zeros(a.size, dtype=bool)
    co_effect[candidate] = (co[candidate] >= 3) & (co_ratio[candidate] >= CO_TIMED_MIN_RATIO)
    p_co = np.where(co_effect, _stats.poisson_upper(co, co_expected), 1.0)
    p_co = np.where(timed >= config.min_judgments, p_co, np.nan)
    return Pairs(a, b, counts, sums, p_copy, strength, ratio, identical, p_co, co_share)


def _per_worker(n_workers: int, a: np.ndarray, b: np.ndarray, p: np.ndarray, key: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per worker: (number of tested pairs, Bonferroni-adjusted best p, index of the best pair)."""
    tested = np.isfinite(p)
    m = np.bincount(a[tested], minlength=n_workers) + np.bincount(b[tested], minlength=n_workers)
    best_p = np.full(n_workers, np.nan)
    best = np.full(n_workers, -1, dtype=np.int64)
    index = np.flatnonzero(tested)
    if index.size:
        ends = np.concatenate([a[index], b[index]])
        pair = np.concatenate([index, index])
        order = np.lexsort((pair, -key[pair], p[pair], ends))
        first = np.unique(ends[order], return_index=True)[1]
        chosen = order[first]
        best[ends[chosen]] = pair[chosen]
        best_p[ends[chosen]] = p[pair[chosen]]
    adjusted = np.minimum(1.0, best_p * m)
    return m, adjusted, best


def run(ctx: Context) -> DetectorOutput:
    j = ctx.judgments
    config = ctx.config
    out = DetectorOutput()
    pairs = pair_statistics(ctx)
    out.info["pairs"] = pairs
    W = j.n_workers
    m, p, best = _per_worker(W, pairs.a, pairs.b, pairs.p_copy, np.nan_to_num(pairs.copy_strength, nan=-1e300))
    has = best >= 0
    pick = np.where(has, best, 0)
    if j.n_classes >= 2:
        n = np.where(has, pairs.counts[fp.COMMON][pick] if pairs.size else 0, 0)
        strength = np.where(has, pairs.copy_strength[pick] if pairs.size else np.nan, np.nan)
        effect = has & (p < 1.0)
        out.tests.append(TestResult("copying", n.astype(np.int64), strength, full(W, config.min_copy_strength),
                                    np.where(has, p, np.nan), effect))
        out.info["copy_tested"] = m
    if j.submitted is not None:
        m_t, p_t, best_t = _per_worker(W, pairs.a, pairs.b, pairs.p_co_timed, np.nan_to_num(pairs.co_share))
        has_t = best_t >= 0
        pick_t = np.where(has_t, best_t, 0)
        n_t = np.where(has_t, pairs.counts[fp.TIMED][pick_t] if pairs.size else 0, 0)
        share = np.where(has_t, pairs.co_share[pick_t] if pairs.size else np.nan, np.nan)
        out.tests.append(TestResult("co_timed", n_t.astype(np.int64), share, full(W, config.min_co_share),
                                    np.where(has_t, p_t, np.nan), has_t & (p_t < 1.0)))
        out.info["co_tested"] = m_t
    return out


def flagged_pairs(pairs: Pairs, p: np.ndarray, tested: np.ndarray, cutoff: float) -> np.ndarray:
    """Pairs significant for at least one member: ``p * (member's tested pairs) <= cutoff``."""
    if pairs.size == 0:
        return np.zeros(0, dtype=bool)
    ok = np.isfinite(p) & (p < 1.0)
    return ok & ((p * tested[pairs.a] <= cutoff) | (p * tested[pairs.b] <= cutoff))


def groups(n_workers: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components of the given pairs: group number per worker (1, 2, ... by
    smallest member code), 0 for workers in no pair."""
    parent = np.arange(n_workers)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for x, y in zip(a.tolist(), b.tolist()):
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
    members = np.zeros(n_workers, dtype=bool)
    members[a] = True
    members[b] = True
    roots = np.array([find(x) for x in range(n_workers)], dtype=np.int64)
    group = np.zeros(n_workers, dtype=np.int64)
    unique_roots = np.unique(roots[members])
    group[members] = np.searchsorted(unique_roots, roots[members]) + 1
    return group


def pairs_table(ctx: Context, pairs: Pairs, copy_flag: np.ndarray, co_flag: np.ndarray) -> pl.DataFrame:
    """Pairs with a raw p-value <= fdr on either test, or flagged."""
    config = ctx.config
    keep = copy_flag | co_flag | (np.nan_to_num(pairs.p_copy, nan=1.0) <= config.fdr) \
        | (np.nan_to_num(pairs.p_co_timed, nan=1.0) <= config.fdr)
    idx = np.flatnonzero(keep)
    ids = ctx.judgments.worker_ids
    c, s = pairs.counts[:, idx], pairs.sums[:, idx]
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = np.where(c[fp.COMMON] > 0, c[fp.AGREE] / np.maximum(c[fp.COMMON], 1), np.nan)
        expected_agreement = np.where(c[fp.COMMON] > 0, s[fp.EXP_AGREE] / np.maximum(c[fp.COMMON], 1), np.nan)
        later = np.where(c[fp.TIMED] > 0, c[fp.W_LATER] / np.maximum(c[fp.TIMED], 1), np.nan)
    has_time = ctx.judgments.submitted is not None
    return pl.DataFrame({
        "worker_a": ids.gather(pairs.a[idx].astype(np.int64)),
        "worker_b": ids.gather(pairs.b[idx].astype(np.int64)),
        "n_common": pl.Series(c[fp.COMMON], dtype=pl.Int64),
        "agreement": pl.Series(agreement).fill_nan(None),
        "expected_agreement": pl.Series(expected_agreement).fill_nan(None),
        "copy_strength": pl.Series(pairs.copy_strength[idx]).fill_nan(None),
        "shared_errors": pl.Series(c[fp.SHARED_WRONG], dtype=pl.Int64),
        "expected_shared_errors": pl.Series(s[fp.EXP_SHARED_WRONG]),
        "shared_error_ratio": pl.Series(pairs.copy_ratio[idx]).fill_nan(None),
        "identical": pl.Series(pairs.identical[idx]),
        "copying_p_value": pl.Series(pairs.p_copy[idx]).fill_nan(None),
        "copying": pl.Series(copy_flag[idx]),
        "n_timed": pl.Series(c[fp.TIMED] if has_time else [None] * idx.size, dtype=pl.Int64),
        "co_timed": pl.Series(c[fp.CO_TIMED] if has_time else [None] * idx.size, dtype=pl.Int64),
        "expected_co_timed": pl.Series(s[fp.EXP_CO_TIMED] if has_time else full(idx.size, np.nan)).fill_nan(None),
        "co_timed_p_value": pl.Series(pairs.p_co_timed[idx]).fill_nan(None),
        "co_timed_flag": pl.Series(co_flag[idx]),
        "a_later_share": pl.Series(later if has_time else full(idx.size, np.nan)).fill_nan(None),
    })
