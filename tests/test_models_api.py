"""Estimator API: inputs accepted, fitted attributes, output tables, parameter errors."""

from __future__ import annotations

import doctest
import subprocess
import sys

import numpy as np
import polars as pl
import pytest

import consensus
from consensus import DawidSkene, Judgments, MajorityVote, ParameterError
from consensus.models import auto as auto_module
from consensus.models import dawid_skene as ds_module
from consensus.models import glad as glad_module
from consensus.models import mace as mace_module
from consensus.models import majority_vote as mv_module
from consensus.models import one_coin as one_coin_module
from consensus.models import wawa as wawa_module

FRAME = pl.DataFrame({
    "item": ["a", "a", "a", "b", "b", "b", "c", "c", "c", "d", "d", "d"],
    "worker": ["x", "y", "z"] * 4,
    "label": ["cat", "cat", "dog", "dog", "dog", "dog", "cat", "n/a", "n/a", "cat", "dog", "n/a"],
})


@pytest.mark.parametrize("model", [MajorityVote(), DawidSkene()])
def test_item_table_columns_and_na(model):
    table = model.fit(FRAME).item_table()
    assert table.columns[:6] == ["item", "label", "confidence", "n_labels", "n_na", "status"]
    assert table.columns[-2:] == ["p_cat", "p_dog"]
    rows = {r["item"]: r for r in table.to_dicts()}
    assert rows["b"]["label"] == "dog"
    # item c: 2 of 3 annotators said n/a -> reported as such, not forced into a class
    assert rows["c"]["status"] == "mostly_na" and rows["c"]["label"] is None
    assert rows["c"]["confidence"] is None and (rows["c"]["n_labels"], rows["c"]["n_na"]) == (1, 2)
    assert rows["d"]["status"] == "ok" and (rows["d"]["n_labels"], rows["d"]["n_na"]) == (2, 1)
    probs = table.select(pl.sum_horizontal("p_cat", "p_dog")).to_series().to_numpy()
    np.testing.assert_allclose(probs, 1.0)


def test_pandas_and_path_inputs_agree(tmp_path):
    pandas = pytest.importorskip("pandas")
    path = tmp_path / "delivery.csv"
    FRAME.write_csv(path)
    from_polars = DawidSkene().fit_predict_proba(FRAME)
    from_pandas = DawidSkene().fit_predict_proba(pandas.DataFrame(FRAME.to_dict(as_series=False)))
    from_path = DawidSkene().fit_predict_proba(str(path))
    assert from_polars.equals(from_pandas) and from_polars.equals(from_path)


def test_fit_predict_matches_labels_attribute():
    model = DawidSkene()
    predicted = model.fit_predict(FRAME)
    assert predicted.columns == ["item", "label"]
    codes = model.labels_
    assert predicted["label"][0] == model.classes_[codes[0]]


def test_worker_table_and_confusion_table_agree():
    model = DawidSkene().fit(FRAME)
    workers = model.worker_table()
    long = model.confusion_table()
    assert long.height == model.judgments_.n_workers * 4
    for row in long.iter_rows(named=True):
        wide = workers.filter(pl.col("worker") == row["worker"])[f"conf_{row['true']}_{row['given']}"][0]
        assert wide == pytest.approx(row["probability"])
    sums = model.confusion_.sum(axis=2)
    np.testing.assert_allclose(sums, 1.0)
    assert workers["n_na"].to_list() == [0, 1, 2]


def test_ds_fitted_attributes():
    model = DawidSkene(max_iter=50).fit(FRAME)
    assert model.n_iter_ == len(model.log_likelihood_history_) <= 50
    assert model.priors_.shape == (2,) and model.priors_.sum() == pytest.approx(1.0)
    assert model.confusion_.shape == (3, 2, 2)
    assert np.all(np.diff(model.log_likelihood_history_) >= -1e-9 * abs(model.log_likelihood_history_[0]))


def test_gold_passed_to_fit_is_clamped_and_reported(tmp_path):
    gold = tmp_path / "gold.csv"
    pl.DataFrame({"item": ["a"], "label": ["dog"]}).write_csv(gold)
    judgments = consensus.read_judgments(FRAME)
    model = DawidSkene().fit(judgments, gold=str(gold))
    table = model.item_table()
    assert table.filter(pl.col("item") == "a")["label"][0] == "dog"
    assert table["gold"].to_list() == ["dog", None, None, None]
    assert judgments.gold is None, "the caller's Judgments must not be modified"


def test_worker_priors_pull_confusion():
    spammy = {"z": [[0.5, 0.5], [0.5, 0.5]]}
    free = DawidSkene().fit(FRAME).confusion_[2]
    pulled = DawidSkene(worker_priors=spammy, prior_strength=100.0).fit(FRAME).confusion_[2]
    assert abs(pulled[0, 0] - 0.5) < abs(free[0, 0] - 0.5)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (DawidSkene(max_iter=0), "The 'max_iter' parameter of DawidSkene must be an int in the range [1, inf). Got 0 instead."),
        (DawidSkene(tol=-1.0), "The 'tol' parameter of DawidSkene must be a float in the range [0.0, inf). Got -1.0 instead."),
        (DawidSkene(alpha=float("nan")), "The 'alpha' parameter"),
        (DawidSkene(tie_break="coin"), "The 'tie_break' parameter of DawidSkene must be one of"),
        (MajorityVote(random_state=-3), "The 'random_state' parameter of MajorityVote must be a non-negative int"),
        (DawidSkene(worker_priors={"x": [[1.0, 0.0]]}), "The 'worker_priors' entry for worker 'x'"),
    ],
)
def test_parameter_errors(model, message):
    with pytest.raises(ParameterError) as info:
        model.fit(FRAME)
    assert str(info.value).startswith(message)


def test_unfitted_model_says_so():
    with pytest.raises(ParameterError, match="not fitted yet"):
        DawidSkene().item_table()


def test_mv_ties_reported_and_seeded():
    frame = pl.DataFrame({"item": ["t"] * 2 + ["u"] * 2, "worker": ["x", "y"] * 2,
                          "label": ["cat", "dog", "cat", "dog"]})
    table = MajorityVote(random_state=7).fit(frame).item_table()
    assert table["tied"].to_list() == [True, True]
    again = MajorityVote(random_state=7).fit(frame).item_table()
    assert table.equals(again)
    first = MajorityVote(tie_break="first").fit(frame).item_table()
    assert first["label"].to_list() == ["cat", "cat"]


def test_from_codes_round_trip():
    judgments = Judgments.from_codes([1, 0, 1, 0], [0, 1, 1, 0], [1, 0, 1, 1])
    assert judgments.item.tolist() == [0, 0, 1, 1] and judgments.worker.tolist() == [0, 1, 0, 1]
    assert judgments.label.tolist() == [1, 0, 1, 1]
    assert judgments.item_offsets.tolist() == [0, 2, 4]
    assert judgments.worker_offsets.tolist() == [0, 2, 4]


def test_import_compiles_nothing_and_loads_no_heavy_modules():
    code = "import sys, consensus; print(sorted(m for m in ('numba', 'polars', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("module", [ds_module, mv_module, auto_module, glad_module, mace_module,
                                    one_coin_module, wawa_module])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_overturn_rate_counts_only_strong_majorities():
    # items p, q: strong majorities (3 of 3, 3 of 4); r: 2 of 3 is not strong (< 0.7)
    frame = pl.DataFrame({
        "item": ["p"] * 3 + ["q"] * 4 + ["r"] * 3,
        "worker": ["a", "b", "c", "a", "b", "c", "d", "a", "b", "c"],
        "label": ["x", "x", "x", "y", "y", "y", "x", "x", "x", "y"],
    })
    judgments = consensus.read_judgments(frame)
    majority = MajorityVote().fit(judgments)
    flipped = majority.labels_.copy()
    flipped[1] = 1 - flipped[1]  # overturn q
    flipped[2] = 1 - flipped[2]  # overturn r (weak: does not count)
    rate, n_strong = auto_module.overturn_rate(judgments, majority, flipped)
    assert (rate, n_strong) == (0.5, 2)


def test_auto_falls_back_to_wawa_when_ds_overturns_majorities(monkeypatch):
    frame = pl.DataFrame({
        "item": ["p"] * 3 + ["q"] * 4,
        "worker": ["a", "b", "c", "a", "b", "c", "d"],
        "label": ["x", "x", "x", "y", "y", "y", "x"],
    })
    lenient = consensus.Auto(max_overturn=1.0, candidates=("ds",)).fit(frame)
    assert lenient.chosen_method_ == "ds"
    np.testing.assert_allclose(lenient.probas_, DawidSkene().fit(frame).probas_)
    monkeypatch.setattr(auto_module, "overturn_rate", lambda *args, **kwargs: (0.05, 40))
    fallback = consensus.Auto(max_overturn=0.02).fit(frame)
    assert fallback.chosen_method_ == "wawa" and fallback.overturn_rate_ == 0.05
    np.testing.assert_allclose(fallback.probas_, consensus.Wawa().fit(frame).probas_)
    assert "tied" in fallback.item_table().columns


def test_overturn_rate_ignores_gold_items():
    frame = pl.DataFrame({
        "item": ["p"] * 3 + ["q"] * 3,
        "worker": ["a", "b", "c"] * 2,
        "label": ["x", "x", "x", "y", "y", "y"],
    })
    gold = pl.DataFrame({"item": ["p"], "label": ["y"]})
    judgments = consensus.read_judgments(frame, gold=gold)
    majority = MajorityVote().fit(judgments)
    clamped = majority.labels_.copy()
    clamped[0] = 1 - clamped[0]  # p follows its gold label, against the majority
    assert auto_module.overturn_rate(judgments, majority, clamped) == (0.0, 1)


# -- second reader's cases ----------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["mv", "wawa", "ds", "onecoin", "glad", "mace", "auto"])
def test_item_without_any_judgment_gets_no_label(method):
    """Item 1 has no judgment (e.g. its only annotator was excluded): no label, NaN row, its own status."""
    from consensus import Judgments
    from consensus.methods import make_model

    judgments = Judgments.from_codes([0, 0, 0, 2, 2], [0, 1, 2, 0, 1], [0, 0, 1, 1, 1], n_classes=2)
    model = make_model(method).fit(judgments)
    assert model.labels_[1] == -1 and np.isnan(model.probas_[1]).all()
    assert (model.labels_[[0, 2]] >= 0).all()
    table = model.item_table()
    assert table.get_column("status").to_list() == ["ok", "no_judgments", "ok"]
    assert table.get_column("label")[1] is None and table.get_column("confidence")[1] is None


def test_wawa_accuracy_is_agreement_with_its_own_labels():
    frame = pl.DataFrame({"item": list("aaabbbcc"), "worker": list("xyzxyzxz"), "label": list("AABAABBA")})
    model = consensus.Wawa(tie_break="first").fit(frame)
    assert model.fit_predict(frame)["label"].to_list() == ["A", "A", "B"]
    workers = model.worker_table().sort("worker")
    assert workers.get_column("accuracy").to_list() == [1.0, 1.0, 0.0]  # x, y, z against Wawa's labels
    assert workers.filter(pl.col("worker") == "x").row(0, named=True)["conf_B_B"] == 1.0


def test_spammer_score_uses_the_rows_a_worker_has():
    """A declared class nobody chose leaves a NaN confusion row for voting models: the score uses the others."""
    frame = pl.DataFrame({"item": list("aabbcc"), "worker": list("xyxyxy"),
                          "label": ["cat", "cat", "dog", "dog", "cat", "dog"]})
    plain = consensus.MajorityVote(tie_break="first").fit(frame).worker_table()
    declared = consensus.MajorityVote(tie_break="first").fit(
        consensus.read_judgments(frame, classes=["cat", "dog", "bird"])).worker_table()
    assert plain.get_column("spammer_score").null_count() == 0
    assert declared.get_column("spammer_score").to_list() == plain.get_column("spammer_score").to_list()


def test_parameter_errors_name_the_estimator_and_refuse_booleans():
    from consensus.errors import ParameterError

    frame = pl.DataFrame({"item": ["a", "a", "b", "b"], "worker": ["x", "y", "x", "y"], "label": ["p", "p", "q", "p"]})
    with pytest.raises(ParameterError, match="'calibration' parameter of Auto"):
        consensus.Auto(calibration="bogus").fit(frame)
    with pytest.raises(ParameterError, match="'max_overturn' parameter of Auto"):
        consensus.Auto(max_overturn=True).fit(frame)
    with pytest.raises(ParameterError, match="'max_iter' parameter of DawidSkene"):
        consensus.DawidSkene(max_iter=True).fit(frame)
    for bad in ({"random_state": -1}, {"random_state": True}, {"tie_break": "x"}):
        with pytest.raises(ParameterError, match=r"parameter of Auto\b"):
            consensus.Auto(**bad).fit(frame)
