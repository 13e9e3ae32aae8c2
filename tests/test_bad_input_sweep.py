"""Adversarial inputs to every command and reader: a clear error or exact accounting, never a traceback.

Each bad input must end with exit status 2 and one stderr line that names the
file (and the row and column where one applies). An input that is only partly
bad must be read with ``input rows N = used U + quarantined Q`` holding and the
quarantine file holding the Q rows.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consensus.cli import main
from cli_helpers import run, assert_clean_error

GOOD = "item,worker,label,duration\na,x,cat,1\na,y,cat,2\na,z,dog,3\nb,x,dog,1\nb,y,dog,2\nb,z,dog,3\n"
BOXES = "image,worker,x0,y0,x1,y1,label\ni1,a,10,10,50,50,cat\ni1,b,11,11,51,51,cat\ni2,a,5,5,20,20,dog\n"
ACCOUNTING = re.compile(r"(input|gold|model) rows (\d+) = used (\d+) \+ quarantined (\d+)")


@pytest.fixture(autouse=True)
def _scratch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default quarantine files land in a scratch folder


def write(path: Path, content: str | bytes | pl.DataFrame) -> Path:
    if isinstance(content, pl.DataFrame):
        content.write_parquet(path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def accounting(err, kind="input"):
    """(n, used, quarantined) of the accounting line of ``kind``; asserts n = used + quarantined."""
    found = [m for m in ACCOUNTING.finditer(err) if m.group(1) == kind]
    assert len(found) == 1, err
    n, used, quarantined = (int(g) for g in found[0].groups()[1:])
    assert n == used + quarantined
    return n, used, quarantined


# -- judgment files ---------------------------------------------------------------------------------

JUDGMENT_ERRORS = [
    ("empty.csv", "", "empty.csv: file is empty"),
    ("bom_only.csv", "\ufeff", "bom_only.csv: file is empty"),
    ("header.csv", "item,worker,label\n", "header.csv: file has a header but no data rows"),
    ("header_crlf_bom.csv", "\ufeffitem,worker,label\r\n", "file has a header but no data rows"),
    ("nocols.csv", "foo,bar\n1,2\n", "nocols.csv: no item column found"),
    ("dupcol.csv", "item,worker,label,label\na,x,cat,dog\na,y,cat,cat\n",
     "dupcol.csv: the header names column 'label' twice (fields 3 and 4)"),
    ("dupcol.tsv", "item\titem\tworker\tlabel\na\tb\tx\tcat\n", "the header names column 'item' twice"),
    ("dupcol_late.csv", "\n\nitem,worker,label,label\na,x,cat,dog\n", "the header names column 'label' twice"),
    ("ragged.csv", "item,worker,label\na,x,cat,extra\na,y,dog\n", "ragged.csv, row 1: ragged rows"),
    ("blank_lines_first.csv", "\n\nitem,worker,label\na,x,cat\na,y\nb,x,dog\n",
     "blank_lines_first.csv, row 2: ragged rows"),
    ("quote.csv", 'item,worker,label\na,x,"cat\na,y,dog\n', "quote.csv: cannot be read"),
    ("bad_utf8.csv", b"item,worker,label\na,x,cat\xff\xfe\na,y,dog\n", "bad_utf8.csv: cannot be read: invalid utf-8"),
    ("latin1.csv", "item,worker,label\na,x,caf\xe9\na,y,dog\n".encode("latin-1"), "latin1.csv: cannot be read"),
    ("utf16.csv", GOOD.encode("utf-16"), "utf16.csv: is UTF-16 encoded; save it as UTF-8"),
    ("old_mac.csv", GOOD.replace("\n", "\r"), "old_mac.csv: lines end with a bare carriage return"),
    ("broken.csv.gz", b"not gzip at all", "broken.csv.gz: cannot be read: Not a gzipped file"),
    ("truncated.csv.gz", gzip.compress(GOOD.encode())[:20], "truncated.csv.gz: cannot be read"),
    ("scalars.json", "[1, 2, 3]", "scalars.json: record 1 is not a JSON object"),
    ("object.json", '{"item": "a", "worker": "x", "label": "cat"}', "object.json: holds an object"),
    ("columns.json", '{"item": ["a"], "worker": ["x"], "label": ["cat"]}', "columns.json: holds an object"),
    ("null.json", "null", "null.json: holds a single value"),
    ("syntax.json", '[{"item":', "syntax.json: line 1, column 10: not valid JSON"),
    ("lists.json", '[{"item": "a", "worker": "x", "label": ["cat"]}, {"item": "a", "worker": "y", "label": ["dog"]}]',
     "lists.json, column 'label', row 1: holds lists"),
    ("record.json", '[{"item": {"id": 1}, "worker": "x", "label": "cat"}]',
     "record.json, column 'item', row 1: holds records"),
    ("line.jsonl", '{"item": "a", "worker": "x", "label": "cat"}\nnot json\n', "line.jsonl: line 2, column 1: not valid JSON"),
    ("scalar.jsonl", "1\n2\n", "scalar.jsonl: record 1 is not a JSON object"),
    ("reserved.csv", "item,worker,label,__row\na,x,cat,1\n", "reserved.csv: column name '__row' is reserved"),
    ("all_bad.csv", "item,worker,label\n,x,cat\na,,dog\n", "all_bad.csv: no usable judgments"),
    ("all_na.csv", "item,worker,label\na,x,n/a\na,y,\n", "all_na.csv: every judgment is an abstention"),
]


@pytest.mark.parametrize(("name", "content", "expected"), JUDGMENT_ERRORS)
def test_bad_judgment_files(capsys, tmp_path, name, content, expected):
    path = write(tmp_path / name, content)
    code, _, err = run(capsys, "aggregate", path, "--method", "mv", "-o", tmp_path / "items.csv")
    assert_clean_error(code, err, "aggregate", str(path), expected)
    assert not (tmp_path / "items.csv").exists()


@pytest.mark.parametrize("command", ["agreement", "fraud", "redundancy", "validate", "audit"])
@pytest.mark.parametrize(("name", "content", "expected"),
                         [case for case in JUDGMENT_ERRORS if case[0] in ("empty.csv", "dupcol.csv", "lists.json",
                                                                         "old_mac.csv", "all_bad.csv")])
def test_every_command_reports_bad_judgments(capsys, tmp_path, command, name, content, expected):
    path = write(tmp_path / name, content)
    extra = {"validate": ["--claimed-accuracy", "0.9"], "audit": ["-o", tmp_path / "audit", "--quiet"]}
    code, _, err = run(capsys, command, path, *extra.get(command, ["-o", tmp_path / "out.csv"]))
    assert_clean_error(code, err, command, str(path), expected)


@pytest.mark.parametrize(("make", "expected"), [
    (lambda d: Path(d), "is a directory"),
    (lambda d: f"{d}/*.csv", "no file matches this pattern"),
    (lambda d: Path(d) / "missing.csv", "file not found"),
])
def test_paths_that_are_not_files(capsys, tmp_path, make, expected):
    folder = tmp_path / "folder"
    folder.mkdir()
    target = make(folder)
    for command in ("aggregate", "boxes"):
        code, _, err = run(capsys, command, target, "-o", tmp_path / "out.csv")
        assert_clean_error(code, err, command, f"{target}: {expected}")
    code, _, err = run(capsys, "aggregate", write(tmp_path / "good.csv", GOOD), "--gold", target)
    assert_clean_error(code, err, "aggregate", f"{target}: {expected}")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(capsys, tmp_path):
    path = write(tmp_path / "locked.csv", GOOD)
    path.chmod(0)
    try:
        code, _, err = run(capsys, "aggregate", path, "--method", "mv")
    finally:
        path.chmod(0o644)
    assert_clean_error(code, err, "aggregate", str(path))


@pytest.mark.parametrize(("frame", "expected"), [
    (pl.DataFrame({"item": ["a", "a"], "worker": ["x", "y"], "label": [["cat"], ["dog"]]}),
     "column 'label', row 1: holds lists"),
    (pl.DataFrame({"item": [1, 1], "worker": [1, 2], "label": [[1], [2]]}), "column 'label', row 1: holds lists"),
    (pl.DataFrame({"item": [{"a": 1}, {"a": 2}], "worker": ["x", "y"], "label": ["cat", "dog"]}),
     "column 'item', row 1: holds records"),
    (pl.DataFrame({"item": [b"a", b"a"], "worker": [b"x", b"y"], "label": [b"c", b"d"]}),
     "column 'item', row 1: holds raw bytes"),
    (pl.DataFrame({"item": [1, 1], "worker": [1, 2], "label": ["a", "b"], "duration": [[1.0], [2.0]]}),
     "column 'duration', row 1: holds lists"),
    (pl.DataFrame({"item": [1], "worker": [1], "label": ["a"]}).clear(), "file has a header but no data rows"),
])
def test_parquet_with_wrong_column_types(capsys, tmp_path, frame, expected):
    path = write(tmp_path / "typed.parquet", frame)
    code, _, err = run(capsys, "aggregate", path, "--method", "mv")
    assert_clean_error(code, err, "aggregate", f"{path}, " if "column" in expected else f"{path}: ", expected)


def test_nan_ids_are_missing_ids(capsys, tmp_path):
    nan = float("nan")
    path = write(tmp_path / "floats.parquet", pl.DataFrame({"item": [1.0, nan, 2.0, 2.0],
                                                             "worker": [1.0, 2.0, nan, 3.0],
                                                             "label": ["a", "b", "a", "b"]}))
    code, _, err = run(capsys, "aggregate", path, "--method", "mv", "-o", tmp_path / "items.csv")
    assert code == 0, err
    assert accounting(err) == (4, 2, 2)
    q = pl.read_csv(tmp_path / "items.quarantine.csv", infer_schema=False)
    assert q["reason"].to_list() == ["missing item id (column 'item')", "missing worker id (column 'worker')"]
    boxes = write(tmp_path / "boxes.parquet", pl.DataFrame({"image": [1.0, nan, 1.0], "worker": ["a", "b", "c"],
                                                            "x0": [1] * 3, "y0": [1] * 3, "x1": [5] * 3,
                                                            "y1": [5] * 3}))
    code, _, err = run(capsys, "boxes", boxes, "-o", tmp_path / "boxes.csv")
    assert code == 0, err
    assert accounting(err) == (3, 2, 1)


@pytest.mark.parametrize("content", [b"PAR1garbagePAR1", b"PAR1"])
def test_corrupt_parquet(capsys, tmp_path, content):
    path = write(tmp_path / "corrupt.parquet", content)
    code, _, err = run(capsys, "aggregate", path)
    assert_clean_error(code, err, "aggregate", f"{path}: cannot be read")


# -- partly valid judgments: exact accounting -------------------------------------------------------

@pytest.mark.parametrize(("name", "content", "expected", "reasons"), [
    ("bom_crlf.csv", ("\ufeff" + GOOD).replace("\n", "\r\n"), (6, 6, 0), []),
    ("quoted_newline.csv", 'item,worker,label\na,x,"ca\nt"\na,y,dog\n', (2, 2, 0), []),
    ("blank_headers.csv", "item,worker,label,,\na,x,cat,,\na,y,dog,,\n", (2, 2, 0), []),
    ("durations.csv", "item,worker,label,duration\na,x,cat,NaN\na,y,cat,inf\na,z,dog,-inf\n"
     "b,x,dog,1e400\nb,y,dog,-0\nb,z,dog,1e308\nc,x,cat,-3\nc,y,cat,abc\n", (8, 2, 6),
     ["not finite", "negative duration", "is not a number"]),
    ("times.csv", "item,worker,label,started,submitted\na,x,cat,2020-01-01T00:00:00,garbage\n"
     "a,y,dog,2020-01-01T00:00:10,2020-01-01T00:00:00\na,z,dog,2020-01-01T00:00:00,2020-01-01T00:00:05\n",
     (3, 1, 2), ["cannot be parsed", "submitted before started"]),
    ("onehot.csv", "HITId,WorkerId,Answer.q.cat,Answer.q.dog\nh,a,true,true\nh,b,yes,\nh,c,maybe,false\n",
     (3, 2, 1), ["several options chosen"]),
])
def test_partly_bad_judgments_are_accounted_for(capsys, tmp_path, name, content, expected, reasons):
    path = write(tmp_path / name, content)
    quarantine = tmp_path / "q.csv"
    code, _, err = run(capsys, "aggregate", path, "--method", "mv", "-o", tmp_path / "items.csv",
                       "--quarantine-out", quarantine)
    assert code == 0, err
    assert accounting(err) == expected
    if expected[2]:
        q = pl.read_csv(quarantine, infer_schema=False)
        assert q.height == expected[2] and set(q["source"]) == {str(path)}
        for reason in reasons:
            assert q["reason"].str.contains(reason, literal=True).any(), (reason, q["reason"].to_list())


# -- gold ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "content", "expected"), [
    ("unknown_class.csv", "item,label\na,horse\n", "column 'label', row 1: gold label 'horse' is not a class"),
    ("conflict.csv", "item,label\na,cat\na,dog\n", "column 'label', rows 1, 2: item 'a' has conflicting gold"),
    ("dupcol.csv", "item,label,label\na,cat,dog\n", "the header names column 'label' twice"),
    ("nocols.csv", "foo,bar\n1,2\n", "no item column found in the gold file"),
    ("empty.csv", "", "file is empty"),
    ("lists.json", '[{"item": "a", "label": ["cat"]}]', "column 'label', row 1: holds lists"),
])
def test_bad_gold(capsys, tmp_path, name, content, expected):
    judgments = write(tmp_path / "judgments.csv", GOOD)
    gold = write(tmp_path / name, content)
    for command in ("aggregate", "validate"):
        extra = ["--claimed-accuracy", "0.9"] if command == "validate" else ["--method", "mv"]
        code, _, err = run(capsys, command, judgments, "--gold", gold, *extra)
        assert_clean_error(code, err, command, str(gold), expected, alone=False)


def test_gold_for_unknown_items_and_na_is_quarantined(capsys, tmp_path):
    judgments = write(tmp_path / "judgments.csv", GOOD)
    gold = write(tmp_path / "gold.csv", "item,label\na,cat\nzzz,dog\nb,n/a\n")
    code, _, err = run(capsys, "aggregate", judgments, "--gold", gold, "--method", "mv",
                       "-o", tmp_path / "items.csv")
    assert code == 0, err
    assert accounting(err, "gold") == (3, 1, 2)
    q = pl.read_csv(tmp_path / "items.quarantine.csv", infer_schema=False)
    assert q["reason"].to_list() == ["gold item is not in the delivery", "gold label is empty or n/a"]


# -- model probabilities and importance (redundancy) --------------------------------------------------

@pytest.mark.parametrize(("content", "expected"), [
    ("item,cat,dog\na,0.3,0.3\n", "column 'cat,dog', row 1: probabilities of a row must sum to 1"),
    ("item,cat,dog,horse\na,0.3,0.3,0.4\n", "(not read: ['horse'])"),
    ("item,prob_cat,prob_dog,prob_horse\na,0.5,0.5,0\n", "column 'prob_horse': probability column for class 'horse'"),
    ("item,cat,prob_cat,dog\na,0.5,0.5,0.5\n", "class 'cat' has several probability columns ['cat', 'prob_cat']"),
    ("item,cat,dog\na,-0.3,1.3\n", "column 'cat', row 1: negative probability"),
    ("item,cat,dog\na,nan,1\n", "column 'cat', row 1: missing or non-numeric probability"),
    ("item,cat,dog\na,abc,1\n", "column 'cat', row 1: missing or non-numeric probability"),
    ("item,cat,dog\na,inf,0\n", "column 'cat', row 1: probability above 1"),
    ("item,cat,dog\na,0.5,0.5\na,0.5,0.5\n", "column 'item', rows 1, 2: item listed more than once"),
    ("item,cat,dog\n,0.5,0.5\n", "column 'item', row 1: missing item id"),
    ("item,cat\na,1\n", "no probability column for class 'dog'"),
    ("foo,cat,dog\na,0.5,0.5\n", "no item column"),
    ("item,cat,cat,dog\na,0.5,0.1,0.5\n", "the header names column 'cat' twice"),
    ("", "file is empty"),
])
def test_bad_model_probs(capsys, tmp_path, content, expected):
    judgments = write(tmp_path / "judgments.csv", GOOD)
    probs = write(tmp_path / "probs.csv", content)
    code, _, err = run(capsys, "redundancy", judgments, "--method", "mv", "--model-probs", probs)
    assert_clean_error(code, err, "redundancy", str(probs), expected, alone=False)
    accounting(err)


@pytest.mark.parametrize(("content", "expected"), [
    ('[{"item": "a", "cat": [0.5], "dog": 0.5}]', "column 'cat', row 1: holds lists"),
    ('[{"item": ["a"], "cat": 0.5, "dog": 0.5}]', "column 'item', row 1: holds lists"),
])
def test_model_probs_with_lists(capsys, tmp_path, content, expected):
    judgments = write(tmp_path / "judgments.csv", GOOD)
    probs = write(tmp_path / "probs.json", content)
    code, _, err = run(capsys, "redundancy", judgments, "--method", "mv", "--model-probs", probs)
    assert_clean_error(code, err, "redundancy", str(probs), expected, alone=False)


def test_model_rows_for_unknown_items_are_quarantined(capsys, tmp_path):
    judgments = write(tmp_path / "judgments.csv", GOOD)
    probs = write(tmp_path / "probs.csv", "item,cat,dog\na,0.2,0.8\nzzz,0.5,0.5\n")
    code, _, err = run(capsys, "redundancy", judgments, "--method", "mv", "--model-probs", probs,
                       "-o", tmp_path / "advice.csv")
    assert code == 0, err
    assert accounting(err, "model") == (2, 1, 1)


@pytest.mark.parametrize(("column", "values", "expected"), [
    ("nope", None, "importance column 'nope' not found"),
    ("imp", ["1", "high", "", "0.5", "nan", "abc"], "column 'imp', rows 4, 5, 6: importance must be a number >= 1"),
    ("imp", ["inf", "1e400", "1", "1", "1", "1"], "column 'imp', rows 1, 2: importance must be a number >= 1"),
])
def test_bad_importance_column(capsys, tmp_path, column, values, expected):
    lines = GOOD.replace(",duration", ",imp").splitlines()
    if values is not None:
        lines = [lines[0]] + [",".join(line.split(",")[:3] + [v]) for line, v in zip(lines[1:], values)]
    path = write(tmp_path / "judgments.csv", "\n".join(lines) + "\n")
    code, _, err = run(capsys, "redundancy", path, "--method", "mv", "--importance-col", column)
    assert_clean_error(code, err, "redundancy", str(path), expected, alone=False)


# -- boxes ----------------------------------------------------------------------------------------------

COCO = {"images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80}],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 30, 40], "annotator": "w1"},
                        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [2, 2, 30, 40], "annotator": "w2"}]}


def rect(**value):
    return {"type": "rectanglelabels", "original_width": 100, "original_height": 80,
            "value": {"x": 1, "y": 2, "width": 30, "height": 40, "rotation": 0, "rectanglelabels": ["cat"], **value}}


def studio(*results, completed_by=1):
    return [{"id": 1, "data": {"image": "a.jpg"}, "annotations": [
        {"completed_by": completed_by, "result": list(results)}, {"completed_by": 9, "result": [rect(x=2)]}]}]


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("empty.csv", "", "file is empty"),
    ("header.csv", "image,worker,x0,y0,x1,y1\n", "file has a header but no data rows"),
    ("nocoords.csv", "image,worker,label\ni,a,cat\n", "cannot find the box coordinate columns"),
    ("carriage_return.csv", "\r" + BOXES[1:], "cannot find the image id column"),  # '\rmage': still one line
    ("dupcol.csv", "image,worker,x0,y0,x1,y1,x1\ni,a,1,1,5,5,9\n", "the header names column 'x1' twice"),
    ("allbad.csv", "image,worker,x0,y0,x1,y1\n,a,1,1,2,2\ni,b,x,1,2,2\n",
     "no usable boxes: all 2 rows were quarantined"),
    ("lists.json", '[{"image": "i", "worker": "a", "x0": [1], "y0": 1, "x1": 5, "y1": 5}]',
     "column 'x0', row 1: holds lists"),
    ("object.json", '{"image": "i"}', "holds an object"),
    ("coco_images.json", json.dumps({**COCO, "images": 5}), "'images' must be a list; got int"),
    ("coco_no_annotations.json", json.dumps({"images": COCO["images"], "annotations": None}),
     "'annotations' must be a list; got NoneType"),
    ("coco_anns.json", json.dumps({**COCO, "annotations": {"a": 1}}), "'annotations' must be a list; got dict"),
    ("coco_cats.json", json.dumps({**COCO, "categories": "cat"}), "'categories' must be a list; got str"),
    ("coco_no_annotator.json", json.dumps({**COCO, "annotations": [{"image_id": 1, "bbox": [1, 1, 2, 2]}]}),
     "COCO annotations have no annotator field"),
    ("ls_task.json", json.dumps(studio(rect()) + [5]), "task 2 is not a JSON object"),
    ("ls_annotations.json", json.dumps([{"data": {"image": "i"}, "annotations": 5}]),
     "task 1: 'annotations' must be a list; got int"),
    ("ls_annotation.json", json.dumps([{"data": {"image": "i"}, "annotations": [1]}]),
     "task 1: every element of 'annotations' must be a JSON object"),
    ("ls_result.json", json.dumps([{"data": {"image": "i"}, "annotations": [{"completed_by": 1, "result": "x"}]}]),
     "task 1, annotation by 1: 'result' must be a list; got str"),
    ("ls_polygons_only.json", json.dumps([{"data": {"image": "i"}, "annotations": [
        {"completed_by": 1, "result": [{"type": "polygonlabels", "value": {"points": [[1, 2]]}}]}]}]),
     "no usable boxes: all 1 rows were quarantined (result type 'polygonlabels' is not a rectangle"),
])
def test_bad_box_files(capsys, tmp_path, name, content, expected):
    path = write(tmp_path / name, content)
    code, _, err = run(capsys, "boxes", path, "-o", tmp_path / "boxes.csv")
    assert_clean_error(code, err, "boxes", str(path), expected)


@pytest.mark.parametrize(("content", "expected"), [
    ("image,worker,x0,y0,x1,y1,x1\ni,a,1,1,5,5,9\n", "the header names column 'x1' twice"),
    (json.dumps([{"data": {"image": "i"}, "annotations": 5}]), "task 1: 'annotations' must be a list"),
])
def test_audit_reports_bad_boxes(capsys, tmp_path, content, expected):
    path = write(tmp_path / ("boxes.json" if content.startswith("[") else "boxes.csv"), content)
    code, _, err = run(capsys, "audit", write(tmp_path / "judgments.csv", GOOD), "--boxes", path,
                       "-o", tmp_path / "audit", "--quiet", "--no-fraud", "--no-redundancy")
    assert_clean_error(code, err, "audit", str(path), expected)


def test_coco_mixed_with_other_inputs(capsys, tmp_path):
    coco = write(tmp_path / "coco.json", json.dumps(COCO))
    code, _, err = run(capsys, "boxes", write(tmp_path / "boxes.csv", BOXES), coco)
    assert_clean_error(code, err, "boxes", f"{coco}: is a COCO file; COCO files are read one at a time")


@pytest.mark.parametrize(("name", "content", "expected", "reasons"), [
    ("swapped.csv", BOXES + "i2,b,20,20,5,5,dog\n", (4, 4, 0), []),
    ("coords.csv", BOXES + "i2,b,x,5,20,20,dog\ni2,c,nan,5,20,20,dog\ni2,d,1,,20,20,dog\n", (6, 3, 3),
     ["not a finite number", "some box coordinates are empty"]),
    ("sizes.csv", "image,worker,x0,y0,x1,y1,image_width,image_height\ni,a,1,1,5,5,-3,abc\ni,b,1,1,5,5,10,10\n",
     (2, 1, 1), ["image width is not a positive number"]),
    ("extra.json", '[{"image": "i", "worker": "a", "x0": 1, "y0": 1, "x1": 5, "y1": 5, "meta": {"k": [1]}},'
     '{"image": "i", "worker": "b", "x0": "x", "y0": 1, "x1": 5, "y1": 5, "meta": {"k": [2]}}]', (2, 1, 1),
     ["not a finite number"]),
    ("coco.json", json.dumps({**COCO, "annotations": COCO["annotations"] + [
        {"image_id": 1, "annotator": "w3", "bbox": ["a", "b", "c", "d"]},
        {"image_id": 1, "annotator": "w4", "bbox": [10 ** 400, 1, 1, 1]},
        {"image_id": [1], "annotator": "w5", "bbox": [1, 1, 2, 2]},
        {"image_id": 1, "annotator": "w6", "category_id": {"id": 1}, "bbox": [1, 1, 2, 2]},
        "not an object"]}), (7, 2, 5),
     ["bbox is not a list of 4 numbers", "image_id is not a number or text",
      "category_id is not a number or text", "annotation is not a JSON object"]),
    ("studio.json", json.dumps(studio(rect(), {"type": "choices", "value": {"choices": ["ok"]}},
                                      {"type": "rectanglelabels", "value": [1]},
                                      {"type": "rectanglelabels", "value": {"rectanglelabels": ["cat"]}}, 7)),
     (6, 2, 4), ["result type 'choices' is not a rectangle", "rectangle 'value' is not a JSON object",
                 "rectangle lacks a number", "result is not a JSON object"]),
    ("coco_without_images.json", json.dumps({"annotations": COCO["annotations"]}), (2, 2, 0), []),
    ("polygon.json", json.dumps(studio({"type": "polygonlabels", "value": {"points": [[1, 2]]}})), (2, 1, 1),
     ["result type 'polygonlabels' is not a rectangle"]),
])
def test_partly_bad_boxes_are_accounted_for(capsys, tmp_path, name, content, expected, reasons):
    path = write(tmp_path / name, content)
    quarantine = tmp_path / "q.csv"
    code, _, err = run(capsys, "boxes", path, "-o", tmp_path / "boxes.csv", "--quarantine-out", quarantine,
                       "--flags-out", tmp_path / "flags.csv")
    assert code == 0, err
    assert accounting(err) == expected
    if expected[2]:
        q = pl.read_csv(quarantine, infer_schema=False)
        assert q.height == expected[2]
        for reason in reasons:
            assert q["reason"].str.contains(reason, literal=True).any(), (reason, q["reason"].to_list())
    if name == "swapped.csv":  # x1 < x0 is kept as a degenerate box, flagged, left out of matching
        flags = pl.read_csv(tmp_path / "flags.csv", infer_schema=False)
        assert flags.filter(pl.col("worker") == "b")["degenerate"].to_list() == ["true"]


def test_polygon_is_not_an_empty_annotation(capsys, tmp_path):
    """An annotator who drew only polygons did not 'draw nothing': no seen pair, no vote against the box."""
    path = write(tmp_path / "studio.json", json.dumps(studio({"type": "polygonlabels", "value": {}})))
    code, _, err = run(capsys, "boxes", path, "-o", tmp_path / "boxes.csv")
    assert code == 0, err
    assert "empty annotations" not in err
    assert pl.read_csv(tmp_path / "boxes.csv")["n_seen"].to_list() == [1]


@pytest.mark.parametrize(("content", "expected"), [
    ("image,worker\ni1,\n", "row 1: missing image or annotator id"),
    ("foo\n1\n", "cannot find the image id column"),
])
def test_bad_seen_table(capsys, tmp_path, content, expected):
    seen = write(tmp_path / "seen.csv", content)
    code, _, err = run(capsys, "boxes", write(tmp_path / "boxes.csv", BOXES), "--seen", seen)
    assert_clean_error(code, err, "boxes", str(seen), expected)


# -- random corruption: an error or exact accounting, never a traceback --------------------------------

def check_run(capsys, path: Path, argv: list, kind: str = "input") -> int | None:
    """Run ``argv``; on exit 2 check the error line, else the accounting. The row count read, or None."""
    quarantine = path.with_suffix(".q.csv")
    code = main([str(a) for a in [*argv, "--quarantine-out", quarantine]])
    _, err = capsys.readouterr()
    assert "Traceback" not in err
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert lines and "error:" in lines[-1] and path.name in lines[-1], err
        assert all("error:" not in line for line in lines[:-1]), err
        return None
    assert code == 0, err
    n, _, quarantined = accounting(err, kind)
    if quarantined:
        assert pl.read_csv(quarantine, infer_schema=False).height == quarantined
    return n


_sweep = settings(max_examples=40, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
_edits = st.lists(st.tuples(st.sampled_from(["set", "insert", "delete"]), st.floats(0, 1),
                            st.sampled_from(list(b'",\n\r\t\x00\xff;a1 .-'))), min_size=1, max_size=6)


def corrupt(data: bytes, edits) -> bytes:
    out = bytearray(data)
    for op, where, byte in edits:
        pos = min(int(where * len(out)), len(out) - 1)
        if op == "set":
            out[pos] = byte
        elif op == "insert":
            out.insert(pos, byte)
        elif len(out) > 1:
            del out[pos]
    return bytes(out)


@_sweep
@given(edits=_edits)
def test_corrupted_judgment_csv(capsys, tmp_path, edits):
    path = write(tmp_path / "corrupt.csv", corrupt((GOOD + "c,x,cat,4\nc,y,n/a,5\n").encode(), edits))
    check_run(capsys, path, ["aggregate", path, "--method", "mv", "-o", tmp_path / "items.csv"])


@_sweep
@given(edits=_edits)
def test_corrupted_box_csv(capsys, tmp_path, edits):
    path = write(tmp_path / "corrupt.csv", corrupt(BOXES.encode(), edits))
    check_run(capsys, path, ["boxes", path, "-o", tmp_path / "boxes.csv"])


_json_values = st.sampled_from([None, 1, -1, 1.5, "x", "", [], [1], {}, {"a": 1}, True, 10 ** 400, "nan"])


def walk(doc, choices):
    """A copy of ``doc`` and the (container, key) of a value in it chosen by ``choices`` (floats in [0, 1))."""
    doc = json.loads(json.dumps(doc))
    parent, key = None, None
    node = doc
    for pick in choices:
        keys = list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
        if not keys:
            break
        parent, key = node, keys[int(pick * len(keys))]
        node = node[key]
    return parent, key, doc


@_sweep
@given(label_studio=st.booleans(), choices=st.lists(st.floats(0, 0.999), min_size=1, max_size=6),
       value=_json_values, delete=st.booleans())
def test_mangled_coco_and_label_studio(capsys, tmp_path, label_studio, choices, value, delete):
    base = studio(rect(), rect(x=5), {"type": "choices", "value": {}}) if label_studio else COCO
    parent, key, doc = walk(base, choices)
    if parent is None:
        doc = value
    elif delete and isinstance(parent, dict):
        del parent[key]
    else:
        parent[key] = value
    path = write(tmp_path / "mangled.json", json.dumps(doc))
    check_run(capsys, path, ["boxes", path, "-o", tmp_path / "boxes.csv"])


_cells = {
    "text": st.lists(st.sampled_from(["a", "b", "", " ", "n/a"]), min_size=4, max_size=4),
    "int": st.lists(st.integers(-3, 3), min_size=4, max_size=4),
    "float": st.lists(st.sampled_from([0.0, 1.0, -1.0, float("nan"), float("inf"), 1e308]), min_size=4, max_size=4),
    "null": st.just([None] * 4),
    "list": st.lists(st.lists(st.integers(0, 2), max_size=2), min_size=4, max_size=4),
    "bool": st.lists(st.booleans(), min_size=4, max_size=4),
}


@_sweep
@given(kinds=st.fixed_dictionaries({c: st.sampled_from(sorted(_cells)) for c in ("item", "worker", "label",
                                                                                 "duration")}),
       data=st.data())
def test_parquet_column_types(capsys, tmp_path, kinds, data):
    frame = pl.DataFrame({c: pl.Series(c, data.draw(_cells[k]), strict=False) for c, k in kinds.items()})
    path = write(tmp_path / "typed.parquet", frame)
    n = check_run(capsys, path, ["aggregate", path, "--method", "mv", "-o", tmp_path / "items.csv"])
    assert n in (None, frame.height)
