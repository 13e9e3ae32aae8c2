"""Temperature calibration: the leave-one-out kernel against a plain reference, and the fits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import log_softmax, logsumexp

from consensus import DawidSkene, Judgments
from consensus.calibration import (MAX_TEMPERATURE, fit_temperature_gold, fit_temperature_loo,
                                   temper)
from consensus.kernels.calibration import loo_predictive_loglik


def naive_loo_predictive_loglik(item, worker, label, log_emission, log_prior, temperature, items):
    """Per listed item: sum over its class answers of log P(answer | other answers, tempered)."""
    out = []
    for i in items:
        answers = [(w, l) for it, w, l in zip(item, worker, label) if it == i and l >= 0]
        total = 0.0
        for held, (w, l) in enumerate(answers):
            logits = np.array(log_prior, dtype=float)
            for other, (w2, l2) in enumerate(answers):
                if other != held:
                    logits = logits + log_emission[w2, l2]
            q = log_softmax(logits / temperature)
            total += logsumexp(q + log_emission[w, l])
        out.append(total)
    return np.array(out)


@st.composite
def tables(draw):
    n_items = draw(st.integers(1, 12))
    n_workers = draw(st.integers(1, 5))
    n_classes = draw(st.integers(2, 4))
    n = draw(st.integers(1, 40))
    item = np.array(draw(st.lists(st.integers(0, n_items - 1), min_size=n, max_size=n)))
    worker = np.array(draw(st.lists(st.integers(0, n_workers - 1), min_size=n, max_size=n)))
    label = np.array(draw(st.lists(st.integers(-1, n_classes - 1), min_size=n, max_size=n)))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    emission = rng.dirichlet(np.ones(n_classes), size=(n_workers, n_classes))  # [w, true, given]
    log_emission = np.ascontiguousarray(np.log(emission).transpose(0, 2, 1))  # [w, given, true]
    log_prior = np.log(rng.dirichlet(np.ones(n_classes)))
    temperature = draw(st.floats(1.0, 50.0))
    return item, worker, label, n_items, log_emission, log_prior, temperature


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_loo_kernel_matches_naive(case):
    item, worker, label, n_items, log_emission, log_prior, temperature = case
    order = np.lexsort((worker, item))
    item, worker, label = item[order], worker[order], label[order]
    offsets = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(np.bincount(item, minlength=n_items), out=offsets[1:])
    items = np.arange(0, n_items, 2, dtype=np.int64)
    fast = loo_predictive_loglik(offsets, worker.astype(np.int32), label.astype(np.int32),
                                 log_emission, log_prior, temperature, items)
    slow = naive_loo_predictive_loglik(item, worker, label, log_emission, log_prior, temperature, items)
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(1.0, 20.0))
def test_temper_keeps_argmax_and_rows_sum_to_one(seed, temperature):
    posterior = np.random.default_rng(seed).dirichlet(np.ones(4) * 0.3, size=30)
    tempered = temper(posterior, temperature)
    np.testing.assert_allclose(tempered.sum(axis=1), 1.0)
    np.testing.assert_array_equal(tempered.argmax(axis=1), posterior.argmax(axis=1))
    assert (tempered.max(axis=1) <= posterior.max(axis=1) + 1e-12).all()  # T >= 1 never sharpens
    assert temper(posterior, 1.0) is not posterior


def test_gold_temperature_recovers_known_overconfidence():
    rng = np.random.default_rng(0)
    n, true_t = 20_000, 4.0
    logits = rng.normal(0.0, 3.0, size=(n, 3))
    calibrated = np.exp(log_softmax(logits, axis=1))
    gold = np.array([rng.choice(3, p=p) for p in calibrated], dtype=np.int32)
    overconfident = np.exp(log_softmax(logits * true_t, axis=1))  # what an over-confident model reports
    fitted = fit_temperature_gold(overconfident, gold)
    assert fitted == pytest.approx(true_t, rel=0.05)
    assert fit_temperature_gold(overconfident, np.full(n, -1, dtype=np.int32)) == 1.0


def test_loo_temperature_is_reproducible_and_bounded():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, 300)
    item = np.repeat(np.arange(300), 5)
    worker = rng.integers(0, 12, item.size)
    correct = rng.random(item.size) < 0.8
    label = np.where(correct, truth[item], 1 - truth[item])
    keep = np.unique(item * 100 + worker, return_index=True)[1]
    judgments = Judgments.from_codes(item[keep], worker[keep], label[keep], n_classes=2)
    model = DawidSkene(calibration="none").fit(judgments)
    first = fit_temperature_loo(judgments, model._log_emission, model._log_prior)
    second = fit_temperature_loo(judgments, model._log_emission, model._log_prior)
    assert first == second and 1.0 <= first <= MAX_TEMPERATURE


def test_from_codes_rejects_bad_codes():
    from consensus import InputError

    with pytest.raises(InputError, match="out of range"):
        Judgments.from_codes([0], [0], [3], n_classes=2)
    with pytest.raises(InputError, match=">= 0"):
        Judgments.from_codes([-1], [0], [0], n_classes=2)
