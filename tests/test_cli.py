"""The ``consensus`` command line: outputs, accounting, quarantine file, exit codes and messages."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from consensus import __version__
from consensus.cli import main
import cli_helpers
from cli_helpers import run

DATA = Path(__file__).parent / "data"
MTURK = DATA / "mturk_batch_sentiment.csv"

JUDGMENTS = (
    "item,worker,label,duration\n"
    "007,0042,cat,3.5\n007,042,cat,4\n007,42,dog,2\n"
    "010,0042,dog,5\n010,042,dog,1\n010,42,n/a,2\n"
    "7,0042,cat,1\n7,042,bird,2\n7,42,,3\n"
)
ITEM_COLUMNS = ["item", "label", "confidence", "n_labels", "n_na", "status"]


@pytest.fixture
def judgments(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a default quarantine file must land in a scratch folder
    path = tmp_path / "judgments.csv"
    path.write_text(JUDGMENTS, encoding="utf-8")
    return path


def assert_clean_error(code, err, *parts, alone=True):
    """Exit 2 and one error line of ``consensus aggregate`` (the only stderr line unless ``alone`` is False)."""
    cli_helpers.assert_clean_error(code, err, "aggregate", *parts, alone=alone)


def read_any(path):
    suffix = Path(path).suffix
    if suffix == ".csv":
        return pl.read_csv(path, infer_schema=False)
    if suffix == ".tsv":
        return pl.read_csv(path, separator="\t", infer_schema=False)
    if suffix == ".parquet":
        return pl.read_parquet(path)
    if suffix == ".jsonl":
        return pl.DataFrame([json.loads(line) for line in Path(path).read_text().splitlines()])
    return pl.DataFrame(json.loads(Path(path).read_text()))


# -- help and version -------------------------------------------------------------------------

def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"consensus {__version__}"


def test_aggregate_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["aggregate", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--item-col", "--worker-col", "--label-col", "--duration-col", "--gold",
                   "--na-label", "--no-na", "--classes", "--duplicates", "--quarantine-out",
                   "--method", "-o", "--workers-out", "--confusion-out"):
        assert option in out


def test_no_command_prints_help(capsys):
    code, out, err = run(capsys)
    assert code == 2 and "aggregate" in err


@pytest.mark.parametrize("argv", [["aggregate"], ["aggregate", "x.csv", "--method", "em"],
                                  ["aggregate", "x.csv", "--no-na", "--na-label", "skip"]])
def test_bad_arguments_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


# -- outputs ----------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["mv", "ds"])
def test_item_table_on_stdout(capsys, judgments, method):
    code, out, err = run(capsys, "aggregate", judgments, "--method", method)
    assert code == 0, err
    table = pl.read_csv(out.encode(), infer_schema=False)
    assert table.columns[:6] == ITEM_COLUMNS
    assert [c for c in table.columns if c.startswith("p_")] == ["p_bird", "p_cat", "p_dog"]
    assert table.columns[-3:] == ["p_bird", "p_cat", "p_dog"]
    assert table["item"].to_list() == ["007", "010", "7"]
    assert table["n_na"].to_list() == ["0", "1", "1"]
    assert "input rows 9 = used 9 + quarantined 0" in err
    assert not list(judgments.parent.glob("*.quarantine.csv"))


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".json", ".jsonl"])
def test_output_formats(capsys, judgments, tmp_path, suffix):
    out = tmp_path / "out" / f"items{suffix}"  # the folder is created
    code, stdout, err = run(capsys, "aggregate", judgments, "--method", "mv", "--tie-break", "first",
                            "-o", out)
    assert code == 0, err
    assert stdout == ""
    assert f"wrote {out} (3 items)" in err
    table = read_any(out)
    assert table.columns[:6] == ITEM_COLUMNS
    assert table.columns[-3:] == ["p_bird", "p_cat", "p_dog"]
    rows = {str(r["item"]): r for r in table.to_dicts()}
    assert set(rows) == {"007", "010", "7"}
    assert rows["007"]["label"] == "cat" and float(rows["007"]["confidence"]) == pytest.approx(2 / 3)
    assert rows["010"]["label"] == "dog" and str(rows["010"]["n_na"]) == "1"
    assert rows["7"]["status"] == "ok"


def test_workers_and_confusion_outputs(capsys, judgments, tmp_path):
    workers_out = tmp_path / "workers.parquet"
    confusion_out = tmp_path / "confusion.csv"
    code, _, err = run(capsys, "aggregate", judgments, "--method", "ds", "-o", tmp_path / "items.csv",
                       "--workers-out", workers_out, "--confusion-out", confusion_out)
    assert code == 0, err
    workers = pl.read_parquet(workers_out)
    classes = ["bird", "cat", "dog"]
    assert workers.columns == ["worker", "n_judgments", "n_na", "accuracy", "accuracy_lower", "accuracy_upper",
                               "spammer_score", "evidence", "rank"] + [
        f"conf_{t}_{g}" for t in classes for g in classes]
    assert workers["worker"].to_list() == ["0042", "042", "42"]
    assert workers["n_judgments"].to_list() == [3, 3, 3]
    assert workers["n_na"].to_list() == [0, 0, 2]
    for t in classes:
        row_sums = workers.select(pl.sum_horizontal([f"conf_{t}_{g}" for g in classes]))
        assert row_sums.to_series().to_list() == pytest.approx([1.0, 1.0, 1.0])
    confusion = pl.read_csv(confusion_out, infer_schema=False)
    assert confusion.columns == ["worker", "true", "given", "probability", "expected_count", "lower", "upper"]
    assert confusion.height == 3 * 3 * 3
    assert confusion["worker"].unique(maintain_order=True).to_list() == ["0042", "042", "42"]
    assert "wrote " + str(workers_out) + " (3 workers)" in err


def test_explicit_columns(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "renamed.tsv"
    path.write_text("q\twho\tsays\tlabel\na\tx\tcat\tZ\na\ty\tcat\tZ\nb\tx\tdog\tZ\n", encoding="utf-8")
    code, out, err = run(capsys, "aggregate", path, "--item-col", "q", "--worker-col", "who",
                         "--label-col", "says", "--method", "mv")
    assert code == 0, err
    table = pl.read_csv(out.encode(), infer_schema=False)
    assert table["label"].to_list() == ["cat", "dog"]
    code, _, err = run(capsys, "aggregate", path, "--item-col", "question")
    assert_clean_error(code, err, str(path), "'question'", "--item-col")


@pytest.mark.parametrize("flag", ["--item-col", "--worker-col", "--label-col", "--duration-col",
                                  "--start-col", "--submit-col", "--gold-col"])
def test_every_column_option_reaches_the_loader(capsys, judgments, flag):
    code, _, err = run(capsys, "aggregate", judgments, flag, "no_such_column")
    assert_clean_error(code, err, str(judgments), "'no_such_column'", flag, "its columns are")


def test_toloka_columns_named_on_the_command_line(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "aggregate", DATA / "toloka_results.tsv", "--method", "mv",
                         "--item-col", "ASSIGNMENT:task_id", "--worker-col", "ASSIGNMENT:worker_id",
                         "--label-col", "OUTPUT:result", "--gold-col", "GOLDEN:result",
                         "--start-col", "ASSIGNMENT:started", "--submit-col", "ASSIGNMENT:submitted")
    assert code == 0, err
    table = pl.read_csv(out.encode(), infer_schema=False)
    assert table.height == 6 and table["item"].str.starts_with("0000").all()
    assert table["gold"].drop_nulls().len() == 2
    assert "gold rows 6 = used 6 + quarantined 0" in err


def test_several_input_files(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines = JUDGMENTS.splitlines()
    (tmp_path / "a.csv").write_text("\n".join(lines[:5]) + "\n", encoding="utf-8")
    (tmp_path / "b.tsv").write_text("\n".join(line.replace(",", "\t") for line in [lines[0], *lines[5:]]) + "\n",
                                    encoding="utf-8")
    code, out, err = run(capsys, "aggregate", tmp_path / "a.csv", tmp_path / "b.tsv", "--method", "mv")
    assert code == 0, err
    assert "input rows 9 = used 9 + quarantined 0" in err
    assert pl.read_csv(out.encode(), infer_schema=False)["item"].to_list() == ["007", "010", "7"]


def test_glob_input(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parts = tmp_path / "parts"
    parts.mkdir()
    frame = pl.read_csv(JUDGMENTS.encode(), infer_schema=False)
    for k in range(3):
        frame.slice(3 * k, 3).write_parquet(parts / f"part-{k}.parquet")
    code, out, err = run(capsys, "aggregate", f"{parts}/*.parquet", "--method", "mv")
    assert code == 0, err
    assert "input rows 9 = used 9 + quarantined 0" in err
    assert pl.read_csv(out.encode(), infer_schema=False)["item"].to_list() == ["007", "010", "7"]


# -- accounting and quarantine ------------------------------------------------------------------

BAD = (
    "item,worker,label,duration\n"
    "a,x,cat,1\n,x,cat,1\na,y,cat,-4\na,z,bird,2\nb,x,dog,1\nb,x,dog,2\nb,y,dog,abc\nb,z,cat,1\n"
)


def test_quarantine_file_next_to_output(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "bad.csv"
    path.write_text(BAD, encoding="utf-8")
    out = tmp_path / "res" / "items.parquet"
    code, _, err = run(capsys, "aggregate", path, "--classes", "cat, dog", "--method", "mv", "-o", out)
    assert code == 0, err
    assert "input rows 8 = used 3 + quarantined 5" in err
    quarantine_path = tmp_path / "res" / "items.quarantine.csv"
    assert f"quarantined rows written to {quarantine_path}" in err
    q = pl.read_csv(quarantine_path, infer_schema=False)
    assert q.columns == ["source", "row", "item", "worker", "label", "reason"]
    assert q["row"].to_list() == ["2", "3", "4", "6", "7"]
    assert set(q["source"].to_list()) == {str(path)}
    assert q["reason"].null_count() == 0
    reasons = dict(zip(q["row"].to_list(), q["reason"].to_list(), strict=True))
    assert "missing item id" in reasons["2"]
    assert "negative duration" in reasons["3"]
    assert "'bird' is not a declared class" in reasons["4"]
    assert "duplicate judgment" in reasons["6"]
    assert "not a number" in reasons["7"]
    assert "  quarantined 1: missing item id (column 'item')" in err
    items = pl.read_parquet(out)
    assert items.columns[-2:] == ["p_cat", "p_dog"]


def test_quarantine_out_and_default_location(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "bad.csv"
    path.write_text(BAD, encoding="utf-8")
    target = tmp_path / "q" / "rejected.jsonl"
    code, _, err = run(capsys, "aggregate", path, "--method", "mv", "--quarantine-out", target)
    assert code == 0, err
    assert len(target.read_text().splitlines()) == 4  # bird is a class without --classes
    code, _, err = run(capsys, "aggregate", path, "--method", "mv")
    assert code == 0, err
    assert (tmp_path / "consensus.quarantine.csv").exists()


def test_gold_accounting_and_quarantine(capsys, judgments, tmp_path):
    gold = tmp_path / "gold.csv"
    gold.write_text("item,label\n007,cat\n999,dog\n", encoding="utf-8")
    out = tmp_path / "items.csv"
    code, _, err = run(capsys, "aggregate", judgments, "--gold", gold, "-o", out)
    assert code == 0, err
    assert "gold rows 2 = used 1 + quarantined 1" in err
    q = pl.read_csv(tmp_path / "items.quarantine.csv", infer_schema=False)
    assert q.select("source", "row", "item", "reason").rows() == [
        (str(gold), "2", "999", "gold item is not in the delivery")]
    items = pl.read_csv(out, infer_schema=False)
    assert items.filter(pl.col("item") == "007")["gold"].to_list() == ["cat"]


def test_na_options(capsys, judgments):
    code, out, err = run(capsys, "aggregate", judgments, "--method", "mv", "--na-label", "BIRD")
    assert code == 0, err
    table = pl.read_csv(out.encode(), infer_schema=False)
    assert [c for c in table.columns if c.startswith("p_")] == ["p_cat", "p_dog", "p_n/a"]
    assert table["n_na"].to_list() == ["0", "0", "1"]
    assert "quarantined 1" in err  # the empty answer is not n/a any more
    code, out, err = run(capsys, "aggregate", judgments, "--method", "mv", "--no-na")
    assert code == 0, err
    assert "input rows 9 = used 8 + quarantined 1" in err
    assert "empty answers are not n/a" in err


def test_every_item_mostly_na(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "na.csv"
    path.write_text("item,worker,label\na,x,cat\na,y,n/a\na,z,n/a\n", encoding="utf-8")
    code, out, err = run(capsys, "aggregate", path, "--method", "mv")
    assert code == 0, err
    assert "1 mostly n/a" in err and "mean confidence n/a" in err
    row = pl.read_csv(out.encode(), infer_schema=False).row(0, named=True)
    assert row["status"] == "mostly_na" and row["label"] is None


# -- errors: exit 2, one line, no traceback ---------------------------------------------------------

@pytest.mark.parametrize(("name", "content", "parts"), [
    ("empty.csv", "", ["empty.csv: file is empty"]),
    ("header.csv", "item,worker,label\n", ["header.csv: file has a header but no data rows"]),
    ("ragged.csv", "item,worker,label\na,x,cat\na,y\n", ["ragged.csv, row 2: ragged rows"]),
    ("cols.csv", "item,annotator_name,label\na,x,cat\n", ["cols.csv: no worker column found", "--worker-col"]),
    ("data.xls", "item,worker,label\na,x,cat\n", ["data.xls: unknown file type '.xls'"]),
    ("dups.csv", "item,worker,label\na,x,cat\na,x,dog\n", ["dups.csv, rows 1, 2:", "duplicate"]),
    ("allbad.csv", "item,worker,label\n,x,cat\n", ["allbad.csv: no usable judgments"]),
])
def test_input_errors(capsys, tmp_path, monkeypatch, name, content, parts):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    code, out, err = run(capsys, "aggregate", path, "--duplicates", "error", "-o", tmp_path / "o.csv")
    assert_clean_error(code, err, *parts)
    assert not (tmp_path / "o.csv").exists()


def test_gold_errors(capsys, judgments, tmp_path):
    unknown = tmp_path / "gold1.csv"
    unknown.write_text("item,label\n007,horse\n", encoding="utf-8")
    code, _, err = run(capsys, "aggregate", judgments, "--gold", unknown)
    assert_clean_error(code, err, f"{unknown}, column 'label', row 1:", "'horse'")
    conflict = tmp_path / "gold2.csv"
    conflict.write_text("item,label\n007,cat\n007,dog\n", encoding="utf-8")
    code, _, err = run(capsys, "aggregate", judgments, "--gold", conflict)
    assert_clean_error(code, err, f"{conflict}, column 'label', rows 1, 2:", "conflicting")
    code, _, err = run(capsys, "aggregate", judgments, "--gold", tmp_path / "missing.csv")
    assert_clean_error(code, err, "missing.csv: file not found")


def test_parameter_errors(capsys, judgments, tmp_path):
    code, _, err = run(capsys, "aggregate", judgments, "-o", tmp_path / "items.xlsx")
    assert_clean_error(code, err, "unknown output extension '.xlsx'")
    assert not list(tmp_path.glob("*.quarantine.csv"))
    code, _, err = run(capsys, "aggregate", judgments, "--workers-out", tmp_path / "w")
    assert_clean_error(code, err, "unknown output extension '(none)'")
    code, _, err = run(capsys, "aggregate", judgments, "--classes", "cat,,dog")
    assert_clean_error(code, err, "--classes", "empty class name")
    code, _, err = run(capsys, "aggregate", judgments, "--method", "ds", "--max-iter", "0")
    assert_clean_error(code, err, "max_iter", alone=False)  # found once the data is read


def test_unwritable_output(capsys, judgments, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    code, _, err = run(capsys, "aggregate", judgments, "-o", blocker / "items.csv")
    assert_clean_error(code, err, "is a file, not a folder")
    (tmp_path / "dir.csv").mkdir()
    code, _, err = run(capsys, "aggregate", judgments, "-o", tmp_path / "dir.csv")
    assert_clean_error(code, err, "is a directory")


# -- the installed executable -----------------------------------------------------------------------

def _executable():
    found = shutil.which("consensus")
    return [found] if found else [sys.executable, "-m", "consensus.cli"]


def test_installed_executable(tmp_path):
    version = subprocess.run([*_executable(), "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.strip() == f"consensus {__version__}"

    out = tmp_path / "items.json"
    done = subprocess.run([*_executable(), "aggregate", str(MTURK), "--method", "mv", "-o", str(out)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "input rows 15 = used 14 + quarantined 1" in done.stderr  # the rejected assignment
    assert len(json.loads(out.read_text())) == 5

    bad = subprocess.run([*_executable(), "aggregate", str(MTURK), "--label-col", "Answer.nope"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert bad.stderr.strip().count("\n") == 0
    assert "'Answer.nope'" in bad.stderr and "--label-col" in bad.stderr


def test_outputs_that_collide_or_replace_an_input_are_refused(tmp_path, capsys):
    """Two options naming one file lost the first table (the quarantine under -o, items under
    --workers-out), and -o naming the input replaced the delivery: now exit 2 before any work."""
    delivery = tmp_path / "d.csv"
    delivery.write_text("item,worker,label,duration\ni1,w1,a,5\ni1,w2,a,nan\ni2,w1,b,5\ni2,w2,b,5\n")
    before = delivery.read_text()
    for argv in (["-o", tmp_path / "out.csv", "--quarantine-out", tmp_path / "out.csv"],
                 ["-o", tmp_path / "items.csv", "--workers-out", tmp_path / "items.csv"],
                 ["-o", tmp_path / "q.csv", "--workers-out", tmp_path / "q.quarantine.csv"],  # the default quarantine
                 ["-o", delivery]):
        code, _, err = run(capsys, "aggregate", delivery, *argv)
        assert code == 2 and ("two outputs name it" in err or "is an input of this command" in err), err
    assert delivery.read_text() == before
    assert not (tmp_path / "items.csv").exists()
    code, _, err = run(capsys, "fraud", delivery, "-o", tmp_path / "w.csv", "--judgments-out", tmp_path / "w.csv")
    assert code == 2 and "two outputs name it" in err


def test_em_options_the_method_does_not_use_are_refused_not_ignored(tmp_path, capsys):
    """--max-iter 1 with the default auto ran to convergence (19 iterations) and --max-iter 0 passed."""
    delivery = tmp_path / "d.csv"
    rows = [f"i{i},w{w},{'ab'[(i + (w == 3)) % 2]}" for i in range(20) for w in range(4)]
    delivery.write_text("item,worker,label\n" + "\n".join(rows) + "\n")
    code, _, err = run(capsys, "aggregate", delivery, "--max-iter", "0", "--alpha", "-1", "-o", tmp_path / "x.csv")
    assert code == 2 and "--max-iter, --alpha: --method auto does not use them" in err
    assert "read " not in err and not (tmp_path / "x.csv").exists()  # refused before reading
    code, _, err = run(capsys, "aggregate", delivery, "--method", "glad", "--prior-accuracy", "0.9", "-o", tmp_path / "x.csv")
    assert code == 2 and "methods that do: ds" in err
    code, _, err = run(capsys, "aggregate", delivery, "--method", "ds", "--max-iter", "2", "-o", tmp_path / "x.csv")
    assert code == 0 and "after 2 iterations" in err


def test_auto_and_calibration_options_are_refused_where_unused_and_ranges_checked_before_reading(tmp_path, capsys):
    """--max-overturn with mv/ds and --calibration with mv were ignored; --seed -1 wrote the quarantine first."""
    delivery = tmp_path / "d.csv"
    rows = [f"i{i},w{w},{'ab'[(i + (w == 3)) % 2]}" for i in range(20) for w in range(4)]
    delivery.write_text("item,worker,label\n" + "\n".join(rows) + "\ni0,w0,a\n")  # a duplicate: a quarantine to write
    out = tmp_path / "x.csv"
    for argv, message in (
            (["--method", "mv", "--max-overturn", "0.1"], "--max-overturn: --method mv does not use it"),
            (["--method", "ds", "--max-overturn", "0.1"], "--max-overturn: --method ds does not use it"),
            (["--method", "wawa", "--calibration", "loo"], "--calibration: --method wawa does not use it"),
            (["--method", "auto", "--max-overturn", "1.5"], "'max_overturn' parameter of Auto"),
            (["--method", "mv", "--seed", "-1"], "'random_state' parameter of MajorityVote")):
        code, _, err = run(capsys, "aggregate", delivery, *argv, "-o", out)
        assert code == 2 and message in err, argv
        assert "read " not in err and not out.exists() and not (tmp_path / "x.quarantine.csv").exists()
    code, _, err = run(capsys, "aggregate", delivery, "--method", "auto", "--max-overturn", "0.05", "-o", out)
    assert code == 0 and "limit 5.00%" in err


@pytest.mark.parametrize("command", ["validate", "audit", "aggregate"])
def test_gold_that_matches_no_delivered_item_stops_the_command(tmp_path, capsys, command):
    """Gold ids with a prefix the delivery lacks: the audit fell back to a gold-free estimate with the opposite verdict."""
    delivery = tmp_path / "d.csv"
    rows = [f"i{i},w{w},{'ab'[(i + (w == 3)) % 2]}" for i in range(20) for w in range(4)]
    delivery.write_text("item,worker,label\n" + "\n".join(rows) + "\n")
    gold = tmp_path / "g.csv"
    gold.write_text("item,label\n" + "\n".join(f"T-i{i},a" for i in range(5)) + "\n")
    argv = {"validate": ["--claimed-accuracy", "0.9"], "audit": ["--claimed-accuracy", "0.9", "--no-fraud"],
            "aggregate": []}[command]
    out = tmp_path / {"audit": "out", "validate": "r.json", "aggregate": "x.csv"}[command]
    code, _, err = run(capsys, command, delivery, "--gold", gold, *argv, "-o", out)
    assert code == 2
    assert "no gold row is usable: all 5 were quarantined (mostly: gold item is not in the delivery, 5 rows)" in err
    assert "['T-i0', 'T-i1']" in err


def test_every_command_refuses_outputs_that_clash_or_replace_an_input(tmp_path, capsys):
    """agreement --json, redundancy --summary-out, validate -o, audit --quarantine-out could replace the input,
    and aggregate/redundancy wrote several tables to stdout one after another."""
    delivery = tmp_path / "d.csv"
    rows = [f"i{i},w{w},{'ab'[(i + (w == 3)) % 2]}" for i in range(20) for w in range(4)]
    delivery.write_text("item,worker,label\n" + "\n".join(rows) + "\n")
    before = delivery.read_text()
    gold = tmp_path / "g.csv"
    gold.write_text("item,label\ni0,a\ni1,b\n")
    d, j = str(delivery), str(tmp_path / "r.json")
    as_json = tmp_path / "d.json"
    pl.read_csv(delivery).write_json(as_json)
    json_before = as_json.read_text()
    cases = [
        (["agreement", str(as_json), "--json", str(as_json)], "it is an input"),
        (["agreement", d, "-o", j, "--json", j], "two outputs name it"),
        (["redundancy", d, "-o", str(tmp_path / "a.csv"), "--summary-out", j, "--budget-out", j], "two outputs name it"),
        (["validate", d, "--gold", str(gold), "--claimed-accuracy", "0.9", "-o", j, "--quarantine-out", j],
         "two outputs name it"),
        (["audit", d, "--no-fraud", "-o", str(tmp_path / "out"), "--quarantine-out", d], "it is an input"),
        (["aggregate", d, "--method", "mv", "--workers-out", "-", "--confusion-out", "-"], "only one output can go to stdout"),
        (["redundancy", d, "--budget-out", "-"], "only one output can go to stdout"),
    ]
    for argv, message in cases:
        code, _, err = run(capsys, *argv)
        assert code == 2 and message in err, (argv, err)
    assert delivery.read_text() == before and as_json.read_text() == json_before
