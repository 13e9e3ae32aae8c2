"""Box kernels against their plain-Python twins in ``naive_boxes``; IoU properties; thread-count independence."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive import readonly
from naive_boxes import (
    boxes,
    crowds,
    naive_duplicate_flags,
    naive_fuse_boxes,
    naive_image_agreement,
    naive_image_pairwise_iou,
    naive_iou,
    naive_iou_matrix,
    naive_match_boxes,
    naive_merge_objects,
    naive_split_merge_flags,
    partition,
)

from consensus.kernels import box_fusion as bf
from consensus.kernels import box_matching as bm
from consensus.kernels import iou as ki

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _iou(a, b):
    return ki.box_iou(*a, *b)


# -- IoU ------------------------------------------------------------------------------------------
@SETTINGS
@given(a=boxes(), b=boxes())
def test_iou_matches_naive_and_is_symmetric(a, b):
    v = _iou(a, b)
    assert v == pytest.approx(naive_iou(a, b), abs=1e-12)
    assert v == _iou(b, a)
    assert 0.0 <= v <= 1.0


@SETTINGS
@given(a=boxes())
def test_iou_with_itself_is_one(a):
    assert _iou(a, a) == 1.0


@SETTINGS
@given(a=boxes(min_size=0.5), b=boxes(min_size=0.5), sx=st.floats(0.01, 100.0), sy=st.floats(0.01, 100.0),
       dx=st.floats(-100, 100), dy=st.floats(-100, 100))
def test_iou_is_invariant_to_axis_scaling_and_shift(a, b, sx, sy, dx, dy):
    def t(box):
        return (box[0] * sx + dx, box[1] * sy + dy, box[2] * sx + dx, box[3] * sy + dy)

    assert _iou(t(a), t(b)) == pytest.approx(_iou(a, b), abs=1e-9)


def test_iou_edge_cases():
    assert _iou((0, 0, 1, 1), (1, 0, 2, 1)) == 0.0  # touching edge
    assert _iou((0, 0, 1, 1), (1, 1, 2, 2)) == 0.0  # touching corner
    assert _iou((0, 0, 2, 2), (1, 1, 3, 3)) == pytest.approx(1 / 7)
    assert _iou((0, 0, 0, 5), (0, 0, 0, 5)) == 1.0  # equal zero-area boxes
    assert _iou((0, 0, 0, 5), (0, 0, 1, 5)) == 0.0  # zero-area vs positive
    assert _iou((2, 2, 1, 1), (0, 0, 3, 3)) == 0.0  # negative width counts as zero area
    assert _iou((0, 0, 4, 4), (1, 1, 2, 2)) == pytest.approx(1 / 16)  # containment


@SETTINGS
@given(a=st.lists(boxes(), max_size=6), b=st.lists(boxes(), max_size=6))
def test_iou_matrix_matches_naive(a, b):
    aa = np.array(a, dtype=np.float64).reshape(-1, 4)
    bb = np.array(b, dtype=np.float64).reshape(-1, 4)
    np.testing.assert_allclose(ki.iou_matrix(*readonly(aa, bb)), naive_iou_matrix(a, b), atol=1e-12)


@SETTINGS
@given(c=crowds())
def test_image_pairwise_iou_matches_naive(c):
    off, val = ki.image_pairwise_iou(*readonly(c["offsets"], c["coords"]))
    ref_off, ref_val = naive_image_pairwise_iou(c["offsets"], c["coords"])
    np.testing.assert_array_equal(off, ref_off)
    np.testing.assert_allclose(val, ref_val, atol=1e-12)


# -- matching -------------------------------------------------------------------------------------
def _match(c, threshold=0.5, class_aware=True, weight=None):
    w = np.ones(c["coords"].shape[0]) if weight is None else weight
    return bm.match_boxes(*readonly(c["offsets"], c["coords"], c["worker"], c["label"], c["valid"], w),
                          threshold, class_aware)


@SETTINGS
@given(c=crowds(), threshold=st.sampled_from([0.3, 0.5, 0.7]), class_aware=st.booleans())
def test_match_boxes_matches_naive(c, threshold, class_aware):
    local, n_obj = _match(c, threshold, class_aware)
    ref_local, ref_n = naive_match_boxes(c["offsets"], c["coords"], c["worker"], c["label"], c["valid"],
                                         np.ones(len(c["coords"])), threshold, class_aware)
    np.testing.assert_array_equal(local, ref_local)
    np.testing.assert_array_equal(n_obj, ref_n)


@SETTINGS
@given(c=crowds(), class_aware=st.booleans())
def test_match_one_box_per_annotator_and_class_per_object(c, class_aware):
    local, _ = _match(c, 0.5, class_aware)
    for group in partition(c["offsets"], local):
        members = sorted(group)
        assert len({int(c["worker"][r]) for r in members}) == len(members)
        if class_aware:
            assert len({int(c["label"][r]) for r in members}) == 1
    assert np.all(local[c["valid"] == 0] == -1)


@SETTINGS
@given(c=crowds(), data=st.data())
def test_match_is_invariant_to_annotator_naming(c, data):
    """Renaming annotators (a permutation of the codes) changes the canonical box order, not the objects."""
    perm = np.array(data.draw(st.permutations(range(10))), dtype=np.int32)
    worker = perm[c["worker"]]
    order = np.lexsort((c["coords"][:, 0], worker, c["image"]))
    renamed = {**c, "worker": worker[order], "coords": np.ascontiguousarray(c["coords"][order]),
               "label": c["label"][order], "valid": c["valid"][order]}
    a, _ = _match(c)
    b, _ = _match(renamed)
    back = np.empty_like(b)
    back[order] = b  # b in the original box order
    assert partition(c["offsets"], a) == partition(c["offsets"], back)
    # and after merging the objects by their fused boxes (each annotator keeps its weight)
    w = np.random.default_rng(0).uniform(0.2, 3.0, 10)
    merged = []
    for d, wt in ((c, w), (renamed, w[np.argsort(perm)])):
        args, *rest = _merge_inputs(d, 0, bf.MEDIAN, annotator_weight=wt)
        rep, _ = _merge(args, *rest)
        if rep.size == 0:  # no valid box: nothing to merge, every row stays -1
            merged.append(np.full(args[2].shape, -1, dtype=np.int64))
            continue
        merged.append(np.where(args[2] >= 0, rep[np.maximum(args[2], 0)], -1))
    back = np.empty_like(merged[1])
    back[order] = merged[1]
    assert partition(c["offsets"], merged[0]) == partition(c["offsets"], back)


# -- fusion, agreement, flags ---------------------------------------------------------------------
def _objects(c):
    local, n_obj = _match(c)
    start = np.concatenate([[0], np.cumsum(n_obj)])
    obj = np.where(local >= 0, start[c["image"]] + local, -1)
    idx = np.flatnonzero(obj >= 0)
    members = idx[np.argsort(obj[idx], kind="stable")].astype(np.int64)
    obj_offsets = np.concatenate([[0], np.cumsum(np.bincount(obj[idx], minlength=int(start[-1])))]).astype(np.int64)
    return obj, obj_offsets, members, start


@SETTINGS
@given(c=crowds(), method=st.sampled_from([bf.MEAN, bf.MEDIAN]), seed=st.integers(0, 1000))
def test_fuse_boxes_matches_naive(c, method, seed):
    _, obj_offsets, members, _ = _objects(c)
    weight = np.random.default_rng(seed).uniform(0.2, 3.0, c["coords"].shape[0])
    fused, wsum = bf.fuse_boxes(*readonly(obj_offsets, members, c["coords"], weight), method)
    ref, ref_w = naive_fuse_boxes(obj_offsets, members, c["coords"], weight, method)
    np.testing.assert_allclose(fused, ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(wsum, ref_w, rtol=1e-12)


@SETTINGS
@given(c=crowds())
def test_image_agreement_matches_naive(c):
    obj, *_ = _objects(c)
    args = (c["offsets"], c["coords"], c["worker"], obj, c["valid"], c["seen_offsets"], c["seen_worker"])
    got = bf.image_agreement(*readonly(*args))
    ref = naive_image_agreement(*args)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, atol=1e-12, equal_nan=True)


@SETTINGS
@given(c=crowds(), class_aware=st.booleans(), seed=st.integers(0, 1000))
def test_split_merge_flags_match_naive(c, class_aware, seed):
    obj, obj_offsets, members, start = _objects(c)
    fused, _ = bf.fuse_boxes(obj_offsets, members, c["coords"], np.ones(c["coords"].shape[0]), bf.MEAN)
    # object classes: some class per object (any, when class-agnostic), so other-class boxes are left out
    n_obj = fused.shape[0]
    obj_class = (np.random.default_rng(seed).integers(0, 3, n_obj) if class_aware
                 else np.full(n_obj, -1)).astype(np.int32)
    args = (c["offsets"], c["coords"], c["worker"], c["valid"], obj, start.astype(np.int64), fused,
            c["label"], obj_class, 0.8, 0.8, 1.5)
    got = bf.split_merge_flags(*readonly(*args[:9]), *args[9:])
    ref = naive_split_merge_flags(*args)
    for g, r in zip(got, ref):
        np.testing.assert_array_equal(g, r)


def _with_twins(c, seed):
    """``c`` with a jittered second copy of some boxes (same image, annotator, class), re-sorted by image."""
    rng = np.random.default_rng(seed)
    n = c["coords"].shape[0]
    twin = np.flatnonzero(rng.random(n) < 0.4)
    coords = c["coords"][twin] + rng.normal(0, 1.0, (twin.size, 4))
    if twin.size and rng.random() < 0.5:
        coords = np.round(coords, 0)
    image = np.concatenate([c["image"], c["image"][twin]])
    order = np.argsort(image, kind="stable")
    out = {k: np.concatenate([c[k], c[k][twin]])[order] for k in ("worker", "label", "image")}
    out["coords"] = np.concatenate([c["coords"], coords])[order]
    out["valid"] = ((out["coords"][:, 2] > out["coords"][:, 0])
                    & (out["coords"][:, 3] > out["coords"][:, 1])).astype(np.uint8)
    out["offsets"] = np.concatenate([[0], np.cumsum(np.bincount(out["image"], minlength=c["offsets"].size - 1))])
    # a random matching: about half the boxes on one of a few kept objects
    out["box_object"] = np.where(rng.random(image.size) < 0.5, rng.integers(0, 3, image.size), -1).astype(np.int64)
    return out


@SETTINGS
@given(c=crowds(), class_aware=st.booleans(), iou_min=st.sampled_from([0.5, 0.7, 0.9]), seed=st.integers(0, 1000))
def test_duplicate_flags_match_naive(c, class_aware, iou_min, seed):
    t = _with_twins(c, seed)
    # input rows in any order: boxes are stored sorted by coordinates, not as they were written
    input_row = np.random.default_rng(seed + 1).permutation(t["coords"].shape[0]).astype(np.int64)
    args = (t["offsets"].astype(np.int64), t["coords"], t["worker"], t["valid"], t["label"], t["box_object"],
            input_row)
    got = bf.duplicate_flags(*readonly(*args), class_aware, iou_min)
    ref = naive_duplicate_flags(*args, class_aware, iou_min)
    for g, r in zip(got, ref):
        np.testing.assert_array_equal(g, r)
    dup, of = got
    # a duplicate is unmatched, names a box of its own image and annotator, and is never its own twin
    flagged = np.flatnonzero(dup)
    assert (t["box_object"][flagged] < 0).all()
    assert (t["worker"][of[flagged]] == t["worker"][flagged]).all()
    assert (t["image"][of[flagged]] == t["image"][flagged]).all()
    assert (of[flagged] != flagged).all() and (of[dup == 0] == -1).all()


def test_duplicate_flags_constructed():
    """An annotator's box drawn twice: the unmatched copy repeats the matched one; two matched overlapping
    boxes are two objects; another annotator's overlapping box is no duplicate; class-aware needs one class."""
    coords = np.array([[0, 0, 10, 10], [0.5, 0, 10, 10], [0, 0, 10, 10.5], [0, 0.5, 10, 10], [0, 0, 9.8, 10]],
                      dtype=np.float64)
    worker = np.array([0, 0, 1, 1, 2], dtype=np.int32)
    label = np.array([0, 0, 0, 0, 1], dtype=np.int32)
    valid = np.ones(5, np.uint8)
    offsets = np.array([0, 5], np.int64)
    box_object = np.array([0, -1, 0, 1, -1], np.int64)
    rows = np.arange(5, dtype=np.int64)
    dup, of = bf.duplicate_flags(offsets, coords, worker, valid, label, box_object, rows, True, 0.7)
    assert dup.tolist() == [0, 1, 0, 0, 0] and of.tolist() == [-1, 0, -1, -1, -1]
    dup, of = bf.duplicate_flags(offsets, coords, worker, valid, label, np.full(5, -1, np.int64), rows, True, 0.7)
    assert dup.tolist() == [0, 1, 0, 1, 0] and of.tolist() == [-1, 0, -1, 2, -1]
    # equal IoU with two twins: the first is named
    tie = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 9.5]], dtype=np.float64)
    dup, of = bf.duplicate_flags(np.array([0, 3], np.int64), tie, np.zeros(3, np.int32), np.ones(3, np.uint8),
                                 np.zeros(3, np.int32), np.array([0, 1, -1], np.int64), np.arange(3, dtype=np.int64),
                                 False, 0.7)
    assert dup.tolist() == [0, 0, 1] and of.tolist() == [-1, -1, 0]
    # ... the first drawn (input row), wherever the sort by coordinates put it
    dup, of = bf.duplicate_flags(np.array([0, 3], np.int64), tie, np.zeros(3, np.int32), np.ones(3, np.uint8),
                                 np.zeros(3, np.int32), np.array([0, 1, -1], np.int64), np.array([5, 2, 9], np.int64),
                                 False, 0.7)
    assert dup.tolist() == [0, 0, 1] and of.tolist() == [-1, -1, 1]


def test_duplicate_of_points_to_the_box_drawn_first():
    """Two unmatched overlapping boxes of one annotator: the later input row is the duplicate, even when
    the sort by coordinates puts it first."""
    coords = np.array([[5, 8, 48, 50], [10, 10, 50, 50]], dtype=np.float64)  # sorted by x0: row 2 first
    args = (np.array([0, 2], np.int64), coords, np.zeros(2, np.int32), np.ones(2, np.uint8), np.zeros(2, np.int32),
            np.full(2, -1, np.int64), np.array([1, 0], np.int64))
    dup, of = bf.duplicate_flags(*args, True, 0.7)
    assert dup.tolist() == [1, 0] and of.tolist() == [1, -1]
    ref = naive_duplicate_flags(*args, True, 0.7)
    assert ref[0].tolist() == [1, 0] and ref[1].tolist() == [1, -1]


def test_image_agreement_degenerate_boxes_are_no_agreement():
    """Two annotators who drew only zero-area boxes do not agree (F1 0); two who drew nothing do (F1 1)."""
    coords = np.array([[10, 10, 10, 50], [50, 50, 10, 10]], dtype=np.float64)
    worker = np.array([0, 1], np.int32)
    seen = np.array([0, 1, 0, 1], np.int32)
    args = (np.array([0, 2, 2], np.int64), coords, worker, np.full(2, -1, np.int64), np.zeros(2, np.uint8),
            np.array([0, 2, 4], np.int64), seen)
    f1, _, _ = bf.image_agreement(*args)
    assert f1.tolist() == [0.0, 1.0]
    np.testing.assert_array_equal(naive_image_agreement(*args)[0], f1)


def _merge_inputs(c, seed, method, threshold=0.5, class_aware=True, annotator_weight=None):
    local, n_obj = _match(c, threshold, class_aware)
    start = np.concatenate([[0], np.cumsum(n_obj)]).astype(np.int64)
    obj = np.where(local >= 0, start[c["image"]] + local, -1)
    idx = np.flatnonzero(obj >= 0)
    members = idx[np.argsort(obj[idx], kind="stable")].astype(np.int64)
    obj_offsets = np.concatenate([[0], np.cumsum(np.bincount(obj[idx], minlength=int(start[-1])))]).astype(np.int64)
    if annotator_weight is None:
        annotator_weight = np.random.default_rng(seed).uniform(0.2, 3.0, 10)
    weight = annotator_weight[c["worker"]]
    fused, _ = bf.fuse_boxes(obj_offsets, members, c["coords"], weight, method)
    return (c["offsets"], start, obj, c["coords"], c["worker"], c["label"], weight, fused), threshold, class_aware, \
        method


def _merge(args, threshold, class_aware, method):
    return bm.merge_objects(*readonly(*args), threshold, class_aware, method)


@SETTINGS
@given(c=crowds(max_workers=5, max_objects=5), seed=st.integers(0, 1000), method=st.sampled_from([bf.MEAN, bf.MEDIAN]),
       threshold=st.sampled_from([0.3, 0.5]), class_aware=st.booleans())
def test_merge_objects_matches_naive(c, seed, method, threshold, class_aware):
    args, *rest = _merge_inputs(c, seed, method, threshold, class_aware)
    rep, merged = _merge(args, *rest)
    ref_rep, ref_merged = naive_merge_objects(*args, *rest)
    np.testing.assert_array_equal(rep, ref_rep)
    np.testing.assert_allclose(merged, ref_merged, rtol=1e-9, atol=1e-9)


@SETTINGS
@given(c=crowds(max_workers=5, max_objects=5), seed=st.integers(0, 1000), method=st.sampled_from([bf.MEAN, bf.MEDIAN]),
       class_aware=st.booleans())
def test_merge_objects_reaches_a_fixed_point(c, seed, method, class_aware):
    """After merging: one box per annotator (and one class) per object; no two objects of an image
    could still merge; each group's box is the fusion of its members; merging again changes nothing."""
    args, threshold, _, _ = _merge_inputs(c, seed, method, 0.5, class_aware)
    offsets, start, obj, coords, worker, label, weight, _ = args
    rep, merged = _merge(args, threshold, class_aware, method)
    assert np.all(rep <= np.arange(rep.size)) and np.all(rep[rep] == rep)
    new = np.full(obj.size, -1, dtype=np.int64)  # no object at all when no box is valid (a hypothesis example)
    new[obj >= 0] = rep[obj[obj >= 0]]
    heads = np.flatnonzero(rep == np.arange(rep.size))
    for h in heads:
        box_idx = np.flatnonzero(new == h)
        assert len(set(worker[box_idx].tolist())) == box_idx.size
        if class_aware:
            assert len(set(label[box_idx].tolist())) == 1
        ref, _ = bf.fuse_boxes(np.array([0, box_idx.size], dtype=np.int64), box_idx.astype(np.int64), coords, weight,
                               method)
        np.testing.assert_allclose(merged[h], ref[0], rtol=1e-9, atol=1e-9)
    img_of = np.repeat(np.arange(start.size - 1), np.diff(start))
    for i, a in enumerate(heads):
        for b in heads[i + 1:]:
            if img_of[a] != img_of[b]:
                continue
            wa, wb = set(worker[new == a].tolist()), set(worker[new == b].tolist())
            same_class = label[new == a][0] == label[new == b][0]
            if not (wa & wb) and (same_class or not class_aware):
                assert naive_iou(merged[a], merged[b]) < threshold
    # a second pass over the merged objects merges nothing
    compact = np.full(rep.size, -1, dtype=np.int64)
    compact[heads] = np.arange(heads.size)
    obj2 = np.full(new.size, -1, dtype=np.int64)
    obj2[new >= 0] = compact[new[new >= 0]]
    start2 = np.concatenate([[0], np.cumsum(np.bincount(img_of[heads], minlength=start.size - 1))]).astype(np.int64)
    rep2, merged2 = _merge((offsets, start2, obj2, coords, worker, label, weight, np.ascontiguousarray(merged[heads])),
                           threshold, class_aware, method)
    np.testing.assert_array_equal(rep2, np.arange(heads.size))
    np.testing.assert_array_equal(merged2, merged[heads])


def test_merge_objects_constructed_cases():
    """Two halves of one object (no shared annotator) merge; a shared annotator or another class blocks it."""
    coords = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [1, 0, 11, 10], [1, 0, 11, 10],  # one object, two parts
                       [40, 40, 50, 50], [41, 40, 51, 50]], dtype=np.float64)             # a second object
    worker = np.array([0, 1, 2, 3, 4, 5], dtype=np.int32)
    offsets = np.array([0, 6], dtype=np.int64)
    start = np.array([0, 3], dtype=np.int64)
    obj = np.array([0, 0, 1, 1, 2, 2], dtype=np.int64)
    fused = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [40.5, 40, 50.5, 50]], dtype=np.float64)
    weight = np.ones(6)
    label = np.zeros(6, dtype=np.int32)
    rep, merged = bm.merge_objects(offsets, start, obj, coords, worker, label, weight, fused, 0.5, True, bf.MEAN)
    np.testing.assert_array_equal(rep, [0, 0, 2])
    np.testing.assert_allclose(merged[0], [0.5, 0, 10.5, 10])
    np.testing.assert_allclose(merged[1], merged[0])
    shared = np.array([0, 1, 1, 3, 4, 5], dtype=np.int32)  # annotator 1 drew a box in each part
    rep, _ = bm.merge_objects(offsets, start, obj, coords, shared, label, weight, fused, 0.5, True, bf.MEAN)
    np.testing.assert_array_equal(rep, [0, 1, 2])
    other = np.array([0, 0, 1, 1, 0, 0], dtype=np.int32)
    rep, _ = bm.merge_objects(offsets, start, obj, coords, worker, other, weight, fused, 0.5, True, bf.MEAN)
    np.testing.assert_array_equal(rep, [0, 1, 2])
    rep, _ = bm.merge_objects(offsets, start, obj, coords, worker, other, weight, fused, 0.5, False, bf.MEAN)
    np.testing.assert_array_equal(rep, [0, 0, 2])


def test_paired_iou_matches_naive():
    rng = np.random.default_rng(3)
    a = np.sort(rng.uniform(0, 10, (50, 4)).reshape(50, 2, 2), axis=1).transpose(0, 2, 1).reshape(50, 4)
    b = a + rng.normal(0, 1, a.shape)
    np.testing.assert_allclose(bf.paired_iou(*readonly(a, b)), [naive_iou(x, y) for x, y in zip(a, b)], atol=1e-12)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 threads")
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(c=crowds(max_images=30))
def test_kernels_do_not_depend_on_thread_count(c):
    outputs = []
    for n in (1, 2):
        numba.set_num_threads(n)
        try:
            obj, obj_offsets, members, _ = _objects(c)
            fused, _ = bf.fuse_boxes(obj_offsets, members, c["coords"], np.ones(c["coords"].shape[0]), bf.MEDIAN)
            agree = bf.image_agreement(c["offsets"], c["coords"], c["worker"], obj, c["valid"], c["seen_offsets"],
                                       c["seen_worker"])
            merged = _merge(*_merge_inputs(c, 7, bf.MEDIAN))
            outputs.append((obj, fused, *agree, *merged))
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for a, b in zip(*outputs):
        np.testing.assert_array_equal(a, b)
