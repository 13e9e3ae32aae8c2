"""Intersection over union of axis-aligned boxes.

Boxes are ``(x0, y0, x1, y1)`` rows of a float64 ``(n, 4)`` array. A box with
``x1 <= x0`` or ``y1 <= y0`` has zero area. Conventions, shared with the
plain-Python reference in ``tests/naive_boxes.py``:

* touching boxes (a shared edge, no shared area) have IoU 0;
* two zero-area boxes have IoU 1 when their coordinates are equal, else 0
  (so ``IoU(a, a) == 1`` for every box), and a zero-area box has IoU 0 with
  any box of positive area.

IoU is unchanged by any positive scaling of the x or the y axis, so pixel and
normalised coordinates give the same values.
"""

from __future__ import annotations

import numpy as np

from consensus._jit import kernel, parallel_kernel, prange


@kernel
def box_iou(ax0, ay0, ax1, ay1, bx0, by0, bx1, by1):
    """IoU of two boxes given by their coordinates (see the module conventions)."""
    aw = ax1 - ax0
    ah = ay1 - ay0
    bw = bx1 - bx0
    bh = by1 - by0
    area_a = aw * ah if (aw > 0.0 and ah > 0.0) else 0.0
    area_b = bw * bh if (bw > 0.0 and bh > 0.0) else 0.0
    iw = min(ax1, bx1) - max(ax0, bx0)
    ih = min(ay1, by1) - max(ay0, by0)
    inter = iw * ih if (iw > 0.0 and ih > 0.0) else 0.0
    union = area_a + area_b - inter
    if union <= 0.0:
        if ax0 == bx0 and ay0 == by0 and ax1 == bx1 and ay1 == by1:
            return 1.0
        return 0.0
    value = inter / union
    return min(max(value, 0.0), 1.0)


@kernel
def row_iou(coords, i, j):
    """IoU of rows ``i`` and ``j`` of one ``(n, 4)`` coordinate array."""
    return box_iou(coords[i, 0], coords[i, 1], coords[i, 2], coords[i, 3],
                   coords[j, 0], coords[j, 1], coords[j, 2], coords[j, 3])


@parallel_kernel
def iou_matrix(a, b):
    """IoU of every box of ``a`` with every box of ``b``.

    Parameters
    ----------
    a : float64 (n, 4)
    b : float64 (m, 4)

    Returns
    -------
    float64 (n, m)
    """
    n = a.shape[0]
    m = b.shape[0]
    out = np.empty((n, m), dtype=np.float64)
    for i in prange(n):
        for j in range(m):
            out[i, j] = box_iou(a[i, 0], a[i, 1], a[i, 2], a[i, 3], b[j, 0], b[j, 1], b[j, 2], b[j, 3])
    return out


@parallel_kernel
def image_pairwise_iou(offsets, coords):
    """Pairwise IoU of all boxes within each image (all annotators together).

    Parameters
    ----------
    offsets : int64 (n_images + 1,)
        CSR offsets of the images' boxes in ``coords``.
    coords : float64 (n_boxes, 4)

    Returns
    -------
    pair_offsets : int64 (n_images + 1,)
        Image ``g``'s block starts at ``pair_offsets[g]`` and holds
        ``k * k`` values (``k`` boxes in the image), row-major: the IoU of its
        ``r``-th and ``c``-th box is at ``pair_offsets[g] + r * k + c``.
    values : float64 (pair_offsets[-1],)
    """
    n_images = offsets.size - 1
    pair_offsets = np.zeros(n_images + 1, dtype=np.int64)
    for g in range(n_images):
        k = offsets[g + 1] - offsets[g]
        pair_offsets[g + 1] = pair_offsets[g] + k * k
    values = np.empty(pair_offsets[n_images], dtype=np.float64)
    for g in prange(n_images):
        lo = offsets[g]
        k = offsets[g + 1] - lo
        base = pair_offsets[g]
        for r in range(k):
            values[base + r * k + r] = row_iou(coords, lo + r, lo + r)
            for c in range(r + 1, k):
                v = row_iou(coords, lo + r, lo + c)
                values[base + r * k + c] = v
                values[base + c * k + r] = v
    return pair_offsets, values
