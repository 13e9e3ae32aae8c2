"""Tables of a box consensus: objects, images, annotators, per-box flags; the summary."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from consensus.boxes.data import BoxSet
from consensus.boxes.model import ACCEPT, MORE, RECOMMENDATIONS, REVIEW, Fit

if TYPE_CHECKING:
    from consensus.boxes.model import BoxConsensus

BOX_FLAGS = ("split", "merged", "duplicate", "degenerate", "out_of_image", "whole_image", "fast")
#: Share of the image size a box may reach past the edge before it is out of the image.
EDGE_TOLERANCE = 0.01
#: Share of the image area from which a box is a whole-image box.
WHOLE_IMAGE = 0.9
#: Split parts are each smaller than this share of the object's area.
PART_RATIO = 0.8
#: A merged box is at least this many times the area of the largest object it covers.
COVER_RATIO = 1.5
#: An unmatched box overlapping another box of its annotator (same class) at least this much repeats it.
DUPLICATE_IOU = 0.7
Z95 = 1.959963984540054


class BoxResult:
    """What :meth:`BoxConsensus.fit` returns.

    Attributes
    ----------
    boxes : polars.DataFrame
        Consensus objects: ``image, object``, coordinates in the input's format
        (``x0, y0, x1, y1`` or ``x, y, w, h``), ``label, confidence,
        n_annotators`` (boxes in the object), ``doubt`` (posterior probability that
        the kept/dropped decision is wrong), ``n_seen`` (annotators who saw the
        image), ``mean_iou`` (members vs the fused box), ``spread`` (RMS of the
        members' coordinate deviations, in fused widths/heights). Only kept
        objects unless ``keep_all``, which adds a ``kept`` column.
    images : polars.DataFrame
        Per image: ``n_annotators, n_boxes, n_objects, n_candidates,
        n_uncertain, explained, mean_iou, f1, recommendation, reason``.
    workers : polars.DataFrame
        Per annotator quality with 95% intervals and flags.
    annotations : polars.DataFrame
        Every used box with its object, IoU to the consensus, log area ratio and flags.
    box_flags : polars.DataFrame
        The rows of ``annotations`` with at least one flag.
    quarantine : polars.DataFrame or None
        Unused input rows with a ``reason``.
    data : BoxSet
    fit : Fit
        The arrays behind the tables.
    """

    def __init__(self, data: BoxSet, fit: Fit, boxes: pl.DataFrame, images: pl.DataFrame, workers: pl.DataFrame,
                 annotations: pl.DataFrame, params: dict[str, Any]) -> None:
        self.data = data
        self.fit = fit
        self.boxes = boxes
        self.images = images
        self.workers = workers
        self.annotations = annotations
        self.box_flags = annotations.filter(pl.col("flags") != "")
        self.quarantine = data.quarantine
        self.params = params

    def accounting_line(self) -> str:
        return self.data.accounting_line()

    def summary(self) -> dict[str, Any]:
        """Headline figures (plain Python values) for reports."""
        f = self.fit
        pairs = f.image_pairs.sum()
        iou_sum = np.nansum(np.nan_to_num(f.image_iou) * f.image_pairs)
        by_rec = {r: int((self.images.get_column("recommendation") == r).sum()) for r in RECOMMENDATIONS}
        flagged = self.workers.filter(pl.col("flags") != "")
        f1 = f.image_f1[np.isfinite(f.image_f1)]
        return {
            "n_images": self.data.n_images,
            "n_annotators": self.data.n_workers,
            "n_boxes": self.data.n_boxes,
            "n_objects": int(f.kept.sum()),
            "n_candidates": int(f.kept.size),
            "mean_matched_iou": float(iou_sum / pairs) if pairs else math.nan,
            "f1_agreement": float(f1.mean()) if f1.size else math.nan,
            "images_by_recommendation": by_rec,
            "workers_flagged": flagged.height,
            "flagged_workers": flagged.get_column("worker").to_list(),
            "boxes_flagged": {name: int(self.annotations.get_column(name).sum()) for name in BOX_FLAGS},
            # as the accounting line: rows of the file; an MTurk row holds several box records, which the
            # used and quarantined counts count
            "input_rows": self.data.n_source_rows if self.data.n_source_rows is not None
            else self.data.n_input_rows,
            "box_records": self.data.n_input_rows,
            "used_rows": self.data.n_boxes + self.data.n_empty,
            "quarantined_rows": self.data.n_quarantined,
        }

    def summary_lines(self) -> list[str]:
        s = self.summary()
        rec = s["images_by_recommendation"]
        return [
            f"{s['n_objects']} consensus objects ({s['n_candidates']} candidates) on {s['n_images']} images "
            f"from {s['n_boxes']} boxes by {s['n_annotators']} annotators",
            "agreement: " + ("n/a (fewer than two annotators on every image)" if math.isnan(s["f1_agreement"])
                             else f"mean matched IoU {_fmt(s['mean_matched_iou'])}, soft F1 {s['f1_agreement']:.3f}"),
            f"images: {rec[ACCEPT]} accept, {rec[MORE]} need more annotators, {rec[REVIEW]} expert review",
            f"annotators flagged: {s['workers_flagged']}"
            + (f" ({', '.join(map(str, s['flagged_workers'][:10]))}"
               f"{' ...' if s['workers_flagged'] > 10 else ''})" if s["workers_flagged"] else ""),
            "boxes flagged: " + ", ".join(f"{k} {v}" for k, v in s["boxes_flagged"].items()),
        ]

    def __repr__(self) -> str:
        return f"BoxResult({self.boxes.height} objects, {self.images.height} images, {self.workers.height} annotators)"


# -- helpers ------------------------------------------------------------------------------------
def coord_columns(coords: np.ndarray, box_format: str) -> dict[str, np.ndarray]:
    """Coordinates as output columns in the input's format."""
    if box_format == "xywh":
        return {"x": coords[:, 0], "y": coords[:, 1], "w": coords[:, 2] - coords[:, 0],
                "h": coords[:, 3] - coords[:, 1]}
    return {"x0": coords[:, 0], "y0": coords[:, 1], "x1": coords[:, 2], "y1": coords[:, 3]}


def _area(c: np.ndarray) -> np.ndarray:
    return np.clip(c[:, 2] - c[:, 0], 0, None) * np.clip(c[:, 3] - c[:, 1], 0, None)


def wilson(k: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """95% Wilson score interval of ``k / n`` (NaN where ``n == 0``)."""
    n = n.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        z2 = Z95 * Z95
        centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        half = Z95 * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    lo = np.where(n > 0, np.clip(centre - half, 0, 1), np.nan)
    hi = np.where(n > 0, np.clip(centre + half, 0, 1), np.nan)
    return lo, hi


def clustered_mean(values: np.ndarray, owner: np.ndarray, cluster: np.ndarray,
                   n_owners: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per owner: mean of ``values`` and a 95% t-interval that treats ``cluster`` (images) as the unit.

    The standard error is the cluster-robust (sandwich) one of a ratio
    estimator: ``sqrt(G/(G-1) * sum_c (S_c - m n_c)^2) / N`` over the owner's
    ``G`` clusters; intervals need ``G >= 2``.

    Returns
    -------
    mean, low, high : float64 (n_owners,)
    n : int64 (n_owners,) values per owner
    """
    from scipy.stats import t as student_t

    n = np.bincount(owner, minlength=n_owners)
    total = np.bincount(owner, weights=values, minlength=n_owners)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, total / np.maximum(n, 1), np.nan)
    lo = np.full(n_owners, np.nan)
    hi = np.full(n_owners, np.nan)
    if values.size == 0:
        return mean, lo, hi, n
    frame = pl.DataFrame({"o": owner, "c": cluster, "v": values}).group_by(["o", "c"], maintain_order=True) \
        .agg(pl.col("v").sum().alias("s"), pl.len().alias("k"))
    o = frame.get_column("o").to_numpy()
    s = frame.get_column("s").to_numpy()
    k = frame.get_column("k").to_numpy().astype(np.float64)
    resid2 = (s - mean[o] * k) ** 2
    g = np.bincount(o, minlength=n_owners)
    ss = np.bincount(o, weights=resid2, minlength=n_owners)
    ok = g >= 2
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(g / np.maximum(g - 1, 1) * ss) / np.maximum(n, 1)
    tq = np.where(ok, student_t.ppf(0.975, np.maximum(g - 1, 1)), np.nan)
    lo = np.where(ok, mean - tq * se, np.nan)
    hi = np.where(ok, mean + tq * se, np.nan)
    return mean, lo, hi, n


def learned_fast_floor(duration: np.ndarray, min_timed: int = 20) -> float:
    """``exp(median - 3 x robust sd)`` of log seconds per box; NaN with fewer than ``min_timed`` timed boxes."""
    d = duration[np.isfinite(duration) & (duration > 0)]
    if d.size < min_timed:
        return math.nan
    logd = np.log(d)
    med = float(np.median(logd))
    rsd = 1.4826 * float(np.median(np.abs(logd - med)))
    return math.exp(med - 3.0 * rsd)


# -- building the result ----------------------------------------------------------------------
def box_flag_arrays(data: BoxSet, fit: Fit, contain: float, fast_seconds: float | None,
                    class_aware: bool = True) -> dict[str, np.ndarray]:
    """Per box: the flags of :data:`BOX_FLAGS` as bool arrays (plus ``split_object`` and ``duplicate_of``)."""
    from consensus.kernels.box_fusion import duplicate_flags, split_merge_flags

    c = data.coords
    valid = data.valid.astype(bool)
    w = data.image_width[data.image]
    h = data.image_height[data.image]
    known = np.isfinite(w) & np.isfinite(h)
    with np.errstate(invalid="ignore"):
        out = known & ((c[:, 0] < -EDGE_TOLERANCE * w) | (c[:, 1] < -EDGE_TOLERANCE * h)
                       | (c[:, 2] > (1 + EDGE_TOLERANCE) * w) | (c[:, 3] > (1 + EDGE_TOLERANCE) * h))
        clipped = np.stack([np.clip(c[:, 0], 0, w), np.clip(c[:, 1], 0, h),
                            np.clip(c[:, 2], 0, w), np.clip(c[:, 3], 0, h)], axis=1)
        whole = known & valid & (_area(np.nan_to_num(clipped)) >= WHOLE_IMAGE * w * h)
    kept_ids = np.flatnonzero(fit.kept)
    kept_index = np.full(fit.kept.size, -1, dtype=np.int64)
    kept_index[kept_ids] = np.arange(kept_ids.size)
    box_object = np.append(kept_index, -1)[fit.obj]  # obj -1 (no object) reads the appended -1
    kept_offsets = np.searchsorted(fit.obj_image[kept_ids], np.arange(data.n_images + 1)).astype(np.int64)
    # class-aware matching: a box is a piece of (or covers) only objects of its own class
    kept_class = (fit.obj_label[kept_ids] if class_aware else np.full(kept_ids.size, -1)).astype(np.int32)
    split, merged, split_object = split_merge_flags(
        data.image_offsets, c, data.worker, data.valid, box_object, kept_offsets,
        np.ascontiguousarray(fit.fused[kept_ids]), np.ascontiguousarray(data.label, dtype=np.int32),
        np.ascontiguousarray(kept_class), contain, PART_RATIO, COVER_RATIO)
    duplicate, duplicate_of = duplicate_flags(
        data.image_offsets, c, data.worker, data.valid, np.ascontiguousarray(data.label, dtype=np.int32),
        box_object, np.ascontiguousarray(data.input_row, dtype=np.int64), bool(class_aware), DUPLICATE_IOU)
    floor = learned_fast_floor(data.duration) if fast_seconds is None else float(fast_seconds)
    with np.errstate(invalid="ignore"):
        fast = np.isfinite(data.duration) & (data.duration < floor) if math.isfinite(floor) \
            else np.zeros(data.n_boxes, dtype=bool)
    split_obj = np.where(split_object >= 0, kept_ids[np.maximum(split_object, 0)] if kept_ids.size else -1, -1)
    return {"split": split.astype(bool), "merged": merged.astype(bool), "duplicate": duplicate.astype(bool),
            "duplicate_of": duplicate_of, "degenerate": ~valid,
            "out_of_image": out, "whole_image": whole, "fast": fast, "split_object": split_obj,
            "fast_floor": np.array([floor])}


def build_result(data: BoxSet, fit: Fit, model: BoxConsensus) -> BoxResult:
    flags = box_flag_arrays(data, fit, model.contain, model.fast_seconds, bool(model.class_aware))
    objects = _objects_table(data, fit, model.keep_all)
    annotations = _annotations_table(data, fit, flags)
    images = _images_table(data, fit, model)
    workers = _workers_table(data, fit, flags, model)
    params = {k: v for k, v in vars(model).items() if not k.endswith("_")}
    params["fast_floor_seconds"] = float(flags["fast_floor"][0])
    return BoxResult(data, fit, objects, images, workers, annotations, params)


def _objects_table(data: BoxSet, fit: Fit, keep_all: bool) -> pl.DataFrame:
    n_obj = fit.kept.size
    ok = fit.obj >= 0
    obj = fit.obj[ok]
    iou = fit.box_iou[ok]
    mean_iou = np.bincount(obj, weights=iou, minlength=n_obj) / np.maximum(fit.n_members, 1)
    f = fit.fused[obj]
    size = np.maximum(np.stack([f[:, 2] - f[:, 0], f[:, 3] - f[:, 1]], axis=1), 1e-12)
    rel = (data.coords[ok] - f) / np.concatenate([size, size], axis=1)
    spread = np.sqrt(np.bincount(obj, weights=(rel ** 2).mean(axis=1), minlength=n_obj)
                     / np.maximum(fit.n_members, 1))
    n_seen = np.diff(data.seen_offsets)[fit.obj_image]
    frame = pl.DataFrame({
        "image": data.image_ids.gather(fit.obj_image),
        "object": fit.obj_number,
        **coord_columns(fit.fused, data.box_format),
        "label": pl.Series([data.classes[k] for k in fit.obj_label], dtype=pl.String)
        if data.classes else pl.Series([], dtype=pl.String),
        "confidence": fit.confidence,
        "n_annotators": fit.n_members,
        "doubt": fit.doubt,
        "n_seen": n_seen.astype(np.int64),
        "mean_iou": mean_iou,
        "spread": spread,
        "kept": fit.kept,
    })
    return frame if keep_all else frame.filter(pl.col("kept")).drop("kept")


def _annotations_table(data: BoxSet, fit: Fit, flags: dict[str, np.ndarray]) -> pl.DataFrame:
    ok = fit.obj >= 0
    kept_box = ok & fit.kept[np.maximum(fit.obj, 0)] if fit.kept.size else np.zeros(data.n_boxes, dtype=bool)
    area_ratio = np.full(data.n_boxes, np.nan)
    if ok.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            area_ratio[ok] = np.log(_area(data.coords[ok]) / _area(fit.fused[fit.obj[ok]]))
    names = [n for n in BOX_FLAGS]
    stacked = np.stack([flags[n] for n in names], axis=1) if data.n_boxes else np.zeros((0, len(names)), bool)
    text = [";".join(names[j] for j in np.flatnonzero(row)) for row in stacked] if stacked.any() \
        else [""] * data.n_boxes
    return _nan_as_null(pl.DataFrame({
        "image": data.image_ids.gather(data.image),
        "worker": data.worker_ids.gather(data.worker),
        **coord_columns(data.coords, data.box_format),
        "label": pl.Series([data.classes[k] for k in data.label], dtype=pl.String),
        "object": pl.Series(np.where(ok, fit.obj_local, -1)).replace(-1, None),
        "matched": kept_box,
        "iou": fit.box_iou,
        "log_area_ratio": area_ratio,
        "seconds": data.duration,
        **{n: flags[n] for n in names},
        "flags": pl.Series(text, dtype=pl.String),
        "duplicate_of": pl.Series(np.where(flags["duplicate_of"] >= 0,
                                           data.input_row[np.maximum(flags["duplicate_of"], 0)] + 1, -1)
                                  if data.n_boxes else np.zeros(0, np.int64)).replace(-1, None),
        "input_row": data.input_row + 1,
    }))


def _images_table(data: BoxSet, fit: Fit, model: BoxConsensus) -> pl.DataFrame:
    n_img = data.n_images
    n_seen = np.diff(data.seen_offsets)
    n_boxes = np.diff(data.image_offsets)
    n_obj = np.bincount(fit.obj_image[fit.kept], minlength=n_img)
    n_cand = np.bincount(fit.obj_image, minlength=n_img)
    unsure = fit.doubt > model.max_doubt
    n_unsure = np.bincount(fit.obj_image[unsure], minlength=n_img)
    valid = data.valid.astype(bool)
    in_kept = valid & (fit.obj >= 0) & (fit.kept[np.maximum(fit.obj, 0)] if fit.kept.size else False)
    n_valid = np.bincount(data.image[valid], minlength=n_img)
    # every drawn box counts: a degenerate (zero-area) box is in no object, so it is unexplained
    with np.errstate(invalid="ignore", divide="ignore"):
        explained = np.where(n_boxes > 0, np.bincount(data.image[in_kept], minlength=n_img) / n_boxes, np.nan)
    f1 = fit.image_f1
    rec = np.empty(n_img, dtype=object)
    reason = np.empty(n_img, dtype=object)
    for g in range(n_img):
        n = n_seen[g]
        if n < 2:
            rec[g], reason[g] = MORE, f"{n} annotator"
            continue
        if n_boxes[g] > 0 and n_valid[g] == 0:
            # boxes were drawn, none usable: not "nothing there", and more of the same would not settle it
            rec[g] = REVIEW
            reason[g] = (f"all {n_boxes[g]} box{'es' if n_boxes[g] != 1 else ''} degenerate (zero or negative "
                         f"area) with {n} annotators")
            continue
        ok_explained = n_boxes[g] == 0 or explained[g] >= model.min_explained
        if n_unsure[g] == 0 and ok_explained:
            rec[g] = ACCEPT
            reason[g] = (f"{n_obj[g]} object{'s' if n_obj[g] != 1 else ''} and {n_cand[g] - n_obj[g]} dropped "
                         f"candidate{'s' if n_cand[g] - n_obj[g] != 1 else ''}, all clear (doubt <= "
                         f"{model.max_doubt:g}) with {n} annotators")
            continue
        why = []
        if n_unsure[g]:
            why.append(f"{n_unsure[g]} uncertain object{'s' if n_unsure[g] != 1 else ''}")
        if not ok_explained:
            why.append(f"{explained[g]:.0%} of boxes in kept objects")
        rec[g] = MORE if n < model.review_after else REVIEW
        reason[g] = f"{', '.join(why)} with {n} annotators"
    return _nan_as_null(pl.DataFrame({
        "image": data.image_ids,
        "n_annotators": n_seen.astype(np.int64),
        "n_boxes": n_boxes.astype(np.int64),
        "n_objects": n_obj.astype(np.int64),
        "n_candidates": n_cand.astype(np.int64),
        "n_uncertain": n_unsure.astype(np.int64),
        "explained": explained,
        "mean_iou": fit.image_iou,
        "f1": f1,
        "recommendation": pl.Series(rec.tolist(), dtype=pl.String),
        "reason": pl.Series(reason.tolist(), dtype=pl.String),
    }))


def _workers_table(data: BoxSet, fit: Fit, flags: dict[str, np.ndarray], model: BoxConsensus) -> pl.DataFrame:
    nw = data.n_workers
    w = data.worker
    ok = fit.obj >= 0
    kept_box = ok & (fit.kept[np.maximum(fit.obj, 0)] if fit.kept.size else False)
    shared = kept_box & (fit.n_members[np.maximum(fit.obj, 0)] >= 2 if fit.kept.size else False)
    n_images = np.bincount(data.seen_worker, minlength=nw)
    n_boxes = np.bincount(w, minlength=nw)
    tp = np.bincount(w[kept_box], minlength=nw)
    kept_per_image = np.bincount(fit.obj_image[fit.kept], minlength=data.n_images)
    expected = np.bincount(data.seen_worker, weights=kept_per_image[data.seen_image], minlength=nw).astype(np.int64)
    idx = np.flatnonzero(shared)
    iou_m, iou_lo, iou_hi, n_shared = clustered_mean(fit.box_iou[idx], w[idx], data.image[idx], nw)
    iou_lo, iou_hi = np.clip(iou_lo, 0.0, 1.0), np.clip(iou_hi, 0.0, 1.0)  # an IoU lies in [0, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        lar = np.log(_area(data.coords[idx]) / _area(fit.fused[fit.obj[idx]]))
    bias, bias_lo, bias_hi, _ = clustered_mean(lar, w[idx], data.image[idx], nw)
    tp_shared = np.minimum(tp, expected)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(expected > 0, tp_shared / np.maximum(expected, 1), np.nan)
        false_n = n_boxes - tp
        false_rate = np.where(n_boxes > 0, false_n / np.maximum(n_boxes, 1), np.nan)
    rec_lo, rec_hi = wilson(tp_shared, expected)
    fr_lo, fr_hi = wilson(false_n, n_boxes)
    counts = {f"n_{name}": np.bincount(w[flags[name]], minlength=nw).astype(np.int64) for name in BOX_FLAGS}
    ev = model.min_evidence
    enough = n_shared >= ev
    lists: list[list[str]] = [[] for _ in range(nw)]

    def add(mask: np.ndarray, name: str) -> None:
        for k in np.flatnonzero(mask):
            lists[k].append(name)

    with np.errstate(invalid="ignore"):
        add(enough & (iou_hi < model.min_mean_iou), "low_iou")
        add((expected >= ev) & (rec_hi < model.min_recall), "low_recall")
        add((n_boxes >= ev) & (fr_lo > model.max_false_rate), "false_boxes")
        add(enough & (bias_lo > model.max_bias), "loose")
        add(enough & (bias_hi < -model.max_bias), "tight")
        for name in BOX_FLAGS:
            n_flag = counts[f"n_{name}"]
            add((n_boxes >= ev) & (n_flag >= 2) & (n_flag >= 0.05 * n_boxes), name)
    return _nan_as_null(pl.DataFrame({
        "worker": data.worker_ids,
        "n_images": n_images.astype(np.int64),
        "n_boxes": n_boxes.astype(np.int64),
        "n_matched": tp.astype(np.int64),
        "mean_iou": iou_m, "iou_low": iou_lo, "iou_high": iou_hi,
        "recall": recall, "recall_low": rec_lo, "recall_high": rec_hi,
        "false_box_rate": false_rate, "false_low": fr_lo, "false_high": fr_hi,
        "tightness": bias, "tightness_low": bias_lo, "tightness_high": bias_hi,
        "noise": fit.noise, "loc_weight": fit.loc_weight, "det_weight": fit.det_weight,
        **counts,
        "enough_evidence": enough,
        "flags": pl.Series([";".join(x) for x in lists], dtype=pl.String),
    }))


def _nan_as_null(frame: pl.DataFrame) -> pl.DataFrame:
    """Float columns with NaN (no value: an annotator without matched boxes, an untimed box) as null,
    as the other tables write missing values (CSV gets an empty cell, not ``NaN``)."""
    floats = [name for name, dtype in frame.schema.items() if dtype.is_float()]
    return frame.with_columns(pl.col(floats).fill_nan(None)) if floats else frame


def _fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"
