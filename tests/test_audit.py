"""consensus audit: the whole run, its outputs, the report's escaping, the CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from consensus.audit import Progress, audit
from consensus.audit.instructions import confused_pairs, disputed_items, vote_matrix
from consensus.cli import main
from consensus.data import Judgments
from consensus.errors import ParameterError
from consensus.report import svg

SAMPLE = Path(__file__).resolve().parents[1] / "datasets" / "weather_sentiment_amt"
BOXES = Path(__file__).resolve().parents[1] / "datasets" / "boxes_sample" / "boxes.csv"
XSS = "<script>alert(1)</script>"


def _delivery(seed: int = 0, n_items: int = 80, n_workers: int = 12, per_item: int = 5) -> pl.DataFrame:
    """Five answers per item from mostly good annotators; one is a random clicker named like an attack."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n_items)
    rows = []
    names = [f"w{k}" for k in range(n_workers - 1)] + [XSS]
    for i in range(n_items):
        for w in rng.choice(n_workers, per_item, replace=False):
            good = w != n_workers - 1
            label = truth[i] if good and rng.random() < 0.85 else rng.integers(0, 3)
            rows.append((f"item-{i}", names[w], ["cat", "dog", "<b>bird</b>"][label], float(rng.lognormal(2, 0.5))))
    return pl.DataFrame(rows, schema=["item", "worker", "label", "duration"], orient="row")


@pytest.fixture(scope="module")
def delivery() -> pl.DataFrame:
    return _delivery()


@pytest.fixture(scope="module")
def gold(delivery: pl.DataFrame) -> pl.DataFrame:
    # the majority label of the first 30 items stands in for gold
    first = delivery.filter(pl.col("item").is_in([f"item-{i}" for i in range(30)]))
    return first.group_by("item").agg(pl.col("label").mode().sort().first()).sort("item")


@pytest.fixture(scope="module")
def result(delivery: pl.DataFrame, gold: pl.DataFrame):
    return audit(delivery, gold=gold, claimed_accuracy=0.9, seed=3)


def test_summary_has_every_headline(result) -> None:
    s = result.summary
    assert s["verdict"] in ("supported", "not_supported", "refuted")
    assert s["verdict"] == result.claim.verdict == s["claim"]["verdict"]
    assert s["rows"]["input"] == s["rows"]["used"] + s["rows"]["quarantined"]
    assert s["n_items"] == 80 and s["n_workers"] == 12
    for key in ("aggregation", "agreement", "fraud", "calibration", "redundancy", "instructions"):
        assert key in s, key
    assert s["aggregation"]["n_gold_items"] == 30
    assert 0.0 <= s["calibration"]["ece"] <= 1.0 and s["calibration"]["n"] == 30
    json.loads(result.to_json())  # strict JSON: no NaN


def test_claim_is_the_validation_of_the_audit_method(result, delivery, gold) -> None:
    """The audit's claim scores its own method's gold-free labels: the same as validate_claim alone."""
    from consensus.claims import validate_claim

    alone = validate_claim(delivery, 0.9, gold=gold, method="auto", random_state=3)
    assert result.claim.summary == alone.summary
    assert result.claim.summary["method"].startswith("auto (")


def test_calibration_is_scored_on_gold_of_a_gold_free_fit(result, gold) -> None:
    cal = result.calibration
    # gold items are clamped in the main fit (confidence 1); the calibration fit must not see gold
    assert cal["confidence"].max() <= 1.0 and cal["confidence"].size == gold.height
    assert np.isclose(cal["accuracy"], cal["correct"].mean())


def test_write_creates_report_summary_and_readable_tables(result, tmp_path: Path) -> None:
    written = result.write(tmp_path / "out")
    assert (tmp_path / "out" / "report.html").is_file()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["verdict"] == result.verdict
    tables = sorted(p.stem for p in (tmp_path / "out" / "tables").glob("*.parquet"))
    assert {"items", "workers", "confusion", "fraud_workers", "advice", "claim_overall",
            "disputed_items", "confused_pairs"} <= set(tables)
    assert len(written) == 2 + len(tables)
    items = pl.read_parquet(tmp_path / "out" / "tables" / "items.parquet")
    assert items.height == 80 and items.equals(result.items)


def test_report_escapes_vendor_strings(result) -> None:
    from consensus.report.html import render_report

    page = render_report(result)
    assert XSS not in page and "<b>bird</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;bird&lt;/b&gt;" in page
    assert page.count("<script>") == 1  # only the report's own
    assert "Content-Security-Policy" in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    verdict_at = page.index('id="verdict"')
    assert verdict_at < page.index('id="annotators"') < page.index('id="instructions"')


def test_without_claim_there_is_no_verdict(delivery) -> None:
    result = audit(delivery, redundancy=False, fraud=False)
    assert result.verdict is None and result.summary["verdict"] is None
    assert result.claim is None and result.summary["calibration"] is None and result.summary["claim"] is None
    assert 0.0 < result.summary["aggregation"]["estimated_accuracy"] <= 1.0


def test_same_seed_same_outputs(delivery, gold, tmp_path: Path) -> None:
    a = audit(delivery, gold=gold, claimed_accuracy=0.9, seed=5)
    b = audit(delivery, gold=gold, claimed_accuracy=0.9, seed=5)
    assert a.summary == b.summary
    assert a.items.equals(b.items) and a.workers.equals(b.workers)
    a.write(tmp_path / "a")
    b.write(tmp_path / "b")
    for name in ("summary.json", "report.html"):  # byte for byte: no clock in the outputs
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_bad_parameters_are_named() -> None:
    with pytest.raises(ParameterError, match="method"):
        audit(_delivery(n_items=5), method="nope")
    with pytest.raises(ParameterError, match="claimed_accuracy"):
        audit(_delivery(n_items=5), claimed_accuracy=1.5)
    # without a claim the claim's options are still checked (a --confidence 1.5 typo passed in silence)
    with pytest.raises(ParameterError, match="'confidence' parameter of audit"):
        audit(_delivery(n_items=5), confidence=1.5)
    with pytest.raises(ParameterError, match="'margin' parameter of audit"):
        audit(_delivery(n_items=5), margin=-0.1)


# --- instructions --------------------------------------------------------------------------
def test_confused_pairs_against_a_hand_count() -> None:
    counts = np.zeros((2, 3, 3))
    counts[0] = [[8, 2, 0], [1, 9, 0], [0, 0, 10]]
    counts[1] = [[5, 0, 0], [3, 2, 0], [0, 4, 6]]
    table = confused_pairs(counts, ["a", "b", "c"])
    first = table.row(0, named=True)
    # a<->b: (2 + 0) + (1 + 3) = 6 of rows a (15) + b (15); b<->c: 4 of 15 + 20; a<->c: none
    assert (first["class_a"], first["class_b"]) == ("a", "b")
    assert first["a_as_b"] == 2 and first["b_as_a"] == 4 and np.isclose(first["share"], 6 / 30)
    assert table.height == 2 and np.isclose(table["share"][1], 4 / 35)


def test_disputed_items_rank_by_vote_entropy() -> None:
    item = np.array([0, 0, 0, 1, 1, 1, 2, 2, 3])
    worker = np.array([0, 1, 2, 0, 1, 2, 0, 1, 0])
    label = np.array([0, 0, 0, 0, 1, 2, 0, 1, 1])
    j = Judgments.from_codes(item, worker, label, n_classes=3)
    votes = vote_matrix(j)
    assert votes.tolist() == [[3, 0, 0], [1, 1, 1], [1, 1, 0], [0, 1, 0]]
    labels = pl.Series(["0", "0", "0", "1"])
    table = disputed_items(j, labels, np.array([1.0, 0.4, 0.6, 1.0]))
    assert table["item"].to_list() == [1, 2]  # unanimous and single-answer items are not disputed
    assert table["votes"][0] == "0: 1, 1: 1, 2: 1" and np.isclose(table["disagreement"][0], 1.0)
    assert np.isclose(table["disagreement"][1], np.log(2) / np.log(3))


# --- progress and plots ------------------------------------------------------------------
class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_on_a_terminal_only() -> None:
    tty, pipe = _Tty(), io.StringIO()
    for stream in (tty, pipe):
        progress = Progress(2, stream=stream)
        with progress.step("one"):
            pass
        with progress.step("two"):
            pass
        progress.close()
    assert "2/2" in tty.getvalue() and "#" in tty.getvalue()
    assert pipe.getvalue() == ""
    quiet = _Tty()
    progress = Progress(1, enabled=False, stream=quiet)
    with progress.step("x"):
        pass
    assert quiet.getvalue() == "" and set(progress.timings) == {"x"}


def test_svg_plots_escape_and_handle_empty_data() -> None:
    assert "no data" in svg.histogram(np.array([np.nan]), title="t", x_label="x")
    heat = svg.heatmap(np.eye(2), [XSS, "b"], ["a", "b"], title="t", row_title="r", col_title="c")
    assert XSS not in heat and "&lt;script&gt;" in heat
    hist = svg.histogram(np.array([1.0, 2.0, 4.0]), title=XSS, x_label="x", markers=[(2.0, "floor")], log_x=True)
    assert XSS not in hist and "floor" in hist
    cal = svg.calibration_plot(np.array([0.95, 0.95, 0.55]), np.array([1, 1, 0]), title="c")
    assert cal.count("<circle") == 2


# --- CLI ----------------------------------------------------------------------------------
def test_cli_audits_the_bundled_sample(tmp_path: Path, capsys) -> None:
    out = tmp_path / "audit"
    code = main(["audit", str(SAMPLE / "judgments.csv"), "--gold", str(SAMPLE / "gold_sample.csv"),
                 "--claimed-accuracy", "0.96", "--boxes", str(BOXES), "-o", str(out)])
    assert code == 0
    err = capsys.readouterr().err
    assert "input rows 6030 = used 6025 + quarantined 5" in err and "audit: claim 96.00%" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verdict"] in ("supported", "not_supported", "refuted")
    assert summary["claim"]["n"] == 100  # the 100-item gold sample
    assert (out / "report.html").stat().st_size > 10_000
    assert (out / "quarantine.csv").is_file()
    boxes = summary["boxes"]
    assert boxes["n_images"] == 30 and boxes["box_records"] == boxes["used_rows"] + boxes["quarantined_rows"]
    assert "input rows 1408 = used" in err
    for name in ("boxes", "box_images", "box_workers"):
        assert pl.read_parquet(out / "tables" / f"{name}.parquet").height > 0
    assert 'id="boxes"' in (out / "report.html").read_text()


def test_cli_quiet_prints_nothing(tmp_path: Path, capsys) -> None:
    frame = _delivery(n_items=20)
    path = tmp_path / "d.csv"
    frame.write_csv(path)
    assert main(["audit", str(path), "-o", str(tmp_path / "o"), "--quiet", "--no-redundancy"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["verdict"] is None
    # quiet is about the terminal: the unused rows are still written where the audit puts them
    pl.concat([frame, frame.head(2)]).write_csv(path)
    assert main(["audit", str(path), "-o", str(tmp_path / "q"), "--quiet", "--no-redundancy"]) == 0
    assert capsys.readouterr().err == ""
    assert pl.read_csv(tmp_path / "q" / "quarantine.csv").height == 2


def test_cli_errors_are_one_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "d.csv"
    _delivery(n_items=10).write_csv(path)
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert main(["audit", str(path), "-o", str(blocker)]) == 2
    assert "it is a file" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("item,worker\n1,2\n")
    assert main(["audit", str(bad), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.csv" in err and "Traceback" not in err


def test_audit_runs_to_the_end_when_every_annotator_is_flagged(tmp_path, capsys) -> None:
    """Three pairs of annotators copying each other: all six flagged; the audit still writes its report."""
    rng = np.random.default_rng(7)
    rows = []
    for i in range(200):
        truth = rng.integers(3)
        answers = [truth if rng.random() < 0.7 else rng.integers(3) for _ in range(3)]
        for pair, answer in enumerate(answers):
            rows += [(f"i{i}", f"w{2 * pair}", f"c{answer}"), (f"i{i}", f"w{2 * pair + 1}", f"c{answer}")]
    frame = pl.DataFrame(rows, schema=["item", "worker", "label"], orient="row")
    result = audit(frame)
    assert result.fraud.flagged_mask.all()
    assert sum(result.summary["redundancy"]["actions"].values()) == 200
    path = tmp_path / "copies.csv"
    frame.write_csv(path)
    assert main(["redundancy", str(path), "--exclude-flagged", "-o", str(tmp_path / "a.csv")]) == 2
    assert "flag every annotator" in capsys.readouterr().err


def test_disputed_item_without_a_label_shows_no_confidence() -> None:
    """An item whose answers are mostly n/a has no label: the instructions table shows none, not 0%."""
    rows = [("q", w, lab) for w, lab in zip("abcdefg", ["cat", "dog", "cat", "n/a", "n/a", "n/a", "n/a"])]
    rows += [(f"i{k}", w, "cat" if k % 2 else "dog") for k in range(20) for w in "abc"]
    result = audit(pl.DataFrame(rows, schema=["item", "worker", "label"], orient="row"), fraud=False,
                   redundancy=False)
    row = result.disputed_items.filter(pl.col("item") == "q").row(0, named=True)
    assert row["label"] is None and row["confidence"] is None
    from consensus.report.html import render_report

    assert "none (mostly n/a)" in render_report(result)


def test_bad_option_stops_the_cli_before_anything_is_written(tmp_path, capsys) -> None:
    out = tmp_path / "o"
    assert main(["audit", str(SAMPLE / "judgments.csv"), "--target", "2", "-o", str(out)]) == 2
    assert "'target' parameter of audit" in capsys.readouterr().err and not out.exists()


def test_report_shows_small_p_values_in_significant_digits():
    from consensus.report.html import _p

    assert [_p(v) for v in (1.08e-05, 0.00099, 0.001, 0.5, 0.0, None, float("nan"))] == [
        "1.08e-05", "0.00099", "0.0010", "0.5000", "< 1e-300", "n/a", "n/a"]


def test_gold_items_answered_only_n_a_leave_the_calibration_unscored(delivery, tmp_path, capsys) -> None:
    """Every gold item's answers are n/a: no ECE to print (was a TypeError from the CLI), the report says why."""
    gold_items = ["item-0", "item-1"]
    frame = delivery.with_columns(
        pl.when(pl.col("item").is_in(gold_items)).then(pl.lit("n/a")).otherwise(pl.col("label")).alias("label"))
    path, gold_path = tmp_path / "d.csv", tmp_path / "g.csv"
    frame.write_csv(path)
    pl.DataFrame({"item": gold_items, "label": ["cat", "dog"]}).write_csv(gold_path)
    assert main(["audit", str(path), "--gold", str(gold_path), "-o", str(tmp_path / "out"), "--no-fraud",
                 "--no-redundancy"]) == 0
    assert "ECE n/a (no gold item has a label to score)" in capsys.readouterr().err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["calibration"]["n"] == 0 and summary["calibration"]["ece"] is None
    assert "No gold item has a label to score" in (tmp_path / "out" / "report.html").read_text()


def test_a_second_audit_into_the_same_folder_leaves_nothing_of_the_first(delivery, gold, tmp_path, capsys) -> None:
    """Tables and the quarantine file of an earlier run (other sections, quarantined rows) are not left behind."""
    first = tmp_path / "first.csv"
    pl.concat([delivery, pl.DataFrame({"item": [None], "worker": ["w0"], "label": ["cat"], "duration": [1.0]},
                                      schema=delivery.schema)]).write_csv(first)
    gold_path = tmp_path / "gold.csv"
    gold.write_csv(gold_path)
    out = tmp_path / "out"
    assert main(["audit", str(first), "--gold", str(gold_path), "--claimed-accuracy", "0.9", "-o", str(out),
                 "--quiet"]) == 0
    assert (out / "quarantine.csv").exists() and (out / "tables" / "claim_overall.parquet").exists()
    second = tmp_path / "second.csv"
    delivery.write_csv(second)
    assert main(["audit", str(second), "-o", str(out), "--quiet", "--no-fraud", "--no-redundancy"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"]["quarantined"] == 0
    assert not (out / "quarantine.csv").exists()
    names = {p.stem for p in (out / "tables").glob("*.parquet")}
    assert names == {"items", "workers", "confusion", "agreement_items", "agreement_pairs", "confused_pairs",
                     "disputed_items"}


def test_report_shows_zero_second_judgments_and_isolates_bidi_controls() -> None:
    """0 s durations were left off the log-scale histogram; a right-to-left override in an id reordered the text."""
    from consensus.report.html import render_report

    frame = _delivery(seed=1).with_columns(
        pl.when(pl.col("worker") == "w0").then(0.0).otherwise(pl.col("duration")).alias("duration"),
        pl.when(pl.col("worker") == "w1").then(pl.lit("\u202eab1")).otherwise(pl.col("worker")).alias("worker"))
    n_zero = frame.filter(pl.col("duration") == 0).height
    page = render_report(audit(frame, seed=0))
    assert f"{n_zero:,} judgments under 0.01 s (0 s included) are drawn at 0.01 s" in page
    from consensus.report.html import _zero_note

    assert _zero_note(np.array([False, True, False])) == " 1 judgment under 0.01 s (0 s included) is drawn at 0.01 s."
    assert _zero_note(np.zeros(3, dtype=bool)) == ""
    assert "\u202e" not in page and "\\u202eab1" in page


def test_report_warns_when_no_item_has_two_answers(tmp_path) -> None:
    from consensus.report.html import render_report

    frame = pl.DataFrame({"item": [f"i{k}" for k in range(30)], "worker": ["solo"] * 30,
                          "label": ["a", "b"] * 15})
    page = render_report(audit(frame, claimed_accuracy=0.9, seed=0))
    assert "No item has two answers" in page
    assert "No item has two answers" not in render_report(audit(_delivery(seed=2), seed=0))


def test_report_states_the_claim_exactly_and_counts_unlabelled_gold_rows(delivery) -> None:
    from consensus.report.html import _pct_exact, render_report

    assert [_pct_exact(v) for v in (0.96, 0.9995, 0.5, 1.0)] == ["96%", "99.95%", "50%", "100%"]
    gold_items = ["item-0", "item-1", "item-2"]
    frame = delivery.with_columns(
        pl.when(pl.col("item").is_in(gold_items)).then(pl.lit("n/a")).otherwise(pl.col("label")).alias("label"))
    gold = pl.DataFrame({"item": gold_items + ["item-5"], "label": ["cat", "dog", "cat", "cat"]})
    page = render_report(audit(frame, gold=gold, claimed_accuracy=0.9995, seed=0))
    assert "Claim of 99.95% accuracy" in page
    assert "3 gold-checked rows had no label" in page


def test_svg_log_axis_and_heatmap_labels_stay_readable() -> None:
    hist = svg.histogram(np.linspace(12, 60, 50), title="t", x_label="s", log_x=True)
    assert ">20<" in hist and ">50<" in hist  # 1-2-5 ticks where no power of ten falls in range
    alike = svg._short_distinct(["question_about_A_answer_yes", "question_about_B_answer_yes"])
    assert len(set(alike)) == 2  # head and tail alike too: numbered
    names = ["positive_sentiment_strong", "positive_sentiment_weak"]
    heat = svg.heatmap(np.array([[0.9, 0.1], [np.nan, np.nan]]), names, names, title="t", row_title="r",
                       col_title="c")
    assert "positiv…t_strong" in heat and "positiv…ent_weak" in heat and "no data" in heat and "nan" not in heat



def test_summary_has_every_key_even_for_steps_that_did_not_run(delivery) -> None:
    """Without gold, claim, boxes, fraud and redundancy the keys were missing (d['calibration'] raised KeyError)."""
    summary = audit(delivery, fraud=False, redundancy=False, seed=0).summary
    for key in ("verdict", "claim", "fraud", "calibration", "redundancy", "boxes", "instructions"):
        assert key in summary
    assert summary["claim"] is None and summary["calibration"] is None and summary["boxes"] is None
    assert summary["fraud"] is None and summary["redundancy"] is None


def test_gold_free_verdict_is_marked_and_disputed_items_come_from_the_gold_free_fit(delivery, gold) -> None:
    estimate = audit(delivery, claimed_accuracy=0.5, fraud=False, redundancy=False, seed=0)
    assert estimate.summary["verdict_basis"] == "estimate"
    from consensus.report.html import render_report

    assert "(estimate, no gold)" in render_report(estimate)
    with_gold = audit(delivery, gold=gold, claimed_accuracy=0.5, fraud=False, redundancy=False, seed=0)
    assert with_gold.summary["verdict_basis"] == "gold"
    # gold items are clamped in the main fit (confidence 1); the disputed list shows the gold-free fit
    gold_items = set(gold["item"].to_list())
    shown = with_gold.disputed_items.filter(pl.col("item").is_in(gold_items))
    assert shown.height and (shown["confidence"] < 1.0).all()
