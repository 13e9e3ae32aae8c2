"""Cross-annotator box matching: per image, cluster boxes into objects.

The clustering is order-free (it does not visit annotators one after another):

1. Candidate links: every pair of boxes from *different* annotators (and the
   same class when ``class_aware``) with IoU >= ``threshold``. Objects never
   cross the connected components of this graph.
2. Inside a component, constrained centroid-linkage agglomeration: start
   from single boxes; repeatedly merge the two clusters whose (weighted) mean
   boxes have the highest IoU, provided it is >= ``threshold`` and the two
   clusters share no annotator (an annotator contributes at most one box to an
   object); stop when no such pair is left.

Every decision depends on the geometry only; box positions break exact ties
(first pair in row-major order of the image's canonical box order), so the
objects do not depend on the input row order and, except for exact IoU ties,
not on how annotators are named. A component in which every annotator has at
most one box and every pair of boxes links (a clique) is one object, without
the agglomeration loop: the common, clear case.
"""

from __future__ import annotations

import numpy as np

from consensus._jit import kernel, parallel_kernel, prange
from consensus.kernels.box_fusion import fuse_one
from consensus.kernels.iou import box_iou, row_iou


@kernel
def _find(parent, i):
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:  # path compression
        nxt = parent[i]
        parent[i] = root
        i = nxt
    return root


@kernel
def _cluster_iou(sums, wsum, a, b):
    """IoU of the mean boxes of clusters ``a`` and ``b``."""
    wa = wsum[a]
    wb = wsum[b]
    return box_iou(sums[a, 0] / wa, sums[a, 1] / wa, sums[a, 2] / wa, sums[a, 3] / wa,
                   sums[b, 0] / wb, sums[b, 1] / wb, sums[b, 2] / wb, sums[b, 3] / wb)


@kernel
def _agglomerate(members, lo, coords, local_worker, n_local, weight, threshold, rep):
    """Constrained centroid linkage over one component; writes each member's cluster
    representative (smallest local box index of the cluster) into ``rep``."""
    m = members.size
    sums = np.empty((m, 4), dtype=np.float64)
    wsum = np.empty(m, dtype=np.float64)
    has = np.zeros((m, n_local), dtype=np.uint8)
    alive = np.ones(m, dtype=np.uint8)
    cluster = np.arange(m)
    for a in range(m):
        r = members[a]
        w = weight[lo + r]
        for q in range(4):
            sums[a, q] = w * coords[lo + r, q]
        wsum[a] = w
        has[a, local_worker[r]] = 1
    score = np.full((m, m), -1.0)
    for a in range(m):
        for b in range(a + 1, m):
            if local_worker[members[a]] != local_worker[members[b]]:
                s = _cluster_iou(sums, wsum, a, b)
                score[a, b] = s
                score[b, a] = s
    while True:
        best = -1.0
        ba = -1
        bb = -1
        for a in range(m):
            if not alive[a]:
                continue
            for b in range(a + 1, m):
                if alive[b] and score[a, b] >= threshold and score[a, b] > best:
                    best = score[a, b]
                    ba = a
                    bb = b
        if ba < 0:
            break
        for q in range(4):
            sums[ba, q] += sums[bb, q]
        wsum[ba] += wsum[bb]
        for u in range(n_local):
            if has[bb, u]:
                has[ba, u] = 1
        alive[bb] = 0
        for a in range(m):
            if cluster[a] == bb:
                cluster[a] = ba
        for x in range(m):
            if x == ba or not alive[x]:
                continue
            conflict = False
            for u in range(n_local):
                if has[ba, u] and has[x, u]:
                    conflict = True
                    break
            s = -1.0 if conflict else _cluster_iou(sums, wsum, ba, x)
            score[ba, x] = s
            score[x, ba] = s
    for a in range(m):
        rep[members[a]] = members[cluster[a]]


@kernel
def _match_one_image(lo, hi, coords, worker, label, valid, weight, threshold, class_aware, out):
    k = hi - lo
    if k == 0:
        return 0
    local_worker = np.empty(k, dtype=np.int64)
    n_local = 0
    for r in range(k):  # boxes are sorted by worker within the image
        if r > 0 and worker[lo + r] != worker[lo + r - 1]:
            n_local += 1
        local_worker[r] = n_local
    n_local += 1
    parent = np.arange(k)
    for r in range(k):
        if not valid[lo + r]:
            continue
        for c in range(r + 1, k):
            if not valid[lo + c] or local_worker[r] == local_worker[c]:
                continue
            if class_aware and label[lo + r] != label[lo + c]:
                continue
            if row_iou(coords, lo + r, lo + c) >= threshold:
                ra = _find(parent, r)
                rb = _find(parent, c)
                if ra != rb:
                    if ra < rb:
                        parent[rb] = ra
                    else:
                        parent[ra] = rb
    root = np.empty(k, dtype=np.int64)
    size = np.zeros(k, dtype=np.int64)
    for r in range(k):
        root[r] = _find(parent, r)
        size[root[r]] += 1
    rep = np.arange(k)
    seen_worker = np.zeros(n_local, dtype=np.uint8)
    for g in range(k):
        if root[g] != g or size[g] == 1 or not valid[lo + g]:
            continue
        members = np.empty(size[g], dtype=np.int64)
        t = 0
        for r in range(g, k):
            if root[r] == g:
                members[t] = r
                t += 1
        # clear case: one box per annotator and every pair linked -> one object
        clear = True
        for u in range(n_local):
            seen_worker[u] = 0
        for a in range(t):
            u = local_worker[members[a]]
            if seen_worker[u]:
                clear = False
                break
            seen_worker[u] = 1
        if clear:
            for a in range(t):
                for b in range(a + 1, t):
                    if row_iou(coords, lo + members[a], lo + members[b]) < threshold:
                        clear = False
                        break
                if not clear:
                    break
        if clear:
            for a in range(t):
                rep[members[a]] = g
        else:
            _agglomerate(members, lo, coords, local_worker, n_local, weight, threshold, rep)
    number = np.full(k, -1, dtype=np.int64)
    n_obj = 0
    for r in range(k):
        if not valid[lo + r]:
            out[lo + r] = -1
            continue
        p = rep[r]
        if number[p] < 0:
            number[p] = n_obj
            n_obj += 1
        out[lo + r] = number[p]
    return n_obj


@parallel_kernel
def match_boxes(offsets, coords, worker, label, valid, weight, threshold, class_aware):
    """Cluster the boxes of every image into objects (see the module docstring).

    Parameters
    ----------
    offsets : int64 (n_images + 1,)
        CSR offsets of each image's boxes; within an image boxes are sorted by worker.
    coords : float64 (n_boxes, 4)
        ``x0, y0, x1, y1``.
    worker, label : int32 (n_boxes,)
        Annotator and class codes.
    valid : uint8 (n_boxes,)
        0 for a box left out of matching (e.g. zero area); it gets object -1.
    weight : float64 (n_boxes,)
        Positive weight of each box in its cluster's mean box.
    threshold : float
        Least IoU for a link and for a merge, in (0, 1].
    class_aware : bool
        Only boxes of the same class are linked.

    Returns
    -------
    local_object : int64 (n_boxes,)
        Object number within the image (0, 1, ... in order of each object's
        first box), -1 for boxes that are not valid.
    n_objects : int64 (n_images,)
    """
    n_images = offsets.size - 1
    out = np.empty(coords.shape[0], dtype=np.int64)
    n_objects = np.zeros(n_images, dtype=np.int64)
    for g in prange(n_images):
        n_objects[g] = _match_one_image(offsets[g], offsets[g + 1], coords, worker, label, valid,
                                        weight, threshold, class_aware, out)
    return out, n_objects


@kernel
def _local_workers(worker, lo, hi):
    """Local annotator number (0, 1, ...) of each box of an image whose boxes are sorted by worker."""
    k = hi - lo
    local = np.empty(k, dtype=np.int64)
    n_local = 0
    for r in range(k):
        if r > 0 and worker[lo + r] != worker[lo + r - 1]:
            n_local += 1
        local[r] = n_local
    return local, n_local + 1


@kernel
def _mergeable(has, n_local, olabel, class_aware, a, b):
    if class_aware and olabel[a] != olabel[b]:
        return False
    for u in range(n_local):
        if has[a, u] and has[b, u]:
            return False
    return True


@kernel
def _merge_one_image(lo, hi, olo, ohi, obj, coords, worker, label, weight, fused, threshold, class_aware, method,
                     rep, out_fused):
    m = ohi - olo
    for x in range(m):
        rep[olo + x] = olo + x
        for q in range(4):
            out_fused[olo + x, q] = fused[olo + x, q]
    if m < 2:
        return
    k = hi - lo
    local_worker, n_local = _local_workers(worker, lo, hi)
    has = np.zeros((m, n_local), dtype=np.uint8)
    olabel = np.full(m, -1, dtype=np.int64)
    cl = np.full(k, -1, dtype=np.int64)
    for r in range(k):
        o = obj[lo + r]
        if o < 0:
            continue
        x = o - olo
        cl[r] = x
        has[x, local_worker[r]] = 1
        olabel[x] = label[lo + r]
    box = np.empty((m, 4), dtype=np.float64)
    for x in range(m):
        for q in range(4):
            box[x, q] = fused[olo + x, q]
    alive = np.ones(m, dtype=np.uint8)
    version = np.zeros(m, dtype=np.int64)
    parent = np.arange(m)
    # candidate pairs (a < b, version of a, version of b) with their IoU; stale entries are skipped
    cap = 16
    pairs = np.empty((cap, 4), dtype=np.int64)
    score = np.empty(cap, dtype=np.float64)
    n = 0
    for a in range(m):
        for b in range(a + 1, m):
            s = box_iou(box[a, 0], box[a, 1], box[a, 2], box[a, 3], box[b, 0], box[b, 1], box[b, 2], box[b, 3])
            if s >= threshold and _mergeable(has, n_local, olabel, class_aware, a, b):
                if n == cap:
                    cap *= 2
                    grown = np.empty((cap, 4), dtype=np.int64)
                    grown[:n] = pairs[:n]
                    pairs = grown
                    gs = np.empty(cap, dtype=np.float64)
                    gs[:n] = score[:n]
                    score = gs
                pairs[n, 0] = a
                pairs[n, 1] = b
                pairs[n, 2] = 0
                pairs[n, 3] = 0
                score[n] = s
                n += 1
    idx = np.empty(k, dtype=np.int64)
    while True:
        best = -1.0
        bi = -1
        for t in range(n):
            a = pairs[t, 0]
            b = pairs[t, 1]
            if not alive[a] or not alive[b] or version[a] != pairs[t, 2] or version[b] != pairs[t, 3]:
                continue
            s = score[t]
            if s > best or (s == best and (a < pairs[bi, 0] or (a == pairs[bi, 0] and b < pairs[bi, 1]))):
                best = s
                bi = t
        if bi < 0:
            break
        a = pairs[bi, 0]
        b = pairs[bi, 1]
        alive[b] = 0
        parent[b] = a
        version[a] += 1
        for u in range(n_local):
            if has[b, u]:
                has[a, u] = 1
        t = 0
        for r in range(k):
            if cl[r] == b:
                cl[r] = a
            if cl[r] == a:
                idx[t] = lo + r
                t += 1
        fuse_one(idx[:t], coords, weight, method, box[a])
        for x in range(m):
            if x == a or not alive[x]:
                continue
            s = box_iou(box[a, 0], box[a, 1], box[a, 2], box[a, 3], box[x, 0], box[x, 1], box[x, 2], box[x, 3])
            if s >= threshold and _mergeable(has, n_local, olabel, class_aware, a, x):
                if n == cap:
                    cap *= 2
                    grown = np.empty((cap, 4), dtype=np.int64)
                    grown[:n] = pairs[:n]
                    pairs = grown
                    gs = np.empty(cap, dtype=np.float64)
                    gs[:n] = score[:n]
                    score = gs
                lo_id = min(a, x)
                hi_id = max(a, x)
                pairs[n, 0] = lo_id
                pairs[n, 1] = hi_id
                pairs[n, 2] = version[lo_id]
                pairs[n, 3] = version[hi_id]
                score[n] = s
                n += 1
    for x in range(m):
        root = x
        while parent[root] != root:
            root = parent[root]
        rep[olo + x] = olo + root
        for q in range(4):
            out_fused[olo + x, q] = box[root, q]


@parallel_kernel
def merge_objects(offsets, obj_start, obj, coords, worker, label, weight, fused, threshold, class_aware, method):
    """Merge candidate objects of one image whose fused boxes overlap, to a fixed point.

    Matching links boxes and compares clusters by their plain mean boxes; the
    output is judged by the fused boxes (reliability-weighted medians), and two
    candidates of one object can end up on either side of the threshold (an
    object split in two, each part with too little support). Per image, this
    repeatedly merges the two objects whose fused boxes have the highest IoU,
    provided it is >= ``threshold``, the two share no annotator and (with
    ``class_aware``) have the same class; the merged object is fused again
    (:func:`consensus.kernels.box_fusion.fuse_one`, members in box order) and
    compared with the others. It stops when no such pair is left, so no two
    output objects could still be merged. Exact IoU ties go to the pair with
    the smallest object numbers; the result depends on geometry, weights and
    the objects, not on the row order.

    Parameters
    ----------
    offsets : int64 (n_images + 1,)
        CSR offsets of each image's boxes (sorted by worker within the image).
    obj_start : int64 (n_images + 1,)
        Objects of image ``g`` are ``obj_start[g]:obj_start[g+1]`` (global ids).
    obj : int64 (n_boxes,)
        Global object of every box, -1 for none.
    coords : float64 (n_boxes, 4)
    worker, label : int32 (n_boxes,)
    weight : float64 (n_boxes,)
        Positive weight of each box in its object's fused box.
    fused : float64 (n_objects, 4)
        Fused box of every object (as :func:`fuse_boxes` computes it with the same weights).
    threshold : float
    class_aware : bool
    method : int
        ``MEAN`` or ``MEDIAN``, as for :func:`fuse_boxes`.

    Returns
    -------
    rep : int64 (n_objects,)
        The object each object is merged into: the smallest global id of its group.
    merged_fused : float64 (n_objects, 4)
        Fused box of each object's group.
    """
    n_images = offsets.size - 1
    n_obj = fused.shape[0]
    rep = np.empty(n_obj, dtype=np.int64)
    out_fused = np.empty((n_obj, 4), dtype=np.float64)
    for g in prange(n_images):
        _merge_one_image(offsets[g], offsets[g + 1], obj_start[g], obj_start[g + 1], obj, coords, worker, label,
                         weight, fused, threshold, class_aware, method, rep, out_fused)
    return rep, out_fused
