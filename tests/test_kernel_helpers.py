"""Small shared kernels against plain references."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

from consensus.kernels.dawid_skene import finish_item


def naive_finish_item(row, truth):
    row = np.array(row, dtype=float)
    if truth >= 0:
        out = np.zeros_like(row)
        out[truth] = 1.0
        return out, row[truth]
    if np.all(row == -np.inf):
        return np.full_like(row, 1.0 / row.size), -np.inf
    norm = logsumexp(row)
    return np.exp(row - norm), norm


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(-700, 50), st.just(-np.inf)), min_size=1, max_size=6),
       st.integers(-1, 5))
def test_finish_item_matches_naive(values, truth):
    truth = truth if truth < len(values) else -1
    row = np.array(values, dtype=np.float64)
    expected_row, expected_loglik = naive_finish_item(row, truth)
    loglik = finish_item(row, truth)
    np.testing.assert_allclose(row, expected_row, rtol=1e-9, atol=1e-300)
    if np.isinf(expected_loglik):
        assert loglik == expected_loglik
    else:
        np.testing.assert_allclose(loglik, expected_loglik, rtol=1e-9, atol=1e-15)
