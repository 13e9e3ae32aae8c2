"""``consensus redundancy``: outputs, accounting, importance column, model probabilities, exit codes."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from consensus.cli import main
from cli_helpers import run


def _delivery(n_items=60, per_item=3, n_workers=8, seed=0, importance=False):
    rng = np.random.default_rng(seed)
    lines = ["item,worker,label" + (",importance" if importance else "")]
    for i in range(n_items):
        truth = ["cat", "dog"][i % 2]
        for w in rng.choice(n_workers, per_item, replace=False):
            answer = truth if rng.random() < 0.8 else ("dog" if truth == "cat" else "cat")
            extra = ""
            if importance:
                extra = "," + ("critical" if i < 5 else ("2" if i < 10 else ""))
            lines.append(f"it{i},w{w},{answer}{extra}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def delivery(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "judgments.csv"
    path.write_text(_delivery() + "it0,w9,\nit1,,cat\n", encoding="utf-8")  # one n/a, one quarantined row
    return path


def assert_clean_error(code, err, *parts):
    assert code == 2
    assert "Traceback" not in err
    last = [line for line in err.splitlines() if line.strip()][-1]
    assert last.startswith("consensus redundancy: error: "), err
    for part in parts:
        assert part in last, (part, last)


def test_writes_advice_budget_and_summary(capsys, delivery, tmp_path):
    out = tmp_path / "advice.csv"
    code, stdout, err = run(capsys, "redundancy", delivery, "--target", "0.9", "--max-labels", "6",
                            "--price-per-label", "0.25", "-o", out, "--budget-out", tmp_path / "budget.csv",
                            "--summary-out", tmp_path / "budget.json")
    assert code == 0, err
    assert stdout == ""
    assert "input rows 182 = used 181 + quarantined 1" in err
    assert "quarantined rows written to" in err
    advice = pl.read_csv(out)
    assert advice.height == 60
    assert {"item", "label", "confidence", "target", "extra_labels", "expected_extra_labels", "p_reach_target",
            "action", "reason"} <= set(advice.columns)
    assert set(advice["action"].unique()) <= {"accept", "label_more", "expert_review", "accept_model"}
    summary = json.loads((tmp_path / "budget.json").read_text())
    assert summary["params"]["target"] == 0.9
    assert summary["params"]["max_labels"] == 6
    assert sum(summary["actions"].values()) == 60
    assert f"advice: 60 items: {summary['actions']['accept']} accept" in err
    budget = pl.read_csv(tmp_path / "budget.csv")
    assert budget.filter(pl.col("scheme") == "fixed k=3")["cost"][0] == pytest.approx(60 * 3 * 0.25)


def test_calibration_options(capsys, delivery, tmp_path):
    summaries = {}
    for name, argv in (("given", ["--rho", "0.25"]), ("model", ["--calibration", "model"])):
        path = tmp_path / f"{name}.json"
        code, _, err = run(capsys, "redundancy", delivery, "--method", "ds", "--summary-out", path, *argv)
        assert code == 0, err
        summaries[name] = json.loads(path.read_text())["params"]
    assert summaries["given"]["calibration"] == "per_item"
    assert summaries["given"]["rho"] == 0.25 and summaries["given"]["rho_source"] == "given"
    assert summaries["model"]["calibration"] == "model" and summaries["model"]["rho"] is None


def test_stdout_when_no_output(capsys, delivery):
    code, stdout, err = run(capsys, "redundancy", delivery)
    assert code == 0, err
    assert stdout.splitlines()[0].startswith("item,label,confidence")
    assert len(stdout.splitlines()) == 61


def test_importance_column(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "judgments.csv"
    path.write_text(_delivery(importance=True))
    code, _, err = run(capsys, "redundancy", path, "--importance-col", "importance", "-o", tmp_path / "a.csv")
    assert code == 0, err
    advice = pl.read_csv(tmp_path / "a.csv", schema_overrides={"item": pl.String})
    by_item = dict(zip(advice["item"], advice["target"]))
    assert by_item["it0"] == pytest.approx(1 - 0.05 / 10)
    assert by_item["it7"] == pytest.approx(1 - 0.05 / 2)
    assert by_item["it20"] == pytest.approx(0.95)


def test_bad_importance_names_file_row_and_column(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "judgments.csv"
    path.write_text("item,worker,label,importance\na,x,cat,1\na,y,cat,0.5\nb,x,dog,urgent\n")
    code, _, err = run(capsys, "redundancy", path, "--importance-col", "importance")
    assert_clean_error(code, err, "judgments.csv", "column 'importance'", "rows 2, 3", "number >= 1")
    code, _, err = run(capsys, "redundancy", path, "--importance-col", "weight")
    assert_clean_error(code, err, "importance column 'weight' not found")


def test_model_probs(capsys, delivery, tmp_path):
    probs = tmp_path / "model.csv"
    rows = ["item,cat,dog"] + [f"it{i},{0.97 if i % 2 == 0 else 0.03},{0.03 if i % 2 == 0 else 0.97}"
                               for i in range(60)] + ["unknown,0.5,0.5"]
    probs.write_text("\n".join(rows) + "\n")
    code, _, err = run(capsys, "redundancy", delivery, "--model-probs", probs, "-o", tmp_path / "a.csv")
    assert code == 0, err
    assert "model rows 61 = used 60 + quarantined 1" in err
    assert (tmp_path / "model.quarantine.csv").exists()
    advice = pl.read_csv(tmp_path / "a.csv")
    assert "model_label" in advice.columns
    assert (advice["action"] == "accept_model").sum() > 0


def test_bad_model_probs_is_one_line(capsys, delivery, tmp_path):
    probs = tmp_path / "model.csv"
    probs.write_text("item,cat,dog\nit0,0.7,0.7\n")
    code, _, err = run(capsys, "redundancy", delivery, "--model-probs", probs)
    assert_clean_error(code, err, "model.csv", "row 1", "sum to 1")


@pytest.mark.parametrize(("argv", "part"), [
    (["--target", "1.5"], "'target' parameter"),
    (["--max-labels", "0"], "'max_labels' parameter"),
    (["-o", "advice.xlsx"], "unknown output extension"),
    (["--summary-out", "s.csv"], "must be a .json file"),
    (["--rho", "2"], "'rho' parameter"),
])
def test_bad_parameters(capsys, delivery, argv, part):
    code, _, err = run(capsys, "redundancy", delivery, *argv)
    assert_clean_error(code, err, part)


def test_missing_input(capsys, tmp_path):
    code, _, err = run(capsys, "redundancy", tmp_path / "nope.csv")
    assert_clean_error(code, err, "nope.csv", "file not found")


def test_listed_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "redundancy" in capsys.readouterr().out
