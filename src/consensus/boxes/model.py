"""Box consensus: matching, reliability-weighted fusion, confidence, agreement, recommendation.

The model, in the order :meth:`BoxConsensus.fit` runs it:

1. **Matching** (:func:`consensus.kernels.box_matching.match_boxes`): per
   image, order-free constrained clustering of the annotators' boxes into
   candidate objects (IoU >= ``iou_threshold``, same class when
   ``class_aware``, at most one box per annotator per object).
2. **Fusion with localisation reliability**, iterated ``n_iter`` times: the
   fused box is the weighted mean (or weighted median) of the members'
   coordinates; each annotator's noise variance is the mean squared
   deviation of their coordinates from the fused boxes, in units of the fused
   box's width/height, shrunk towards the crowd's by ``prior_boxes`` pseudo
   boxes; the weight is its inverse (the fused coordinate is the weighted
   median by default, the weighted mean with ``fusion="mean"``). After every
   fusion, candidates whose fused boxes overlap (IoU >= ``iou_threshold``)
   and that share no annotator are merged and fused again, to a fixed point
   (:func:`consensus.kernels.box_matching.merge_objects`): matching compares
   clusters by their plain mean boxes, so one object can come out in two
   parts on either side of the threshold, each with too little support.
3. **Confidence**: the weighted share of the annotators who saw the image
   that drew the object; the weights are each annotator's detection
   reliability (F1 of their boxes against the kept objects, shrunk by one
   pseudo-count), re-estimated ``n_iter`` times. An object is kept when its
   confidence is >= ``min_confidence`` (by default 0.5: a weighted majority
   of those who saw the image drew it). Its ``doubt`` is the posterior
   probability that this decision is wrong (:func:`decision_doubt`).
4. Per image agreement (soft F1 and mean matched IoU over annotator pairs)
   and a recommendation from the objects' doubt; per annotator quality and
   per box flags (:mod:`consensus.boxes.quality`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from consensus.boxes.data import BoxSet
from consensus.errors import check_param

if TYPE_CHECKING:
    from consensus.boxes.quality import BoxResult

ACCEPT = "accept"
MORE = "needs_more_annotators"
REVIEW = "expert_review"
RECOMMENDATIONS = (ACCEPT, MORE, REVIEW)


@dataclass
class Fit:
    """Arrays of a fitted box consensus (everything the tables are built from)."""

    obj: np.ndarray            # int64 (n_boxes,) global object id, -1 for invalid boxes
    obj_local: np.ndarray      # int64 (n_boxes,) object number within the image
    obj_image: np.ndarray      # int32 (n_objects,)
    obj_number: np.ndarray     # int64 (n_objects,) number within the image
    obj_offsets: np.ndarray    # int64 (n_objects + 1,) CSR into members
    members: np.ndarray        # int64 box indices grouped by object
    fused: np.ndarray          # float64 (n_objects, 4)
    obj_label: np.ndarray      # int32 (n_objects,)
    n_members: np.ndarray      # int64 (n_objects,)
    confidence: np.ndarray     # float64 (n_objects,)
    kept: np.ndarray           # bool (n_objects,)
    doubt: np.ndarray          # float64 (n_objects,) posterior probability that the kept/dropped decision is wrong
    box_iou: np.ndarray        # float64 (n_boxes,) IoU with its object's fused box (NaN if none)
    loc_weight: np.ndarray     # float64 (n_workers,) the weights of the last fusion (that made ``fused``)
    noise: np.ndarray          # float64 (n_workers,) relative coordinate noise (sd) behind loc_weight; NaN if n_iter 1
    det_weight: np.ndarray     # float64 (n_workers,)
    image_f1: np.ndarray = field(default_factory=lambda: np.empty(0))
    image_iou: np.ndarray = field(default_factory=lambda: np.empty(0))
    image_pairs: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


class BoxConsensus:
    """Consensus boxes from several annotators, with annotator reliability.

    Parameters
    ----------
    iou_threshold : float, default 0.5
        Least IoU for two boxes (and for a box and an object) to be the same object.
    class_aware : bool, default True
        Only boxes of the same class match; with False, classes are decided by
        a weighted vote of the matched boxes.
    fusion : {"median", "mean"}, default "median"
        Reliability-weighted median of each coordinate (robust to a stray box
        in the object), or the weighted mean. Objects of two boxes use the mean.
    n_iter : int, default 5
        Fusion rounds: consensus -> reliability -> consensus ... The last round fuses with the
        reliabilities of the one before, and those are the reported ``loc_weight`` and ``noise``
        (equal weights and NaN noise when ``n_iter`` is 1).
    prior_boxes : float, default 4.0
        Pseudo boxes at the crowd's noise level added to every annotator's
        noise estimate (shrinks annotators with few boxes to the crowd).
    min_confidence : float, default 0.5
        Objects with a lower confidence are not in the default output.
    keep_all : bool, default False
        Output every candidate object (with a ``kept`` column) instead of the kept ones.
    min_evidence : int, default 10
        Least evidence behind an annotator flag: matched boxes in shared objects for ``low_iou``,
        ``loose``, ``tight`` (``enough_evidence``); objects expected on their images for
        ``low_recall``; boxes drawn for ``false_boxes`` and the box-flag names.
    max_doubt : float, default 0.1
        An object is uncertain when its ``doubt`` (the posterior probability
        that its kept/dropped decision is wrong, see :func:`decision_doubt`)
        is above this. An image is accepted when none of its candidate objects
        is uncertain and its kept objects explain ``min_explained`` of its boxes.
    min_explained : float, default 0.5
        Least share of an image's boxes that must belong to kept objects for
        it to be accepted (guards against boxes scattered around an object,
        each too far from the others to match: all clearly unsupported, yet
        a disagreement).
    review_after : int, default 5
        An image that is not accepted needs more annotators while fewer than
        this many saw it; with this many or more it goes to expert review
        (the crowd stays split: the object is ambiguous).
    contain : float, default 0.8
        Containment share for split and merged boxes.
    fast_seconds : float, optional
        Boxes drawn faster are flagged ``fast``; default: learned from the data
        (``exp(median - 3 x robust sd)`` of log seconds per box, with >= 20 timed boxes).
    min_mean_iou, min_recall : float, default 0.6 and 0.5
        An annotator is flagged ``low_iou`` / ``low_recall`` when the upper end
        of the 95% interval of their mean IoU with the consensus / their recall
        is below this.
    max_false_rate : float, default 0.5
        Flag ``false_boxes`` when the lower end of the interval of the share of
        an annotator's boxes that match no kept object is above this.
    max_bias : float, default 0.4
        Flag ``loose`` / ``tight`` when the interval of the mean log area ratio
        (box / consensus) lies entirely above ``max_bias`` / below ``-max_bias``
        (0.4: about 1.5 times the area).
    """

    def __init__(self, *, iou_threshold: float = 0.5, class_aware: bool = True, fusion: str = "median",
                 n_iter: int = 5, prior_boxes: float = 4.0, min_confidence: float = 0.5, keep_all: bool = False,
                 min_evidence: int = 10, max_doubt: float = 0.1, min_explained: float = 0.5,
                 review_after: int = 5, contain: float = 0.8, fast_seconds: float | None = None,
                 min_mean_iou: float = 0.6, min_recall: float = 0.5, max_false_rate: float = 0.5,
                 max_bias: float = 0.4) -> None:
        self.iou_threshold = iou_threshold
        self.class_aware = class_aware
        self.fusion = fusion
        self.n_iter = n_iter
        self.prior_boxes = prior_boxes
        self.min_confidence = min_confidence
        self.keep_all = keep_all
        self.min_evidence = min_evidence
        self.max_doubt = max_doubt
        self.min_explained = min_explained
        self.review_after = review_after
        self.contain = contain
        self.fast_seconds = fast_seconds
        self.min_mean_iou = min_mean_iou
        self.min_recall = min_recall
        self.max_false_rate = max_false_rate
        self.max_bias = max_bias

    def _check(self) -> None:
        own = "BoxConsensus"
        t = self.iou_threshold
        check_param(own, "iou_threshold", t, isinstance(t, (int, float)) and 0 < t <= 1, "a float in (0, 1]")
        check_param(own, "fusion", self.fusion, self.fusion in ("mean", "median"), "'mean' or 'median'")
        check_param(own, "n_iter", self.n_iter, isinstance(self.n_iter, int) and self.n_iter >= 1,
                    "an int >= 1")
        check_param(own, "prior_boxes", self.prior_boxes,
                    isinstance(self.prior_boxes, (int, float)) and self.prior_boxes >= 0, "a float >= 0")
        c = self.min_confidence
        check_param(own, "min_confidence", c, isinstance(c, (int, float)) and 0 <= c <= 1, "a float in [0, 1]")
        check_param(own, "min_evidence", self.min_evidence,
                    isinstance(self.min_evidence, int) and self.min_evidence >= 1, "an int >= 1")
        for name in ("max_doubt", "min_explained"):
            v = getattr(self, name)
            check_param(own, name, v, isinstance(v, (int, float)) and 0 <= v <= 1, "a float in [0, 1]")
        check_param(own, "review_after", self.review_after,
                    isinstance(self.review_after, int) and self.review_after >= 2, "an int >= 2")
        k = self.contain
        check_param(own, "contain", k, isinstance(k, (int, float)) and 0 < k <= 1, "a float in (0, 1]")
        for name in ("min_mean_iou", "min_recall", "max_false_rate"):
            v = getattr(self, name)
            check_param(own, name, v, isinstance(v, (int, float)) and 0 <= v <= 1, "a float in [0, 1]")
        check_param(own, "max_bias", self.max_bias,
                    isinstance(self.max_bias, (int, float)) and self.max_bias >= 0, "a float >= 0")
        f = self.fast_seconds
        check_param(own, "fast_seconds", f, f is None or (isinstance(f, (int, float)) and f >= 0),
                    "None or a float >= 0")

    def fit(self, boxes: Any, **read_options: Any) -> BoxResult:
        """Fit on a :class:`BoxSet` (or anything :func:`read_boxes` reads, with its options).

        Returns
        -------
        BoxResult
        """
        self._check()
        if not isinstance(boxes, BoxSet):
            from consensus.boxes.readers import read_boxes

            boxes = read_boxes(boxes, **read_options)
        fit = fit_arrays(boxes, iou_threshold=float(self.iou_threshold), class_aware=bool(self.class_aware),
                         fusion=self.fusion, n_iter=self.n_iter, prior_boxes=float(self.prior_boxes),
                         min_confidence=float(self.min_confidence))
        from consensus.boxes.quality import build_result

        self.result_ = build_result(boxes, fit, self)
        return self.result_


def fit_boxes(source: Any, **options: Any) -> BoxResult:
    """Read ``source`` and fit a :class:`BoxConsensus`.

    Parameters
    ----------
    source : BoxSet, path, glob, list of paths or DataFrame
    **options
        :class:`BoxConsensus` parameters and :func:`read_boxes` options.

    Returns
    -------
    BoxResult
    """
    import inspect

    names = set(inspect.signature(BoxConsensus.__init__).parameters) - {"self"}
    model = BoxConsensus(**{k: v for k, v in options.items() if k in names})
    return model.fit(source, **{k: v for k, v in options.items() if k not in names})


# -- the arrays ---------------------------------------------------------------------------------
def _group(keys: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable CSR grouping of the indices with ``keys >= 0``."""
    idx = np.flatnonzero(keys >= 0)
    order = idx[np.argsort(keys[idx], kind="stable")]
    counts = np.bincount(keys[idx], minlength=n_groups)
    offsets = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets, order.astype(np.int64)


def match(boxes: BoxSet, iou_threshold: float = 0.5,
          class_aware: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Object of every box: global id (-1 for degenerate boxes), number within the image, and the
    CSR offsets of each image's objects."""
    from consensus.kernels.box_matching import match_boxes

    local, n_obj = match_boxes(boxes.image_offsets, boxes.coords, boxes.worker, boxes.label, boxes.valid,
                               np.ones(boxes.n_boxes), iou_threshold, class_aware)
    start = np.zeros(boxes.n_images + 1, dtype=np.int64)
    np.cumsum(n_obj, out=start[1:])
    obj = np.where(local >= 0, start[boxes.image] + local, -1)
    return obj, local, start


def fit_arrays(boxes: BoxSet, *, iou_threshold: float = 0.5, class_aware: bool = True, fusion: str = "median",
               n_iter: int = 5, prior_boxes: float = 4.0, min_confidence: float = 0.5) -> Fit:
    """Matching, iterated reliability-weighted fusion and confidence on a :class:`BoxSet`."""
    from consensus.kernels.box_fusion import MEAN, MEDIAN, fuse_boxes, image_agreement, paired_iou
    from consensus.kernels.box_matching import merge_objects

    obj, local, start = match(boxes, iou_threshold, class_aware)
    n_obj = int(start[-1])
    obj_offsets, members = _group(obj, n_obj)
    n_members = np.diff(obj_offsets)
    obj_image = np.repeat(np.arange(boxes.n_images, dtype=np.int32), np.diff(start))
    obj_number = np.arange(n_obj, dtype=np.int64) - start[obj_image]
    method = MEDIAN if fusion == "median" else MEAN
    nw = boxes.n_workers
    in_obj = obj >= 0
    w_of = boxes.worker
    loc_weight = np.ones(nw)
    noise = np.full(nw, np.nan)
    fused = np.empty((n_obj, 4))
    for it in range(n_iter):
        fused, _ = fuse_boxes(obj_offsets, members, boxes.coords, loc_weight[w_of], method)
        rep, merged = merge_objects(boxes.image_offsets, start, obj, boxes.coords, boxes.worker, boxes.label,
                                    loc_weight[w_of], fused, iou_threshold, class_aware, method)
        if n_obj and np.any(rep != np.arange(n_obj)):
            obj, local, start, fused = _apply_merge(boxes, obj, start, rep, merged)
            n_obj = int(start[-1])
            obj_offsets, members = _group(obj, n_obj)
            n_members = np.diff(obj_offsets)
            obj_image = np.repeat(np.arange(boxes.n_images, dtype=np.int32), np.diff(start))
            obj_number = np.arange(n_obj, dtype=np.int64) - start[obj_image]
        if it == n_iter - 1:
            # the weights (and noise) reported are those that made these boxes: no update after the last fusion
            break
        shared = in_obj.copy()
        shared[in_obj] = n_members[obj[in_obj]] >= 2
        idx = np.flatnonzero(shared)
        f = fused[obj[idx]]
        size = np.stack([f[:, 2] - f[:, 0], f[:, 3] - f[:, 1]], axis=1)
        size = np.maximum(size, 1e-12)
        rel = (boxes.coords[idx] - f) / np.concatenate([size, size], axis=1)
        cnt = 4.0 * np.bincount(w_of[idx], minlength=nw)
        # members of a k-box object deviate from a fused box they helped make: correct by k/(k-1)
        k = n_members[obj[idx]].astype(np.float64)
        ss = np.bincount(w_of[idx], weights=(rel ** 2).sum(axis=1) * k / (k - 1.0), minlength=nw)
        pooled = ss.sum() / cnt.sum() if cnt.sum() > 0 else 1.0
        pooled = max(pooled, 1e-12)
        var = (ss + 4.0 * prior_boxes * pooled) / (cnt + 4.0 * prior_boxes)
        var = np.maximum(var, 1e-12)
        noise = np.sqrt(var)
        loc_weight = 1.0 / var
        loc_weight = loc_weight / np.exp(np.mean(np.log(loc_weight)))  # geometric mean 1
    box_iou = np.full(boxes.n_boxes, np.nan)
    if n_obj:
        box_iou[in_obj] = paired_iou(np.ascontiguousarray(boxes.coords[in_obj]),
                                     np.ascontiguousarray(fused[obj[in_obj]]))
    # confidence: weighted share of the annotators who saw the image
    seen_off = boxes.seen_offsets
    det = np.ones(nw)
    valid = boxes.valid.astype(bool)
    n_valid = np.bincount(w_of[valid], minlength=nw).astype(np.float64)
    confidence = np.zeros(n_obj)
    kept = np.zeros(n_obj, dtype=bool)
    obj_label = _object_labels(boxes, obj, obj_offsets, members, det, n_obj, class_aware)
    for _ in range(max(n_iter, 1)):
        seen_w = np.add.reduceat(np.append(det[boxes.seen_worker], 0.0), seen_off[:-1]) \
            if boxes.seen_worker.size else np.zeros(boxes.n_images)
        seen_w = np.where(np.diff(seen_off) > 0, seen_w, 0.0)
        drew_w = np.bincount(obj[in_obj], weights=det[w_of[in_obj]], minlength=n_obj)
        denom = seen_w[obj_image]
        confidence = np.where(denom > 0, drew_w / np.where(denom > 0, denom, 1.0), 1.0)
        confidence = np.clip(confidence, 0.0, 1.0)
        kept = confidence >= min_confidence - 1e-12
        # detection reliability: F1 of each annotator's boxes against the kept objects
        hit = in_obj & np.append(kept, False)[obj]  # obj -1 (no object) reads the appended False
        tp = np.bincount(w_of[hit], minlength=nw).astype(np.float64)
        kept_per_image = np.bincount(obj_image[kept], minlength=boxes.n_images).astype(np.float64)
        expected = np.bincount(boxes.seen_worker, weights=kept_per_image[boxes.seen_image], minlength=nw)
        precision = (tp + 1.0) / (n_valid + 2.0)
        recall = (tp + 1.0) / (expected + 2.0)
        det = 2.0 * precision * recall / (precision + recall)
        obj_label = _object_labels(boxes, obj, obj_offsets, members, det, n_obj, class_aware)
    n_seen_obj = np.diff(seen_off)[obj_image].astype(np.float64)
    doubt = decision_doubt(confidence * n_seen_obj, n_seen_obj, min_confidence, kept)
    f1, miou, pairs = image_agreement(boxes.image_offsets, boxes.coords, boxes.worker, obj, boxes.valid,
                                      seen_off, boxes.seen_worker)
    return Fit(obj=obj, obj_local=local, obj_image=obj_image, obj_number=obj_number, obj_offsets=obj_offsets,
               members=members, fused=fused, obj_label=obj_label, n_members=n_members, confidence=confidence,
               kept=kept, doubt=doubt, box_iou=box_iou, loc_weight=loc_weight, noise=noise, det_weight=det,
               image_f1=f1, image_iou=miou, image_pairs=pairs)


def decision_doubt(support: np.ndarray, n: np.ndarray, cut: float, kept: np.ndarray) -> np.ndarray:
    """Posterior probability that each object's kept/dropped decision is wrong.

    The object's support share ``p`` (the share of annotators like these who
    would draw it) has the Jeffreys posterior ``Beta(k + 1/2, n - k + 1/2)``
    after ``k`` of ``n`` annotators drew it (``k`` = confidence x annotators
    who saw the image, reliability-weighted). The doubt of a kept object is
    ``P(p < cut)``, of a dropped one ``P(p >= cut)``. It falls as annotators
    are added to a clear case (2 of 2: 0.08, 3 of 3: 0.03, 7 of 9: 0.05) and
    stays high when the crowd is split (dropped at 4 of 9: 0.37, kept at 6 of 9: 0.16).
    """
    from scipy.special import betainc

    if support.size == 0:
        return np.zeros(0)
    k = np.clip(support, 0.0, n)
    below = betainc(k + 0.5, n - k + 0.5, cut) if 0.0 < cut < 1.0 else np.full(k.size, float(cut >= 1.0))
    return np.where(kept, below, 1.0 - below)


def _apply_merge(boxes: BoxSet, obj: np.ndarray, start: np.ndarray, rep: np.ndarray,
                 merged: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Renumber objects after :func:`merge_objects`: a group keeps the place of its smallest
    member object, so objects stay numbered in order of their first box within each image."""
    n_obj = rep.size
    head = rep == np.arange(n_obj)
    new_id = np.cumsum(head) - 1
    obj = np.where(obj >= 0, new_id[rep[np.maximum(obj, 0)]], -1)
    image_of_old = np.repeat(np.arange(boxes.n_images), np.diff(start))
    new_start = np.zeros(boxes.n_images + 1, dtype=np.int64)
    np.cumsum(np.bincount(image_of_old[head], minlength=boxes.n_images), out=new_start[1:])
    local = np.where(obj >= 0, obj - new_start[boxes.image], -1)
    return obj, local, new_start, np.ascontiguousarray(merged[head])


def _object_labels(boxes: BoxSet, obj: np.ndarray, obj_offsets: np.ndarray, members: np.ndarray,
                   det: np.ndarray, n_obj: int, class_aware: bool) -> np.ndarray:
    if n_obj == 0:
        return np.zeros(0, dtype=np.int32)
    first = boxes.label[members[obj_offsets[:-1]]]
    if class_aware or len(boxes.classes) <= 1:
        return first.astype(np.int32)
    # weighted vote; ties go to the smallest class code
    ok = obj >= 0
    votes = np.zeros((n_obj, len(boxes.classes)))
    np.add.at(votes, (obj[ok], boxes.label[ok]), det[boxes.worker[ok]])
    return np.argmax(votes, axis=1).astype(np.int32)
