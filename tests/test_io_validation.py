"""Validation: n/a answers, bad rows quarantined with a reason, errors, exact row accounting."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consensus import InputError, MajorityVote, ParameterError, read_judgments
from consensus.io.judgments import DEFAULT_NA_LABELS


def csv_file(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def frame(rows, columns=("item", "worker", "label")):
    return pl.DataFrame(rows, schema={c: pl.String for c in columns}, orient="row")


def reasons(j):
    return dict(zip(j.quarantine["row"].to_list(), j.quarantine["reason"].to_list(), strict=True))


def assert_accounted(j):
    assert j.n_input_rows == j.n_judgments + j.n_quarantined
    assert j.accounting_line() == (
        f"input rows {j.n_input_rows} = used {j.n_judgments} + quarantined {j.n_quarantined}")


def assert_one_line(exc_info, *parts):
    message = str(exc_info.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, (part, message)


# -- n/a answers --------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["", "n/a", "N/A", "na", "NA", " na ", "cant_tell", "CANT_TELL",
                                   "can't tell", "Can't Tell", "cannot tell", "CANNOT TELL"])
def test_default_na_values_are_abstentions(value):
    j = read_judgments(frame([("a", "x", "cat"), ("a", "y", value), ("b", "x", "dog")]))
    assert j.classes == ["cat", "dog"]
    assert j.n_na_per_item.tolist() == [1, 0]
    assert j.n_na_per_worker.tolist() == [0, 1]
    assert j.n_quarantined == 0


def test_null_label_is_an_abstention():
    j = read_judgments(frame([("a", "x", "cat"), ("a", "y", None), ("b", "x", "dog")]))
    assert j.n_na_per_item.tolist() == [1, 0] and j.n_quarantined == 0


def test_default_na_set_is_documented():
    assert set(DEFAULT_NA_LABELS) == {"", "n/a", "na", "cant_tell", "can't tell", "cannot tell"}


def test_mostly_na_item_has_status_and_null_label():
    data = frame([("a", "x", "cat"), ("a", "y", "n/a"), ("a", "z", "can't tell"),
                  ("b", "x", "dog"), ("b", "y", "dog"), ("b", "z", "n/a"),
                  ("c", "x", "cat"), ("c", "y", "n/a")])
    model = MajorityVote(tie_break="first").fit(data)
    items = {r["item"]: r for r in model.item_table().to_dicts()}
    assert items["a"]["status"] == "mostly_na" and items["a"]["label"] is None
    assert items["a"]["confidence"] is None
    assert (items["a"]["n_labels"], items["a"]["n_na"]) == (1, 2)
    assert items["b"]["status"] == "ok" and items["b"]["label"] == "dog"
    assert (items["b"]["n_labels"], items["b"]["n_na"]) == (2, 1)
    # as many n/a as answers is not "mostly"
    assert items["c"]["status"] == "ok" and items["c"]["label"] == "cat"
    workers = {r["worker"]: r for r in model.worker_table().to_dicts()}
    assert [workers[w]["n_na"] for w in "xyz"] == [0, 2, 2]
    assert [workers[w]["n_judgments"] for w in "xyz"] == [3, 3, 2]


def test_na_labels_replace_the_default_set():
    data = frame([("a", "x", "cat"), ("a", "y", "skip"), ("a", "z", "n/a"), ("b", "x", "")])
    j = read_judgments(data, na_labels=["SKIP"])
    # "skip" abstains (case-insensitive); "n/a" is now an ordinary class; "" is no longer n/a
    assert j.classes == ["cat", "n/a"]
    assert j.n_na_per_item.tolist() == [1]
    assert j.n_quarantined == 1
    assert "missing label (column 'label') and empty answers are not n/a" in reasons(j)[4]
    assert_accounted(j)


@pytest.mark.parametrize("na_labels", [(), None])
def test_no_na_quarantines_empty_labels(na_labels):
    data = frame([("a", "x", "cat"), ("a", "y", None), ("a", "z", ""), ("a", "w", "  "),
                  ("b", "x", "n/a")])
    j = read_judgments(data, na_labels=na_labels)
    assert j.classes == ["cat", "n/a"]  # an empty string never becomes a class
    assert sorted(reasons(j)) == [2, 3, 4]
    assert (j.label >= 0).all()
    assert_accounted(j)


def test_na_never_counts_as_a_declared_class():
    j = read_judgments(frame([("a", "x", "cat"), ("a", "y", "N/A")]), classes=["cat", "dog"])
    assert j.classes == ["cat", "dog"] and j.n_na_per_item.tolist() == [1] and j.n_quarantined == 0


def test_only_abstentions_is_an_error(tmp_path):
    path = csv_file(tmp_path / "j.csv", "item,worker,label\na,x,n/a\nb,y,\n")
    with pytest.raises(InputError) as info:
        read_judgments(path)
    assert_one_line(info, str(path), "abstention")


# -- missing ids, classes, durations, timestamps ---------------------------------------------

def test_null_and_blank_ids_are_quarantined(tmp_path):
    path = csv_file(tmp_path / "ids.csv",
                    "item,worker,label\na,x,cat\n,x,cat\n   ,y,dog\nb,,dog\nb,\" \",dog\nb,y,dog\n")
    j = read_judgments(path)
    r = reasons(j)
    assert sorted(r) == [2, 3, 4, 5]
    assert r[2] == r[3] == "missing item id (column 'item')"
    assert r[4] == r[5] == "missing worker id (column 'worker')"
    assert set(j.quarantine["source"].to_list()) == {str(path)}
    assert j.item_ids.to_list() == ["a", "b"] and j.worker_ids.to_list() == ["x", "y"]
    assert_accounted(j)


def test_null_ids_in_typed_frames():
    data = pl.DataFrame({"item": [1, None, 3], "worker": ["x", "y", None], "label": [1, 0, 1]})
    j = read_judgments(data)
    assert j.n_judgments == 1 and j.n_quarantined == 2
    assert j.item_ids.to_list() == [1]


def test_labels_outside_declared_classes_are_quarantined():
    data = frame([("a", "x", "cat"), ("a", "y", "bird"), ("a", "z", "Cat"), ("b", "x", "dog")])
    j = read_judgments(data, classes=["dog", "cat", "horse"])
    assert j.classes == ["dog", "cat", "horse"]  # declared order, unseen classes kept
    r = reasons(j)
    assert r == {2: "label 'bird' is not a declared class (column 'label')",
                 3: "label 'Cat' is not a declared class (column 'label')"}
    table = MajorityVote().fit(j).item_table()
    assert table.columns[-3:] == ["p_dog", "p_cat", "p_horse"]
    assert_accounted(j)


def test_repeated_declared_class_is_a_parameter_error():
    with pytest.raises(ParameterError, match="must not repeat"):
        read_judgments(frame([("a", "x", "cat")]), classes=["cat", "cat"])


def test_bad_durations_are_quarantined(tmp_path):
    path = csv_file(tmp_path / "d.csv", "item,worker,label,duration_s\n"
                    "a,x,cat,12.5\na,y,cat,12s\na,z,dog,-3\nb,x,dog,\nb,y,dog,nan\nb,z,dog,inf\nc,x,cat,0\n")
    j = read_judgments(path)
    r = reasons(j)
    assert r == {2: "duration '12s' is not a number (column 'duration_s')",
                 3: "negative duration -3 (column 'duration_s')",
                 5: "duration 'nan' is not finite (column 'duration_s')",
                 6: "duration 'inf' is not finite (column 'duration_s')"}
    # an empty duration is unknown (NaN), not an error
    assert np.isnan(j.duration[j.input_row == 3]).all()
    assert j.duration[j.input_row == 0].tolist() == [12.5]
    assert_accounted(j)


def test_numeric_duration_column():
    data = pl.DataFrame({"item": ["a", "b"], "worker": ["x", "x"], "label": ["1", "2"],
                         "WorkTimeInSeconds": [30, -1]})
    j = read_judgments(data)
    assert j.duration.tolist() == [30.0]
    assert reasons(j) == {2: "negative duration -1 (column 'WorkTimeInSeconds')"}


@pytest.mark.parametrize(("started", "submitted", "seconds"), [
    ("2021-05-12T10:33:12.123", "2021-05-12T10:33:33.096", 20.973),          # Toloka
    ("2021-05-12 10:33:12", "2021-05-12 10:35:12", 120.0),
    ("2021-05-12T10:33:12Z", "2021-05-12T13:33:20+03:00", 8.0),            # zones applied
    ("Wed Jun 19 14:00:32 PDT 2019", "Wed Jun 19 14:01:32 PDT 2019", 60.0),  # MTurk
    ("Wed Jun 19 14:00:32 PDT 2019", "Wed Jun 19 21:01:32 GMT 2019", 60.0),
    ("8/20/2019 03:04:24", "8/20/2019 03:05:00", 36.0),                      # Appen
    ("1620815592", "1620815600.5", 8.5),                                     # epoch seconds
])
def test_durations_from_timestamps(started, submitted, seconds):
    data = frame([("a", "x", "cat", started, submitted)],
                 columns=("item", "worker", "label", "started_at", "submitted_at"))
    j = read_judgments(data)
    assert j.duration.tolist() == [pytest.approx(seconds, abs=1e-9)]
    assert j.submitted[0] > 1e9


def test_bad_timestamps_are_quarantined(tmp_path):
    path = csv_file(tmp_path / "t.csv", "item,worker,label,AcceptTime,SubmitTime\n"
                    "a,x,cat,2021-05-12T10:00:00,2021-05-12T10:00:09\n"
                    "a,y,cat,yesterday,2021-05-12T10:00:09\n"
                    "a,z,cat,2021-05-12T10:00:00,31/31/2021\n"
                    "b,x,dog,2021-05-12T10:00:10,2021-05-12T10:00:00\n"
                    "b,y,dog,,\n")
    j = read_judgments(path)
    assert reasons(j) == {
        2: "timestamp 'yesterday' cannot be parsed (column 'AcceptTime')",
        3: "timestamp '31/31/2021' cannot be parsed (column 'SubmitTime')",
        4: "submitted before started (columns 'AcceptTime', 'SubmitTime')",
    }
    assert j.duration[0] == 9.0 and np.isnan(j.duration[-1])
    assert_accounted(j)


def test_typed_datetime_columns():
    import datetime as dt
    data = pl.DataFrame({"item": ["a", "b"], "worker": ["x", "x"], "label": ["1", "2"],
                         "started": [dt.datetime(2021, 1, 1), dt.datetime(2021, 1, 1)],
                         "submitted": [dt.datetime(2021, 1, 1, 0, 0, 5), None]})
    for zone in (None, "Europe/Berlin"):
        typed = data if zone is None else data.with_columns(
            pl.col("started", "submitted").dt.replace_time_zone(zone))
        j = read_judgments(typed)
        assert j.duration[0] == 5.0 and np.isnan(j.duration[1])
        assert j.n_quarantined == 0


# -- duplicates ---------------------------------------------------------------------------

DUPS = "item,worker,label\na,x,cat\na,y,dog\na,x,dog\nb,x,cat\na,x,cat\n"


@pytest.mark.parametrize(("policy", "kept_row", "quarantined"), [("first", 1, [3, 5]), ("last", 5, [1, 3])])
def test_duplicates_keep_one(tmp_path, policy, kept_row, quarantined):
    path = csv_file(tmp_path / "dups.csv", DUPS)
    j = read_judgments(path, duplicates=policy)
    r = reasons(j)
    assert sorted(r) == quarantined
    assert all(v == f"duplicate judgment of the same (item, worker); kept {path} row {kept_row}"
               for v in r.values())
    assert sorted(j.input_row.tolist()) == sorted([kept_row - 1, 1, 3])
    assert_accounted(j)


def test_duplicates_error_names_file_columns_and_rows(tmp_path):
    path = csv_file(tmp_path / "dups.csv", DUPS)
    with pytest.raises(InputError) as info:
        read_judgments(path, duplicates="error")
    assert_one_line(info, f"{path}, rows 1, 3, 5:", "2 duplicate", "'item'", "'worker'", "--duplicates")


def test_duplicates_across_files(tmp_path):
    first = csv_file(tmp_path / "a.csv", "item,worker,label\na,x,cat\n")
    second = csv_file(tmp_path / "b.csv", "item,worker,label\nb,x,cat\na,x,dog\n")
    j = read_judgments([first, second])
    assert j.quarantine.select("source", "row").rows() == [(str(second), 2)]
    assert j.quarantine["reason"][0].endswith(f"kept {first} row 1")


def test_quarantined_rows_are_not_duplicates():
    # the first (x, a) row is bad, so the second one is the only usable one
    j = read_judgments(frame([("a", "x", "bird"), ("a", "x", "cat"), ("a", "y", "dog")]),
                       classes=["cat", "dog"])
    assert j.n_judgments == 2 and list(reasons(j)) == [1]


def test_unknown_duplicates_policy():
    with pytest.raises(ParameterError, match="'duplicates'"):
        read_judgments(frame([("a", "x", "cat")]), duplicates="keep")


# -- file-level errors ----------------------------------------------------------------------

@pytest.mark.parametrize(("name", "content", "expected"), [
    ("empty.csv", "", "file is empty"),
    ("blank.csv", "\n\n", "file is empty"),
    ("header.csv", "item,worker,label\n", "file has a header but no data rows"),
    ("header.tsv", "item\tworker\tlabel\n", "file has a header but no data rows"),
    ("data.xlsx", "item,worker,label\na,x,cat\n", "unknown file type '.xlsx'"),
    ("data", "item,worker,label\na,x,cat\n", "unknown file type '(no extension)'"),
    ("bad.json", "{not json", "line 1, column 2: not valid JSON"),
])
def test_file_errors(tmp_path, name, content, expected):
    path = csv_file(tmp_path / name, content)
    with pytest.raises(InputError) as info:
        read_judgments(path)
    assert_one_line(info, f"{path}: ", expected)


@pytest.mark.parametrize(("content", "rows", "counts"), [
    ("item,worker,label\na,x,cat\na,y,dog,extra\nb,x,cat\n", "row 2", "1 row has 4"),
    ("item,worker,label\na,x,cat\na,y\nb,x,cat\nb,y\n", "rows 2, 4", "2 rows have 2"),
    ('item,worker,label\na,x,cat\n"b\nc",y\nd,x,cat,1\n', "rows 2, 3", "2 rows have 2/4"),
    ("item,worker,label\na,x,cat\n\n\nb,y\n", "row 4", "1 row has 2"),  # blank lines are rows, as in the quarantine
])
def test_ragged_csv_names_rows(tmp_path, content, rows, counts):
    path = csv_file(tmp_path / "ragged.csv", content)
    with pytest.raises(InputError) as info:
        read_judgments(path)
    assert_one_line(info, f"{path}, {rows}: ragged rows", "header has 3 fields", counts)


def test_short_rows_lacking_only_empty_columns_are_accepted(tmp_path):
    # MTurk writes Approve,Reject in the header and leaves them out of every data row
    path = csv_file(tmp_path / "mturk.csv", "HITId,WorkerId,Answer.x,Approve,Reject\nh1,A1,cat\nh2,A1,dog\n")
    j = read_judgments(path)
    assert j.n_judgments == 2 and j.n_quarantined == 0


def test_missing_file_message(tmp_path):
    with pytest.raises(InputError) as info:
        read_judgments(tmp_path / "nope.csv")
    assert_one_line(info, "nope.csv: file not found")


# -- gold ---------------------------------------------------------------------------------

DELIVERY = "item,worker,label\na,x,cat\na,y,cat\nb,x,dog\nb,y,cat\nc,x,dog\n"


def test_gold_file_unknown_items_are_quarantined(tmp_path):
    data = csv_file(tmp_path / "d.csv", DELIVERY)
    gold = csv_file(tmp_path / "gold.csv", "item,gold_label\na,cat\nzz,dog\nb,dog\nb,dog\nc,n/a\n")
    j = read_judgments(data, gold=gold)
    assert j.gold.tolist() == [0, 1, -1]
    assert j.gold_accounting_line() == "gold rows 5 = used 3 + quarantined 2"
    q = j.gold_quarantine
    assert q.select("source", "row", "item").rows() == [(str(gold), 2, "zz"), (str(gold), 5, "c")]
    assert q["reason"].to_list() == ["gold item is not in the delivery", "gold label is empty or n/a"]
    assert_accounted(j)  # gold never changes the judgment accounting


def test_gold_file_unknown_class_is_an_error(tmp_path):
    data = csv_file(tmp_path / "d.csv", DELIVERY)
    gold = csv_file(tmp_path / "gold.csv", "item,truth\na,cat\nb,bird\nc,bird\n")
    with pytest.raises(InputError) as info:
        read_judgments(data, gold=gold)
    assert_one_line(info, f"{gold}, column 'truth', rows 2, 3:", "'bird'", "--classes")


def test_gold_class_declared_but_unseen_is_fine(tmp_path):
    data = csv_file(tmp_path / "d.csv", DELIVERY)
    gold = csv_file(tmp_path / "gold.csv", "item,label\nc,bird\n")
    j = read_judgments(data, gold=gold, classes=["cat", "dog", "bird"])
    assert j.gold.tolist() == [-1, -1, 2]


def test_conflicting_gold_is_an_error(tmp_path):
    data = csv_file(tmp_path / "d.csv", DELIVERY)
    gold = csv_file(tmp_path / "gold.csv", "item,label\na,cat\nb,dog\na,dog\n")
    with pytest.raises(InputError) as info:
        read_judgments(data, gold=gold)
    assert_one_line(info, f"{gold}, column 'label', rows 1, 3:", "item 'a'", "conflicting", "['cat', 'dog']")


def test_gold_file_columns(tmp_path):
    data = csv_file(tmp_path / "d.csv", DELIVERY)
    gold = csv_file(tmp_path / "gold.csv", "question,truth_value\na,cat\n")
    j = read_judgments(data, gold=gold, gold_item_col="question", gold_label_col="truth_value")
    assert j.gold.tolist() == [0, -1, -1]
    with pytest.raises(InputError) as info:
        read_judgments(data, gold=gold, gold_item_col="question")
    assert_one_line(info, str(gold), "no label column", "--gold-label-col")
    with pytest.raises(InputError) as info:
        read_judgments(data, gold=gold, gold_item_col="item")
    assert_one_line(info, str(gold), "'item'", "--gold-item-col")


def test_gold_frame():
    j = read_judgments(frame([("a", "x", "cat"), ("b", "x", "dog")]),
                       gold=pl.DataFrame({"item": ["b"], "label": ["dog"]}))
    assert j.gold.tolist() == [-1, 1]


# -- row accounting property ------------------------------------------------------------------

ITEM = st.sampled_from(["a", "b", "c", "007", "", " ", None])
WORKER = st.sampled_from(["x", "y", "z", "", None])
LABEL = st.sampled_from(["cat", "dog", "bird", "n/a", "CAN'T TELL", "", "  ", None])
DURATION = st.sampled_from(["1", "2.5", "0", "-1", "abc", "", None, "nan"])
SUBMITTED = st.sampled_from(["2021-05-12T10:33:12", "Wed Jun 19 14:00:32 PDT 2019", "1620815592",
                             "never", "", None])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(ITEM, WORKER, LABEL, DURATION, SUBMITTED), min_size=1, max_size=25),
       classes=st.sampled_from([None, ["cat", "dog"], ["dog", "cat", "horse"]]),
       duplicates=st.sampled_from(["first", "last"]),
       na_labels=st.sampled_from([DEFAULT_NA_LABELS, (), ["n/a"]]))
def test_every_input_row_is_used_or_quarantined(rows, classes, duplicates, na_labels):
    data = frame(rows, columns=("item", "worker", "label", "duration", "submitted"))
    try:
        j = read_judgments(data, classes=classes, duplicates=duplicates, na_labels=na_labels)
    except InputError as exc:
        # only when nothing at all is usable
        assert "no usable judgments" in str(exc) or "abstention" in str(exc)
        return
    assert_accounted(j)
    used = set(j.input_row.tolist())
    quarantined = {r - 1 for r in j.quarantine["row"].to_list()}
    assert used.isdisjoint(quarantined)
    assert used | quarantined == set(range(len(rows)))
    assert j.quarantine["reason"].null_count() == 0
    # no (item, worker) pair twice, every code in range, no empty id or class
    pairs = list(zip(j.item.tolist(), j.worker.tolist(), strict=True))
    assert len(pairs) == len(set(pairs))
    assert j.label.min() >= -1 and j.label.max() < j.n_classes
    assert "" not in j.classes and all(str(i).strip() for i in j.item_ids.to_list())
    if classes is not None:
        assert j.classes == classes
    assert j.duration.shape == (j.n_judgments,)
    assert not (j.duration < 0).any()


def test_blank_lines_are_quarantined_as_empty_rows_with_their_row_number(tmp_path):
    path = csv_file(tmp_path / "blank.csv", "item,worker,label\na,x,cat\n\n\nb,y,dog\nb,x,dog\n")
    j = read_judgments(path)
    assert reasons(j) == {2: "empty row (no item, worker or label: a blank line?)",
                          3: "empty row (no item, worker or label: a blank line?)"}
    assert j.n_judgments == 3
