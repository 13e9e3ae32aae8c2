"""Scale kernels (O(n) sorting, single-pass Dawid-Skene EM) against plain-Python references,
and their independence from the thread count."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive import item_csr, judgment_sets, naive_e_step, naive_m_step_emission, readonly, stochastic_rows, worker_csr
from naive_scale import (
    naive_adjacent_duplicates,
    naive_counting_order,
    naive_dense_remap,
    naive_emission_counts,
    naive_order_within_groups,
    naive_worker_accuracy_by_item,
    naive_worker_vote_counts,
)
from test_kernels_dawid_skene import e_step_inputs, m_step_inputs

from consensus.kernels import dawid_skene as ds
from consensus.kernels import sort, vote

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RTOL, ATOL = 1e-9, 1e-12
codes = st.lists(st.integers(0, 40), max_size=300)


@SETTINGS
@given(values=codes, extra=st.integers(0, 3))
def test_counting_order_matches_naive(values, extra):
    values = np.array(values, dtype=np.int32)
    n_groups = (int(values.max()) + 1 if values.size else 0) + extra
    order, offsets = sort.counting_order(*readonly(values), n_groups)
    expected_order, expected_offsets = naive_counting_order(values, n_groups)
    np.testing.assert_array_equal(order, expected_order)
    np.testing.assert_array_equal(offsets, expected_offsets)
    np.testing.assert_array_equal(order, np.argsort(values, kind="stable"))


@SETTINGS
@given(data=judgment_sets(duplicates=True), use_label=st.booleans())
def test_order_within_groups_matches_naive_and_lexsort(data, use_label):
    item, worker, label = readonly(data["item"], data["worker"], data["label"])
    order, offsets = sort.counting_order(item, data["n_items"])
    got = sort.order_within_groups(offsets, order, worker, label, use_label)
    np.testing.assert_array_equal(got, naive_order_within_groups(offsets, order, worker, label, use_label))
    keys = (label, worker, item) if use_label else (worker, item)
    np.testing.assert_array_equal(got, np.lexsort(keys))


def test_order_within_groups_long_groups_use_merge_sort():
    rng = np.random.default_rng(0)
    item = np.repeat(np.arange(3, dtype=np.int32), [100, 5, 1000])
    worker = rng.integers(0, 50, item.size).astype(np.int32)
    label = rng.integers(-1, 4, item.size).astype(np.int32)
    order, offsets = sort.counting_order(item, 3)
    np.testing.assert_array_equal(sort.order_within_groups(offsets, order, worker, label, True),
                                  np.lexsort((label, worker, item)))


@SETTINGS
@given(values=st.lists(st.integers(-50, 50), min_size=1, max_size=200))
def test_dense_remap_matches_naive(values):
    values = np.array(values, dtype=np.int64)
    low, size = int(values.min()), int(values.max() - values.min()) + 1
    got_codes, got_present = sort.dense_remap(*readonly(values), low, size)
    want_codes, want_present = naive_dense_remap(values, low, size)
    np.testing.assert_array_equal(got_codes, want_codes)
    np.testing.assert_array_equal(got_present, want_present)


@SETTINGS
@given(data=judgment_sets(duplicates=True))
def test_adjacent_duplicates_and_gathers_match_naive(data):
    order = np.lexsort((data["worker"], data["item"]))
    item, worker = data["item"][order], data["worker"][order]
    np.testing.assert_array_equal(sort.adjacent_duplicates(*readonly(item, worker)),
                                  naive_adjacent_duplicates(item, worker))
    np.testing.assert_array_equal(sort.gather_int32(*readonly(data["item"], order)), item)
    values = data["worker"].astype(np.float64) / 3.0
    np.testing.assert_array_equal(sort.gather_float64(*readonly(values, order)), values[order])


@SETTINGS
@given(inputs=m_step_inputs())
def test_emission_counts_and_from_counts_match_m_step(inputs):
    data, posterior, alpha, prior_index, prior_counts = inputs
    offsets, worker, label = readonly(*item_csr(data["item"], data["worker"], data["label"], data["n_items"]))
    posterior, prior_index, prior_counts = readonly(posterior, prior_index, prior_counts)
    counts = ds.emission_counts(offsets, worker, label, posterior, data["n_workers"])
    np.testing.assert_allclose(counts, naive_emission_counts(offsets, worker, label, posterior, data["n_workers"]),
                               rtol=RTOL, atol=ATOL)
    log_emission = ds.emission_from_counts(counts, alpha, prior_index, prior_counts)
    by_worker = readonly(*worker_csr(data["item"], data["worker"], data["label"], data["n_workers"]))
    expected = naive_m_step_emission(*by_worker, posterior, alpha, prior_index, prior_counts)
    np.testing.assert_allclose(log_emission, expected, rtol=RTOL, atol=ATOL)


@SETTINGS
@given(inputs=e_step_inputs())
def test_em_pass_matches_naive_e_step_and_counts(inputs):
    data, log_emission, log_prior = inputs
    offsets, worker, label = item_csr(data["item"], data["worker"], data["label"], data["n_items"])
    args = readonly(offsets, worker, label, log_emission, log_prior, data["gold"])
    posterior, loglik, counts = ds.em_pass(*args)
    want_posterior, want_loglik = naive_e_step(*args)
    np.testing.assert_allclose(posterior, want_posterior, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(loglik, want_loglik, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(counts, naive_emission_counts(offsets, worker, label, want_posterior,
                                                             data["n_workers"]), rtol=RTOL, atol=ATOL)
    accuracy = ds.worker_accuracy_by_item(offsets, worker, label, posterior, data["n_workers"])
    np.testing.assert_allclose(accuracy, naive_worker_accuracy_by_item(offsets, worker, label, posterior,
                                                                       data["n_workers"]), rtol=RTOL, atol=ATOL)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_em_pass_two_classes_with_extreme_logits(seed):
    """The scalar two-class path keeps subnormal and -inf cases like the general one."""
    rng = np.random.default_rng(seed)
    n_items, n_workers = 20, 4
    item = np.repeat(np.arange(n_items), 3)
    worker = np.array([rng.choice(n_workers, 3, replace=False) for _ in range(n_items)]).ravel()
    label = rng.integers(-1, 2, item.size)
    offsets, worker, label = item_csr(item, worker, label, n_items)
    log_emission = rng.choice([-np.inf, -745.0, -700.0, -1.0, -0.1, 0.0], size=(n_workers, 2, 2))
    log_prior = rng.choice([-np.inf, -0.5, -800.0], size=2)
    gold = rng.choice([-1, -1, 0, 1], size=n_items).astype(np.int32)
    args = readonly(offsets, worker, label, log_emission, log_prior, gold)
    posterior, loglik, _ = ds.em_pass(*args)
    want_posterior, want_loglik = naive_e_step(*args)
    np.testing.assert_allclose(posterior, want_posterior, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(loglik, want_loglik, rtol=RTOL, atol=ATOL)


@SETTINGS
@given(inputs=e_step_inputs(max_classes=8, min_classes=6))
def test_em_pass_many_classes_matches_naive(inputs):
    """K > 5 takes the general path with K unknown at compile time (K = 3, 4, 5 get unrolled copies)."""
    data, log_emission, log_prior = inputs
    offsets, worker, label = item_csr(data["item"], data["worker"], data["label"], data["n_items"])
    args = readonly(offsets, worker, label, log_emission, log_prior, data["gold"])
    posterior, loglik, counts = ds.em_pass(*args)
    want_posterior, want_loglik = naive_e_step(*args)
    np.testing.assert_allclose(posterior, want_posterior, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(loglik, want_loglik, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(counts, naive_emission_counts(offsets, worker, label, want_posterior,
                                                             data["n_workers"]), rtol=RTOL, atol=ATOL)


@SETTINGS
@given(values=st.lists(st.floats(min_value=2.3e-308, max_value=1e308), min_size=1, max_size=300)
       | st.lists(st.floats(min_value=1.0, max_value=8.0), min_size=1, max_size=300))
def test_log_block_matches_math_log(values):
    """The general path's vectorised log (of item normalisers in [1, K]) to a few ulps; log 1 = 0."""
    x = np.array(values + [1.0])
    n = x.size
    out = np.full(n, np.nan)
    ds._log_block(x, np.zeros(n, np.int64), np.ones(n), out, n)
    want = np.array([math.log(v) for v in x])
    np.testing.assert_allclose(out, want, rtol=4 * np.finfo(float).eps, atol=4 * np.finfo(float).eps)
    assert out[-1] == 0.0


def _long_crowd(seed, K, n_items, n_workers, per_item):
    """Item-sorted judgments, long enough (thousands per chunk) for the gathers' prefetch to reach
    ahead, with abstentions, empty items, gold and every K path."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, per_item + 1, n_items)
    offsets = np.zeros(n_items + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    worker = rng.integers(0, n_workers, offsets[-1]).astype(np.int32)
    label = rng.integers(-1, K, offsets[-1]).astype(np.int32)
    log_emission = np.log(rng.dirichlet(np.ones(K), size=(n_workers, K)))
    log_prior = np.log(rng.dirichlet(np.ones(K)))
    gold = np.where(rng.random(n_items) < 0.1, rng.integers(0, K, n_items), -1).astype(np.int32)
    return readonly(offsets, worker, label, log_emission, log_prior, gold)


@settings(max_examples=16, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), K=st.sampled_from([1, 2, 3, 4, 5, 6, 7]),
       n_workers=st.sampled_from([1, 7, 300, 20_000]))
def test_em_pass_into_long_inputs_match_naive_with_reused_buffers(seed, K, n_workers):
    """em_pass_into (the EM loop's entry, writing into reused buffers) on inputs long enough for
    the prefetch to reach ahead and past the chunk ends (20,000 workers: tables above
    PREFETCH_MIN_TABLE for K >= 2, the prefetching path): equal to the plain reference, and bit
    for bit to em_pass, whatever the buffers held before."""
    args = _long_crowd(seed, K, n_items=1500, n_workers=n_workers, per_item=6)
    offsets, worker, label, log_emission, log_prior, gold = args
    n_items, n_workers = offsets.size - 1, log_emission.shape[0]
    bounds = ds.reduction_chunks(offsets, n_workers, K)
    workspace = np.full((bounds.size - 1, n_workers * K, 2 * K), np.nan)
    posterior, loglik = np.full((n_items, K), 7.0), np.full(n_items, -3.0)
    counts = np.full((n_workers, K, K), np.inf)
    for _ in range(2):  # the second call finds the first one's values in the buffers
        ds.em_pass_into(offsets, worker, label, log_emission, log_prior, gold, bounds, workspace,
                        posterior, loglik, counts)
        want_posterior, want_loglik = naive_e_step(*args)
        np.testing.assert_allclose(posterior, want_posterior, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(loglik, want_loglik, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(counts, naive_emission_counts(offsets, worker, label, want_posterior, n_workers),
                                   rtol=RTOL, atol=ATOL)
    for a, b in zip(ds.em_pass(*args), (posterior, loglik, counts)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("K", [2, 3, 5, 7])
def test_scatter_kernels_identical_on_any_thread_count(K):
    rng = np.random.default_rng(K)
    n_items, n_workers = 20_000, 40
    item = np.repeat(np.arange(n_items), 4)
    worker = rng.integers(0, n_workers, item.size)
    label = rng.integers(-1, K, item.size)
    order = np.lexsort((worker, item))
    offsets = np.zeros(n_items + 1, np.int64)
    np.cumsum(np.bincount(item, minlength=n_items), out=offsets[1:])
    worker, label = worker[order].astype(np.int32), label[order].astype(np.int32)
    log_emission = np.log(rng.dirichlet(np.ones(K), size=(n_workers, K)))
    log_prior = np.log(np.full(K, 1.0 / K))
    gold = np.full(n_items, -1, np.int32)
    assert ds.reduction_chunks(offsets, n_workers, K).size - 1 == ds.MAX_CHUNKS
    before = numba.get_num_threads()
    results = []
    try:
        for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(threads)
            posterior, loglik, counts = ds.em_pass(offsets, worker, label, log_emission, log_prior, gold)
            results.append((posterior, loglik, counts,
                            ds.emission_counts(offsets, worker, label, posterior, n_workers),
                            ds.worker_accuracy_by_item(offsets, worker, label, posterior, n_workers),
                            ds.class_log_prior(posterior, 1.0)))
    finally:
        numba.set_num_threads(before)
    for got in results[1:]:
        for a, b in zip(results[0], got):
            np.testing.assert_array_equal(a, b)  # bit for bit


def test_reduction_chunks_cover_items_in_order():
    offsets = np.array([0, 5, 5, 6, 20, 21, 40], dtype=np.int64)
    bounds = ds.reduction_chunks(offsets, 1, 1)
    assert bounds[0] == 0 and bounds[-1] == 6 and (np.diff(bounds) >= 0).all()


@SETTINGS
@given(data=judgment_sets(), seed=st.integers(0, 1000))
def test_worker_vote_counts_matches_naive(data, seed):
    offsets, worker, label = readonly(*item_csr(data["item"], data["worker"], data["label"], data["n_items"]))
    reference = np.random.default_rng(seed).integers(-1, data["K"], data["n_items"]).astype(np.int32)
    got = vote.worker_vote_counts(offsets, worker, label, reference, data["n_workers"], data["K"])
    want = naive_worker_vote_counts(offsets, worker, label, reference, data["n_workers"], data["K"])
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
