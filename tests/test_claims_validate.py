"""validate_claim and ``consensus validate``: scoring, tables, the estimate without gold, the CLI."""

from __future__ import annotations

import copy
import json
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats

import consensus
from consensus.claims import validate_claim
from consensus.claims.validation import bootstrap_estimates, item_contributions
from consensus.cli import main
from consensus.errors import ParameterError
from consensus.methods import METHODS, make_model
from cli_helpers import run

DATASET = Path(__file__).resolve().parents[1] / "datasets" / "weather_sentiment_amt"
DAY = 86400


def synthetic(seed: int = 3, n_items: int = 80, n_gold: int = 60):
    """3 workers x 2 classes (no majority-vote ties), timestamps over 3 days, gold on some items."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n_items)
    skill = {"w0": 0.9, "w1": 0.75, "w2": 0.6}
    rows = []
    start = datetime(2024, 3, 1, 22, tzinfo=timezone.utc).timestamp()
    for i in range(n_items):
        for w, p in skill.items():
            label = truth[i] if rng.random() < p else 1 - truth[i]
            when = start + i * (3 * DAY / n_items) + rng.uniform(0, 3600)
            rows.append({"item": f"i{i:03d}", "worker": w, "label": "cat" if label == 0 else "dog",
                         "submitted": datetime.fromtimestamp(when, timezone.utc).isoformat()})
    frame = pl.DataFrame(rows)
    gold = pl.DataFrame({"item": [f"i{i:03d}" for i in range(n_gold)],
                         "label": ["cat" if t == 0 else "dog" for t in truth[:n_gold]]})
    return frame, gold


def naive_scores(frame: pl.DataFrame, gold: pl.DataFrame):
    """Majority vote, correctness and groupings written out with dicts and Counters."""
    gold_of = dict(gold.iter_rows())
    votes = defaultdict(Counter)
    last = defaultdict(str)
    for item, _, label, when in frame.iter_rows():
        votes[item][label] += 1
        last[item] = max(last[item], when)
    delivered = {item: c.most_common(1)[0][0] for item, c in votes.items()}
    rows = {item: delivered[item] == g for item, g in gold_of.items()}
    judgments = [(item, worker, label == gold_of[item], when[:10])
                 for item, worker, label, when in frame.iter_rows() if item in gold_of]
    return gold_of, rows, judgments, last


@pytest.fixture(scope="module")
def synth():
    frame, gold = synthetic()
    return frame, gold, validate_claim(frame, 0.8, gold=gold, method="mv")


def test_overall_counts_and_statistics_against_naive(synth):
    frame, gold, result = synth
    _, rows, judgments, _ = naive_scores(frame, gold)
    overall = {r["level"]: r for r in result.overall.iter_rows(named=True)}
    for level, (k, n) in {"row": (sum(rows.values()), len(rows)),
                          "judgment": (sum(j[2] for j in judgments), len(judgments))}.items():
        got = overall[level]
        assert (got["correct"], got["n"]) == (k, n)
        exact = stats.binomtest(k, n).proportion_ci(0.95, method="exact")
        wilson = stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
        assert (got["cp_lower"], got["cp_upper"]) == pytest.approx((exact.low, exact.high))
        assert (got["lower"], got["upper"]) == pytest.approx((wilson.low, wilson.high))
        assert got["p_value"] == pytest.approx(stats.binomtest(k, n, 0.8, alternative="less").pvalue)
        assert got["upper_bound"] == pytest.approx(stats.beta.ppf(0.95, k + 1, n - k))
    assert result.verdict == overall["row"]["verdict"] == result.summary["verdict"]
    assert result.summary["n"] == len(rows) and result.summary["basis"] == "gold"
    assert result.summary["is_estimate"] is False


def test_group_tables_against_naive(synth):
    frame, gold, result = synth
    gold_of, rows, judgments, last = naive_scores(frame, gold)
    by_class = {(r["level"], r["class"]): (r["correct"], r["n"]) for r in result.by_class.iter_rows(named=True)}
    for cls in ("cat", "dog"):
        picked = [ok for item, ok in rows.items() if gold_of[item] == cls]
        assert by_class[("row", cls)] == (sum(picked), len(picked))
        picked = [j[2] for j in judgments if gold_of[j[0]] == cls]
        assert by_class[("judgment", cls)] == (sum(picked), len(picked))
    by_worker = {r["worker"]: (r["correct"], r["n"]) for r in result.by_annotator.iter_rows(named=True)}
    for w in ("w0", "w1", "w2"):
        picked = [j[2] for j in judgments if j[1] == w]
        assert by_worker[w] == (sum(picked), len(picked))
    uppers = result.by_annotator["upper"].to_list()
    assert uppers == sorted(uppers)  # most clearly worst annotator first
    by_day = {(r["level"], r["day"]): (r["correct"], r["n"]) for r in result.by_day.iter_rows(named=True)}
    expected = Counter()
    for item, ok in rows.items():
        expected[("row", last[item][:10])] += np.array([ok, 1])
    for item, _, ok, day in judgments:
        expected[("judgment", day)] += np.array([ok, 1])
    assert by_day == {key: tuple(int(x) for x in value) for key, value in expected.items()}
    assert len({day for _, day in by_day}) >= 3
    below = result.by_annotator.filter(pl.col("below_claim"))["worker"].to_list()
    assert "w2" in below and "w0" not in below  # 60% vs claimed 80%; 90% is not below


def test_gold_is_not_clamped_when_scoring():
    """An item every annotator gets wrong stays wrong: gold scores the model, it does not steer it."""
    rows = [(f"i{i}", w, "cat" if i % 2 else "dog") for i in range(12) for w in ("a", "b", "c")]
    rows += [("q", w, "dog") for w in ("a", "b", "c")]
    frame = pl.DataFrame(rows, schema=["item", "worker", "label"], orient="row")
    gold = pl.DataFrame({"item": [f"i{i}" for i in range(12)] + ["q"],
                         "label": ["cat" if i % 2 else "dog" for i in range(12)] + ["cat"]})
    result = validate_claim(frame, 0.9, gold=gold)
    assert (result.summary["correct"], result.summary["n"]) == (12, 13)
    clamped = consensus.DawidSkene().fit(frame, gold=gold)
    assert clamped.item_table().filter(pl.col("item") == "q")["label"].item() == "cat"  # would have counted


def test_mostly_na_row_counts_as_wrong_and_abstentions_are_left_out():
    rows = [("a", "x", "cat"), ("a", "y", "cat"), ("a", "z", "dog"),
            ("b", "x", "n/a"), ("b", "y", "n/a"), ("b", "z", "dog")]
    frame = pl.DataFrame(rows, schema=["item", "worker", "label"], orient="row")
    gold = pl.DataFrame({"item": ["a", "b"], "label": ["cat", "dog"]})
    result = validate_claim(frame, 0.9, gold=gold, method="mv")
    assert (result.summary["correct"], result.summary["n"]) == (1, 2)
    assert result.summary["counts"]["gold_rows_without_label"] == 1
    assert result.summary["counts"]["gold_abstentions_excluded"] == 2
    judgment = result.summary["levels"]["judgment"]
    assert (judgment["correct"], judgment["n"]) == (3, 4)


def test_claim_level_judgment_uses_judgments():
    frame, gold = synthetic()
    result = validate_claim(frame, 0.8, gold=gold, method="mv", claim_level="judgment")
    judgment = result.summary["levels"]["judgment"]
    assert result.summary["n"] == judgment["n"] == 180
    assert result.verdict == judgment["verdict"]


def test_weather_dataset_verdicts():
    judgments = consensus.read_judgments(DATASET / "judgments.csv", gold=DATASET / "gold.csv")
    blind = copy.copy(judgments)
    blind.gold = None
    labels = consensus.Auto(calibration="item").fit(blind).labels_  # the default method, gold-free calibration
    k, n = int((labels == judgments.gold).sum()), judgments.n_items
    verdicts = {}
    for claimed in (0.80, 0.86, 0.95):
        result = validate_claim(judgments, claimed)
        assert (result.summary["correct"], result.summary["n"]) == (k, n)
        alpha = 0.05
        if stats.binomtest(k, n, claimed, alternative="less").pvalue <= alpha:
            expected = "refuted"
        elif stats.binomtest(k, n, claimed - 0.02, alternative="greater").pvalue <= alpha:
            expected = "supported"
        else:
            expected = "not_supported"
        assert result.verdict == expected
        verdicts[claimed] = result.verdict
    assert verdicts[0.80] == "supported" and verdicts[0.95] == "refuted"
    assert result.by_day is None  # no timestamps in this sample
    json.loads(result.to_json())


def test_model_estimates_match_the_model():
    frame, _ = synthetic()
    result = validate_claim(frame, 0.8, n_boot=200)
    model = consensus.Auto(calibration="item").fit(frame)
    judgments = model.judgments_
    row = model.probas_[np.arange(judgments.n_items), model.labels_].mean()
    answers = np.bincount(judgments.worker[judgments.label >= 0], minlength=judgments.n_workers)
    judgment = (model.worker_accuracy_ * answers).sum() / answers.sum()
    assert result.summary["model_estimate"]["row"] == pytest.approx(row)
    assert result.summary["model_estimate"]["judgment"] == pytest.approx(judgment)
    assert result.summary["is_estimate"] is True and result.summary["basis"] == "model_estimate"
    assert result.message.startswith("ESTIMATE, NO GOLD")
    assert result.summary["accuracy"] == pytest.approx(row)
    assert result.summary["interval"]["method"] == "bootstrap_percentile"
    assert result.summary["p_value"] is None and result.by_class is None


def test_bootstrap_is_seeded_and_matches_a_naive_loop():
    frame, _ = synthetic()
    first = validate_claim(frame, 0.8, n_boot=300, random_state=11)
    again = validate_claim(frame, 0.8, n_boot=300, random_state=11)
    other = validate_claim(frame, 0.8, n_boot=300, random_state=12)
    assert first.bootstrap.equals(again.bootstrap) and first.summary == again.summary
    assert not first.bootstrap.equals(other.bootstrap)
    # naive: resample item ids with the same generator, recompute from a per-judgment frame
    model = consensus.Auto(calibration="item", random_state=11).fit(frame)
    judgments = model.judgments_
    rng = np.random.default_rng(11)
    p_row = model.probas_[np.arange(judgments.n_items), model.labels_]
    for b in range(5):
        draws = rng.integers(0, judgments.n_items, judgments.n_items)
        right, total = 0.0, 0
        for i in draws:
            for j in np.flatnonzero(judgments.item == i):
                right += model.probas_[i, judgments.label[j]]
                total += 1
        assert first.bootstrap["row"][b] == pytest.approx(p_row[draws].mean())
        assert first.bootstrap["judgment"][b] == pytest.approx(right / total)
    lower, upper = first.summary["interval"]["lower"], first.summary["interval"]["upper"]
    values = first.bootstrap["row"].to_numpy()
    assert (lower, upper) == pytest.approx(tuple(np.quantile(values, [0.025, 0.975])))


def test_item_contributions_sum_to_the_estimates():
    frame, _ = synthetic()
    model = consensus.MajorityVote().fit(frame)
    row, judgment, answers = item_contributions(model.judgments_, model.labels_, model.probas_)
    reps = bootstrap_estimates(row, judgment, answers, 50, 0)
    assert reps.shape == (50, 2) and np.isfinite(reps).all()
    assert answers.sum() == model.judgments_.n_judgments


def test_parameter_errors():
    frame, gold = synthetic()
    with pytest.raises(ParameterError, match="'claimed_accuracy' parameter of validate_claim"):
        validate_claim(frame, 96, gold=gold)
    with pytest.raises(ParameterError, match="'claim_level'"):
        validate_claim(frame, 0.9, gold=gold, claim_level="item")
    with pytest.raises(ParameterError, match="'method'"):
        validate_claim(frame, 0.9, gold=gold, method="median")
    with pytest.raises(ParameterError, match="'margin'"):
        validate_claim(frame, 0.9, gold=gold, margin=-0.1)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_delivers_its_gold_free_labels(method):
    """The rows scored are the labels ``method`` delivers fitted without gold (per-item calibration)."""
    frame, gold = synthetic(seed=5)
    result = validate_claim(frame, 0.8, gold=gold, method=method)
    model = make_model(method, calibration="item").fit(frame)
    gold_of = dict(gold.iter_rows())
    labels = model.item_table().select("item", "label").iter_rows()
    right = sum(gold_of[item] == label for item, label in labels if item in gold_of)
    assert (result.summary["correct"], result.summary["n"]) == (right, len(gold_of))
    chosen = getattr(model, "chosen_method_", None)
    assert result.summary["method"] == (f"auto ({chosen})" if chosen else method)
    estimate = validate_claim(frame, 0.8, method=method, n_boot=20).summary["model_estimate"]["row"]
    delivered = model.probas_[np.arange(model.judgments_.n_items), model.labels_]
    assert estimate == pytest.approx(delivered.mean())


def test_lazy_export():
    assert consensus.validate_claim is validate_claim
    assert "validate_claim" in dir(consensus)


# -- command line --------------------------------------------------------------------------------


def test_cli_validate_with_gold(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    report = tmp_path / "report.json"
    code, out, err = run(capsys, "validate", DATASET / "judgments.csv", "--gold", DATASET / "gold.csv",
                         "--claimed-accuracy", "95%", "-o", report, "--tables-out", tmp_path / "tables")
    assert code == 0, err
    summary = json.loads(report.read_text())
    assert summary["verdict"] == "refuted" and summary["claimed_accuracy"] == 0.95
    assert summary["n"] == 300 and summary["interval"]["method"] == "wilson"
    assert "validate: refuted: " in err and "input rows 6030 = used 6025 + quarantined 5" in err
    assert sorted(p.name for p in (tmp_path / "tables").iterdir()) == [
        "by_annotator.csv", "by_class.csv", "overall.csv"]
    assert pl.read_csv(tmp_path / "tables" / "overall.csv")["level"].to_list() == ["row", "judgment"]


def test_cli_json_on_stdout_and_estimate_without_gold(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    frame, _ = synthetic()
    path = tmp_path / "delivery.csv"
    frame.write_csv(path)
    code, out, err = run(capsys, "validate", path, "--claimed-accuracy", "0.9", "--n-boot", "100",
                         "--claim-level", "judgment", "--tables-out", tmp_path / "t", "--tables-format", "parquet")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["is_estimate"] is True and summary["claim_level"] == "judgment"
    assert "ESTIMATE, NO GOLD" in err
    assert (tmp_path / "t" / "bootstrap.parquet").exists()


def test_cli_plan(tmp_path, capsys):
    code, out, err = run(capsys, "validate", "--plan", "--claimed-accuracy", "0.96", "--margin", "0.02",
                         "--power", "0.8", "--tables-out", tmp_path)
    assert code == 0, err
    plan = json.loads(out)
    assert plan["plan"]["n"] == 825 and plan["acceptance_plan"]["n"] == 1001
    assert "check 825 gold answers" in err
    oc = pl.read_csv(tmp_path / "oc_curve.csv")
    assert {"accuracy", "p_accept"} <= set(oc.columns)


@pytest.mark.parametrize(("argv", "message"), [
    (["validate", "--claimed-accuracy", "0.9"], "give the delivery to check"),
    (["validate", "--plan", "x.csv", "--claimed-accuracy", "0.9"], "--plan takes no INPUT"),
    (["validate", "--plan", "--claimed-accuracy", "0.9", "--margin", "0"], "'margin' parameter of plan_audit"),
    (["validate", "x.csv", "--claimed-accuracy", "0.9", "-o", "r.csv"], "the report is JSON"),
])
def test_cli_errors(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("consensus validate: error: ")
    assert message in err


def test_cli_rejects_a_claim_that_is_not_a_share(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["validate", "--plan", "--claimed-accuracy", "96"])
    assert exc.value.code == 2
    assert "write e.g. 0.96 or 96%" in capsys.readouterr().err


def test_cli_checks_options_before_reading(tmp_path, capsys, monkeypatch):
    """A bad option is refused before the input is read: no quarantine file, no report, no tables."""
    monkeypatch.chdir(tmp_path)
    afile = tmp_path / "afile"
    afile.write_text("x")
    for extra, message in ((["--confidence", "1"], "'confidence' parameter of validate"),
                           (["--tables-out", afile], "is a file; give a folder")):
        code, _, err = run(capsys, "validate", DATASET / "judgments.csv", "--gold", DATASET / "gold.csv",
                           "--claimed-accuracy", "0.9", "-o", tmp_path / "bad.json", *extra)
        assert code == 2 and "Traceback" not in err and message in err.strip().splitlines()[-1], err
        assert "input rows" not in err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]
    code, _, err = run(capsys, "validate", "--plan", "--claimed-accuracy", "0.9", "-o", tmp_path / "p.json",
                       "--tables-out", afile)
    assert code == 2 and "is a file" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_gold_given_to_judgments_that_carry_gold_is_added():
    frame, gold = synthetic()
    judgments = consensus.read_judgments(frame, gold=gold.head(30))
    result = validate_claim(judgments, 0.8, gold=gold.slice(30), method="mv")
    assert result.summary["counts"]["gold_items"] == 60  # 30 carried + 30 given, none replaced
    assert (judgments.gold >= 0).sum() == 30  # the caller's Judgments is not modified
    same = validate_claim(frame, 0.8, gold=gold, method="mv")
    assert result.summary["verdict"] == same.summary["verdict"] and result.summary["n"] == same.summary["n"]
    clash = gold.head(1).with_columns(pl.when(pl.col("label") == "cat").then(pl.lit("dog"))
                                      .otherwise(pl.lit("cat")).alias("label"))
    with pytest.raises(consensus.InputError, match="has gold label .* in the gold given"):
        validate_claim(judgments, 0.8, gold=clash, method="mv")


def test_messages_show_the_given_levels_exactly():
    frame, gold = synthetic()
    message = validate_claim(frame, 0.8, gold=gold, method="mv", confidence=0.995).message
    assert "99.5% Wilson interval" in message and "100% Wilson" not in message
    from consensus.claims import plan_audit

    text = plan_audit(0.999, margin=0.0004).message
    assert "claimed 99.9%" in text and "if it is 99.86%" in text


def test_refuted_message_at_an_exact_tie_does_not_say_below(tmp_path, capsys):
    """0 of 1 right against a 95% claim: p = alpha exactly (1 - 0.95 in floating point), the test rejects
    and the one-sided upper bound equals the claim; the message must not call 95.0% 'below' 95.0%."""
    (tmp_path / "j.csv").write_text("item,worker,label\na,w1,x\na,w2,x\nb,w1,y\nb,w2,y\n")
    (tmp_path / "g.csv").write_text("item,label\na,y\n")
    code, _, err = run(capsys, "validate", str(tmp_path / "j.csv"), "--gold", str(tmp_path / "g.csv"),
                       "--claimed-accuracy", "0.95", "--method", "mv")
    assert code == 0
    line = next(x for x in err.splitlines() if x.startswith("validate: refuted"))
    assert "at most 95.0%, not above the claimed 95.0%" in line and "below" not in line
