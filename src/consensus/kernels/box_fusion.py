"""Per-object box fusion, per-image agreement and per-box structural flags.

Objects are given as CSR groups of box indices (``obj_offsets``, ``members``).
Every kernel loops with ``prange`` over owners (objects or images) and writes
only what that owner owns, so results do not depend on the thread count.
"""

from __future__ import annotations

import numpy as np

from consensus._jit import kernel, parallel_kernel, prange
from consensus.kernels.iou import box_iou, row_iou

MEAN = 0
MEDIAN = 1


@kernel
def _weighted_median(values, weights):
    """Lower weighted median: the smallest value whose cumulative weight reaches half."""
    order = np.argsort(values, kind="mergesort")
    total = 0.0
    for i in range(values.size):
        total += weights[i]
    half = 0.5 * total
    acc = 0.0
    for t in range(order.size):
        acc += weights[order[t]]
        if acc >= half - 1e-12 * total:
            # average with the next value when the cumulative weight is exactly half
            if abs(acc - half) <= 1e-12 * total and t + 1 < order.size:
                return 0.5 * (values[order[t]] + values[order[t + 1]])
            return values[order[t]]
    return values[order[order.size - 1]]


@kernel
def fuse_one(idx, coords, weight, method, out):
    """Fused box of the boxes ``idx`` into ``out`` (4,): the weighted median of each
    coordinate (``MEDIAN``, three boxes or more) or the weighted mean."""
    n = idx.size
    if method == MEDIAN and n > 2:
        vals = np.empty(n, dtype=np.float64)
        ws = np.empty(n, dtype=np.float64)
        for q in range(4):
            for p in range(n):
                vals[p] = coords[idx[p], q]
                ws[p] = weight[idx[p]]
            out[q] = _weighted_median(vals, ws)
    else:
        total = 0.0
        for p in range(n):
            total += weight[idx[p]]
        for q in range(4):
            acc = 0.0
            for p in range(n):
                acc += weight[idx[p]] * coords[idx[p], q]
            out[q] = acc / total


@parallel_kernel
def fuse_boxes(obj_offsets, members, coords, weight, method):
    """Fused box of every object.

    Parameters
    ----------
    obj_offsets : int64 (n_objects + 1,)
    members : int64 (n_members,)
        Box indices grouped by object.
    coords : float64 (n_boxes, 4)
    weight : float64 (n_boxes,)
        Positive weight of each box.
    method : int
        ``MEAN`` (weighted coordinate mean) or ``MEDIAN`` (weighted median per coordinate).

    Returns
    -------
    fused : float64 (n_objects, 4)
    weight_sum : float64 (n_objects,)
    """
    n_obj = obj_offsets.size - 1
    fused = np.empty((n_obj, 4), dtype=np.float64)
    wsum = np.zeros(n_obj, dtype=np.float64)
    for o in prange(n_obj):
        lo = obj_offsets[o]
        hi = obj_offsets[o + 1]
        total = 0.0
        for p in range(lo, hi):
            total += weight[members[p]]
        wsum[o] = total
        fuse_one(members[lo:hi], coords, weight, method, fused[o])
    return fused, wsum


@parallel_kernel
def paired_iou(a, b):
    """Row-wise IoU: ``out[i] = IoU(a[i], b[i])``."""
    n = a.shape[0]
    out = np.empty(n, dtype=np.float64)
    for i in prange(n):
        out[i] = box_iou(a[i, 0], a[i, 1], a[i, 2], a[i, 3], b[i, 0], b[i, 1], b[i, 2], b[i, 3])
    return out


@kernel
def _local_index(sorted_codes, lo, hi, code):
    """Position of ``code`` in ``sorted_codes[lo:hi]`` (binary search), -1 if absent."""
    a = lo
    b = hi
    while a < b:
        mid = (a + b) // 2
        if sorted_codes[mid] < code:
            a = mid + 1
        else:
            b = mid
    if a < hi and sorted_codes[a] == code:
        return a - lo
    return -1


@parallel_kernel
def image_agreement(offsets, coords, worker, obj, valid, seen_offsets, seen_worker):
    """Pairwise annotator agreement per image.

    For every pair of annotators (a, b) who saw the image, with ``n_a`` and
    ``n_b`` boxes: ``S_ab`` is the summed IoU of the box pairs they put in
    the same object and ``M_ab`` the number of such pairs. Soft F1 of the pair is
    ``2 S_ab / (n_a + n_b)``: unmatched boxes count 0, and so do degenerate
    (zero-area) boxes, which match nothing. Two annotators who both drew no box
    at all agree (1); two who drew only degenerate boxes do not (0): they drew
    something, and nothing usable.

    Parameters
    ----------
    offsets : int64 (n_images + 1,)
    coords : float64 (n_boxes, 4)
    worker : int32 (n_boxes,)
    obj : int64 (n_boxes,)
        Object id of each box (any numbering unique within the image), -1 for none.
    valid : uint8 (n_boxes,)
        1 for a box of positive area. Not needed by the score (a degenerate box
        has ``obj`` -1, so it is an unmatched box); kept so every caller passes
        the same arrays as to the other per-image kernels.
    seen_offsets : int64 (n_images + 1,)
    seen_worker : int32 (n_seen,)
        Annotators who saw each image, sorted within the image (a superset of
        those who drew a box there).

    Returns
    -------
    f1 : float64 (n_images,)
        Mean soft F1 over annotator pairs; NaN with fewer than two annotators.
    mean_iou : float64 (n_images,)
        Mean IoU over matched box pairs; NaN without any.
    n_pairs : int64 (n_images,)
        Matched box pairs.
    """
    n_images = offsets.size - 1
    f1 = np.full(n_images, np.nan)
    mean_iou = np.full(n_images, np.nan)
    n_pairs = np.zeros(n_images, dtype=np.int64)
    for g in prange(n_images):
        lo = offsets[g]
        hi = offsets[g + 1]
        slo = seen_offsets[g]
        shi = seen_offsets[g + 1]
        nw = shi - slo
        count = np.zeros(nw, dtype=np.float64)
        s = np.zeros((nw, nw), dtype=np.float64)
        local = np.empty(hi - lo, dtype=np.int64)
        for r in range(lo, hi):
            u = _local_index(seen_worker, slo, shi, worker[r])
            local[r - lo] = u
            if u >= 0:
                # every drawn box counts: a degenerate one is unmatched (obj -1), never a sign of agreement
                count[u] += 1.0
        total = 0.0
        m = 0
        for r in range(lo, hi):
            if obj[r] < 0 or local[r - lo] < 0:
                continue
            for c in range(r + 1, hi):
                if obj[c] != obj[r] or local[c - lo] < 0:
                    continue
                v = row_iou(coords, r, c)
                a = local[r - lo]
                b = local[c - lo]
                s[a, b] += v
                s[b, a] += v
                total += v
                m += 1
        n_pairs[g] = m
        if m > 0:
            mean_iou[g] = total / m
        if nw >= 2:
            acc = 0.0
            for a in range(nw):
                for b in range(a + 1, nw):
                    denom = count[a] + count[b]
                    acc += 1.0 if denom == 0.0 else 2.0 * s[a, b] / denom
            f1[g] = acc / (nw * (nw - 1) / 2)
    return f1, mean_iou, n_pairs


@kernel
def _area(x0, y0, x1, y1):
    w = x1 - x0
    h = y1 - y0
    return w * h if (w > 0.0 and h > 0.0) else 0.0


@kernel
def _inter(ax0, ay0, ax1, ay1, bx0, by0, bx1, by1):
    iw = min(ax1, bx1) - max(ax0, bx0)
    ih = min(ay1, by1) - max(ay0, by0)
    return iw * ih if (iw > 0.0 and ih > 0.0) else 0.0


@parallel_kernel
def split_merge_flags(offsets, coords, worker, valid, box_object, obj_offsets_img, fused, box_class, obj_class,
                      contain, part_ratio, cover_ratio):
    """Split and merged boxes against the kept consensus objects of each image.

    * split: an annotator has two or more boxes that each lie mostly inside
      (share of the box's area >= ``contain``) one consensus object, are each
      smaller than ``part_ratio`` x the object's area, and are not matched to
      another kept object;
    * merged: a box covers (share of the object's area >= ``contain``) two or
      more kept objects and is at least ``cover_ratio`` x the largest of them.

    Only objects of the box's class count (``obj_class`` -1: any class, as
    with class-agnostic matching): a person box inside a car is not a piece
    of the car.

    Parameters
    ----------
    offsets : int64 (n_images + 1,)
    coords : float64 (n_boxes, 4)
    worker : int32 (n_boxes,)
    valid : uint8 (n_boxes,)
    box_object : int64 (n_boxes,)
        Kept object (global id) each box is matched to, -1 for none.
    obj_offsets_img : int64 (n_images + 1,)
        Kept objects of image ``g`` are ``obj_offsets_img[g]:obj_offsets_img[g+1]``.
    fused : float64 (n_kept, 4)
    box_class : int32 (n_boxes,)
    obj_class : int32 (n_kept,)
        Class of each kept object, -1 where any box class may be part of it.
    contain, part_ratio, cover_ratio : float

    Returns
    -------
    split, merged : uint8 (n_boxes,)
    split_object : int64 (n_boxes,)
        The object a split box lies in, -1 otherwise.
    """
    n_images = offsets.size - 1
    n = coords.shape[0]
    split = np.zeros(n, dtype=np.uint8)
    merged = np.zeros(n, dtype=np.uint8)
    split_object = np.full(n, -1, dtype=np.int64)
    for g in prange(n_images):
        lo = offsets[g]
        hi = offsets[g + 1]
        olo = obj_offsets_img[g]
        ohi = obj_offsets_img[g + 1]
        if ohi == olo:
            continue
        inside = np.full(hi - lo, -1, dtype=np.int64)
        for r in range(lo, hi):
            if not valid[r]:
                continue
            a = _area(coords[r, 0], coords[r, 1], coords[r, 2], coords[r, 3])
            n_cover = 0
            largest = 0.0
            for o in range(olo, ohi):
                if obj_class[o] >= 0 and obj_class[o] != box_class[r]:
                    continue
                ao = _area(fused[o, 0], fused[o, 1], fused[o, 2], fused[o, 3])
                it = _inter(coords[r, 0], coords[r, 1], coords[r, 2], coords[r, 3],
                            fused[o, 0], fused[o, 1], fused[o, 2], fused[o, 3])
                if ao > 0.0 and it >= contain * ao:
                    n_cover += 1
                    largest = max(largest, ao)
                if (inside[r - lo] < 0 and a > 0.0 and it >= contain * a and a < part_ratio * ao
                        and (box_object[r] < 0 or box_object[r] == o)):
                    inside[r - lo] = o
            if n_cover >= 2 and a >= cover_ratio * largest:
                merged[r] = 1
        for r in range(lo, hi):
            o = inside[r - lo]
            if o < 0:
                continue
            for c in range(lo, hi):
                if c != r and worker[c] == worker[r] and inside[c - lo] == o:
                    split[r] = 1
                    split_object[r] = o
                    break
    return split, merged, split_object


@parallel_kernel
def duplicate_flags(offsets, coords, worker, valid, box_class, box_object, input_row, class_aware, iou_min):
    """Boxes that repeat another box of the same annotator on the same object.

    Box ``r`` is a duplicate of ``s`` when both are valid, on one image, drawn by
    one annotator (of one class unless ``class_aware`` is false), overlap with
    IoU >= ``iou_min``, are not matched to two different kept objects (then they
    are two real, overlapping objects), and ``r`` is the extra one: unmatched while
    ``s`` is matched, or both unmatched and ``s`` was drawn first (the earlier
    ``input_row``: boxes are stored sorted by coordinates, not in the order
    they were written). Of several such ``s`` the one with the highest IoU is
    named (ties: the earliest input row).

    Parameters
    ----------
    offsets : int64 (n_images + 1,)
        Boxes of image ``g`` are rows ``offsets[g]:offsets[g+1]``.
    coords : float64 (n_boxes, 4)
    worker, box_class : int32 (n_boxes,)
    valid : uint8 (n_boxes,)
    box_object : int64 (n_boxes,)
        Kept object each box is matched to, -1 for none.
    input_row : int64 (n_boxes,)
        Position of each box among the input rows (distinct).
    class_aware : bool
    iou_min : float

    Returns
    -------
    duplicate : uint8 (n_boxes,)
    duplicate_of : int64 (n_boxes,)
        The row ``s`` a duplicate repeats, -1 otherwise.
    """
    n_images = offsets.size - 1
    n = coords.shape[0]
    duplicate = np.zeros(n, dtype=np.uint8)
    duplicate_of = np.full(n, -1, dtype=np.int64)
    for g in prange(n_images):
        for r in range(offsets[g], offsets[g + 1]):
            if not valid[r] or box_object[r] >= 0:
                continue
            best = -1.0
            for s in range(offsets[g], offsets[g + 1]):
                if s == r or not valid[s] or worker[s] != worker[r]:
                    continue
                if class_aware and box_class[s] != box_class[r]:
                    continue
                if box_object[s] < 0 and input_row[s] > input_row[r]:
                    continue
                iou = row_iou(coords, r, s)
                if iou >= iou_min and (iou > best or (iou == best and input_row[s] < input_row[duplicate_of[r]])):
                    best = iou
                    duplicate[r] = 1
                    duplicate_of[r] = s
    return duplicate, duplicate_of
