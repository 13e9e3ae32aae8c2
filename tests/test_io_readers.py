"""Reading every input format, keeping ids exactly, and finding the columns."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import polars as pl
import pytest

import consensus
from consensus import InputError, read_judgments
from consensus.io.columns import ColumnMap
from consensus.io.readers import read_table

# Ids that a numeric parse would change: leading zeros, and "7" next to "007".
ROWS = [
    ("007", "0042", "cat"), ("007", "042", "cat"), ("007", "42", "dog"),
    ("010", "0042", "dog"), ("010", "042", "dog"), ("010", "42", "dog"),
    ("7", "0042", "cat"), ("7", "042", "n/a"), ("7", "42", "cat"),
]
FRAME = pl.DataFrame(ROWS, schema=["item", "worker", "label"], orient="row")
ITEMS = ["007", "010", "7"]
WORKERS = ["0042", "042", "42"]
EXPECTED = {"007": ("cat", 3, 0), "010": ("dog", 3, 0), "7": ("cat", 2, 1)}


def write_csv(path, rows=ROWS, header=("item", "worker", "label"), sep=","):
    lines = [sep.join(header)] + [sep.join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_as(tmp_path, fmt, frame=FRAME, name="judgments"):
    path = tmp_path / f"{name}.{fmt}"
    if fmt == "csv":
        frame.write_csv(path)
    elif fmt == "tsv":
        frame.write_csv(path, separator="\t")
    elif fmt == "parquet":
        frame.write_parquet(path)
    elif fmt == "jsonl":
        frame.write_ndjson(path)
    elif fmt == "json":
        path.write_text(json.dumps(frame.to_dicts()), encoding="utf-8")
    else:  # pragma: no cover
        raise AssertionError(fmt)
    return path


def check_item_table(source):
    """Fit majority vote and check the ids and votes survive exactly."""
    model = consensus.MajorityVote(tie_break="first").fit(source)
    items = model.item_table()
    assert items["item"].cast(pl.String).to_list() == ITEMS
    assert items["item"].dtype == pl.String
    got = {r["item"]: (r["label"], r["n_labels"], r["n_na"]) for r in items.to_dicts()}
    assert got == EXPECTED
    workers = model.worker_table()
    assert workers["worker"].to_list() == WORKERS
    assert workers["n_judgments"].to_list() == [3, 3, 3]
    return model


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet", "jsonl", "json"])
def test_each_file_format_keeps_ids(tmp_path, fmt):
    path = write_as(tmp_path, fmt)
    model = check_item_table(path)
    assert model.judgments_.n_input_rows == 9
    assert model.judgments_.source == str(path)


def test_path_given_as_str_and_pathlib(tmp_path):
    path = write_as(tmp_path, "csv")
    check_item_table(str(path))
    check_item_table(path)


@pytest.mark.parametrize("kind", ["polars", "lazy", "pandas"])
def test_in_memory_frames_keep_ids(kind):
    source = {"polars": FRAME, "lazy": FRAME.lazy(), "pandas": FRAME.to_pandas()}[kind]
    if kind == "pandas":
        assert isinstance(source, pd.DataFrame)
    check_item_table(source)


def test_pandas_frame_with_index_and_float_labels():
    # pandas stores an int column with a missing value as float: 1.0 must read as class "1"
    df = pd.DataFrame({"item": ["a", "a", "b", "b"], "worker": ["x", "y", "x", "y"],
                       "label": [1, 1, 0, None]}, index=[10, 11, 12, 13])
    j = read_judgments(df)
    assert j.classes == ["0", "1"]
    assert j.n_na_per_item.tolist() == [0, 1]
    assert j.n_input_rows == 4


def test_list_of_files_is_read_as_one(tmp_path):
    first = write_csv(tmp_path / "part1.csv", ROWS[:5])
    second = write_as(tmp_path, "jsonl", FRAME.slice(5), name="part2")
    model = check_item_table([first, str(second)])
    j = model.judgments_
    assert j.n_input_rows == 9
    assert str(first) in j.source and str(second) in j.source


def test_quoted_glob_reads_every_part(tmp_path):
    parts = tmp_path / "parts"
    parts.mkdir()
    for k, chunk in enumerate([FRAME.slice(0, 3), FRAME.slice(3, 3), FRAME.slice(6, 3)]):
        chunk.write_parquet(parts / f"part-{k:03d}.parquet")
    (parts / "notes.txt").write_text("not judgments")
    model = check_item_table(str(parts / "*.parquet"))
    assert model.judgments_.n_input_rows == 9


def test_glob_keeps_file_and_row_of_every_row(tmp_path):
    write_csv(tmp_path / "a.csv", [("1", "w", "x"), ("", "w", "x")])
    write_csv(tmp_path / "b.csv", [("2", "w", "y"), ("3", "", "y")])
    j = read_judgments(str(tmp_path / "*.csv"))
    q = j.quarantine.select("source", "row").rows()
    assert q == [(str(tmp_path / "a.csv"), 2), (str(tmp_path / "b.csv"), 2)]
    assert j.n_input_rows == 4 and j.n_judgments == 2


def test_files_with_different_columns_and_types_stack(tmp_path):
    # a CSV (all text) and a Parquet file with integer ids and an extra column
    write_csv(tmp_path / "a.csv", [("007", "w1", "x"), ("8", "w2", "y")])
    pl.DataFrame({"item": [8, 9], "worker": ["w1", "w2"], "label": ["y", "y"], "extra": [1, 2]}) \
        .write_parquet(tmp_path / "b.parquet")
    j = read_judgments([tmp_path / "a.csv", tmp_path / "b.parquet"])
    assert j.item_ids.to_list() == ["007", "8", "9"]
    assert j.n_judgments == 4


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl", "json"])
def test_literal_path_with_glob_characters(tmp_path, fmt):
    path = write_as(tmp_path, fmt, name="batch[1]")
    check_item_table(str(path))


def test_glob_without_match_and_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"no file matches this pattern"):
        read_table(str(tmp_path / "*.parquet"))
    with pytest.raises(InputError, match=r"missing\.csv: file not found"):
        read_table(tmp_path / "missing.csv")
    with pytest.raises(InputError, match="is a directory"):
        read_table(tmp_path)


def test_unsupported_source_type():
    with pytest.raises(InputError, match="cannot read judgments from a dict"):
        read_table({"item": [1]})


def test_bookkeeping_columns():
    table = read_table(FRAME)
    assert table["__row"].to_list() == list(range(1, 10))
    assert table["__source"].unique().to_list() == ["<polars frame>"]
    with pytest.raises(InputError, match="'__row' is reserved"):
        read_table(FRAME.with_columns(pl.lit(1).alias("__row")))


def test_text_values_are_not_parsed(tmp_path):
    # numbers-looking ids, a date-looking label and "NA" all stay text
    path = write_csv(tmp_path / "t.csv", [("1e3", "00", "2020-01-01"), ("1.50", "00", "NA ")])
    table = read_table(path)
    assert table["item"].to_list() == ["1e3", "1.50"]
    assert table["worker"].to_list() == ["00", "00"]
    assert table.schema["label"] == pl.String


def test_utf8_bom_and_crlf(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffitem,worker,label\r\n007,w,cat\r\n008,w,dog\r\n".encode())
    j = read_judgments(path)
    assert j.item_ids.to_list() == ["007", "008"]
    assert j.classes == ["cat", "dog"]


def test_txt_with_tabs_is_tsv(tmp_path):
    path = write_csv(tmp_path / "j.txt", sep="\t")
    check_item_table(path)


def test_quoted_fields_with_separators_and_newlines(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('item,worker,label\n"a, b",w1,"x"\n"line\nbreak",w1,y\n', encoding="utf-8")
    j = read_judgments(path)
    assert j.item_ids.to_list() == ["a, b", "line\nbreak"]


# -- column detection ---------------------------------------------------------------------

@pytest.mark.parametrize(("columns", "expected"), [
    (["item", "worker", "label"], ("item", "worker", "label")),
    (["task", "annotator", "answer"], ("task", "annotator", "answer")),
    (["Task_ID", "Annotator_Id", "Label"], ("Task_ID", "Annotator_Id", "Label")),
    (["image_id", "rater", "category"], ("image_id", "rater", "category")),
    (["HITId", "WorkerId", "Answer.category"], ("HITId", "WorkerId", "Answer.category")),
    (["INPUT:image", "ASSIGNMENT:worker_id", "OUTPUT:result"],
     ("INPUT:image", "ASSIGNMENT:worker_id", "OUTPUT:result")),
    (["INPUT:url", "INPUT:title", "ASSIGNMENT:task_id", "ASSIGNMENT:worker_id", "OUTPUT:class"],
     ("ASSIGNMENT:task_id", "ASSIGNMENT:worker_id", "OUTPUT:class")),
    (["_unit_id", "_worker_id", "judgment"], ("_unit_id", "_worker_id", "judgment")),
    (["HITId", "WorkerId", "Answer.q.cat", "Answer.q.dog"], ("HITId", "WorkerId", "Answer.q")),
])
def test_column_detection(columns, expected):
    cmap = ColumnMap().resolved([*columns, "__source", "__row"], "f.csv")
    assert (cmap.item, cmap.worker, cmap.label) == expected


@pytest.mark.parametrize(("columns", "expected"), [
    (["item", "worker", "label", "WorkTimeInSeconds", "AcceptTime", "SubmitTime"],
     ("WorkTimeInSeconds", "AcceptTime", "SubmitTime", None)),
    (["INPUT:t", "ASSIGNMENT:worker_id", "OUTPUT:r", "GOLDEN:r", "ASSIGNMENT:started",
      "ASSIGNMENT:submitted"], (None, "ASSIGNMENT:started", "ASSIGNMENT:submitted", "GOLDEN:r")),
    (["item", "worker", "label", "duration_s", "gold_label"], ("duration_s", None, None, "gold_label")),
])
def test_optional_column_detection(columns, expected):
    cmap = ColumnMap().resolved(columns, "f.csv")
    assert (cmap.duration, cmap.started, cmap.submitted, cmap.gold) == expected


@pytest.mark.parametrize(("columns", "pattern"), [
    (["item", "worker", "sentiment"], r"f\.csv: no label column found among .*--label-col"),
    (["q", "worker", "label"], r"f\.csv: no item column found among .*--item-col"),
    (["item", "who", "label"], r"f\.csv: no worker column found among .*--worker-col"),
    (["HITId", "WorkerId", "Answer.a", "Answer.b"], r"several Answer\.\* columns .*--label-col"),
    (["INPUT:a", "INPUT:b", "worker", "label"], r"several INPUT:\* columns .*--item-col"),
])
def test_detection_errors_name_the_option(columns, pattern):
    with pytest.raises(InputError, match=pattern) as info:
        ColumnMap().resolved(columns, "f.csv")
    assert "\n" not in str(info.value)


def test_explicit_mapping_in_python(tmp_path):
    frame = FRAME.rename({"item": "q", "worker": "who", "label": "says"}) \
        .with_columns(pl.lit("zzz").alias("label"))  # a decoy "label" column must not be used
    model = check_item_table(read_judgments(frame, item_col="q", worker_col="who", label_col="says"))
    assert model.judgments_.classes == ["cat", "dog"]


def test_explicit_mapping_overrides_detection():
    frame = FRAME.with_columns(pl.col("worker").alias("annotator"), pl.lit("A").alias("worker"))
    j = read_judgments(frame, worker_col="annotator")
    assert j.worker_ids.to_list() == WORKERS


def test_explicit_column_not_in_file(tmp_path):
    path = write_as(tmp_path, "csv")
    with pytest.raises(InputError) as info:
        read_judgments(path, label_col="answer")
    message = str(info.value)
    assert message.startswith(str(path))
    assert "'answer'" in message and "--label-col" in message and "'label'" in message
    assert "\n" not in message


def test_one_hot_group_by_prefix():
    frame = pl.DataFrame({
        "HITId": ["h1", "h1", "h2"], "WorkerId": ["A", "B", "A"],
        "Answer.q.cat": ["true", "false", "false"], "Answer.q.dog": ["false", "true", "false"],
        "Answer.other": ["x", "y", "z"],
    })
    j = read_judgments(frame, label_col="Answer.q")
    assert j.classes == ["cat", "dog"]
    # no option chosen: an abstention
    assert j.label.tolist() == [0, 1, -1]


@pytest.mark.parametrize("suffix", ["csv", "parquet"])  # text ids: general reader; integer Parquet: fast path
def test_source_rows_point_every_judgment_at_its_file_and_row(tmp_path, suffix):
    rng = np.random.default_rng(0)
    paths = []
    for k, n in enumerate((50, 70)):
        frame = pl.DataFrame({"item": rng.integers(0, 20, n), "worker": np.arange(n) % 13 + 100 * k,
                              "label": rng.integers(0, 3, n)}).unique(["item", "worker"], maintain_order=True)
        path = tmp_path / f"part{k}.{suffix}"
        frame.write_csv(path) if suffix == "csv" else frame.write_parquet(path)
        paths.append(path)
    judgments = read_judgments([str(p) for p in paths])
    source, row = judgments.source_rows(judgments.input_row)
    files = {str(p): (pl.read_csv(p) if suffix == "csv" else pl.read_parquet(p)) for p in paths}
    for name, r, item, worker in zip(source, row, judgments.item, judgments.worker):
        line = files[name].row(r - 1, named=True)
        assert (str(line["item"]), str(line["worker"])) == (str(judgments.item_ids[int(item)]),
                                                            str(judgments.worker_ids[int(worker)]))
    assert judgments.source_rows(np.array([-1]))[0].to_list() == [None]


def test_json_errors_name_the_line_or_record_and_nan_is_read(tmp_path):
    """polars' messages ('InternalError(TapeError) at character 105', 'ExpectedObjectContent at character
    1' for line 4) named no record or field; NaN (Python's json.dump default) could not be read at all."""
    nan = tmp_path / "n.json"
    nan.write_text('[{"item":"i1","worker":"w1","label":"a","duration":5},\n'
                   '{"item":"i1","worker":"w2","label":"a","duration":NaN},{"item":"i2","worker":"w2","label":"b"}]')
    j = read_judgments(nan)
    assert j.accounting_line() == "input rows 3 = used 2 + quarantined 1"
    assert j.quarantine.get_column("reason").item() == "duration 'NaN' is not finite (column 'duration')"
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"item":"i1","worker":"w1","label":"a"}\n{"item":"i1","worker":"w2","label":"b"}\n\n{oops\n')
    with pytest.raises(InputError, match=r"b.jsonl: line 4, column 2: not valid JSON"):
        read_judgments(bad)
    nested = tmp_path / "l.json"
    nested.write_text('[{"item":"i1","worker":"w1","label":"a"},{"item":"i2","worker":"w1","label":["a","b"]}]')
    with pytest.raises(InputError, match=r"record 2, field 'label': holds a list"):
        read_judgments(nested)


def test_utf16_input_is_named_as_such(tmp_path):
    path = tmp_path / "u16.csv"
    path.write_bytes("item,worker,label\ni1,w1,a\n".encode("utf-16"))
    with pytest.raises(InputError, match="u16.csv: is UTF-16 encoded; save it as UTF-8"):
        read_judgments(path)
