"""Plain-Python reference implementations of the box kernels.

Written for obviousness: Python loops, lists, sets and dicts, nothing from
``consensus``. Each ``naive_<kernel>`` takes the same arguments as the kernel
of the same name in ``consensus.kernels.iou`` / ``box_matching`` / ``box_fusion``
and returns the same layout.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st


# ---------------------------------------------------------------------------------------
# IoU
# ---------------------------------------------------------------------------------------
def naive_iou(a, b):
    """IoU of boxes ``(x0, y0, x1, y1)``; touching -> 0; two equal zero-area boxes -> 1."""
    ax0, ay0, ax1, ay1 = (float(v) for v in a)
    bx0, by0, bx1, by1 = (float(v) for v in b)
    area_a = (ax1 - ax0) * (ay1 - ay0) if ax1 > ax0 and ay1 > ay0 else 0.0
    area_b = (bx1 - bx0) * (by1 - by0) if bx1 > bx0 and by1 > by0 else 0.0
    iw = min(ax1, bx1) - max(ax0, bx0)
    ih = min(ay1, by1) - max(ay0, by0)
    inter = iw * ih if iw > 0 and ih > 0 else 0.0
    union = area_a + area_b - inter
    if union <= 0:
        return 1.0 if (ax0, ay0, ax1, ay1) == (bx0, by0, bx1, by1) else 0.0
    return min(max(inter / union, 0.0), 1.0)


def naive_iou_matrix(a, b):
    return np.array([[naive_iou(x, y) for y in b] for x in a], dtype=np.float64).reshape(len(a), len(b))


def naive_image_pairwise_iou(offsets, coords):
    pair_offsets = [0]
    values = []
    for g in range(len(offsets) - 1):
        lo, hi = int(offsets[g]), int(offsets[g + 1])
        for r in range(lo, hi):
            for c in range(lo, hi):
                values.append(naive_iou(coords[r], coords[c]))
        pair_offsets.append(len(values))
    return np.array(pair_offsets, dtype=np.int64), np.array(values, dtype=np.float64)


# ---------------------------------------------------------------------------------------
# matching
# ---------------------------------------------------------------------------------------
def _mean_box(boxes, weights):
    total = sum(weights)
    return [sum(w * b[q] for b, w in zip(boxes, weights)) / total for q in range(4)]


def naive_match_image(coords, worker, label, valid, weight, threshold, class_aware):
    """Objects of one image's boxes (lists in canonical order); -1 for invalid boxes."""
    k = len(coords)
    # 1. components of the link graph (breadth-first search)
    links = {r: set() for r in range(k)}
    for r in range(k):
        for c in range(k):
            if r == c or not valid[r] or not valid[c] or worker[r] == worker[c]:
                continue
            if class_aware and label[r] != label[c]:
                continue
            if naive_iou(coords[r], coords[c]) >= threshold:
                links[r].add(c)
    comp_of = {}
    for r in range(k):
        if r in comp_of or not valid[r]:
            continue
        queue, comp_of[r] = [r], r
        while queue:
            x = queue.pop()
            for y in links[x]:
                if y not in comp_of:
                    comp_of[y] = r
                    queue.append(y)
    # 2. constrained centroid linkage inside each component
    rep = {}
    for root in sorted(set(comp_of.values())):
        clusters = [[r] for r in range(k) if comp_of.get(r) == root]
        members = [c[0] for c in clusters]
        if len({worker[r] for r in members}) == len(members) and all(
                naive_iou(coords[a], coords[b]) >= threshold for a in members for b in members if a != b):
            clusters = [members]  # a clique with one box per annotator is one object
        while len(clusters) > 1:
            best, pair = -1.0, None
            for a in range(len(clusters)):
                for b in range(a + 1, len(clusters)):
                    if {worker[r] for r in clusters[a]} & {worker[r] for r in clusters[b]}:
                        continue
                    s = naive_iou(_mean_box([coords[r] for r in clusters[a]], [weight[r] for r in clusters[a]]),
                                  _mean_box([coords[r] for r in clusters[b]], [weight[r] for r in clusters[b]]))
                    if s >= threshold and s > best:
                        best, pair = s, (a, b)
            if pair is None:
                break
            a, b = pair
            clusters[a] = sorted(clusters[a] + clusters[b])
            del clusters[b]
        for cl in clusters:
            for r in cl:
                rep[r] = min(cl)
    out, number = [], {}
    for r in range(k):
        if not valid[r]:
            out.append(-1)
            continue
        if rep[r] not in number:
            number[rep[r]] = len(number)
        out.append(number[rep[r]])
    return out, len(number)


def naive_match_boxes(offsets, coords, worker, label, valid, weight, threshold, class_aware):
    local, n_obj = [], []
    for g in range(len(offsets) - 1):
        lo, hi = int(offsets[g]), int(offsets[g + 1])
        out, n = naive_match_image([list(coords[r]) for r in range(lo, hi)], list(worker[lo:hi]),
                                   list(label[lo:hi]), list(valid[lo:hi]), list(weight[lo:hi]), threshold,
                                   class_aware)
        local.extend(out)
        n_obj.append(n)
    return np.array(local, dtype=np.int64), np.array(n_obj, dtype=np.int64)


def partition(offsets, local):
    """The objects as a set of frozensets of box indices (numbering-free)."""
    groups = {}
    for g in range(len(offsets) - 1):
        for r in range(int(offsets[g]), int(offsets[g + 1])):
            if local[r] >= 0:
                groups.setdefault((g, int(local[r])), set()).add(r)
    return {frozenset(v) for v in groups.values()}


# ---------------------------------------------------------------------------------------
# fusion and agreement
# ---------------------------------------------------------------------------------------
def naive_weighted_median(values, weights):
    pairs = sorted(zip(values, weights), key=lambda p: p[0])
    total = sum(weights)
    acc = 0.0
    for t, (v, w) in enumerate(pairs):
        acc += w
        if abs(acc - total / 2) <= 1e-12 * total and t + 1 < len(pairs):
            return (v + pairs[t + 1][0]) / 2
        if acc >= total / 2:
            return v
    return pairs[-1][0]


def naive_fuse_boxes(obj_offsets, members, coords, weight, method):
    fused, wsum = [], []
    for o in range(len(obj_offsets) - 1):
        idx = [int(members[p]) for p in range(int(obj_offsets[o]), int(obj_offsets[o + 1]))]
        ws = [float(weight[i]) for i in idx]
        wsum.append(sum(ws))
        if method == 1 and len(idx) > 2:
            fused.append([naive_weighted_median([coords[i][q] for i in idx], ws) for q in range(4)])
        else:
            fused.append(_mean_box([list(coords[i]) for i in idx], ws))
    return np.array(fused, dtype=np.float64).reshape(-1, 4), np.array(wsum)


def _naive_fuse(idx, coords, weight, method):
    ws = [float(weight[i]) for i in idx]
    if method == 1 and len(idx) > 2:
        return [naive_weighted_median([coords[i][q] for i in idx], ws) for q in range(4)]
    return _mean_box([list(coords[i]) for i in idx], ws)


def naive_merge_objects(offsets, obj_start, obj, coords, worker, label, weight, fused, threshold, class_aware,
                        method):
    """Greedy merging of each image's objects by fused-box IoU (highest first, ties to the smallest
    object numbers), never two objects sharing an annotator or (class-aware) of different classes."""
    n_obj = len(fused)
    rep = list(range(n_obj))
    out = [list(map(float, fused[o])) for o in range(n_obj)]
    for g in range(len(offsets) - 1):
        lo, hi = int(offsets[g]), int(offsets[g + 1])
        objs = list(range(int(obj_start[g]), int(obj_start[g + 1])))
        groups = {o: sorted(r for r in range(lo, hi) if obj[r] == o) for o in objs}  # box indices
        box = {o: list(map(float, fused[o])) for o in objs}
        while True:
            best, pair = None, None
            alive = sorted(groups)
            for i, a in enumerate(alive):
                for b in alive[i + 1:]:
                    if {int(worker[r]) for r in groups[a]} & {int(worker[r]) for r in groups[b]}:
                        continue
                    if class_aware and label[groups[a][0]] != label[groups[b][0]]:
                        continue
                    s = naive_iou(box[a], box[b])
                    if s >= threshold and (best is None or s > best):  # alive is sorted: ties keep the first pair
                        best, pair = s, (a, b)
            if pair is None:
                break
            a, b = pair
            groups[a] = sorted(groups[a] + groups.pop(b))
            box[a] = _naive_fuse(groups[a], coords, weight, method)
            for o in objs:
                if rep[o] == b:
                    rep[o] = a
        for o in objs:
            out[o] = box[rep[o]]
    return np.array(rep, dtype=np.int64), np.array(out, dtype=np.float64).reshape(-1, 4)


def naive_image_agreement(offsets, coords, worker, obj, valid, seen_offsets, seen_worker):
    f1, miou, npairs = [], [], []
    for g in range(len(offsets) - 1):
        lo, hi = int(offsets[g]), int(offsets[g + 1])
        seen = [int(w) for w in seen_worker[int(seen_offsets[g]):int(seen_offsets[g + 1])]]
        # every drawn box counts, degenerate ones too (they match nothing)
        count = {w: sum(1 for r in range(lo, hi) if worker[r] == w) for w in seen}
        s = {}
        ious = []
        for r in range(lo, hi):
            for c in range(r + 1, hi):
                if obj[r] < 0 or obj[r] != obj[c] or worker[r] not in count or worker[c] not in count:
                    continue
                v = naive_iou(coords[r], coords[c])
                key = frozenset((int(worker[r]), int(worker[c])))
                s[key] = s.get(key, 0.0) + v
                ious.append(v)
        npairs.append(len(ious))
        miou.append(sum(ious) / len(ious) if ious else np.nan)
        pairs = [(a, b) for i, a in enumerate(seen) for b in seen[i + 1:]]
        if not pairs:
            f1.append(np.nan)
            continue
        vals = []
        for a, b in pairs:
            d = count[a] + count[b]
            vals.append(1.0 if d == 0 else 2 * s.get(frozenset((a, b)), 0.0) / d)
        f1.append(sum(vals) / len(vals))
    return np.array(f1), np.array(miou), np.array(npairs, dtype=np.int64)


def _area(b):
    return max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0) if b[2] > b[0] and b[3] > b[1] else 0.0


def _inter(a, b):
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    return iw * ih if iw > 0 and ih > 0 else 0.0


def naive_split_merge_flags(offsets, coords, worker, valid, box_object, obj_offsets_img, fused, box_class,
                            obj_class, contain, part_ratio, cover_ratio):
    n = len(coords)
    split, merged, split_object = [0] * n, [0] * n, [-1] * n
    for g in range(len(offsets) - 1):
        lo, hi = int(offsets[g]), int(offsets[g + 1])
        objs = list(range(int(obj_offsets_img[g]), int(obj_offsets_img[g + 1])))
        inside = {}
        for r in range(lo, hi):
            if not valid[r] or not objs:
                continue
            a = _area(coords[r])
            same = [o for o in objs if obj_class[o] in (-1, box_class[r])]
            covered = [o for o in same if _area(fused[o]) > 0 and _inter(coords[r], fused[o]) >= contain * _area(fused[o])]
            if len(covered) >= 2 and a >= cover_ratio * max(_area(fused[o]) for o in covered):
                merged[r] = 1
            for o in same:
                if (a > 0 and _inter(coords[r], fused[o]) >= contain * a and a < part_ratio * _area(fused[o])
                        and box_object[r] in (-1, o)):
                    inside[r] = o
                    break
        for r, o in inside.items():
            if any(c != r and worker[c] == worker[r] and inside.get(c) == o for c in range(lo, hi)):
                split[r], split_object[r] = 1, o
    return np.array(split, np.uint8), np.array(merged, np.uint8), np.array(split_object, np.int64)


# ---------------------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------------------
coordinate = st.floats(min_value=-50.0, max_value=50.0, allow_nan=False, allow_infinity=False)


@st.composite
def boxes(draw, min_size=0.0):
    x0, y0 = draw(coordinate), draw(coordinate)
    w = draw(st.floats(min_value=min_size, max_value=40.0))
    h = draw(st.floats(min_value=min_size, max_value=40.0))
    return (x0, y0, x0 + w, y0 + h)


@st.composite
def crowds(draw, max_images=4, max_workers=4, max_objects=4):
    """Images with a few objects, each drawn (jittered) by some annotators, plus stray boxes."""
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    n_images = draw(st.integers(1, max_images))
    rows = []
    for g in range(n_images):
        n_workers = int(rng.integers(1, max_workers + 1))
        workers = sorted(rng.choice(10, n_workers, replace=False).tolist())
        objects = [(rng.uniform(0, 80), rng.uniform(0, 80), rng.uniform(5, 30), rng.uniform(5, 30))
                   for _ in range(int(rng.integers(0, max_objects + 1)))]
        for w in workers:
            for (x, y, bw, bh) in objects:
                if rng.random() < 0.8:
                    j = rng.normal(0, 0.15, 4) * [bw, bh, bw, bh]
                    rows.append((g, w, x + j[0], y + j[1], x + bw + j[2], y + bh + j[3], int(rng.integers(0, 2))))
            if rng.random() < 0.3:
                x, y = rng.uniform(0, 90, 2)
                rows.append((g, w, x, y, x + rng.uniform(0, 20), y + rng.uniform(0, 20), 0))
    rows.sort(key=lambda t: (t[0], t[1], t[2], t[3], t[4], t[5]))
    image = np.array([r[0] for r in rows], dtype=np.int32)
    offsets = np.zeros(n_images + 1, dtype=np.int64)
    np.cumsum(np.bincount(image, minlength=n_images), out=offsets[1:])
    coords = np.array([r[2:6] for r in rows], dtype=np.float64).reshape(-1, 4)
    if rows and draw(st.booleans()):
        coords = np.round(coords, 0)  # integer pixels: exact ties and touching boxes
    worker = np.array([r[1] for r in rows], dtype=np.int32)
    label = np.array([r[6] for r in rows], dtype=np.int32)
    valid = ((coords[:, 2] > coords[:, 0]) & (coords[:, 3] > coords[:, 1])).astype(np.uint8)
    seen = sorted({(r[0], r[1]) for r in rows})
    seen_image = np.array([s[0] for s in seen], dtype=np.int64)
    seen_offsets = np.zeros(n_images + 1, dtype=np.int64)
    np.cumsum(np.bincount(seen_image, minlength=n_images), out=seen_offsets[1:])
    return {"offsets": offsets, "coords": coords, "worker": worker, "label": label, "valid": valid,
            "image": image, "seen_offsets": seen_offsets,
            "seen_worker": np.array([s[1] for s in seen], dtype=np.int32)}


def naive_duplicate_flags(offsets, coords, worker, valid, box_class, box_object, input_row, class_aware, iou_min):
    """Each unmatched box's twin: same image, annotator (and class), IoU >= iou_min, matched or drawn earlier
    (a smaller input row); of equal IoUs the earliest input row."""
    n = len(coords)
    duplicate, duplicate_of = [0] * n, [-1] * n
    for g in range(len(offsets) - 1):
        rows = range(int(offsets[g]), int(offsets[g + 1]))
        for r in rows:
            if not valid[r] or box_object[r] >= 0:
                continue
            twins = [(naive_iou(coords[r], coords[s]), s) for s in rows
                     if s != r and valid[s] and worker[s] == worker[r]
                     and (not class_aware or box_class[s] == box_class[r])
                     and (box_object[s] >= 0 or input_row[s] < input_row[r])]
            twins = [(iou, s) for iou, s in twins if iou >= iou_min]
            if twins:
                best = max(iou for iou, _ in twins)
                duplicate[r], duplicate_of[r] = 1, min((s for iou, s in twins if iou == best),
                                                       key=lambda s: input_row[s])
    return np.array(duplicate, np.uint8), np.array(duplicate_of, np.int64)
