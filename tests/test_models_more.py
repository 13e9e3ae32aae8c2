"""OneCoinDawidSkene, MACE and Wawa against the whole naive fits in naive_models.py, and EM
invariants of OneCoinDawidSkene, MACE and GLAD (distributions, monotone objective, row
order, renaming, gold clamping, thread count)."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive import (
    TIE_FIRST,
    TIE_RANDOM,
    item_csr,
    judgment_sets,
    naive_e_step,
    naive_pick_labels,
    readonly,
)
from naive_models import (
    assert_non_decreasing,
    clear_winner,
    dense,
    naive_glad_e_step,
    naive_loo_nll,
    naive_mace,
    naive_one_coin,
    naive_wawa,
    naive_weighted_vote_counts,
    renamed,
    same_iterations,
    with_threads,
)

from consensus import GLAD, MACE, Judgments, OneCoinDawidSkene, Wawa
from consensus.kernels import vote

RTOL, ATOL = 1e-9, 1e-12
NAIVE = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAST = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
POLICY = {"random": TIE_RANDOM, "first": TIE_FIRST}
MODELS = {"one_coin": OneCoinDawidSkene, "mace": MACE, "glad": GLAD}


def assert_close(actual, expected, err_msg=""):
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=err_msg)


def judgments_of(data):
    return Judgments.from_codes(data["item"], data["worker"], data["label"], n_classes=data["K"],
                                gold=data["gold"])


# ---------------------------------------------------------------------------------------
# parameter strategies
# ---------------------------------------------------------------------------------------
def _common(draw, max_iter=25):
    return {
        "beta": draw(st.sampled_from([1.0, 0.0, 2.5])),
        "max_iter": draw(st.integers(1, max_iter)),
        "tol": draw(st.sampled_from([1e-7, 1e-4, 1e-10])),
        "tie_break": draw(st.sampled_from(["random", "first"])),
        "random_state": draw(st.integers(0, 2**31)),
    }


@st.composite
def one_coin_params(draw, max_iter=25):
    return {**_common(draw, max_iter),
            "prior_accuracy": draw(st.one_of(st.sampled_from([0.7, 0.5]), st.floats(0.05, 0.95))),
            "prior_strength": draw(st.sampled_from([4.0, 0.0, 1.0, 25.0]))}


@st.composite
def mace_params(draw, max_iter=25):
    return {**_common(draw, max_iter),
            "prior_spam": draw(st.one_of(st.sampled_from([0.3, 0.5]), st.floats(0.05, 0.95))),
            "prior_strength": draw(st.sampled_from([4.0, 0.0, 1.0, 25.0])),
            "spam_smoothing": draw(st.sampled_from([0.5, 0.01, 2.0]))}


@st.composite
def glad_params(draw, max_iter=25):
    return {**_common(draw, max_iter),
            "ability_mean": draw(st.sampled_from([1.0, 0.0, -0.5, 2.0])),
            "ability_precision": draw(st.sampled_from([1.0, 0.0, 3.0])),
            "easiness_precision": draw(st.sampled_from([1.0, 0.0, 0.25])),
            "gradient_steps": draw(st.sampled_from([5, 1, 10]))}


PARAMS = {"one_coin": one_coin_params, "mace": mace_params, "glad": glad_params}


@st.composite
def crowd_and_params(draw, name, min_classes=1, max_iter=25, calibrations=("none", "loo")):
    data = draw(judgment_sets(min_classes=min_classes))
    params = draw(PARAMS[name](max_iter))
    params["calibration"] = draw(st.sampled_from(calibrations))
    return data, params


def fit(name, data, params, **overrides):
    return MODELS[name](**{**params, **overrides}).fit(judgments_of(data))


# ---------------------------------------------------------------------------------------
# whole estimators against the naive fits
# ---------------------------------------------------------------------------------------
def _naive(name, data, params, max_iter=None):
    args = (data["item"], data["worker"], data["label"], data["n_items"], data["n_workers"], data["K"],
            data["gold"])
    common = {"beta": params["beta"], "tol": params["tol"],
              "max_iter": params["max_iter"] if max_iter is None else max_iter}
    if name == "one_coin":
        return naive_one_coin(*args, prior_accuracy=params["prior_accuracy"],
                              prior_strength=params["prior_strength"], **common)
    return naive_mace(*args, prior_spam=params["prior_spam"], prior_strength=params["prior_strength"],
                      spam_smoothing=params["spam_smoothing"], **common)


def _fit_and_naive(name, data, params):
    return same_iterations(
        lambda n: fit(name, data, params, **({} if n is None else {"max_iter": n})),
        lambda n: _naive(name, data, params, n),
        lambda m: m.log_likelihood_history_, lambda r: r["history"], params["tol"])


def _check_against_naive(name, model, ref, data, params):
    assert model.n_iter_ == ref["n_iter"] and model.converged_ == ref["converged"]
    assert_close(model.log_likelihood_history_, ref["history"], "history")
    assert_close(model.confusion_, ref["confusion"], "confusion_")
    assert_close(model.priors_, ref["priors"], "priors_")
    if name == "one_coin":
        assert_close(model.accuracy_, ref["accuracy"], "accuracy_")
    else:
        assert_close(model.spamming_, ref["spamming"], "spamming_")
        assert_close(model.competence_, 1.0 - ref["spamming"], "competence_")
        assert_close(model.spam_distribution_, ref["spam_distribution"], "spam_distribution_")
    # the labels come from the EM posterior (gold clamped), before calibration
    labels, n_tied = naive_pick_labels(ref["posterior"], POLICY[params["tie_break"]],
                                       params["random_state"], model.judgments_.item_keys)
    clear = clear_winner(ref["posterior"])
    np.testing.assert_array_equal(model.labels_[clear], labels[clear])
    np.testing.assert_array_equal(model.n_tied_[clear], n_tied[clear])
    # raw_probas_: the unclamped posterior of the final parameters (gold rows included)
    assert_close(model.raw_probas_, ref["unclamped"], "raw_probas_")


@NAIVE
@given(case=crowd_and_params("one_coin", calibrations=("none",)))
def test_one_coin_matches_naive_em(case):
    data, params = case
    model, ref = _fit_and_naive("one_coin", data, params)
    _check_against_naive("one_coin", model, ref, data, params)
    assert model.temperature_ == 1.0
    assert_close(model.probas_, ref["posterior"], "probas_")
    assert_close(model.worker_accuracy_, ref["worker_accuracy"], "worker_accuracy_")


@NAIVE
@given(case=crowd_and_params("mace", calibrations=("none",)))
def test_mace_matches_naive_em(case):
    data, params = case
    model, ref = _fit_and_naive("mace", data, params)
    _check_against_naive("mace", model, ref, data, params)
    assert model.temperature_ == 1.0
    assert_close(model.probas_, ref["posterior"], "probas_")
    assert_close(model.worker_accuracy_, ref["worker_accuracy"], "worker_accuracy_")


def unanswered(data):
    """Items with no class answer and no gold (bool per item): the models show them without a label."""
    answered = np.bincount(np.asarray(data["item"])[np.asarray(data["label"]) >= 0], minlength=data["n_items"])
    return (answered == 0) & (np.asarray(data["gold"]) < 0)


def _tempered_and_clamped(raw, temperature, gold):
    """softmax(log raw / T) row-wise, gold rows one-hot (computed here, not by the package)."""
    out = np.zeros_like(raw)
    for i, row in enumerate(raw):
        if gold[i] >= 0:
            out[i, gold[i]] = 1.0
            continue
        logits = [math.log(p) / temperature if p > 0 else -math.inf for p in row]
        top = max(logits)
        weights = [math.exp(v - top) for v in logits]
        out[i] = np.array(weights) / math.fsum(weights)
    return out


@FAST
@given(case=crowd_and_params("one_coin", calibrations=("loo", "gold")), mace_case=st.booleans())
def test_calibrated_fit_matches_naive_em(case, mace_case):
    """With a temperature: the EM part still equals the naive fit, raw_probas_ is the unclamped
    posterior, probas_ its tempered version with gold clamped, and labels do not move."""
    data, params = case
    name = "one_coin"
    if mace_case:
        name = "mace"
        params = {**{k: v for k, v in params.items() if k != "prior_accuracy"},
                  "prior_spam": 1.0 - params["prior_accuracy"], "spam_smoothing": 0.5}
    model, ref = _fit_and_naive(name, data, params)
    _check_against_naive(name, model, ref, data, params)
    # documented range [1, MAX_TEMPERATURE]; exp(log(100)) rounds to 100 + 4e-14
    assert 1.0 <= model.temperature_ <= 100.0 * (1 + 1e-12)
    expected = _tempered_and_clamped(ref["unclamped"], model.temperature_, data["gold"])
    expected[unanswered(data)] = np.nan  # no class answer and no gold: no label
    assert_close(model.probas_, expected)
    np.testing.assert_array_equal(model.probas_.argmax(axis=1)[clear_winner(model.probas_)],
                                  ref["posterior"].argmax(axis=1)[clear_winner(model.probas_)])


@pytest.mark.parametrize("name", ["one_coin", "mace", "glad"])
def test_raw_probas_are_not_clamped_with_unit_temperature(name):
    """Regression: calibration.temper() returned its input itself for temperature 1.0, and
    models/em.py then set the gold rows of that array to one-hot, so raw_probas_ (documented
    'gold not clamped') was clamped and was the same object as probas_."""
    # docstring crowd; item 0 has gold 0 although two of three workers said 1
    item = np.repeat(np.arange(3), 3)
    worker = np.tile(np.arange(3), 3)
    label = np.array([1, 1, 0, 0, 0, 0, 1, 1, 1])
    gold = np.array([0, -1, -1], dtype=np.int32)
    model = MODELS[name](calibration="none").fit(
        Judgments.from_codes(item, worker, label, n_classes=2, gold=gold))
    assert model.temperature_ == 1.0
    assert model.raw_probas_ is not model.probas_
    np.testing.assert_array_equal(model.probas_[0], [1.0, 0.0])
    assert 0.0 < model.raw_probas_[0, 0] < 1.0, model.raw_probas_[0]
    if name == "glad":
        offsets = np.array([0, 3, 6, 9], dtype=np.int64)
        expected, _ = naive_glad_e_step(offsets, worker, label, model.ability_, np.log(model.easiness_),
                                        np.log(model.priors_), np.full(3, -1))
    else:
        naive = naive_one_coin if name == "one_coin" else naive_mace
        expected = naive(item, worker, label, 3, 3, 2, gold)["unclamped"]
    assert_close(model.raw_probas_, expected)


def test_raw_probas_gold_rows_match_naive_one_coin_e_step():
    """raw_probas_ of a gold item is the naive unclamped posterior, for the default calibration."""
    item = np.repeat(np.arange(3), 3)
    worker = np.tile(np.arange(3), 3)
    label = np.array([1, 1, 0, 0, 0, 0, 1, 1, 1])
    gold = np.array([0, -1, -1], dtype=np.int32)
    model = OneCoinDawidSkene(calibration="loo").fit(
        Judgments.from_codes(item, worker, label, n_classes=2, gold=gold))
    ref = naive_one_coin(item, worker, label, 3, 3, 2, gold)
    assert_close(model.raw_probas_, ref["unclamped"])
    # the unclamped posterior is also the plain Dawid-Skene E-step with one-coin emissions
    emission = np.log(ref["confusion"]).transpose(0, 2, 1)
    offsets = np.array([0, 3, 6, 9], dtype=np.int64)
    expected, _ = naive_e_step(offsets, worker, label, emission, np.log(ref["priors"]),
                               np.full(3, -1, dtype=np.int32))
    assert_close(model.raw_probas_, expected)


def test_one_coin_known_first_step():
    """Docstring crowd, one EM step by hand: MV shares a [1/3, 2/3], b [1, 0], c [0, 1]."""
    item = np.repeat(np.arange(3), 3)
    worker = np.tile(np.arange(3), 3)
    label = np.array([1, 1, 0, 0, 0, 0, 1, 1, 1])
    model = OneCoinDawidSkene(max_iter=1, calibration="none").fit(
        Judgments.from_codes(item, worker, label, n_classes=2))
    a, b = 4.0 * 0.7 + 1e-6, 4.0 * 0.3 + 1e-6
    # workers 0, 1 answer 1, 0, 1 -> expected correct 2/3 + 1 + 1; worker 2 answers 0, 0, 1
    expected = np.array([8 / 3 + a, 8 / 3 + a, 7 / 3 + a]) / (3 + a + b)
    np.testing.assert_allclose(model.accuracy_, expected, rtol=1e-12)
    np.testing.assert_allclose(model.priors_, [7 / 15, 8 / 15], rtol=1e-12)
    np.testing.assert_allclose(model.confusion_[2], [[expected[2], 1 - expected[2]],
                                                     [1 - expected[2], expected[2]]], rtol=1e-12)
    assert model.n_iter_ == 1 and not model.converged_


def test_mace_known_first_step():
    """Docstring crowd, one EM step by hand from theta = 0.5, xi = [0.5, 0.5]:
    P(spam | answer l, truth t) = 0.25 / (0.25 + 0.5 [l == t]) = 1/3 if right, 1 if wrong."""
    item = np.repeat(np.arange(3), 3)
    worker = np.tile(np.arange(3), 3)
    label = np.array([1, 1, 0, 0, 0, 0, 1, 1, 1])
    model = MACE(max_iter=1, calibration="none").fit(Judgments.from_codes(item, worker, label, n_classes=2))
    a, b = 4.0 * 0.3 + 1e-6, 4.0 * 0.7 + 1e-6
    # worker 2 answers 0 on a (q = [1/3, 2/3]): 1/9 + 2/3 = 7/9; 0 on b: 1/3; 1 on c: 1/3
    theta2 = (7 / 9 + 2 / 3 + a) / (3 + a + b)
    xi2 = np.array([0.5 + 7 / 9 + 1 / 3, 0.5 + 1 / 3])
    np.testing.assert_allclose(model.spamming_[2], theta2, rtol=1e-12)
    np.testing.assert_allclose(model.spam_distribution_[2], xi2 / xi2.sum(), rtol=1e-12)
    # workers 0, 1 answer 1 on a: 2/9 + 1/3 = 5/9; 0 on b: 1/3; 1 on c: 1/3
    np.testing.assert_allclose(model.spamming_[:2], (5 / 9 + 2 / 3 + a) / (3 + a + b), rtol=1e-12)


# ---------------------------------------------------------------------------------------
# Wawa
# ---------------------------------------------------------------------------------------
@NAIVE
@given(data=judgment_sets(gold=False, duplicates=True), st_data=st.data())
def test_weighted_vote_counts_matches_naive(data, st_data):
    weights = np.array(st_data.draw(st.lists(st.one_of(st.just(0.0), st.floats(0.0, 1.0)),
                                             min_size=data["n_workers"], max_size=data["n_workers"])))
    offsets, worker, label = item_csr(data["item"], data["worker"], data["label"], data["n_items"])
    offsets, worker, label, weights = readonly(offsets, worker, label, weights)
    counts = vote.weighted_vote_counts(offsets, worker, label, weights, data["K"])
    assert counts.shape == (data["n_items"], data["K"])
    assert_close(counts, naive_weighted_vote_counts(offsets, worker, label, weights, data["K"]))
    # directly from the unsorted triplets
    direct = np.zeros((data["n_items"], data["K"]))
    keep = data["label"] >= 0
    np.add.at(direct, (data["item"][keep], data["label"][keep]), weights[data["worker"][keep]])
    assert_close(counts, direct)


@NAIVE
@given(data=judgment_sets(gold=False, duplicates=True), tie_break=st.sampled_from(["random", "first"]),
       seed=st.integers(0, 2**31))
def test_wawa_matches_naive(data, tie_break, seed):
    model = Wawa(tie_break=tie_break, random_state=seed).fit(judgments_of(data))
    ref = naive_wawa(data["item"], data["worker"], data["label"], data["n_items"], data["n_workers"],
                     data["K"], lambda scores: naive_pick_labels(scores, POLICY[tie_break], seed,
                                                                 model.judgments_.item_keys))
    assert_close(model.weights_, ref["weights"])
    np.testing.assert_array_equal(model.labels_, ref["labels"])
    np.testing.assert_array_equal(model.n_tied_, ref["n_tied"])
    assert_close(model.probas_, ref["probas"])  # NaN rows where no class answer
    # empirical confusion against the Wawa labels, [w, reference, given]; worker_accuracy_ is the
    # agreement with the same labels (the weights are agreement with majority vote), NaN if silent
    counts = np.zeros((data["n_workers"], data["K"], data["K"]))
    for i, w, l in zip(data["item"], data["worker"], data["label"]):
        if l >= 0 and ref["labels"][i] >= 0:
            counts[w, ref["labels"][i], l] += 1
    with np.errstate(invalid="ignore"):
        assert_close(model.confusion_, counts / counts.sum(axis=2, keepdims=True))
        assert_close(model.worker_accuracy_, np.trace(counts, axis1=1, axis2=2) / counts.sum(axis=(1, 2)))


def test_wawa_known_case():
    item = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4])
    worker = np.array([0, 1, 2] * 4 + [0, 2])
    label = np.array([0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 1])
    model = Wawa(tie_break="first").fit(Judgments.from_codes(item, worker, label, n_classes=2))
    # MV: items 0-3 -> 0, 1, 0, 1; item 4 is a 1-1 tie -> class 0 with tie_break "first".
    # Worker 2 agrees with it on 1 of 5 items (weight 1/5), workers 0 and 1 always (weight 1).
    np.testing.assert_allclose(model.weights_, [1.0, 1.0, 0.2])
    # item 4 is now 1 (worker 0) against 0.2 (worker 2): a clear 0, no tie
    np.testing.assert_array_equal(model.labels_, [0, 1, 0, 1, 0])
    np.testing.assert_allclose(model.probas_[4], [1 / 1.2, 0.2 / 1.2])
    np.testing.assert_allclose(model.probas_[0], [2 / 2.2, 0.2 / 2.2])
    np.testing.assert_array_equal(model.n_tied_, [1, 1, 1, 1, 1])
    # with a random tie-break the majority may give item 4 to class 1: then worker 0 gets
    # 4/5 and worker 2 2/5, and the weighted vote still picks 0 (0.8 against 0.4)
    for seed in range(4):
        other = Wawa(random_state=seed).fit(Judgments.from_codes(item, worker, label, n_classes=2))
        assert other.weights_[0] + other.weights_[2] == pytest.approx(1.2, rel=1e-12)
        assert other.weights_[0] in (1.0, 0.8) and other.labels_[4] == 0


# ---------------------------------------------------------------------------------------
# invariants of the EM models
# ---------------------------------------------------------------------------------------
MODEL_NAMES = ["one_coin", "mace", "glad"]
FITTED = ("probas_", "raw_probas_", "labels_", "n_tied_", "confusion_", "priors_", "worker_accuracy_",
          "log_likelihood_history_", "n_iter_", "converged_", "temperature_")
PARAMETERS = {"one_coin": ("accuracy_",), "mace": ("spamming_", "spam_distribution_"),
              "glad": ("ability_", "easiness_")}


@pytest.mark.parametrize("name", MODEL_NAMES)
@FAST
@given(st_data=st.data())
def test_posterior_rows_are_distributions(name, st_data):
    data, params = st_data.draw(crowd_and_params(name))
    model = fit(name, data, params)
    unlabelled = unanswered(data)
    for attr in ("probas_", "raw_probas_"):
        probas = getattr(model, attr)
        assert probas.shape == (data["n_items"], data["K"])
        shown = ~unlabelled if attr == "probas_" else np.ones(data["n_items"], dtype=bool)
        assert np.isnan(probas[~shown]).all(), attr  # no class answer and no gold: no label
        assert (probas[shown] >= 0).all(), attr
        np.testing.assert_allclose(probas[shown].sum(axis=1), 1.0, rtol=0, atol=1e-12, err_msg=attr)
    if data["K"] > 1 or name == "mace":
        np.testing.assert_allclose(model.confusion_.sum(axis=2), 1.0, rtol=0, atol=1e-12)
    assert model.priors_.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("name", MODEL_NAMES)
@FAST
@given(st_data=st.data())
def test_log_likelihood_never_decreases(name, st_data):
    data, params = st_data.draw(crowd_and_params(name, calibrations=("none",)))
    model = fit(name, data, params, tol=0.0, max_iter=40)
    assert model.n_iter_ == 40 or model.converged_  # tol = 0 stops only on a zero gain
    assert_non_decreasing(model.log_likelihood_history_, rel=1e-9)


@pytest.mark.parametrize("name", MODEL_NAMES)
@FAST
@given(st_data=st.data())
def test_row_order_does_not_matter(name, st_data):
    data, params = st_data.draw(crowd_and_params(name))
    order = np.array(st_data.draw(st.permutations(range(data["item"].size))))
    model = fit(name, data, params)
    other = fit(name, {**data, "item": data["item"][order], "worker": data["worker"][order],
                       "label": data["label"][order]}, params)
    for attr in FITTED + PARAMETERS[name]:
        np.testing.assert_array_equal(getattr(other, attr), getattr(model, attr), err_msg=attr)


@pytest.mark.parametrize("name", MODEL_NAMES)
@FAST
@given(st_data=st.data())
def test_renaming_items_and_workers_permutes_results(name, st_data):
    data, params = st_data.draw(crowd_and_params(name))
    data = dense(data)
    item_perm = np.array(st_data.draw(st.permutations(range(data["n_items"]))))
    worker_perm = np.array(st_data.draw(st.permutations(range(data["n_workers"]))))
    other_data = renamed(data, item_perm, worker_perm)

    model, other = same_iterations(
        lambda n: fit(name, data, params, **({} if n is None else {"max_iter": n})),
        lambda n: fit(name, other_data, params, **({} if n is None else {"max_iter": n})),
        lambda m: m.log_likelihood_history_, lambda m: m.log_likelihood_history_, params["tol"])
    assert other.n_iter_ == model.n_iter_ and other.converged_ == model.converged_
    # GLAD's backtracking compares Q values (candidate >= current) that differ only by the
    # summation order when a step gains nothing, so its parameters agree to ~1e-7, not 1e-9
    rtol, atol = (1e-6, 1e-8) if name == "glad" else (RTOL, ATOL)

    def same(a, b, msg):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=msg)

    same(other.log_likelihood_history_, model.log_likelihood_history_, "history")
    same(other.raw_probas_[item_perm], model.raw_probas_, "raw_probas_")
    same(other.confusion_[worker_perm], model.confusion_, "confusion_")
    same(other.priors_, model.priors_, "priors_")
    by_worker = {"one_coin": ("accuracy_",), "mace": ("spamming_", "spam_distribution_"),
                 "glad": ("ability_",)}[name]
    for attr in by_worker:
        same(getattr(other, attr)[worker_perm], getattr(model, attr), attr)
    if name == "glad":
        same(other.easiness_[item_perm], model.easiness_, "easiness_")
    if params["calibration"] == "none":
        same(other.probas_[item_perm], model.probas_, "probas_")
        same(other.worker_accuracy_[worker_perm], model.worker_accuracy_, "worker_accuracy_")
    else:
        # the temperature is the arg-min of the loo objective on a fixed grid: identical,
        # unless the objective is flat enough that the last bits decide (a near-tie)
        if other.temperature_ != model.temperature_:
            nll = [naive_loo_nll(data["item"], data["worker"], data["label"], model.confusion_,
                                 model.priors_, t) for t in (model.temperature_, other.temperature_)]
            assert nll[0] == pytest.approx(nll[1], rel=1e-9, abs=1e-12), \
                (model.temperature_, other.temperature_, nll)
        for m, m_data in ((model, data), (other, other_data)):
            expected = _tempered_and_clamped(m.raw_probas_, m.temperature_, m.judgments_.gold)
            expected[unanswered(m_data)] = np.nan  # no class answer and no gold: no label
            same(m.probas_, expected, "probas_")
    clear = clear_winner(model.raw_probas_) & (data["gold"] < 0)
    np.testing.assert_array_equal(other.labels_[item_perm][clear], model.labels_[clear])


@pytest.mark.parametrize("name", MODEL_NAMES)
@FAST
@given(st_data=st.data())
def test_gold_items_are_clamped(name, st_data):
    data, params = st_data.draw(crowd_and_params(name))
    model = fit(name, data, params)
    known = np.flatnonzero(data["gold"] >= 0)
    onehot = np.zeros((known.size, data["K"]))
    onehot[np.arange(known.size), data["gold"][known]] = 1.0
    np.testing.assert_array_equal(model.probas_[known], onehot)
    np.testing.assert_array_equal(model.labels_[known], data["gold"][known])
    np.testing.assert_array_equal(model.n_tied_[known], 1)
    assert (model.item_table()["gold"].to_list()
            == [str(g) if g >= 0 else None for g in data["gold"]])


needs_two_threads = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                                       reason="needs 2 numba threads")


@needs_two_threads
@pytest.mark.parametrize("name", MODEL_NAMES)
@FAST
@given(st_data=st.data())
def test_thread_count_does_not_change_results(name, st_data):
    data, params = st_data.draw(crowd_and_params(name))
    judgments = judgments_of(data)
    one = with_threads(1, MODELS[name](**params).fit, judgments)
    two = with_threads(2, MODELS[name](**params).fit, judgments)
    assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS
    for attr in FITTED + PARAMETERS[name]:
        np.testing.assert_array_equal(getattr(one, attr), getattr(two, attr), err_msg=attr)


@needs_two_threads
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_thread_count_does_not_change_results_large(name):
    rng = np.random.default_rng(21)
    n_items, n_workers, K = 3000, 40, 3
    item = np.repeat(np.arange(n_items), 5)
    worker = np.concatenate([rng.choice(n_workers, 5, replace=False) for _ in range(n_items)])
    label = rng.integers(-1, K, item.size)
    gold = np.where(rng.random(n_items) < 0.05, rng.integers(0, K, n_items), -1)
    judgments = Judgments.from_codes(item, worker, label, n_classes=K, gold=gold)
    one = with_threads(1, MODELS[name](max_iter=15, tol=0.0).fit, judgments)
    two = with_threads(2, MODELS[name](max_iter=15, tol=0.0).fit, judgments)
    for attr in FITTED + PARAMETERS[name]:
        np.testing.assert_array_equal(getattr(one, attr), getattr(two, attr), err_msg=attr)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_docstring_crowd_and_truthful_worker(name):
    """A clear case: 300 items, 4 workers at 80% (errors uniform) and 1 always right."""
    rng = np.random.default_rng(1)
    n_items, K = 300, 3
    truth = rng.integers(0, K, n_items)
    item = np.repeat(np.arange(n_items), 5)
    worker = np.tile(np.arange(5), n_items)
    wrong = (truth[item] + rng.integers(1, K, item.size)) % K
    label = np.where(rng.random(item.size) < 0.8, truth[item], wrong)
    label[worker == 4] = truth
    model = MODELS[name]().fit(Judgments.from_codes(item, worker, label, n_classes=K))
    assert (model.labels_ == truth).mean() > 0.97
    assert model.worker_accuracy_[4] > 0.95 and model.worker_accuracy_[4] == model.worker_accuracy_.max()
    assert np.diag(model.confusion_[4]).min() > np.diagonal(model.confusion_[:4], axis1=1, axis2=2).max()
