"""Platform exports as delivered: Amazon Mechanical Turk batch results and Toloka result TSVs.

Fixtures (tests/data, see SOURCE.md there):
- mturk_batch_sentiment.csv: a batch-results CSV with the full MTurk header and a
  single ``Answer.sentiment.label`` answer column;
- mturk_batch_sentiment_onehot.csv: the same HITs answered with crowd-html-elements
  radio buttons, exported one-hot as ``Answer.sentiment.<option>`` true/false;
- mturk_real_Batch_70890_result.csv: a real, unmodified MTurk export;
- toloka_results.tsv: a Toloka pool results TSV with two control (golden) tasks.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from consensus import InputError, MajorityVote, ParameterError, read_judgments
from consensus.cli import main

DATA = Path(__file__).parent / "data"
MTURK = DATA / "mturk_batch_sentiment.csv"
MTURK_ONEHOT = DATA / "mturk_batch_sentiment_onehot.csv"
MTURK_REAL = DATA / "mturk_real_Batch_70890_result.csv"
TOLOKA = DATA / "toloka_results.tsv"

MTURK_HEADER = [
    "HITId", "HITTypeId", "Title", "Description", "Keywords", "Reward", "CreationTime",
    "MaxAssignments", "RequesterAnnotation", "AssignmentDurationInSeconds",
    "AutoApprovalDelayInSeconds", "Expiration", "NumberOfSimilarHITs", "LifetimeInSeconds",
    "AssignmentId", "WorkerId", "AssignmentStatus", "AcceptTime", "SubmitTime", "AutoApprovalTime",
    "ApprovalTime", "RejectionTime", "RequesterFeedback", "WorkTimeInSeconds",
    "LifetimeApprovalRate", "Last30DaysApprovalRate", "Last7DaysApprovalRate", "Input.text",
]
# majority label per review text (the fifth review has one empty answer)
MTURK_TRUTH = {
    "The food was great, but the service was \"slow\".": ("positive", 3, 0),
    "Worst purchase I have ever made. Returned it the next day.": ("negative", 3, 0),
    "The package arrived on Tuesday.": ("neutral", 3, 0),
    "I love this phone; battery lasts two days!": ("positive", 3, 0),
    "It's fine, I guess. Nothing special.": ("neutral", 2, 1),
}


def raw_rows(path, delimiter=","):
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


def in_input_order(j, values):
    """Per-judgment values of the raw file, in the judgments' (item, worker) order."""
    return np.asarray(values, dtype=object)[j.input_row]


def mturk_epoch(text):
    local = dt.datetime.strptime(text.replace(" PDT ", " "), "%a %b %d %H:%M:%S %Y")
    return (local + dt.timedelta(hours=7)).replace(tzinfo=dt.timezone.utc).timestamp()


def labels_by_text(path, **kwargs):
    model = MajorityVote(tie_break="first").fit(read_judgments(path, **kwargs))
    rows = raw_rows(path)
    text_of = {r["HITId"]: r["Input.text"] for r in rows}
    return {text_of[r["item"]]: (r["label"], r["n_labels"], r["n_na"])
            for r in model.item_table().to_dicts()}


# -- Amazon Mechanical Turk ------------------------------------------------------------------

@pytest.mark.parametrize("path", [MTURK, MTURK_ONEHOT])
def test_mturk_fixture_has_the_real_layout(path):
    with open(path, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert header[:len(MTURK_HEADER)] == MTURK_HEADER
    assert header[-2:] == ["Approve", "Reject"]
    assert b"\r\n" in path.read_bytes()[:4000]  # MTurk writes CRLF, every field quoted


def test_mturk_batch_results_load():
    j = read_judgments(MTURK, rejected="keep")
    rows = raw_rows(MTURK)
    assert (j.n_input_rows, j.n_judgments, j.n_quarantined) == (15, 15, 0)
    assert j.item_ids.to_list() == sorted({r["HITId"] for r in rows})
    assert j.worker_ids.to_list() == sorted({r["WorkerId"] for r in rows})
    assert j.classes == ["negative", "neutral", "positive"]
    assert j.n_na_per_item.sum() == 1
    assert labels_by_text(MTURK, rejected="keep") == MTURK_TRUTH


def test_mturk_durations_come_from_work_time_in_seconds():
    j = read_judgments(MTURK)
    rows = raw_rows(MTURK)
    expected = in_input_order(j, [float(r["WorkTimeInSeconds"]) for r in rows])
    assert j.duration.tolist() == expected.tolist()
    submitted = in_input_order(j, [mturk_epoch(r["SubmitTime"]) for r in rows])
    assert j.submitted.tolist() == submitted.tolist()


def test_mturk_work_time_wins_over_accept_and_submit_times(tmp_path):
    # change WorkTimeInSeconds so it no longer equals SubmitTime - AcceptTime
    frame = pl.read_csv(MTURK, infer_schema=False).with_columns(
        (pl.col("WorkTimeInSeconds").cast(pl.Int64) * 10 + 1).cast(pl.String))
    path = tmp_path / "batch.csv"
    frame.write_csv(path, quote_style="always")
    j = read_judgments(path)
    expected = in_input_order(j, frame["WorkTimeInSeconds"].cast(pl.Float64).to_list())
    assert j.duration.tolist() == expected.tolist()
    # without the column, durations are SubmitTime - AcceptTime
    j = read_judgments(frame.drop("WorkTimeInSeconds"))
    rows = raw_rows(MTURK)
    expected = in_input_order(j, [mturk_epoch(r["SubmitTime"]) - mturk_epoch(r["AcceptTime"]) for r in rows])
    assert j.duration.tolist() == expected.tolist()


def test_mturk_one_hot_radio_buttons():
    j = read_judgments(MTURK_ONEHOT, rejected="keep")
    assert j.classes == ["negative", "neutral", "positive"]
    assert (j.n_judgments, j.n_quarantined) == (15, 0)
    assert labels_by_text(MTURK_ONEHOT, rejected="keep") == MTURK_TRUTH
    rows = raw_rows(MTURK_ONEHOT)
    assert j.duration.tolist() == in_input_order(j, [float(r["WorkTimeInSeconds"]) for r in rows]).tolist()
    # the group can also be named explicitly
    assert labels_by_text(MTURK_ONEHOT, label_col="Answer.sentiment", rejected="keep") == MTURK_TRUTH


def test_mturk_one_hot_with_several_options_ticked(tmp_path):
    frame = pl.read_csv(MTURK_ONEHOT, infer_schema=False)
    frame = frame.with_columns(pl.when(pl.int_range(pl.len()) == 2).then(pl.lit("true"))
                               .otherwise(pl.col("Answer.sentiment.negative")).alias("Answer.sentiment.negative"))
    path = tmp_path / "batch.csv"
    frame.write_csv(path)
    j = read_judgments(path, rejected="keep")
    assert j.quarantine.select("row", "reason").rows() == [
        (3, "several options chosen in the 'Answer.sentiment' group")]
    # the label shows the options as ticked, not an internal marker (a NUL byte leaked into the CSV)
    ticked = [c.split(".")[-1] for c in ("Answer.sentiment.negative", "Answer.sentiment.neutral",
                                          "Answer.sentiment.positive") if frame.row(2, named=True)[c] == "true"]
    assert j.quarantine.get_column("label").to_list() == [";".join(ticked)] and len(ticked) == 2


def test_mturk_real_export(capsys, tmp_path):
    """A real, unmodified batch download (many Answer.* columns, header longer than the rows)."""
    with pytest.raises(InputError) as info:
        read_judgments(MTURK_REAL)
    assert "several Answer.* columns" in str(info.value) and "--label-col" in str(info.value)

    j = read_judgments(MTURK_REAL, label_col="Answer.native_language", rejected="keep")
    rows = raw_rows(MTURK_REAL)
    assert len(rows) == 3
    assert (j.n_input_rows, j.n_judgments, j.n_quarantined) == (3, 3, 0)
    assert j.item_ids.to_list() == ["0ZEGYYS71YSZYMRBPZQZ", "N2MZWP94PWK2ZS0P09MZ"]
    assert j.classes == ["English", "Kannada", "urdu"]
    expected = in_input_order(j, [float(r["WorkTimeInSeconds"]) for r in rows])
    assert j.duration.tolist() == expected.tolist()
    assert sorted(j.duration.tolist()) == [1149.0, 1462.0, 15607.0]

    out = tmp_path / "items.csv"
    code = main(["aggregate", str(MTURK_REAL), "--label-col", "Answer.native_language", "--keep-rejected",
                 "--method", "mv", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "input rows 3 = used 3 + quarantined 0" in err
    items = pl.read_csv(out, infer_schema=False)
    assert items["item"].to_list() == ["0ZEGYYS71YSZYMRBPZQZ", "N2MZWP94PWK2ZS0P09MZ"]


def test_mturk_rejected_assignments_are_quarantined(tmp_path):
    """By default a rejected assignment is quarantined with its reason and row; --keep-rejected keeps it."""
    rows = raw_rows(MTURK)
    rejected = [k + 1 for k, r in enumerate(rows) if r["AssignmentStatus"] == "Rejected"]
    assert rejected  # the fixture has one
    j = read_judgments(MTURK)
    assert (j.n_input_rows, j.n_judgments, j.n_quarantined) == (15, 15 - len(rejected), len(rejected))
    assert j.quarantine.select("row", "reason").rows() == [
        (row, "assignment rejected by the requester (AssignmentStatus = Rejected)") for row in rejected]
    kept = read_judgments(MTURK, rejected="keep")
    assert kept.n_judgments == 15
    # the O(n) loader (integer ids in Parquet) defers to the general path for MTurk batches
    frame = pl.read_csv(MTURK, infer_schema=False).with_columns(
        pl.col("HITId").rank("dense").cast(pl.Int64), pl.col("WorkerId").rank("dense").cast(pl.Int64))
    frame.write_parquet(tmp_path / "batch.parquet")
    assert read_judgments(tmp_path / "batch.parquet").n_quarantined == len(rejected)
    with pytest.raises(ParameterError, match="'rejected'"):
        read_judgments(MTURK, rejected="drop")
    # the partitioned loader (--engine dask) quarantines the same rows
    from consensus.backends import LocalBackend
    from consensus.backends.loader import load_partitions

    assert load_partitions(LocalBackend(), str(MTURK)).accounting_line() == j.accounting_line()
    out = tmp_path / "items.csv"
    assert main(["aggregate", str(MTURK), "--method", "mv", "-o", str(out)]) == 0
    assert main(["aggregate", str(MTURK), "--method", "mv", "--keep-rejected", "-o", str(out)]) == 0
    # the partitioned engine always quarantines them: the flag is refused there, not ignored
    assert main(["aggregate", str(MTURK), "--engine", "dask", "--method", "ds", "--keep-rejected",
                 "-o", str(out)]) == 2


def test_mturk_ids_are_not_reformatted(tmp_path):
    # numeric-looking HIT and worker ids stay exactly as written
    rows = raw_rows(MTURK)
    frame = pl.read_csv(MTURK, infer_schema=False).with_columns(
        pl.col("HITId").replace({r["HITId"]: f"{k:05d}" for k, r in enumerate(rows)}),
        pl.col("WorkerId").replace({w: f"00{k}" for k, w in enumerate(sorted({r["WorkerId"] for r in rows}))}),
    )
    path = tmp_path / "batch.csv"
    frame.write_csv(path, quote_style="always")
    model = MajorityVote().fit(path)
    assert model.item_table()["item"].to_list() == sorted(set(frame["HITId"].to_list()))
    assert model.worker_table()["worker"].to_list() == ["000", "001", "002", "003", "004"]


# -- Toloka -------------------------------------------------------------------------------------

def test_toloka_results_load():
    j = read_judgments(TOLOKA)
    rows = raw_rows(TOLOKA, "\t")
    assert (j.n_input_rows, j.n_judgments, j.n_quarantined) == (18, 18, 0)
    assert j.item_ids.to_list() == sorted({r["INPUT:text"] for r in rows})      # INPUT:text
    assert j.worker_ids.to_list() == sorted({r["ASSIGNMENT:worker_id"] for r in rows})
    assert j.classes == ["neg", "neu", "pos"]                                     # OUTPUT:result


def test_toloka_durations_are_submitted_minus_started():
    j = read_judgments(TOLOKA)
    rows = raw_rows(TOLOKA, "\t")
    seconds = [(dt.datetime.fromisoformat(r["ASSIGNMENT:submitted"])
                - dt.datetime.fromisoformat(r["ASSIGNMENT:started"])).total_seconds() for r in rows]
    assert j.duration.tolist() == in_input_order(j, seconds).tolist()
    assert min(seconds) > 0 and any(s != round(s) for s in seconds)  # milliseconds kept


def test_toloka_gold_from_golden_rows_only():
    j = read_judgments(TOLOKA)
    rows = raw_rows(TOLOKA, "\t")
    golden = {r["INPUT:text"]: r["GOLDEN:result"] for r in rows if r["GOLDEN:result"]}
    assert len(golden) == 2
    expected = [j.classes.index(golden[i]) if i in golden else -1 for i in j.item_ids.to_list()]
    assert j.gold.tolist() == expected
    # every assignment of a control task repeats its GOLDEN answer: all used, none quarantined
    assert j.gold_accounting_line() == "gold rows 6 = used 6 + quarantined 0"


def test_toloka_explicit_columns():
    j = read_judgments(TOLOKA, item_col="ASSIGNMENT:task_id", worker_col="ASSIGNMENT:worker_id",
                       label_col="OUTPUT:result", gold_col="GOLDEN:result")
    assert j.n_items == 6 and all(i.startswith("0000") for i in j.item_ids.to_list())
    assert (j.gold >= 0).sum() == 2


def test_toloka_conflicting_golden_answers(tmp_path):
    frame = pl.read_csv(TOLOKA, separator="\t", infer_schema=False)
    golden_rows = np.flatnonzero(frame["GOLDEN:result"].is_not_null().to_numpy())
    frame = frame.with_columns(pl.when(pl.int_range(pl.len()) == int(golden_rows[1]))
                               .then(pl.lit("pos")).otherwise(pl.col("GOLDEN:result")).alias("GOLDEN:result"))
    path = tmp_path / "results.tsv"
    frame.write_csv(path, separator="\t")
    with pytest.raises(InputError) as info:
        read_judgments(path)
    message = str(info.value)
    assert message.startswith(f"{path}, column 'GOLDEN:result', rows {golden_rows[0] + 1}, {golden_rows[1] + 1}")
    assert "conflicting gold labels ['neg', 'pos']" in message and "\n" not in message


def test_toloka_cli_dawid_skene_with_gold(capsys, tmp_path):
    out = tmp_path / "items.parquet"
    code = main(["aggregate", str(TOLOKA), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "input rows 18 = used 18 + quarantined 0" in err
    assert "gold rows 6 = used 6 + quarantined 0" in err
    assert not (tmp_path / "items.quarantine.csv").exists()
    items = pl.read_parquet(out)
    assert items.columns[:6] == ["item", "label", "confidence", "n_labels", "n_na", "status"]
    gold = items.filter(pl.col("gold").is_not_null())
    assert gold.height == 2 and (gold["label"] == gold["gold"]).all()


def test_quarantined_labels_are_kept_as_written(tmp_path):
    """Only the several-options marker is removed from quarantined labels: a label ';x' stays ';x'."""
    path = tmp_path / "d.csv"
    path.write_text('item,worker,label\na,,;x\na,w1,cat\nb,w1,dog\n')
    j = read_judgments(path)
    assert j.quarantine.select("row", "label").rows() == [(1, ";x")]
