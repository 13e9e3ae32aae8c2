"""Box readers, BoxConsensus tables and flags on constructed cases and a real sample; the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import consensus
from consensus.boxes import BoxConsensus, BoxSet, fit_boxes, read_boxes
from consensus.cli import main
from consensus.errors import InputError, ParameterError

DATA = Path(__file__).resolve().parent / "data" / "boxes"
ROOT = Path(__file__).resolve().parent.parent
SAMPLE = DATA / "braylan_3_images.csv"


def frame(rows, columns=("image", "worker", "x0", "y0", "x1", "y1")):
    return pl.DataFrame([dict(zip(columns, r)) for r in rows])


def crowd(extra=(), jitter=1.0):
    """Two objects on image a, three careful annotators; image b with one object."""
    rows = []
    for k, w in enumerate(("w1", "w2", "w3")):
        d = jitter * (k - 1)
        rows += [("a", w, 10 + d, 10, 50 + d, 90), ("a", w, 100, 10 - d, 140, 90 - d), ("b", w, 0, 0, 20 + d, 20)]
    return frame(rows + list(extra))


# -- real sample ------------------------------------------------------------------------------------
def test_real_sample_reads_fits_and_accounts():
    data = read_boxes(SAMPLE)
    assert (data.n_boxes, data.n_images, data.n_workers) == (112, 3, 21)
    assert data.accounting_line() == "input rows 112 = used 112 + quarantined 0"
    result = fit_boxes(data)
    s = result.summary()
    assert set(s) >= {"mean_matched_iou", "f1_agreement", "n_images", "n_objects", "images_by_recommendation",
                      "workers_flagged"}
    assert s["n_images"] == 3 and 0 < s["n_objects"] <= s["n_candidates"]
    assert 0.5 < s["mean_matched_iou"] < 1 and 0 < s["f1_agreement"] < 1
    assert sum(s["images_by_recommendation"].values()) == 3
    assert result.boxes.columns[:7] == ["image", "object", "x0", "y0", "x1", "y1", "label"]
    assert (result.boxes.get_column("confidence") >= 0.5).all()
    # the consensus is close to the experts' boxes: most kept objects overlap a gold box
    gold = pl.read_csv(DATA / "braylan_3_images_gold.csv", schema_overrides={"image": pl.String})
    from consensus.kernels.iou import iou_matrix

    hits = 0
    for image in ("0", "1", "2"):
        ours = result.boxes.filter(pl.col("image") == image).select("x0", "y0", "x1", "y1").to_numpy()
        g = gold.filter(pl.col("image") == image).select("x0", "y0", "x1", "y1").to_numpy().astype(float)
        hits += int((iou_matrix(ours, g).max(axis=1) >= 0.5).sum())
    assert hits >= 0.75 * result.boxes.height  # 8 of 10 on these three images


def test_input_row_order_does_not_change_the_result():
    raw = pl.read_csv(SAMPLE, infer_schema=False)
    shuffled = raw.sample(fraction=1.0, shuffle=True, seed=7)
    a, b = fit_boxes(raw), fit_boxes(shuffled)
    assert a.boxes.equals(b.boxes)
    assert a.images.equals(b.images)
    assert a.workers.equals(b.workers)


# -- formats -------------------------------------------------------------------------------------
def test_xywh_and_normalised_give_the_same_objects():
    base = crowd()
    xyxy = fit_boxes(base)
    xywh = fit_boxes(base.select("image", "worker", pl.col("x0").alias("x"), pl.col("y0").alias("y"),
                                 (pl.col("x1") - pl.col("x0")).alias("w"), (pl.col("y1") - pl.col("y0")).alias("h")))
    assert xywh.data.box_format == "xywh" and xywh.boxes.columns[2:6] == ["x", "y", "w", "h"]
    np.testing.assert_allclose(xywh.boxes.get_column("x").to_numpy(), xyxy.boxes.get_column("x0").to_numpy())
    np.testing.assert_allclose(xywh.boxes.get_column("w").to_numpy(),
                               (xyxy.boxes.get_column("x1") - xyxy.boxes.get_column("x0")).to_numpy())
    norm = fit_boxes(base.with_columns(pl.col("x0", "x1") / 200.0, pl.col("y0", "y1") / 100.0))
    assert norm.data.normalized
    np.testing.assert_allclose(norm.boxes.get_column("x1").to_numpy() * 200, xyxy.boxes.get_column("x1").to_numpy())
    np.testing.assert_allclose(norm.boxes.get_column("confidence").to_numpy(),
                               xyxy.boxes.get_column("confidence").to_numpy())


def test_quarantine_reasons_and_empty_annotations():
    rows = [("a", "w1", 0, 0, 10, 10), ("a", "w2", 0, 0, 10, 10), (None, "w3", 0, 0, 1, 1),
            ("a", None, 0, 0, 1, 1), ("a", "w3", "x", 0, 1, 1), ("a", "w3", 1, None, 2, 2),
            ("a", "w1", 0, 0, 10, 10), ("a", "w4", None, None, None, None)]
    raw = pl.DataFrame({c: [None if r[k] is None else str(r[k]) for r in rows]
                        for k, c in enumerate(("image", "worker", "x0", "y0", "x1", "y1"))})
    data = read_boxes(raw)
    assert data.n_boxes == 2 and data.n_empty == 1
    assert data.accounting_line() == "input rows 8 = used 3 + quarantined 5"
    reasons = dict(zip(data.quarantine.get_column("row").to_list(), data.quarantine.get_column("reason").to_list()))
    assert reasons[3].startswith("missing image id")
    assert reasons[4].startswith("missing annotator id")
    # the reasons name the column(s)
    assert reasons[5] == "box coordinate is not a finite number (column 'x0')"
    assert reasons[6] == "some box coordinates are empty (column 'y0')"
    assert reasons[7].startswith("duplicate box")
    # w4 saw image a and drew nothing: the object has 2 of 3 annotators
    result = fit_boxes(data)
    assert result.boxes.get_column("n_seen").to_list() == [3]
    # weighted share: w4, who drew nothing, weighs less than w1 and w2 (detection reliability)
    assert 2 / 3 < result.boxes.get_column("confidence").item() < 1


def test_seen_table_counts_annotators_who_drew_nothing(tmp_path):
    seen = tmp_path / "seen.csv"
    pl.DataFrame({"image": ["b", "b", "b"], "worker": ["w4", "w5", "w6"]}).write_csv(seen)
    result = fit_boxes(crowd(), seen=str(seen))
    b = result.boxes.filter(pl.col("image") == "b")
    assert b.height == 1 and b.get_column("n_seen").item() == 6
    keep_all = fit_boxes(crowd(), seen=str(seen), min_confidence=0.6, keep_all=True)
    assert not keep_all.boxes.filter(pl.col("image") == "b").get_column("kept").item()


def test_coco_json(tmp_path):
    doc = {"images": [{"id": 1, "file_name": "img1.jpg", "width": 200, "height": 100}],
           "categories": [{"id": 3, "name": "person"}],
           "annotations": [{"id": k, "image_id": 1, "category_id": 3, "bbox": [10 + k, 10, 40, 80],
                            "annotator": f"u{k}"} for k in range(3)]
           + [{"id": 9, "image_id": 1, "category_id": 3, "bbox": [1, 2], "annotator": "u9"}]}
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(doc))
    result = fit_boxes(str(path))
    assert result.data.accounting_line() == "input rows 4 = used 3 + quarantined 1"
    row = result.boxes.row(0, named=True)
    assert row["image"] == "img1.jpg" and row["label"] == "person" and row["n_annotators"] == 3
    assert row["x"] == pytest.approx(11.0) and row["w"] == pytest.approx(40.0)
    for a in doc["annotations"]:
        a["rater_id"] = a.pop("annotator")
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="annotator field"):
        read_boxes(str(path))
    assert read_boxes(str(path), annotator_field="rater_id").n_boxes == 3


def test_label_studio_json(tmp_path):
    def rect(x, label="car", rotation=0):
        return {"type": "rectanglelabels", "original_width": 400, "original_height": 200,
                "value": {"x": x, "y": 10, "width": 25, "height": 50, "rotation": rotation,
                          "rectanglelabels": [label]}}

    tasks = [{"id": 7, "data": {"image": "/data/upload/cars.png"}, "annotations": [
        {"completed_by": 1, "result": [rect(10)], "lead_time": 4.0},
        {"completed_by": {"id": 2, "email": "b@x.org"}, "result": [rect(11)]},
        {"completed_by": 3, "result": []},
        {"completed_by": 4, "result": [rect(10)], "was_cancelled": True},
        {"completed_by": 5, "result": [rect(50, rotation=30)]}]}]
    path = tmp_path / "ls.json"
    path.write_text(json.dumps(tasks))
    data = read_boxes(str(path))
    assert data.accounting_line() == "input rows 5 = used 3 + quarantined 2"
    assert set(data.worker_ids.to_list()) == {"1", "3", "b@x.org"}
    reasons = data.quarantine.get_column("reason").to_list()
    assert any("cancelled" in r for r in reasons) and any("rotat" in r for r in reasons)
    result = fit_boxes(data)
    row = result.boxes.row(0, named=True)
    assert row["x"] == pytest.approx(0.5 * (40 + 44)) and row["w"] == pytest.approx(100.0)
    assert row["n_seen"] == 3 and row["label"] == "car"
    assert data.duration[~np.isnan(data.duration)].tolist() == [4.0]


def _mturk_batch(path, rows, hidden_url=False):
    """A CSV laid out like MTurk's crowd-bounding-box batch download (the columns the reader uses)."""
    answer = "Answer.annotatedResult.boundingBoxes"
    frame = pl.DataFrame({
        "HITId": [r[0] for r in rows], "AssignmentId": [f"A{k}" for k in range(len(rows))],
        "WorkerId": [r[1] for r in rows], "AssignmentStatus": ["Submitted"] * len(rows),
        "WorkTimeInSeconds": [r[3] for r in rows],
        "Input.image_url": ["hidden" if hidden_url else f"https://x/{r[0]}.png" for r in rows],
        answer: [r[2] if isinstance(r[2], str) else json.dumps(r[2]) for r in rows],
        "Answer.annotatedResult.inputImageProperties.height": [300] * len(rows),
        "Answer.annotatedResult.inputImageProperties.width": [400] * len(rows),
        "Approve": [None] * len(rows), "Reject": [None] * len(rows)})
    frame.write_csv(path)
    return path


def test_mturk_bounding_box_batch(tmp_path):
    def box(left, label="stone", **extra):
        return {"left": left, "top": 20, "width": 50, "height": 40, "label": label, **extra}

    rows = [("H1", "w1", [box(10), box(200)], 30), ("H1", "w2", [box(12)], 10), ("H1", "w3", [], 5),
            ("H2", "w1", "[{not json", 8), ("H2", "w2", [box(30), {"left": 1, "top": 2, "label": "x"}], 12),
            ("H2", "w3", [box(31)], 6)]
    data = read_boxes(str(_mturk_batch(tmp_path / "Batch_1_batch_results.csv", rows)))
    # 6 assignments -> 4 + 1 + ... records: 5 boxes, 1 empty assignment, 2 quarantined (bad JSON, box without numbers)
    assert data.accounting_line() == "input rows 6 hold 8 box records = used 6 + quarantined 2"
    assert data.n_boxes == 5 and data.n_empty == 1
    assert set(data.image_ids.to_list()) == {"https://x/H1.png", "https://x/H2.png"}
    quarantine = data.quarantine
    assert sorted(quarantine.get_column("reason").to_list()) == [
        "Answer.annotatedResult.boundingBoxes is not valid JSON",
        "box lacks a number among left, top, width, height"]
    assert sorted(quarantine.get_column("row").to_list()) == [4, 5]  # the assignments' data rows
    durations = sorted(d for d in data.duration.tolist() if d == d)
    assert durations == [6.0, 6.0, 10.0, 15.0, 15.0]  # WorkTimeInSeconds over the boxes drawn
    result = fit_boxes(data)
    first = result.boxes.filter(pl.col("image") == "https://x/H1.png").sort("x").row(0, named=True)
    assert 10.0 <= first["x"] <= 12.0 and first["w"] == pytest.approx(50.0)  # fused from 10 and 12
    assert first["n_seen"] == 3 and first["n_annotators"] == 2 and first["label"] == "stone"
    hidden = read_boxes(str(_mturk_batch(tmp_path / "hidden.csv", rows, hidden_url=True)))
    assert set(hidden.image_ids.to_list()) == {"H1", "H2"}  # a hidden URL names no image: the HIT does


def test_mturk_rejected_assignments_and_odd_boxes(tmp_path):
    path = _mturk_batch(tmp_path / "b.csv", [
        ("H1", "w1", [{"left": 1, "top": 2, "width": 30, "height": 40, "label": "a"}], 4),
        ("H1", "w2", [{"left": 2, "top": 2, "width": 30, "height": 40, "label": ["a"]}, "x"], 9),
        ("H1", "w3", [{"left": 1, "top": 2, "width": 30, "height": 40, "label": "a"}], 3)])
    frame = pl.read_csv(path, infer_schema=False).with_columns(
        pl.when(pl.col("WorkerId") == "w3").then(pl.lit("Rejected")).otherwise(pl.lit("Approved"))
        .alias("AssignmentStatus"))
    frame.write_csv(path)
    data = read_boxes(str(path))
    assert data.accounting_line() == "input rows 3 hold 4 box records = used 1 + quarantined 3"
    assert sorted(data.quarantine.get_column("reason").to_list()) == [
        "a box is not a JSON object", "assignment rejected by the requester (AssignmentStatus = Rejected)",
        "box label is not a number or text"]
    assert data.classes == ["a"]


def test_box_agreement_on_many_partitions_mturk_and_all_bad_input(tmp_path):
    """The partitioned path: empty partitions, MTurk batches and an input with no usable row, as read_boxes."""
    from consensus.backends import box_agreement

    rows = [{"image": f"img{i}", "worker": w, "x0": 10 + k, "y0": 10, "x1": 50 + k, "y1": 50}
            for i in range(6) for k, w in enumerate(("a", "b", "c"))]
    frame = pl.DataFrame(rows)
    memory = fit_boxes(frame)
    for n in (3, 12):  # 12 partitions for 6 images: some hold nothing
        got = box_agreement(frame, engine="local", n_partitions=n)
        assert got.images["image"].to_list() == memory.images["image"].to_list()
        np.testing.assert_allclose(got.images["mean_iou"].to_numpy(), memory.images["mean_iou"].to_numpy())
        assert got.accounting_line() == memory.data.accounting_line()
    path = _mturk_batch(tmp_path / "batch.csv", [("H1", w, [{"left": k, "top": 2, "width": 30, "height": 40,
                                                              "label": "a"}], 3) for k, w in enumerate("xyz")])
    # the same records, counted from the same file rows
    got, want = box_agreement(str(path), engine="local"), read_boxes(str(path))
    assert (got.n_input_rows, got.n_quarantined) == (want.n_input_rows, want.n_quarantined)
    assert got.accounting_line() == want.accounting_line() == "input rows 3 hold 3 box records = used 3 + quarantined 0"
    bad = tmp_path / "bad.csv"
    frame.with_columns(pl.lit("x").alias("x0")).write_csv(bad)
    with pytest.raises(InputError, match="no usable boxes"):
        box_agreement(str(bad), engine="local", n_partitions=3)


def test_mturk_bounding_box_batch_cli(tmp_path, capsys):
    path = _mturk_batch(tmp_path / "batch.csv", [("H1", "w1", [{"left": 1, "top": 2, "width": 3, "height": 4,
                                                                 "label": "a"}], 3)])
    assert main(["boxes", str(path), "-o", str(tmp_path / "out.csv")]) == 0
    assert "input rows 1 hold 1 box records = used 1 + quarantined 0" in capsys.readouterr().err


def test_missing_columns_and_bad_parameters():
    with pytest.raises(InputError, match="coordinate columns"):
        read_boxes(pl.DataFrame({"image": ["a"], "worker": ["w"], "foo": [1]}))
    with pytest.raises(InputError, match="annotator id"):
        read_boxes(pl.DataFrame({"image": ["a"], "x0": [0], "y0": [0], "x1": [1], "y1": [1]}))
    with pytest.raises(ParameterError, match="iou_threshold"):
        BoxConsensus(iou_threshold=0).fit(crowd())
    with pytest.raises(ParameterError, match="box_format"):
        read_boxes(crowd(), box_format="cxcywh")


# -- model ----------------------------------------------------------------------------------------
def test_split_boxes_are_flagged():
    """The elephant split into three: w4 draws three boxes inside the object the others agree on."""
    rows = [("a", w, 100 + d, 100, 300 + d, 200) for w, d in (("w1", 0), ("w2", 2), ("w3", -2))]
    rows += [("a", "w4", 100, 100, 165, 200), ("a", "w4", 168, 100, 232, 200), ("a", "w4", 235, 100, 300, 200)]
    result = fit_boxes(frame(rows))
    assert result.boxes.height == 1
    flagged = result.box_flags
    assert flagged.get_column("worker").to_list() == ["w4"] * 3
    assert flagged.get_column("split").all() and not flagged.get_column("merged").any()
    w4 = result.workers.filter(pl.col("worker") == "w4").row(0, named=True)
    assert w4["n_split"] == 3 and w4["n_matched"] == 0
    # one box inside the object is not a split
    single = fit_boxes(frame(rows[:4]))
    assert single.box_flags.height == 0


def test_merged_box_is_flagged():
    rows = []
    for w, d in (("w1", 0), ("w2", 1), ("w3", -1)):
        rows += [("a", w, 10 + d, 10, 50, 90), ("a", w, 60, 10 + d, 100, 90)]
    rows.append(("a", "w4", 8, 8, 102, 92))
    result = fit_boxes(frame(rows))
    assert result.boxes.height == 2
    assert result.box_flags.get_column("worker").to_list() == ["w4"]
    assert result.box_flags.get_column("flags").to_list() == ["merged"]


def test_degenerate_out_of_image_whole_image_and_fast_boxes():
    cols = ("image", "worker", "x0", "y0", "x1", "y1", "image_width", "image_height", "duration")
    rows = [("a", w, 10, 10, 50, 50, 100, 100, 5.0) for w in ("w1", "w2", "w3")]
    rows += [("a", "w4", 20, 20, 20, 40, 100, 100, 5.0),  # zero width
             ("a", "w5", 80, 80, 130, 120, 100, 100, 5.0),  # past the edge
             ("a", "w6", 0, 0, 100, 100, 100, 100, 0.1)]  # whole image, fast
    result = fit_boxes(frame(rows, cols), fast_seconds=0.5)
    flags = dict(zip(result.annotations.get_column("worker"), result.annotations.get_column("flags")))
    assert flags == {"w1": "", "w2": "", "w3": "", "w4": "degenerate", "w5": "out_of_image",
                     "w6": "whole_image;fast"}
    assert result.annotations.filter(pl.col("worker") == "w4").get_column("object").item() is None


def test_reliability_weights_favour_precise_annotators():
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        x, y = rng.uniform(0, 500, 2)
        for w, sd in (("p1", 1.0), ("p2", 1.0), ("p3", 1.0), ("sloppy", 8.0)):
            j = rng.normal(0, sd, 4)
            rows.append((f"img{i}", w, x + j[0], y + j[1], x + 60 + j[2], y + 60 + j[3]))
    result = fit_boxes(frame(rows))
    workers = {r["worker"]: r for r in result.workers.iter_rows(named=True)}
    assert workers["sloppy"]["loc_weight"] < 0.2 * workers["p1"]["loc_weight"]
    assert workers["sloppy"]["mean_iou"] < workers["p1"]["mean_iou"]
    assert workers["sloppy"]["iou_high"] < workers["p1"]["iou_low"]
    assert "low_iou" not in workers["p1"]["flags"]


def test_tightness_bias_and_recommendations():
    rows = []
    for i in range(15):
        for w in ("w1", "w2", "w3"):
            rows.append((f"i{i}", w, 100, 100, 200, 200))
        rows.append((f"i{i}", "loose", 80, 80, 220, 220))
    rows.append(("solo", "w1", 0, 0, 10, 10))
    result = fit_boxes(frame(rows))
    loose = result.workers.filter(pl.col("worker") == "loose").row(0, named=True)
    assert loose["tightness"] == pytest.approx(np.log(1.96 / 1.0), abs=0.15) and "loose" in loose["flags"]
    rec = dict(zip(result.images.get_column("image"), result.images.get_column("recommendation")))
    assert rec["solo"] == "needs_more_annotators"
    assert rec["i0"] == "accept"


def test_recommendation_follows_object_doubt():
    """Annotators who box different subsets are not a dispute; a split crowd or scattered boxes are."""
    rows = []
    workers = [f"w{k}" for k in range(6)]
    for k, w in enumerate(workers):
        # clear: two objects everyone draws, plus one stray box each (low soft F1, nothing in doubt)
        rows += [("clear", w, 0, 0, 20, 40), ("clear", w, 100, 0, 120, 40),
                 ("clear", w, 200 + 30 * k, 100, 210 + 30 * k, 110)]
        if k < 3:  # split: half of the six draw the object
            rows.append(("split", w, 0, 0, 20, 40))
        rows.append(("split", w, 100, 0, 120, 40))
        # scattered: one box each around the same spot, no two overlapping enough to match
        rows.append(("scattered", w, 12 * k, 0, 12 * k + 20, 40))
    rows += [("few", w, 0, 0, 20, 40) for w in workers[:2]] + [("few", "w2", 100, 0, 120, 40)]
    result = fit_boxes(frame(rows))
    images = {r["image"]: r for r in result.images.iter_rows(named=True)}
    assert images["clear"]["f1"] < 0.7 and images["clear"]["recommendation"] == "accept"
    assert images["clear"]["n_uncertain"] == 0 and images["clear"]["n_objects"] == 2
    assert images["split"]["n_uncertain"] == 1 and images["split"]["recommendation"] == "expert_review"
    assert images["scattered"]["n_uncertain"] == 0 and images["scattered"]["explained"] == 0
    assert images["scattered"]["recommendation"] == "expert_review"
    assert images["few"]["n_uncertain"] >= 1 and images["few"]["recommendation"] == "needs_more_annotators"
    doubt = result.boxes.get_column("doubt").to_numpy()
    assert ((doubt >= 0) & (doubt <= 0.5)).all()


def test_decision_doubt_values():
    from consensus.boxes.model import decision_doubt

    got = decision_doubt(np.array([9.0, 6.0, 4.0, 1.0]), np.full(4, 9.0), 0.5, np.array([True, True, False, False]))
    assert got[0] < 0.001 and got[1] == pytest.approx(0.159, abs=0.001)
    assert got[2] == pytest.approx(0.371, abs=0.001) and got[3] < 0.01
    # more annotators agreeing -> less doubt
    few, many = decision_doubt(np.array([3.0, 9.0]), np.array([3.0, 9.0]), 0.5, np.array([True, True]))
    assert many < few < 0.1


def _mergeable_pairs(data, obj, fused, obj_image):
    """Pairs of objects of one image whose fused boxes overlap (IoU >= 0.5) and that share no annotator."""
    from consensus.kernels.iou import iou_matrix

    found = 0
    for g in range(data.n_images):
        objs = np.flatnonzero(obj_image == g)
        iou = iou_matrix(fused[objs], fused[objs])
        for i, a in enumerate(objs):
            for j in range(i + 1, objs.size):
                if iou[i, j] >= 0.5 and not set(data.worker[obj == a].tolist()) & set(
                        data.worker[obj == objs[j]].tolist()):
                    found += 1
    return found


def test_no_two_objects_could_still_merge():
    """Real data (30 images): matching alone leaves objects split in parts whose fused boxes overlap;
    after the fit none is left."""
    from consensus.boxes.model import _group, match
    from consensus.kernels.box_fusion import MEDIAN, fuse_boxes

    data = read_boxes(ROOT / "datasets" / "boxes_sample" / "boxes.csv")
    obj, _, start = match(data)
    fused, _ = fuse_boxes(*_group(obj, int(start[-1])), data.coords, np.ones(data.n_boxes), MEDIAN)
    assert _mergeable_pairs(data, obj, fused, np.repeat(np.arange(data.n_images), np.diff(start))) > 0
    fit = fit_boxes(data).fit
    assert _mergeable_pairs(data, fit.obj, fit.fused, fit.obj_image) == 0
    assert fit.kept.size < int(start[-1])


def test_class_agnostic_matching_votes_the_class():
    rows = [("a", "w1", 0, 0, 10, 10, "person"), ("a", "w2", 0, 0, 10, 10, "person"),
            ("a", "w3", 0, 0, 10, 10, "poster")]
    cols = ("image", "worker", "x0", "y0", "x1", "y1", "label")
    aware = fit_boxes(frame(rows, cols))
    assert sorted(aware.boxes.get_column("label").to_list()) == ["person"]
    agnostic = fit_boxes(frame(rows, cols), class_aware=False)
    assert agnostic.boxes.get_column("label").to_list() == ["person"]
    assert agnostic.boxes.get_column("n_annotators").to_list() == [3]


def test_lazy_public_api():
    assert consensus.fit_boxes is fit_boxes and consensus.BoxSet is BoxSet


# -- CLI -------------------------------------------------------------------------------------------
def test_cli_writes_tables(tmp_path, capsys):
    out = tmp_path / "cb.csv"
    code = main(["boxes", str(SAMPLE), "-o", str(out), "--images-out", str(tmp_path / "img.csv"),
                 "--workers-out", str(tmp_path / "w.parquet"), "--flags-out", str(tmp_path / "f.csv")])
    err = capsys.readouterr().err
    assert code == 0
    assert "input rows 112 = used 112 + quarantined 0" in err
    boxes = pl.read_csv(out)
    assert boxes.columns[:9] == ["image", "object", "x0", "y0", "x1", "y1", "label", "confidence", "n_annotators"]
    assert pl.read_csv(tmp_path / "img.csv").height == 3
    assert pl.read_parquet(tmp_path / "w.parquet").height == 21


def test_cli_quarantine_and_errors(tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text("image,worker,x,y,w,h\na,u1,0,0,10,10\na,u2,1,0,10,10\n,u3,0,0,1,1\n")
    out = tmp_path / "o.csv"
    assert main(["boxes", str(src), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "input rows 3 = used 2 + quarantined 1" in err
    q = pl.read_csv(tmp_path / "o.quarantine.csv")
    assert q.get_column("reason").to_list()[0].startswith("missing image id")
    assert pl.read_csv(out).columns[2:6] == ["x", "y", "w", "h"]
    assert main(["boxes", str(tmp_path / "none.csv")]) == 2
    assert main(["boxes", str(src), "--iou", "1.5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("consensus boxes: error:") and "iou_threshold" in err[-1]


def test_non_finite_float_coordinates_are_quarantined_not_raised():
    import polars as pl

    from consensus.boxes import read_boxes

    frame = pl.DataFrame({"image": ["a", "a", "b"], "worker": ["w1", "w2", "w1"],
                          "x0": [0.0, float("nan"), 1.0], "y0": [0.0, 0.0, 1.0],
                          "x1": [10.0, 10.0, float("inf")], "y1": [10.0, 10.0, 5.0]})
    data = read_boxes(frame)
    assert data.accounting_line() == "input rows 3 = used 1 + quarantined 2"
    assert data.quarantine["row"].to_list() == [2, 3]
    assert all("not a finite" in r for r in data.quarantine["reason"].to_list())


# -- second reader's cases ----------------------------------------------------------------------------
def test_only_zero_area_boxes_give_no_object_and_no_crash(tmp_path, capsys):
    rows = [("a", "w1", 5, 5, 5, 9), ("a", "w2", 5, 5, 5, 9)]
    result = fit_boxes(frame(rows))
    assert result.boxes.height == 0
    assert result.box_flags.get_column("flags").to_list() == ["degenerate", "degenerate"]
    path = tmp_path / "deg.csv"
    frame(rows).write_csv(path)
    assert main(["boxes", str(path), "-o", str(tmp_path / "out.csv")]) == 0, capsys.readouterr().err


def test_named_coordinate_columns_say_their_format():
    rows = [("a", "w1", 10, 10, 40, 40), ("a", "w2", 11, 10, 40, 40)]
    sized = frame(rows, ("image", "worker", "bx", "by", "bw", "bh"))
    data = read_boxes(sized, coord_cols=("bx", "by", "bw", "bh"))
    assert data.box_format == "xywh"
    np.testing.assert_allclose(data.coords[0], [10, 10, 50, 50])
    corners = frame(rows, ("image", "worker", "left", "top", "x2", "y2"))
    assert read_boxes(corners, coord_cols=("left", "top", "x2", "y2")).box_format == "xyxy"
    odd = frame(rows, ("image", "worker", "p", "q", "r", "s"))
    with pytest.raises(ParameterError, match="give --box-format xyxy or xywh"):
        read_boxes(odd, coord_cols=("p", "q", "r", "s"))
    assert read_boxes(odd, coord_cols=("p", "q", "r", "s"), box_format="xywh").box_format == "xywh"


def test_label_studio_image_key_and_one_unit_per_file(tmp_path):
    def rect(sizes=True):
        r = {"type": "rectanglelabels", "value": {"x": 10, "y": 10, "width": 50, "height": 50,
                                                  "rectanglelabels": ["car"]}}
        return {**r, "original_width": 200, "original_height": 100} if sizes else r

    # a text field shared by two tasks (a batch name) must not stand in for the image
    tasks = [{"id": k, "data": {"batch": "b1", "image": f"/data/{name}.jpg"},
              "annotations": [{"completed_by": w, "result": [rect()]} for w in (1, 2)]}
             for k, name in ((1, "a"), (2, "b"))]
    path = tmp_path / "two.json"
    path.write_text(json.dumps(tasks))
    data = read_boxes(str(path))
    assert sorted(data.image_ids.to_list()) == ["/data/a.jpg", "/data/b.jpg"]
    # the same rectangle with and without its image size: both shares of the image, so they match
    mixed = [{"id": 1, "data": {"image": "a.jpg"}, "annotations": [
        {"completed_by": 1, "result": [rect(True)]}, {"completed_by": 2, "result": [rect(False)]}]}]
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(mixed))
    data = read_boxes(str(path))
    assert data.normalized
    np.testing.assert_allclose(data.coords, [[0.1, 0.1, 0.6, 0.6]] * 2)
    assert fit_boxes(data).boxes.height == 1


def test_boxes_of_another_class_are_not_pieces_of_an_object():
    columns = ("image", "worker", "x0", "y0", "x1", "y1", "label")
    rows = [("a", w, 0, 0, 100, 40, "car") for w in ("w1", "w2", "w3")]
    rows += [("a", "w3", 10, 10, 30, 30, "person"), ("a", "w3", 60, 10, 80, 30, "person")]
    result = fit_boxes(frame(rows, columns))
    assert result.box_flags.filter(pl.col("flags").str.contains("split")).height == 0
    # class-agnostic matching: they are pieces of the one object
    agnostic = fit_boxes(frame(rows, columns), class_aware=False)
    assert agnostic.box_flags.filter(pl.col("flags").str.contains("split")).height == 2


def test_localisation_interval_stays_within_zero_and_one():
    rows = []
    for i in range(6):
        # w3 matches exactly but on one image: mean IoU near 1 with a wide t-interval (its top was above 1)
        rows += [(f"i{i}", w, 10 + 8 * (w == "w3" and i == 0), 10, 50 + 8 * (w == "w3" and i == 0), 50)
                 for w in ("w1", "w2", "w3")]
    workers = fit_boxes(frame(rows)).workers
    for column in ("iou_low", "iou_high"):
        values = workers.get_column(column).drop_nulls().drop_nans()
        assert values.len() and ((values >= 0) & (values <= 1)).all(), workers


def test_image_size_that_is_not_a_number_is_quarantined():
    columns = ("image", "worker", "x0", "y0", "x1", "y1", "image_width", "image_height")
    rows = [("a", "w1", 5, 5, 50, 50, "abc", "100"), ("a", "w2", 5, 5, 50, 50, "100", "100")]
    data = read_boxes(frame(rows, columns))
    assert data.accounting_line() == "input rows 2 = used 1 + quarantined 1"
    assert data.quarantine.get_column("reason").to_list() == ["image width is not a number (column 'image_width')"]
    # as the judgments' quarantine: where the row came from, the row as written, and why
    assert data.quarantine.columns == ["source", "row", *columns, "reason"]
    assert data.quarantine.row(0, named=True)["image_width"] == "abc" and data.quarantine["row"].to_list() == [1]


def test_quarantine_keeps_an_input_column_named_row():
    columns = ("image", "worker", "x0", "y0", "x1", "y1", "row")
    data = read_boxes(frame([("a", "w1", 5, 5, 50, 50, 7), ("a", None, 5, 5, 50, 50, 8)], columns))
    assert data.quarantine.columns == ["source", "row", "image", "worker", "x0", "y0", "x1", "y1", "input_row",
                                       "reason"]
    assert data.quarantine.row(0, named=True)["row"] == 2 and data.quarantine.row(0, named=True)["input_row"] == 8


def test_missing_annotator_reasons_name_the_field_of_the_format(tmp_path):
    """COCO, Label Studio and MTurk rows without an annotator name their own field or column in the
    quarantine reason (they named this reader's internal column 'worker')."""
    rect = {"type": "rectanglelabels", "original_width": 100, "original_height": 100,
            "value": {"x": 1, "y": 1, "width": 5, "height": 5, "rectanglelabels": ["cat"]}}
    coco = {"images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 100}],
            "categories": [{"id": 1, "name": "cat"}],
            "annotations": [{"id": k, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "annotator": w}
                            for k, w in ((1, "w1"), (2, "w2"), (3, None))]}
    studio = [{"id": 1, "data": {"image": "a.jpg"},
               "annotations": [{"completed_by": 1, "result": [rect]}, {"result": [rect]}]}]
    (tmp_path / "coco.json").write_text(json.dumps(coco))
    (tmp_path / "studio.json").write_text(json.dumps(studio))
    box = [{"left": 1, "top": 2, "width": 30, "height": 40, "label": "a"}]
    mturk = _mturk_batch(tmp_path / "batch.csv", [("H1", "w1", box, 4), ("H1", None, box, 5)])
    expected = {"coco.json": "missing annotator id (COCO annotation field 'annotator')",
                "studio.json": "missing annotator id (Label Studio annotation field 'completed_by')",
                "batch.csv": "missing annotator id (column 'WorkerId')"}
    for name, reason in expected.items():
        path = mturk if name == "batch.csv" else tmp_path / name
        assert read_boxes(str(path)).quarantine.get_column("reason").to_list() == [reason]


def test_coco_boxes_on_undeclared_images_or_categories_are_quarantined(tmp_path):
    """A box on image 99 of a file whose 'images' list has no 99 became a consensus box on an image that
    does not exist, and category 42 (not in 'categories') a class '42': now quarantined with the reason."""
    doc = {"images": [{"id": 1, "width": 100, "height": 100}], "categories": [{"id": 1, "name": "cat"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "annotator": "a"},
                           {"id": 2, "image_id": 1, "category_id": 1, "bbox": [11, 10, 20, 20], "annotator": "b"},
                           {"id": 3, "image_id": 99, "category_id": 1, "bbox": [10, 10, 20, 20], "annotator": "a"},
                           {"id": 4, "image_id": 1, "category_id": 42, "bbox": [10, 10, 20, 20], "annotator": "c"}]}
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(doc))
    data = read_boxes(str(path))
    assert data.accounting_line() == "input rows 4 = used 2 + quarantined 2"
    reasons = dict(zip(data.quarantine.get_column("row").to_list(), data.quarantine.get_column("reason").to_list()))
    assert reasons == {3: "image_id 99 is not in the file's 'images' list",
                       4: "category_id 42 is not in the file's 'categories' list"}
    assert data.classes == ["cat"]
    # a file without the lists (annotations only) keeps every box
    path.write_text(json.dumps({"annotations": doc["annotations"]}))
    assert read_boxes(str(path)).n_boxes == 4


def test_label_studio_rectangle_with_several_labels_is_quarantined(tmp_path):
    def task(labels_by_annotator):
        return [{"id": 1, "data": {"image": "a.jpg"}, "annotations": [
            {"completed_by": k, "result": [{"type": "rectanglelabels", "original_width": 100, "original_height": 100,
                                            "value": {"x": 10, "y": 10, "width": 20, "height": 20,
                                                      "rectanglelabels": labels}}]}
            for k, labels in enumerate(labels_by_annotator, start=1)]}]

    path = tmp_path / "ls.json"
    path.write_text(json.dumps(task([["cat", "dog"], ["dog"]])))
    data = read_boxes(str(path))
    assert data.accounting_line() == "input rows 2 = used 1 + quarantined 1"
    q = data.quarantine.row(0, named=True)
    assert q["label"] == "cat;dog" and q["reason"] == "several labels on one rectangle (value.rectanglelabels)"


# -- review fixes ----------------------------------------------------------------------------------------
def test_image_of_only_degenerate_boxes_is_not_accepted():
    """Annotators who drew only zero-area or inverted boxes do not agree that nothing is there: F1 0, and the
    image goes to review; annotators who all drew nothing still agree (F1 1, accept)."""
    rows = [("a", "w1", 10, 10, 10, 50), ("a", "w2", 50, 50, 10, 10), ("a", "w3", 5, 5, 5, 5),
            ("b", "w1", None, None, None, None), ("b", "w2", None, None, None, None)]
    result = fit_boxes(frame(rows))
    images = {r["image"]: r for r in result.images.iter_rows(named=True)}
    assert images["a"]["f1"] == 0.0 and images["a"]["explained"] == 0.0
    assert images["a"]["recommendation"] == "expert_review" and "degenerate" in images["a"]["reason"]
    assert images["b"]["f1"] == 1.0 and images["b"]["recommendation"] == "accept"
    # a degenerate box next to a real object is an unmatched box: it lowers the share explained
    rows = [("a", w, 10, 10, 50, 50) for w in ("w1", "w2", "w3")] + [("a", "w4", 5, 5, 5, 5)]
    image = fit_boxes(frame(rows)).images.row(0, named=True)
    assert image["explained"] == pytest.approx(0.75)


def test_duplicate_of_names_the_earlier_input_row():
    """'Drawn first' is the input order, not the sort by coordinates (row 2 sorts before row 1)."""
    rows = [("a", "w1", 10, 10, 50, 50), ("a", "w1", 5, 8, 48, 50), ("a", "w2", 200, 200, 210, 210),
            ("a", "w3", 300, 300, 310, 310)]
    flagged = fit_boxes(frame(rows)).box_flags.filter(pl.col("duplicate"))
    assert flagged.select("input_row", "duplicate_of").rows() == [(2, 1)]
    # written the other way round, the other box is the duplicate
    flagged = fit_boxes(frame([rows[1], rows[0], *rows[2:]])).box_flags.filter(pl.col("duplicate"))
    assert flagged.select("input_row", "duplicate_of").rows() == [(2, 1)]
    assert flagged.get_column("x0").item() == 10


def _coco(tmp_path, images, annotations, categories=({"id": 1, "name": "car"},)):
    path = tmp_path / "coco.json"
    path.write_text(json.dumps({"images": list(images), "categories": list(categories),
                                "annotations": list(annotations)}))
    return str(path)


def test_coco_images_sharing_a_file_name_stay_apart(tmp_path):
    images = [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "a.jpg"}, {"id": 3, "file_name": "b.jpg"}]
    anns = [{"image_id": i, "category_id": 1, "bbox": [10 * i, 0, 10, 10], "annotator": w}
            for i in (1, 2, 3) for w in ("u1", "u2")]
    data = read_boxes(_coco(tmp_path, images, anns))
    assert data.image_ids.to_list() == ["a.jpg (id 1)", "a.jpg (id 2)", "b.jpg"]
    assert fit_boxes(data).boxes.height == 3  # one object per image, not two objects on a merged image


def test_coco_annotation_without_category_is_quarantined(tmp_path):
    anns = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "annotator": "u1"},
            {"image_id": 1, "bbox": [0, 0, 10, 10], "annotator": "u2"}]
    data = read_boxes(_coco(tmp_path, [{"id": 1, "file_name": "a.jpg"}], anns))
    assert data.accounting_line() == "input rows 2 = used 1 + quarantined 1"
    assert data.quarantine.get_column("reason").to_list() == ["missing class (COCO annotation field 'category_id')"]
    assert data.classes == ["car"]
    # a file with no categories at all: one class, as a CSV without a class column
    for a in anns:
        a.pop("category_id", None)
    data = read_boxes(_coco(tmp_path, [{"id": 1, "file_name": "a.jpg"}], anns, categories=()))
    assert data.n_boxes == 2 and data.classes == ["object"]


def test_huge_coordinates_are_quarantined_naming_the_column():
    import warnings

    rows = [("a", "w1", 0.0, 0.0, 10.0, 10.0), ("a", "w2", 0.0, 0.0, 1e160, 10.0), ("a", "w3", 1.0, 0.0, 11.0, 10.0),
            ("a", "w4", -2e15, 0.0, 10.0, 1e16)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning may reach the user
        result = fit_boxes(frame(rows))
    q = result.quarantine
    assert q.get_column("row").to_list() == [2, 4]
    assert q.get_column("reason").to_list()[0].startswith("box coordinate beyond ±1e15 (column 'x1')")
    assert "(columns 'x0', 'y1')" in q.get_column("reason").to_list()[1]
    assert np.isfinite(result.images.get_column("f1").to_numpy()).all()
    # the JSON formats name their own fields
    data = read_boxes(frame([("a", "w1", 0.0, 0.0, 10.0, 10.0), ("a", "w2", 0.0, 0.0, 10.0, 1e200)],
                            ("image", "worker", "x", "y", "w", "h")))
    assert data.quarantine.get_column("reason").item().startswith("box coordinate beyond ±1e15 (column 'h')")


def test_reported_weights_reproduce_the_consensus_boxes():
    """loc_weight of the workers table is what made the output boxes (not an update after the last fusion)."""
    from consensus.kernels.box_fusion import MEAN, MEDIAN, fuse_boxes

    for fusion, method in (("median", MEDIAN), ("mean", MEAN)):
        result = fit_boxes(str(ROOT / "datasets" / "boxes_sample" / "boxes.csv"), fusion=fusion, keep_all=True)
        fit, data = result.fit, result.data
        weight = result.workers.get_column("loc_weight").to_numpy()
        again, _ = fuse_boxes(fit.obj_offsets, fit.members, data.coords, weight[data.worker], method)
        np.testing.assert_allclose(again, fit.fused, rtol=0, atol=1e-9)
        table = result.boxes.select("x0", "y0", "x1", "y1").to_numpy()
        np.testing.assert_allclose(again, table, rtol=0, atol=1e-9)
        # the noise reported is the one behind those weights (1/noise², geometric mean 1)
        noise = result.workers.get_column("noise").to_numpy()
        w = 1.0 / noise ** 2
        np.testing.assert_allclose(weight, w / np.exp(np.mean(np.log(w))), rtol=1e-12)


def test_mturk_accounting_counts_rows_and_records_and_shows_the_box_as_written(tmp_path):
    box = {"left": 1, "top": 2, "width": 30, "height": 40, "label": "a"}
    path = _mturk_batch(tmp_path / "b.csv", [("H1", "w1", [box, {**box, "left": "x"}, box | {"left": 60}], 4),
                                             ("H1", "w2", [box], 3), ("H1", "w3", "[{", 3)])
    data = read_boxes(str(path))
    assert data.accounting_line() == "input rows 3 hold 5 box records = used 3 + quarantined 2"
    q = data.quarantine.sort("row")
    assert q.get_column("row").to_list() == [1, 3]  # the assignments' rows of the file
    written = q.get_column("Answer.annotatedResult.boundingBoxes").to_list()
    assert json.loads(written[0]) == {**box, "left": "x"} and written[1] == "[{"
    summary = fit_boxes(data).summary()
    assert (summary["input_rows"], summary["box_records"]) == (3, 5)  # as the accounting line
    assert summary["box_records"] == summary["used_rows"] + summary["quarantined_rows"]


def test_one_bad_draw_time_is_quarantined_and_the_others_stay_timed():
    rows = [("a", "w1", 0, 0, 10, 10, "100"), ("a", "w1", 20, 20, 30, 30, "abc"), ("a", "w1", 40, 40, 50, 50, "130"),
            ("a", "w2", 0, 0, 10, 10, "2024-01-01T00:00:00"), ("a", "w2", 20, 20, 30, 30, "2024-01-01T00:00:07"),
            ("a", "w3", 0, 0, 10, 10, "")]
    data = read_boxes(frame(rows, ("image", "worker", "x0", "y0", "x1", "y1", "timestamp")))
    assert data.accounting_line() == "input rows 6 = used 5 + quarantined 1"
    assert data.quarantine.get_column("reason").item() == (
        "draw time 'abc' cannot be parsed as epoch seconds/milliseconds or a datetime (column 'timestamp')")
    assert sorted(d for d in data.duration.tolist() if d == d) == [7.0, 30.0]
    # epoch milliseconds are told from seconds by their size
    ms = [("a", "w1", 0, 0, 10, 10, 1429340975595), ("a", "w1", 20, 20, 30, 30, 1429340977595)]
    data = read_boxes(frame(ms, ("image", "worker", "x0", "y0", "x1", "y1", "timestamp_ms")))
    assert sorted(d for d in data.duration.tolist() if d == d) == [2.0]


def test_all_rows_quarantined_names_rows_and_reason_and_writes_the_quarantine(tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text("image,worker,x0,y0,x1,y1\na,u1,0,0,,10\na,u2,0,0,x,10\nb,u1,0,0,,10\n")
    with pytest.raises(InputError) as info:
        read_boxes(str(src))
    message = str(info.value)
    assert "rows 1, 2, 3" in message and "all 3 rows were quarantined" in message
    assert "were quarantined (some box coordinates are empty (column 'x1'): 2 rows; box coordinate is not a " \
        "finite number (column 'x1'): 1 row)" in message
    assert main(["boxes", str(src), "-o", str(tmp_path / "out.csv")]) == 2
    q = pl.read_csv(tmp_path / "out.quarantine.csv")
    assert q.height == 3 and q.get_column("row").to_list() == [1, 2, 3]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no usable boxes" in err[0] and "out.quarantine.csv" in err[0]


def test_summary_line_says_n_a_instead_of_nan_with_one_annotator():
    frame = pl.DataFrame({"image": ["a", "b"], "worker": ["w1", "w1"], "x0": [0, 5], "y0": [0, 5],
                          "x1": [10, 15], "y1": [10, 15]})
    lines = fit_boxes(frame).summary_lines()
    assert "agreement: n/a (fewer than two annotators on every image)" in lines
    assert not any("nan" in line for line in lines)
