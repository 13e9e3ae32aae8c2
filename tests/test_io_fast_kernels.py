"""gather_count (the fast loader's fused label gather and histogram) against plain numpy."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.kernels.sort import gather_count


def naive_gather_count(values, order, n_values):
    gathered = [int(values[j]) for j in order]
    counts = [0] * n_values
    for v in gathered:
        counts[v] += 1
    return np.array(gathered, dtype=np.int32), np.array(counts, dtype=np.int64)


@st.composite
def codes_and_order(draw):
    n_values = draw(st.integers(1, 6))
    values = draw(st.lists(st.integers(0, n_values - 1), min_size=0, max_size=60))
    order = draw(st.lists(st.integers(0, max(len(values) - 1, 0)), max_size=80)) if values else []
    return np.array(values, dtype=np.int32), np.array(order, dtype=np.int64), n_values


@settings(max_examples=150, deadline=None)
@given(codes_and_order())
def test_gather_count_matches_reference(case):
    values, order, n_values = case
    gathered, counts = gather_count(values, order, n_values)
    want_gathered, want_counts = naive_gather_count(values, order, n_values)
    assert gathered.dtype == np.int32 and counts.dtype == np.int64
    np.testing.assert_array_equal(gathered, want_gathered)
    np.testing.assert_array_equal(counts, want_counts)
    assert counts.sum() == order.size


def test_gather_count_permutation_keeps_histogram():
    rng = np.random.default_rng(3)
    values = rng.integers(0, 5, 1000).astype(np.int32)
    order = rng.permutation(1000).astype(np.int64)
    gathered, counts = gather_count(values, order, 5)
    np.testing.assert_array_equal(np.sort(gathered), np.sort(values))
    np.testing.assert_array_equal(counts, np.bincount(values, minlength=5))
