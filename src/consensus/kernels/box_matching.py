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
