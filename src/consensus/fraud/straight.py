"""Straight-lining: answers whose distribution, or whose order, chance does not explain.

``skewed_labels``
    The worker's answer counts against the answers a typical annotator (the
    crowd's confusion matrices averaged) would give on the *same items*, given
    their leave-one-out posteriors, so a worker who happened to get mostly one
    kind of item is not penalised. G-test with Williams' small-sample
    correction; the statistic is the KL divergence in nats, which must reach
    ``min_kl``, unless one answer makes up ``min_top_share`` of the worker's
    answers and ``TOP_EXCESS`` more than the crowd's share of it (a
    straight-liner on the majority class is close to the crowd in KL terms).
``long_runs``
    Repeated consecutive answers in submission order against the repeats
    expected if each answer were drawn independently from the worker's own
    answer distribution on its item
    (:func:`consensus.kernels.fraud_labels.worker_repeats`: exact upper tail by
    dynamic programming up to ``EXACT_MAX`` pairs, a normal approximation with
    the exact mean and variance above). Items sorted by class and the worker's
    own bias are part of the null; the statistic is the excess share of
    repeats, which must reach ``min_repeat_excess``.
"""

from __future__ import annotations

import numpy as np

from consensus.fraud import _stats
from consensus.fraud._base import EPS, Context, DetectorOutput, TestResult, full
from consensus.kernels.fraud_labels import worker_repeats

#: A straight-liner's top answer must exceed the crowd's share of it by this much.
TOP_EXCESS = 0.1
#: Up to this many consecutive pairs the repeat test is exact; above, a normal approximation.
EXACT_MAX = 100


def run(ctx: Context) -> DetectorOutput:
    j = ctx.judgments
    config = ctx.config
    out = DetectorOutput()
    if j.n_classes < 2:
        return out
    observed, expected, _, _, _ = ctx.agreement
    n = observed.sum(axis=1)
    kl, _, p = _stats.g_test(observed, expected)
    p = np.where(n >= config.min_judgments, p, np.nan)
    rows = np.arange(j.n_workers)
    top = observed.argmax(axis=1) if j.n_workers else np.zeros(0, dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n > 0, observed[rows, top] / np.maximum(n, 1), np.nan)
        expected_share = np.where(n > 0, expected[rows, top] / np.maximum(expected.sum(axis=1), 1e-300), np.nan)
    concentrated = (np.nan_to_num(share, nan=0.0) >= config.min_top_share) \
        & (np.nan_to_num(share - expected_share, nan=0.0) >= TOP_EXCESS)
    effect = (np.nan_to_num(kl, nan=-1.0) >= config.min_kl) | concentrated
    out.tests.append(TestResult("skewed_labels", n.astype(np.int64), kl, full(j.n_workers, config.min_kl),
                                p, effect))
    out.columns["top_label"] = np.where(n > 0, top, -1)
    out.columns["top_label_share"] = share
    out.columns["top_label_expected_share"] = expected_share

    order = ctx.sequence_order
    n_pairs, repeats, mean, _, p_runs, longest = worker_repeats(
        j.worker_offsets, np.ascontiguousarray(j.item[order]), np.ascontiguousarray(j.label[order]),
        ctx.post, ctx.factor, ctx.emission, EPS, EXACT_MAX)
    with np.errstate(invalid="ignore", divide="ignore"):
        excess = np.where(n_pairs > 0, (repeats - mean) / np.maximum(n_pairs, 1), np.nan)
    n_runs = n_pairs + (n_pairs > 0)
    p_runs = np.where(n_runs >= config.min_judgments, p_runs, np.nan)
    effect = np.nan_to_num(excess, nan=-1.0) >= config.min_repeat_excess
    out.tests.append(TestResult("long_runs", n_runs.astype(np.int64), excess,
                                full(j.n_workers, config.min_repeat_excess), p_runs, effect))
    out.columns["longest_run"] = longest
    return out
