"""``advise_redundancy``: actions, targets, machine votes, importance, budget and bad input."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus import DawidSkene, InputError, Judgments, MajorityVote, ParameterError, advise_redundancy
from consensus.redundancy import ACTIONS, importance_per_item
from consensus.redundancy.advice import _fresh_item_cdf
from naive_redundancy import naive_stop_cdf


def crowd(n_items=120, per_item=3, n_workers=12, k=2, accuracy=0.8, seed=0, na_items=0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n_items)
    item, worker, label = [], [], []
    for i in range(n_items):
        for w in rng.choice(n_workers, per_item, replace=False):
            item.append(i)
            worker.append(w)
            if i < na_items:
                label.append(-1)
            elif rng.random() < accuracy:
                label.append(truth[i])
            else:
                label.append(rng.choice([c for c in range(k) if c != truth[i]]))
    return Judgments.from_codes(np.array(item), np.array(worker), np.array(label), n_classes=k), truth


@pytest.fixture(scope="module")
def fitted():
    judgments, _ = crowd()
    return DawidSkene().fit(judgments)


def test_columns_and_actions(fitted):
    advice = advise_redundancy(fitted, target=0.95, max_labels=7)
    items = advice.items
    assert items.columns == ["item", "label", "confidence", "n_labels", "n_na", "status", "importance", "target",
                             "extra_labels", "expected_extra_labels", "p_reach_target", "ambiguity_p",
                             "action", "reason"]
    assert items.height == fitted.judgments_.n_items
    assert set(items["action"].unique()) <= set(ACTIONS)
    accept = items.filter(pl.col("action") == "accept")
    assert (accept["confidence"] >= 0.95 - 1e-9).all()
    assert (accept["extra_labels"] == 0).all() and (accept["p_reach_target"] == 1.0).all()
    more = items.filter(pl.col("action") == "label_more")
    assert more.height > 0
    assert (more["confidence"] < 0.95).all()
    assert (more["extra_labels"] >= 1).all()
    assert (more["extra_labels"] <= 7 - more["n_labels"]).all()
    assert (more["p_reach_target"] >= 0.5).all()
    assert (more["expected_extra_labels"] <= 7 - more["n_labels"] + 1e-9).all()
    # the fitted model is used as it is: same confidences
    np.testing.assert_allclose(items["confidence"].to_numpy(),
                               fitted.probas_[np.arange(fitted.probas_.shape[0]), fitted.labels_])


def test_higher_target_never_asks_fewer_labels(fitted):
    low = advise_redundancy(fitted, target=0.9, max_labels=9).items
    high = advise_redundancy(fitted, target=0.99, max_labels=9).items
    assert (high["expected_extra_labels"].to_numpy() >= low["expected_extra_labels"].to_numpy() - 1e-9).all()
    assert (high["p_reach_target"].to_numpy() <= low["p_reach_target"].to_numpy() + 1e-9).all()
    assert (high["action"] == "accept").sum() <= (low["action"] == "accept").sum()


def test_fit_from_judgments_and_frames_agree(fitted):
    again = advise_redundancy(fitted.judgments_, method="ds")
    np.testing.assert_allclose(again.items["confidence"].to_numpy(),
                               advise_redundancy(fitted).items["confidence"].to_numpy())


def test_no_budget_left_goes_to_expert(fitted):
    items = advise_redundancy(fitted, max_labels=3).items
    open_items = items.filter(pl.col("action") != "accept")
    assert open_items.height > 0
    assert (open_items["action"] == "expert_review").all()
    assert open_items["reason"].str.contains("max_labels 3 reached").all()


def test_per_item_max_labels(fitted):
    n = fitted.judgments_.n_items
    caps = np.full(n, 9)
    caps[: n // 2] = 3
    items = advise_redundancy(fitted, max_labels=caps).items
    first = items.head(n // 2).filter(pl.col("action") != "accept")
    assert (first["action"] == "expert_review").all()
    rest = items.tail(n - n // 2)
    assert (rest["action"] == "label_more").any()
    assert (rest["extra_labels"] <= 6).all()
    with pytest.raises(ParameterError, match="one entry per item"):
        advise_redundancy(fitted, max_labels=np.array([3, 4]))
    with pytest.raises(ParameterError, match="'max_labels' parameter"):
        advise_redundancy(fitted, max_labels=np.zeros(n, dtype=int))


def test_mostly_na_items_go_to_expert():
    judgments, _ = crowd(na_items=5)
    items = advise_redundancy(DawidSkene().fit(judgments)).items
    head = items.head(5)
    assert (head["status"] == "mostly_na").all()
    assert (head["action"] == "expert_review").all()
    assert head["label"].null_count() == 5


def test_systematic_disagreement_goes_to_expert():
    # reliable annotators, but one item split 5 / 5: no crowd label will settle it
    rng = np.random.default_rng(1)
    item, worker, label = [], [], []
    for i in range(60):
        for w in range(10):
            item.append(i)
            worker.append(w)
            label.append((w % 2) if i == 0 else (i % 2 if rng.random() < 0.95 else 1 - i % 2))
    judgments = Judgments.from_codes(np.array(item), np.array(worker), np.array(label), n_classes=2)
    items = advise_redundancy(DawidSkene().fit(judgments), max_labels=20).items
    assert items["action"][0] == "expert_review"
    assert "disagreement" in items["reason"][0]
    assert items["ambiguity_p"][0] < 0.01


def test_importance_raises_target(fitted):
    n = fitted.judgments_.n_items
    importance = np.ones(n)
    importance[:10] = 5.0
    items = advise_redundancy(fitted, importance=importance).items
    np.testing.assert_allclose(items["target"].to_numpy()[:10], 1 - 0.05 / 5)
    np.testing.assert_allclose(items["target"].to_numpy()[10:], 0.95)
    plain = advise_redundancy(fitted).items
    assert (items["expected_extra_labels"][:10].to_numpy() >= plain["expected_extra_labels"][:10].to_numpy() - 1e-9).all()
    by_name = importance_per_item(fitted.judgments_, {0: "critical", 1: "high", "2": 3})
    assert by_name[:4].tolist() == [10.0, 2.0, 3.0, 1.0]
    with pytest.raises(ParameterError, match="importance of item"):
        importance_per_item(fitted.judgments_, {0: 0.5})
    with pytest.raises(ParameterError, match="importance of item"):
        importance_per_item(fitted.judgments_, {0: "urgent"})


def test_model_probs_accept_model_and_quarantine(fitted, tmp_path):
    judgments = fitted.judgments_
    labels = fitted.labels_
    probs = np.full((judgments.n_items, 2), 0.02)
    probs[np.arange(judgments.n_items), labels] = 0.98  # a model that agrees with the crowd
    frame = pl.DataFrame({"item": [str(i) for i in range(judgments.n_items)] + ["ghost"],
                          "prob_0": list(probs[:, 0]) + [0.5], "prob_1": list(probs[:, 1]) + [0.5]})
    path = tmp_path / "model.csv"
    frame.write_csv(path)
    advice = advise_redundancy(fitted, model_probs=str(path))
    items = advice.items
    assert {"model_label", "confidence_with_model"} <= set(items.columns)
    settled = items.filter(pl.col("action") == "accept_model")
    assert settled.height > 0
    assert (settled["confidence"] < 0.95).all() and (settled["confidence_with_model"] >= 0.95 - 1e-9).all()
    assert advice.model_quarantine.height == 1
    assert advice.model_quarantine["reason"][0] == "item not in the judgments"
    summary = advice.summary()
    assert summary["model"]["rows"] == f"model rows {judgments.n_items + 1} = used {judgments.n_items} + quarantined 1"
    assert summary["model"]["accuracy_estimate"] > 0.8
    n_settled = settled.height
    # a model that answers at random is estimated as such and settles fewer items
    rng = np.random.default_rng(5)
    coin = rng.random(judgments.n_items + 1)
    frame.with_columns(pl.Series("prob_0", coin), pl.Series("prob_1", 1 - coin)).write_csv(path)
    random_model = advise_redundancy(fitted, model_probs=str(path))
    assert abs(random_model.summary()["model"]["accuracy_estimate"] - 0.5) < 0.15
    assert (random_model.items["action"] == "accept_model").sum() < n_settled


@pytest.mark.parametrize(("body", "message", "where"), [
    ("item,prob_0,prob_1\n0,0.5,0.5\n1,-0.2,1.2\n", "negative probability", "column 'prob_0', row 2"),
    ("item,prob_0,prob_1\n0,0.5,0.4\n", "must sum to 1", "row 1"),
    ("item,prob_0,prob_1\n0,abc,0.4\n", "non-numeric", "column 'prob_0', row 1"),
    ("item,prob_0\n0,1.0\n", "no probability column for class '1'", "model.csv"),
    ("item,0,1\n0,0.5,0.5\n0,0.5,0.5\n", "more than once", "rows 1, 2"),
])
def test_bad_model_probs(fitted, tmp_path, body, message, where):
    path = tmp_path / "model.csv"
    path.write_text(body)
    with pytest.raises(InputError, match=message) as info:
        advise_redundancy(fitted, model_probs=str(path))
    assert where in str(info.value)
    assert "model.csv" in str(info.value)


def test_budget_and_summary(fitted):
    advice = advise_redundancy(fitted, price_per_label=0.1)
    budget = advice.budget
    assert budget["scheme"].to_list() == ["current labels", "fixed k=3", "fixed k=5", "adaptive (this batch)",
                                          "adaptive (next batch, from scratch)"]
    np.testing.assert_allclose(budget["cost"].to_numpy(), budget["total_labels"].to_numpy() * 0.1)
    n = fitted.judgments_.n_items
    assert budget.filter(pl.col("scheme") == "fixed k=5")["additional_labels"][0] == 2 * n
    summary = json.loads(json.dumps(advice.summary()))
    assert sum(summary["actions"].values()) == n
    assert summary["extra_labels_requested"] == int(advice.items["extra_labels"].sum())
    assert summary["params"]["engine"] == "exact"
    assert set(summary["savings_vs_fixed"]) == {"fixed k=3", "fixed k=5"}
    assert advise_redundancy(fitted).budget["cost"].null_count() == budget.height


def test_simulation_engine_agrees_with_exact_and_is_seeded(fitted):
    exact = advise_redundancy(fitted, engine="exact").items
    sim = advise_redundancy(fitted, engine="simulate", n_runs=4000, seed=3).items
    np.testing.assert_allclose(sim["p_reach_target"].to_numpy(), exact["p_reach_target"].to_numpy(), atol=0.05)
    np.testing.assert_allclose(sim["expected_extra_labels"].to_numpy(),
                               exact["expected_extra_labels"].to_numpy(), atol=0.2)
    again = advise_redundancy(fitted, engine="simulate", n_runs=4000, seed=3).items
    assert sim.equals(again)


def test_exclude_workers_changes_the_pool():
    # worker 0 answers at random; without it the pool is more accurate and needs fewer labels
    judgments, _ = crowd(accuracy=0.9, seed=4)
    label = judgments.label.copy()
    rng = np.random.default_rng(0)
    noisy = judgments.worker < 4
    label[noisy] = rng.integers(0, 2, int(noisy.sum()))
    noisy_crowd = Judgments.from_codes(judgments.item, judgments.worker, label, n_classes=2)
    model = DawidSkene().fit(noisy_crowd)
    everyone = advise_redundancy(model).summary()
    honest = advise_redundancy(model, exclude_workers=[0, 1, 2, 3]).summary()
    assert honest["pool_accuracy"] > everyone["pool_accuracy"]
    assert honest["next_batch_labels_per_item"] < everyone["next_batch_labels_per_item"]
    with pytest.raises(ParameterError, match="no annotator"):
        advise_redundancy(model, exclude_workers=np.ones(model.judgments_.n_workers, dtype=bool))


def test_voting_model_is_accepted(fitted):
    advice = advise_redundancy(MajorityVote().fit(fitted.judgments_))
    assert advice.params["method"] == "MajorityVote"
    assert advice.params["temperature"] == 1.0


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"target": 1.0}, "target"), ({"target": 0}, "target"), ({"max_labels": 0}, "max_labels"),
    ({"price_per_label": -1.0}, "price_per_label"), ({"method": "magic"}, "method"),
    ({"plan_level": 0.0}, "plan_level"), ({"engine": "gpu"}, "engine"), ({"seed": -1}, "seed"),
    ({"n_runs": 0}, "n_runs"), ({"calibration": "magic"}, "calibration"), ({"rho": 1.5}, "rho"),
    ({"rho": -0.1}, "rho"), ({"rho": True}, "rho"),
])
def test_parameter_errors(fitted, kwargs, name):
    with pytest.raises(ParameterError, match=f"'{name}' parameter of advise_redundancy"):
        advise_redundancy(fitted, **kwargs)


def test_unfitted_model_is_an_error():
    with pytest.raises(ParameterError, match="not fitted"):
        advise_redundancy(DawidSkene())


# -- per-item temperature (correlated errors) ---------------------------------------------------

def correlated_crowd(n_items=300, per_item=8, n_workers=20, hard_share=0.0, seed=0):
    """Binary crowd, accuracy 0.85 on easy items; on hard items every worker picks the decoy with p=0.6."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n_items)
    hard = rng.random(n_items) < hard_share
    item, worker, label = [], [], []
    for i in range(n_items):
        for w in rng.choice(n_workers, per_item, replace=False):
            wrong = rng.random() < (0.6 if hard[i] else 0.15)
            item.append(i)
            worker.append(w)
            label.append(1 - truth[i] if wrong else truth[i])
    return Judgments.from_codes(np.array(item), np.array(worker), np.array(label), n_classes=2), truth


def test_per_item_with_rho_zero_is_the_untempered_model():
    judgments, _ = correlated_crowd(n_items=80, per_item=4)
    raw = DawidSkene(calibration="none").fit(judgments)
    per_item = advise_redundancy(DawidSkene().fit(judgments), calibration="per_item", rho=0.0)
    model = advise_redundancy(raw, calibration="model")
    assert per_item.params["calibration"] == "per_item" and model.params["calibration"] == "model"
    for column in ("confidence", "extra_labels", "expected_extra_labels", "p_reach_target", "action"):
        a, b = per_item.items[column].to_numpy(), model.items[column].to_numpy()
        if a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
        else:
            np.testing.assert_array_equal(a, b)


def test_model_calibration_keeps_the_model_temperature(fitted):
    advice = advise_redundancy(fitted, calibration="model")
    assert advice.params["temperature"] == pytest.approx(fitted.temperature_)
    assert advice.params["rho"] is None
    np.testing.assert_allclose(advice.items["confidence"].to_numpy(), fitted.probas_.max(axis=1))


def test_auto_is_per_item_for_em_models_and_model_for_votes(fitted):
    assert advise_redundancy(fitted).params["calibration"] == "per_item"
    assert advise_redundancy(MajorityVote().fit(fitted.judgments_)).params["calibration"] == "model"
    with pytest.raises(ParameterError, match="per_item"):
        advise_redundancy(MajorityVote().fit(fitted.judgments_), calibration="per_item")


def test_fitted_rho_sees_correlated_errors():
    independent = advise_redundancy(DawidSkene().fit(correlated_crowd(hard_share=0.0)[0]))
    correlated = advise_redundancy(DawidSkene().fit(correlated_crowd(hard_share=0.3)[0]))
    assert independent.params["rho_source"] == correlated.params["rho_source"] == "loo"
    assert independent.params["rho"] == 0.0
    assert correlated.params["rho"] >= 0.04


def test_rho_needs_three_answers_or_gold():
    judgments, truth = correlated_crowd(n_items=60, per_item=2, hard_share=0.3)
    assert advise_redundancy(DawidSkene().fit(judgments)).params["rho_source"] == "none"
    gold = np.where(np.arange(60) < 20, truth, -1).astype(np.int32)
    with_gold = Judgments(judgments.item, judgments.worker, judgments.label, judgments.item_ids,
                          judgments.worker_ids, judgments.classes, gold=gold)
    advice = advise_redundancy(DawidSkene(calibration="gold").fit(with_gold))
    assert advice.params["rho_source"] == "gold"
    confident = advice.items["confidence"].to_numpy()
    np.testing.assert_array_equal(confident[:20], 1.0)  # gold items stay clamped


def test_gold_rho_is_fitted_on_out_of_fold_posteriors():
    """The gold items are clamped in the fit; their rho must come from refits that did not clamp them."""
    from consensus.redundancy.advice import fit_rho

    judgments, truth = correlated_crowd(n_items=120, per_item=5, hard_share=0.3)
    gold = np.where(np.arange(120) < 40, truth, -1).astype(np.int32)
    with_gold = Judgments(judgments.item, judgments.worker, judgments.label, judgments.item_ids,
                          judgments.worker_ids, judgments.classes, gold=gold)
    model = DawidSkene(calibration="gold").fit(with_gold)
    advice = advise_redundancy(model)
    assert advice.params["rho_source"] == "gold"
    raw = model.raw_probas_ / model.raw_probas_.sum(axis=1, keepdims=True)
    log_emission = np.log(np.maximum(model.confusion_, 1e-300)).transpose(0, 2, 1).copy()
    log_prior = np.log(model.priors_)
    out_of_fold = model._out_of_fold_posteriors(model.judgments_, gold)
    expected, source = fit_rho(model.judgments_, log_emission, log_prior, raw, out_of_fold)
    assert source == "gold" and advice.params["rho"] == pytest.approx(expected)
    in_sample, _ = fit_rho(model.judgments_, log_emission, log_prior, raw)
    assert in_sample < expected  # clamped items look more right in-sample: less correlation is needed


def test_larger_rho_lowers_confidence_and_never_asks_fewer_labels():
    judgments, _ = correlated_crowd(n_items=100, per_item=4, hard_share=0.2)
    model = DawidSkene().fit(judgments)
    low, high = (advise_redundancy(model, rho=r, max_labels=10) for r in (0.0, 0.4))
    assert (high.items["confidence"].to_numpy() <= low.items["confidence"].to_numpy() + 1e-12).all()
    open_low = low.items["action"].to_numpy() != "accept"
    assert (high.items["action"].to_numpy()[open_low] != "accept").all()
    assert high.summary()["next_batch_labels_per_item"] > low.summary()["next_batch_labels_per_item"]


def test_importance_for_unknown_or_repeated_items_is_an_error() -> None:
    frame = pl.DataFrame({"item": list("aabbcc"), "worker": list("xyxyxy"), "label": list("112212")})
    with pytest.raises(ParameterError, match="does not have, e.g. 'zzz'"):
        advise_redundancy(frame, importance={"a": "critical", "zzz": 10})
    with pytest.raises(ParameterError, match="more than one importance"):
        advise_redundancy(frame, importance=pl.DataFrame({"item": ["a", "a"], "importance": [10, 1]}))
    same = advise_redundancy(frame, importance=pl.DataFrame({"item": ["a", "a"], "importance": [10, 10]}))
    assert same.items.height == 3


def test_item_without_judgments_has_the_same_status_as_in_the_item_table():
    """One status rule (models.base.item_status) for the item table, the advice and the claim."""
    judgments = Judgments.from_codes([0, 0, 0, 2, 2, 2], [0, 1, 2, 0, 1, 2], [0, 0, 1, 1, 1, 0], n_classes=2)
    model = DawidSkene().fit(judgments)
    advice = advise_redundancy(model, target=0.9, max_labels=5)
    assert advice.items.get_column("status").to_list() == model.item_table().get_column("status").to_list() \
        == ["ok", "no_judgments", "ok"]
    assert advice.items.get_column("label")[1] is None


def test_accept_model_delivers_the_class_that_reached_the_target(tmp_path):
    """Items with one spammer answer and a reliable model that says otherwise: the settled label is the
    model-backed class at the target, not the crowd's lone answer at ~1% (as it was)."""
    rng = np.random.default_rng(4)
    K, items, workers, labels, truth = 3, [], [], [], []
    for i in range(150):  # three good annotators per item
        t = int(rng.integers(K))
        truth.append(t)
        for w in range(3):
            items.append(i)
            workers.append(w)
            labels.append(t if rng.random() < 0.9 else int(rng.integers(K)))
        items.append(i)  # annotator 3 answers at random everywhere, so the model learns what it is worth
        workers.append(3)
        labels.append(int(rng.integers(K)))
    for i in range(150, 180):  # one answer each, from an annotator who answers at random
        t = int(rng.integers(K))
        truth.append(t)
        items.append(i)
        workers.append(3)
        labels.append(int(rng.integers(K)))
    judgments = Judgments.from_codes(np.array(items), np.array(workers), np.array(labels), n_classes=K)
    model = DawidSkene().fit(judgments)
    probs = np.full((180, K), 0.001)
    probs[np.arange(180), truth] = 1 - 0.001 * (K - 1)
    path = tmp_path / "model.csv"
    pl.DataFrame({"item": [str(i) for i in range(180)],
                  **{f"prob_{k}": probs[:, k] for k in range(K)}}).write_csv(path)
    advice = advise_redundancy(model, model_probs=str(path)).items
    settled = advice.filter(pl.col("action") == "accept_model")
    assert settled.height > 0
    assert (settled["confidence_with_model"] >= settled["target"] - 1e-9).all()
    thin = settled.filter(pl.col("n_labels") == 1)
    assert thin.height > 0
    assert (thin["label"] == thin["model_label"]).all()
    assert (thin["label"].cast(pl.Int64).to_numpy() == np.array(truth)[thin["item"].cast(pl.Int64).to_numpy()]).all()


def test_exact_engine_refuses_an_enumeration_it_cannot_finish(fitted):
    """8 classes and 40 labels are ~3.8e8 vote-count states: a one-line error instead of hours of work."""
    rng = np.random.default_rng(2)
    item = np.repeat(np.arange(40), 3)
    judgments = Judgments.from_codes(item, rng.integers(0, 10, item.size), rng.integers(0, 8, item.size),
                                     n_classes=8)
    model = MajorityVote().fit(judgments)
    with pytest.raises(ParameterError, match=r"vote-count states .*limit is 1,000,000.*'simulate'"):
        advise_redundancy(model, max_labels=40, engine="exact")


def test_summary_names_the_engine_of_the_next_batch_figures():
    """5 classes, ~20 answers per item and --max-labels 30: the per-item figures are exact (<= 10 labels
    left), a fresh item's 30 labels are 324,632 states, so the next-batch figures are simulated and
    depend on n_runs; the summary says so (it said 'exact' with n_runs None)."""
    from pathlib import Path

    from consensus import read_judgments

    sample = Path(__file__).resolve().parents[1] / "datasets" / "weather_sentiment_amt" / "judgments.csv"
    model = MajorityVote().fit(read_judgments(sample))
    params = advise_redundancy(model, max_labels=30, n_runs=300).summary()["params"]
    assert (params["engine"], params["next_batch_engine"], params["n_runs"]) == ("exact", "simulate", 300)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_fresh_item_gets_at_least_one_label_and_matches_naive(data):
    """The next-batch stopping time: never 0 labels, however skewed the prior; = the naive walk with min 1 step."""
    n_classes = data.draw(st.integers(2, 3))
    weights = st.floats(0.05, 1.0)
    prior = np.array(data.draw(st.lists(weights, min_size=n_classes, max_size=n_classes)))
    prior[0] += data.draw(st.floats(0.0, 20.0))  # a dominant class: the prior alone may pass the target
    prior /= prior.sum()
    draw = np.array([data.draw(st.lists(weights, min_size=n_classes, max_size=n_classes)) for _ in range(n_classes)])
    draw += np.eye(n_classes) * data.draw(st.floats(0.0, 5.0))
    draw /= draw.sum(axis=1, keepdims=True)
    target = data.draw(st.floats(0.5, 0.99))
    max_labels = data.draw(st.integers(1, 4))
    cdf, _ = _fresh_item_cdf(prior, target, draw, np.log(draw), max_labels, "exact", 100, 0, 0.0)
    expected = naive_stop_cdf([prior.tolist()], [target], draw.tolist(), np.log(draw).tolist(), max_labels,
                              min_steps=1)[0]
    assert cdf[0] == 0.0
    np.testing.assert_allclose(cdf, expected, atol=1e-9)


def test_skewed_classes_still_cost_a_label_per_new_item():
    """A class prior above the target must not make new items free (reviewer repro: 50 x / 10 y at target 0.8)."""
    rng = np.random.default_rng(1)
    item, worker, label = [], [], []
    for i in range(60):
        truth = 0 if i < 50 else 1
        for w in range(3):
            item.append(i)
            worker.append(w)
            label.append(truth if rng.random() < 0.8 else 1 - truth)
    judgments = Judgments.from_codes(np.array(item), np.array(worker), np.array(label), n_classes=2)
    advice = advise_redundancy(DawidSkene().fit(judgments), target=0.8)
    summary = advice.summary()
    assert summary["next_batch_labels_per_item"] >= 1.0
    for row in summary["savings_vs_fixed"].values():
        assert row["labels"] < 60 * 5


def test_mostly_na_items_have_no_chance_of_reaching_the_target():
    judgments = Judgments.from_codes(np.array([0, 0, 0, 1, 1, 1]), np.array([0, 1, 2, 0, 1, 2]),
                                     np.array([0, -1, -1, 0, 0, 1]), n_classes=2)
    items = advise_redundancy(MajorityVote().fit(judgments), target=0.66, max_labels=4).items
    row = items.row(0, named=True)
    assert (row["status"], row["action"], row["p_reach_target"]) == ("mostly_na", "expert_review", 0.0)
