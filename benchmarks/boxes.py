"""Bounding-box consensus benchmark: quality against expert boxes, and throughput.

    python benchmarks/boxes.py [--data ../shared/datasets] [--size 1000000] [--skip-speed]
                               [--out benchmarks/results]

1. **Quality** on the two real crowdsourced box sets with expert boxes
   (``crowd_bbox_braylan``: 200 images, 8.6 annotators per image, 1,308 gold
   boxes; ``vanhorn_pedestrians_mturk``: 7 annotators per image, 938 gold
   images with 1,218 gold boxes, including 142 images with none; its
   ``assignments.csv`` lists who saw each image, so annotators who drew
   nothing count). Every method sees only the crowd's boxes; its output on the
   gold images is matched one-to-one to the gold boxes (Hungarian on IoU,
   pairs with IoU >= 0.5), and scored by precision, recall, F1 and the mean
   IoU of the matched pairs. Each method gives every output box a support
   score, and is scored twice with the same rule for all: ``(majority)`` keeps
   the boxes with score >= 0.5, ``(all)`` keeps every box. AP50 (VOC
   all-point average precision at IoU 0.5 over the boxes ranked by score)
   compares the rankings without any cut. Methods and their scores:

   * ``consensus`` — :func:`consensus.fit_boxes` with its defaults; score =
     confidence (reliability-weighted share of the annotators who saw the
     image that drew the object); ``(majority)`` is the default output (the
     kept objects), ``(all)`` every candidate (``keep_all``);
   * ``WBF`` — ensemble-boxes' ``weighted_boxes_fusion``, one "model" per
     annotator who saw the image, all scores 1, ``iou_thr=0.5``,
     ``skip_box_thr=0``; score = WBF's fused score (boxes in the cluster over
     annotators who saw the image);
   * ``median`` — per-image coordinate median: the annotator with the median
     number of boxes on the image is the reference; every other annotator's
     boxes are matched to the reference's (Hungarian, IoU >= 0.5) and each
     reference box becomes the coordinate-wise median of itself and its
     matches; score = (1 + matched annotators) / annotators who saw the image.
     ``median (all)`` is what earlier versions of this benchmark called
     ``median`` (every reference box, however few annotators back it).

   Kept sets of different sizes trade precision for recall, so the report
   also cuts ours to each baseline's number of boxes (highest confidence
   first) and scores both at that same size; and, per recommendation
   (accept / needs more annotators / expert review), the kept consensus
   against the experts on the gold images that got it.

2. **Throughput**: ``--size`` synthetic boxes (100k images x ~10 boxes: 5
   annotators, 2 objects per image on average, jittered, with misses and
   false boxes) through pairwise IoU, matching and the iterated fusion with
   confidence and agreement (:func:`consensus.boxes.model.fit_arrays`), after a
   warm-up on a small input, in a fresh process; wall time per stage, boxes/s
   and peak RSS.

Writes ``boxes.md`` and ``boxes.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


# -- scoring --------------------------------------------------------------------------------------
def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every row of ``a`` with every row of ``b`` (numpy, independent of the package)."""
    if a.size == 0 or b.size == 0:
        return np.zeros((len(a), len(b)))
    ix0 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy0 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix1 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def match_pairs(a: np.ndarray, b: np.ndarray, thr: float = 0.5) -> list[tuple[int, int, float]]:
    """One-to-one pairs (i, j, IoU) with IoU >= thr maximising total IoU."""
    from scipy.optimize import linear_sum_assignment

    m = iou_matrix(a, b)
    if m.size == 0:
        return []
    cost = np.where(m >= thr, 1.0 - m, 1e6)
    rows, cols = linear_sum_assignment(cost)
    return [(int(i), int(j), float(m[i, j])) for i, j in zip(rows, cols) if m[i, j] >= thr]


def score(pred: dict[str, np.ndarray], gold: dict[str, np.ndarray]) -> dict[str, float]:
    tp = n_pred = n_gold = 0
    ious: list[float] = []
    for image, g in gold.items():
        p = pred.get(image, np.zeros((0, 4)))
        pairs = match_pairs(p, g)
        tp += len(pairs)
        n_pred += len(p)
        n_gold += len(g)
        ious.extend(v for _, _, v in pairs)
    precision = tp / n_pred if n_pred else float("nan")
    recall = tp / n_gold if n_gold else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "mean_iou": float(np.mean(ious)) if ious else float("nan"), "n_pred": n_pred, "n_gold": n_gold,
            "tp": tp}


# -- data -----------------------------------------------------------------------------------------
def load(data_dir: Path) -> dict[str, dict]:
    sets = {}
    b = data_dir / "crowd_bbox_braylan"
    if (b / "boxes.csv").exists():
        gold = pl.read_csv(b / "gold_boxes.csv", schema_overrides={"image": pl.String})
        sets["crowd_bbox_braylan"] = {"boxes": b / "boxes.csv", "seen": None, "gold": gold,
                                      "gold_images": gold.get_column("image").unique().to_list(),
                                      "size": None}
    v = data_dir / "vanhorn_pedestrians_mturk"
    if (v / "boxes.csv").exists():
        gold = pl.read_csv(v / "gold_boxes.csv", schema_overrides={"image": pl.String})
        images = pl.read_csv(v / "gold_images.csv", schema_overrides={"image": pl.String})
        sets["vanhorn_pedestrians_mturk"] = {"boxes": v / "boxes.csv", "seen": v / "assignments.csv",
                                             "gold": gold, "gold_images": images.get_column("image").to_list(),
                                             "size": (1280.0, 720.0)}
    return sets


def by_image(frame: pl.DataFrame, images: list[str]) -> dict[str, np.ndarray]:
    out = {str(i): np.zeros((0, 4)) for i in images}
    for (image,), part in frame.group_by(["image"]):
        if str(image) in out:
            out[str(image)] = part.select("x0", "y0", "x1", "y1").to_numpy().astype(np.float64)
    return out


def crowd_by_image(path: Path, seen: Path | None) -> dict[str, dict[str, np.ndarray]]:
    boxes = pl.read_csv(path, schema_overrides={"image": pl.String, "worker": pl.String})
    out: dict[str, dict[str, np.ndarray]] = {}
    if seen is not None:
        for image, worker in pl.read_csv(seen, schema_overrides={"image": pl.String, "worker": pl.String}) \
                .select("image", "worker").iter_rows():
            out.setdefault(image, {})[worker] = np.zeros((0, 4))
    for (image, worker), part in boxes.group_by(["image", "worker"]):
        out.setdefault(image, {})[worker] = part.select("x0", "y0", "x1", "y1").to_numpy().astype(np.float64)
    return out


# -- methods: every method returns, per image, its boxes and a support score in [0, 1] -----------------
Scored = dict[str, tuple[np.ndarray, np.ndarray]]


def run_wbf(crowd: dict[str, dict[str, np.ndarray]], size: tuple[float, float] | None) -> Scored:
    """ensemble-boxes WBF, one "model" per annotator who saw the image; score = WBF's fused score."""
    from ensemble_boxes import weighted_boxes_fusion

    out = {}
    for image, workers in crowd.items():
        lists = [workers[w] for w in sorted(workers)]
        allb = np.concatenate(lists) if lists else np.zeros((0, 4))
        if not allb.size:
            out[image] = (np.zeros((0, 4)), np.zeros(0))
            continue
        if size is None:  # image size unknown: scale by the largest coordinate (WBF wants [0, 1])
            sx = sy = max(float(allb.max()), 1.0)
        else:
            sx, sy = size
        scale = np.array([sx, sy, sx, sy])
        boxes_list = [np.clip(b / scale, 0, 1).tolist() for b in lists]
        scores = [[1.0] * len(b) for b in lists]
        labels = [[0] * len(b) for b in lists]
        fb, fs, _ = weighted_boxes_fusion(boxes_list, scores, labels, iou_thr=0.5, skip_box_thr=0.0)
        out[image] = (np.asarray(fb).reshape(-1, 4) * scale, np.asarray(fs, dtype=np.float64))
    return out


def run_median(crowd: dict[str, dict[str, np.ndarray]]) -> Scored:
    """Per-image coordinate median around a reference annotator; score = share of the image's
    annotators behind each box (the reference plus those matched to it)."""
    out = {}
    for image, workers in crowd.items():
        names = sorted(workers)
        counts = sorted((len(workers[w]), w) for w in names)
        ref = counts[(len(counts) - 1) // 2][1]
        refb = workers[ref]
        stacks: list[list[np.ndarray]] = [[b] for b in refb]
        for w in names:
            if w == ref:
                continue
            for i, j, _ in match_pairs(refb, workers[w]):
                stacks[i].append(workers[w][j])
        boxes = np.array([np.median(np.stack(st), axis=0) for st in stacks]).reshape(-1, 4)
        out[image] = (boxes, np.array([len(st) / len(names) for st in stacks], dtype=np.float64))
    return out


def run_ours(spec: dict) -> tuple[Scored, dict[str, np.ndarray], object, Scored]:
    """Every candidate object with its confidence, which of them the default output keeps, the fit,
    and the candidates scored by the latent-class check instead."""
    from consensus.boxes import fit_boxes

    result = fit_boxes(str(spec["boxes"]), seen=None if spec["seen"] is None else str(spec["seen"]), keep_all=True)
    frame = result.boxes.with_columns(p_real=pl.Series(latent_class(result)))  # rows in candidate order
    out: Scored = {str(i): (np.zeros((0, 4)), np.zeros(0)) for i in spec["gold_images"]}
    latent: Scored = dict(out)
    kept: dict[str, np.ndarray] = {}
    for (image,), part in frame.group_by(["image"]):
        if str(image) in out:
            boxes = part.select("x0", "y0", "x1", "y1").to_numpy().astype(np.float64)
            out[str(image)] = (boxes, part.get_column("confidence").to_numpy().astype(np.float64))
            latent[str(image)] = (boxes, part.get_column("p_real").to_numpy().astype(np.float64))
            kept[str(image)] = part.get_column("kept").to_numpy()
    return out, kept, result, latent


def latent_class(result, n_iter: int = 200) -> np.ndarray:  # noqa: ANN001
    """Check of the kept rule: a two-class latent model of the candidates (real or spurious; each
    annotator who saw the image draws a real object with probability ``s_w`` and a spurious one with
    ``f_w``, Beta(1, 1) priors), fitted by EM from the majority split; the posterior P(real) per
    candidate (the fit's candidate order)."""
    fit, data = result.fit, result.data
    n_obj, nw = fit.kept.size, data.n_workers
    ok = fit.obj >= 0
    drew = np.unique(np.stack([fit.obj[ok], data.worker[ok].astype(np.int64)], 1), axis=0)
    do, dw = drew[:, 0], drew[:, 1]
    n_seen = np.diff(data.seen_offsets)[fit.obj_image]
    so = np.repeat(np.arange(n_obj), n_seen)  # every (candidate, annotator who saw its image) pair
    first = np.repeat(data.seen_offsets[fit.obj_image] - np.cumsum(n_seen) + n_seen, n_seen)
    sw = data.seen_worker[first + np.arange(so.size)]
    q = np.clip((np.bincount(do, minlength=n_obj) / n_seen >= 0.5).astype(float), 0.1, 0.9)
    for _ in range(n_iter):
        pi = (q.sum() + 1) / (n_obj + 2)
        s = (np.bincount(dw, q[do], nw) + 1) / (np.bincount(sw, q[so], nw) + 2)
        f = (np.bincount(dw, 1 - q[do], nw) + 1) / (np.bincount(sw, 1 - q[so], nw) + 2)
        real = np.log(pi) + np.bincount(so, np.log(1 - s[sw]), n_obj) \
            + np.bincount(do, np.log(s[dw]) - np.log(1 - s[dw]), n_obj)
        fake = np.log(1 - pi) + np.bincount(so, np.log(1 - f[sw]), n_obj) \
            + np.bincount(do, np.log(f[dw]) - np.log(1 - f[dw]), n_obj)
        q = 1 / (1 + np.exp(fake - real))
    return q


def keep(pred: Scored, rule: float | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The boxes with score >= ``rule`` (a float), or those a boolean mask per image keeps."""
    if isinstance(rule, dict):
        return {i: b[rule[i]] if i in rule else b[:0] for i, (b, _) in pred.items()}
    return {i: b[sc >= rule - 1e-9] for i, (b, sc) in pred.items()}


def average_precision(pred: Scored, gold: dict[str, np.ndarray], thr: float = 0.5) -> float:
    """VOC-style all-point AP at IoU ``thr``: boxes of all images ranked by score (ties in a fixed
    order: image, then box), each matched greedily to the unmatched gold box it overlaps most."""
    rows = [(-float(sc[k]), image, k) for image, (b, sc) in pred.items() if image in gold for k in range(len(b))]
    rows.sort()
    used = {image: np.zeros(len(g), dtype=bool) for image, g in gold.items()}
    n_gold = sum(len(g) for g in gold.values())
    tp = np.zeros(len(rows))
    for t, (_, image, k) in enumerate(rows):
        g = gold[image]
        if not len(g):
            continue
        iou = iou_matrix(pred[image][0][k:k + 1], g)[0]
        iou[used[image]] = -1.0
        j = int(np.argmax(iou))
        if iou[j] >= thr:
            used[image][j] = True
            tp[t] = 1.0
    if not rows or not n_gold:
        return float("nan")
    ctp = np.cumsum(tp)
    recall = ctp / n_gold
    precision = ctp / np.arange(1, len(rows) + 1)
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # interpolated (monotone) precision
    steps = np.diff(np.concatenate([[0.0], recall]))
    return float(np.sum(steps * precision))


def quality(data_dir: Path) -> dict:
    results = {}
    for name, spec in load(data_dir).items():
        gold = by_image(spec["gold"], spec["gold_images"])
        crowd = crowd_by_image(spec["boxes"], spec["seen"])
        crowd_gold = {i: crowd.get(i, {}) for i in gold}
        t = time.perf_counter()
        ours, ours_kept, result, latent = run_ours(spec)
        t_ours = time.perf_counter() - t
        t = time.perf_counter()
        wbf = run_wbf(crowd_gold, spec["size"])
        t_wbf = time.perf_counter() - t
        t = time.perf_counter()
        med = run_median(crowd_gold)
        t_med = time.perf_counter() - t
        rows = {}
        for method, pred, rule, seconds in (("consensus", ours, ours_kept, t_ours), ("WBF", wbf, 0.5, t_wbf),
                                            ("median", med, 0.5, t_med)):
            ap = average_precision(pred, gold)
            rows[f"{method} (majority)"] = {**score(keep(pred, rule), gold), "ap50": ap, "seconds": seconds}
            rows[f"{method} (all)"] = {**score(keep(pred, 0.0), gold), "ap50": ap}
        rows["consensus, two-class check (P(real) >= 0.5)"] = {**score(keep(latent, 0.5), gold),
                                                                "ap50": average_precision(latent, gold)}
        # ours cut to each baseline's number of boxes (highest confidence first): same output size
        equal = {}
        for method in ("WBF (majority)", "WBF (all)", "median (majority)", "median (all)"):
            equal[method] = {"baseline": rows[method], "consensus": score(top_n(ours, rows[method]["n_pred"]), gold)}
        results[name] = {"methods": rows, "equal_size": equal, "summary": _plain(result.summary()),
                         "recommendation": by_recommendation(result, keep(ours, ours_kept), gold)}
    return results


def top_n(pred: Scored, n: int) -> dict[str, np.ndarray]:
    """The ``n`` boxes of highest score over all images (ties in a fixed order: image, then box)."""
    rows = sorted((-float(sc[k]), image, k) for image, (b, sc) in pred.items() for k in range(len(b)))[:n]
    mask = {image: np.zeros(len(b), dtype=bool) for image, (b, _) in pred.items()}
    for _, image, k in rows:
        mask[image][k] = True
    return {image: b[mask[image]] for image, (b, _) in pred.items()}


def by_recommendation(result, kept: dict[str, np.ndarray], gold: dict[str, np.ndarray]) -> dict:  # noqa: ANN001
    """Is the per-image recommendation right? The kept consensus scored against the experts on the
    gold images of each recommendation."""
    out = {}
    for rec, part in result.images.group_by("recommendation"):
        images = [str(i) for i in part.get_column("image").to_list() if str(i) in gold]
        if images:
            out[str(rec[0])] = {"images": len(images), **score({i: kept[i] for i in images},
                                                               {i: gold[i] for i in images})}
    return dict(sorted(out.items()))


def _plain(obj):  # noqa: ANN001, ANN202
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    return obj


# -- throughput -----------------------------------------------------------------------------------
def synthetic(n_images: int, seed: int = 0) -> dict[str, np.ndarray]:
    """~10 boxes per image: 5 annotators, 2 objects on average, jitter, misses and false boxes."""
    rng = np.random.default_rng(seed)
    n_obj = rng.poisson(2.0, n_images) + 0
    img_of_obj = np.repeat(np.arange(n_images), n_obj)
    m = img_of_obj.size
    cx = rng.uniform(50, 950, m)
    cy = rng.uniform(50, 950, m)
    w = rng.uniform(20, 120, m)
    h = rng.uniform(20, 120, m)
    n_ann = 5
    img = np.repeat(img_of_obj, n_ann)
    worker = np.tile(np.arange(n_ann), m) + 5 * (img % 40)
    keep = rng.random(img.size) < 0.92  # misses
    jitter = rng.normal(0, 0.08, (img.size, 4)) * np.repeat(np.stack([w, h, w, h], 1), n_ann, axis=0)
    base = np.repeat(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1), n_ann, axis=0)
    coords = (base + jitter)[keep]
    img = img[keep]
    worker = worker[keep]
    n_false = int(0.08 * img.size)  # false boxes
    fi = rng.integers(0, n_images, n_false)
    fx = rng.uniform(0, 900, n_false)
    fy = rng.uniform(0, 900, n_false)
    fs = rng.uniform(20, 100, (n_false, 2))
    coords = np.concatenate([coords, np.stack([fx, fy, fx + fs[:, 0], fy + fs[:, 1]], 1)])
    img = np.concatenate([img, fi])
    worker = np.concatenate([worker, rng.integers(0, n_ann, n_false) + 5 * (fi % 40)])
    order = np.lexsort((coords[:, 0], worker, img))
    return {"image": img[order].astype(np.int32), "worker": worker[order].astype(np.int32),
            "coords": np.ascontiguousarray(coords[order])}


def boxset(arrays: dict[str, np.ndarray], n_images: int):  # noqa: ANN201
    from consensus.boxes.data import BoxSet

    img, worker = arrays["image"], arrays["worker"]
    pairs = np.unique(np.stack([img.astype(np.int64), worker.astype(np.int64)], 1), axis=0)
    return BoxSet(img, worker, np.zeros(img.size, np.int32), arrays["coords"],
                  pl.Series("image", [str(i) for i in range(n_images)]),
                  pl.Series("worker", [str(i) for i in range(int(worker.max()) + 1)]), ["object"],
                  pairs[:, 0], pairs[:, 1])


def speed_child(n_boxes: int) -> dict:
    from consensus.boxes.model import fit_arrays
    from consensus.kernels.box_matching import match_boxes
    from consensus.kernels.iou import image_pairwise_iou

    small = boxset(synthetic(200, seed=1), 200)  # warm-up: compile or load every kernel
    fit_arrays(small)
    image_pairwise_iou(small.image_offsets, small.coords)
    n_images = max(int(n_boxes / 9.9), 1)  # the generator makes ~9.9 boxes per image
    t = time.perf_counter()
    data = boxset(synthetic(n_images), n_images)
    t_build = time.perf_counter() - t
    t = time.perf_counter()
    pair_offsets, _ = image_pairwise_iou(data.image_offsets, data.coords)
    t_iou = time.perf_counter() - t
    t = time.perf_counter()
    match_boxes(data.image_offsets, data.coords, data.worker, data.label, data.valid, np.ones(data.n_boxes),
                0.5, True)
    t_match = time.perf_counter() - t
    t = time.perf_counter()
    fit = fit_arrays(data)
    t_fit = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total = t_iou + t_fit
    return {"n_boxes": data.n_boxes, "n_images": data.n_images, "n_objects": int(fit.kept.size),
            "iou_pairs": int(pair_offsets[-1]), "seconds_build_synthetic": t_build, "seconds_pairwise_iou": t_iou,
            "seconds_matching": t_match, "seconds_fit": t_fit, "seconds_total": total,
            "boxes_per_second": data.n_boxes / total, "peak_rss_mb": rss}


def speed(n_boxes: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--speed-child", str(n_boxes)], capture_output=True,
                         text=True, check=True, env={**os.environ})
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- report ---------------------------------------------------------------------------------------
def markdown(results: dict) -> str:
    lines = ["# Bounding-box consensus benchmark", "", f"`python benchmarks/boxes.py` on {platform.node() or 'this machine'} "
             f"({os.cpu_count()} cores), Python {platform.python_version()}.", ""]
    for name, res in results.get("quality", {}).items():
        lines += [f"## {name}", "", "| method (kept set) | precision | recall | F1 | mean IoU of matches | boxes "
                  "| gold | AP50 |", "|---|---|---|---|---|---|---|---|"]
        for method, r in res["methods"].items():
            lines.append(f"| {method} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | "
                         f"{r['mean_iou']:.3f} | {r['n_pred']} | {r['n_gold']} | {r['ap50']:.3f} |")
        lines += ["", "Same output size: ours cut to each baseline's number of boxes (highest confidence first).",
                  "", "| baseline | boxes | baseline P / R / IoU | consensus P / R / IoU |", "|---|---|---|---|"]
        for method, pair in res["equal_size"].items():
            b, o = pair["baseline"], pair["consensus"]
            lines.append(f"| {method} | {b['n_pred']} | {b['precision']:.3f} / {b['recall']:.3f} / "
                         f"{b['mean_iou']:.3f} | {o['precision']:.3f} / {o['recall']:.3f} / {o['mean_iou']:.3f} |")
        lines += ["", "Per-image recommendation against the experts (kept consensus on the gold images of each):",
                  "", "| recommendation | gold images | precision | recall | F1 |", "|---|---|---|---|---|"]
        for rec, r in res["recommendation"].items():
            lines.append(f"| {rec} | {r['images']} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} |")
        s = res["summary"]
        lines += ["", f"Summary of the consensus run: {s['n_objects']} objects kept of {s['n_candidates']} "
                  f"candidates; mean matched IoU {s['mean_matched_iou']:.3f}, soft-F1 agreement "
                  f"{s['f1_agreement']:.3f}; images {s['images_by_recommendation']}; "
                  f"annotators flagged {s['workers_flagged']}.", ""]
    sp = results.get("speed")
    if sp:
        lines += ["## Throughput", "", "| boxes | images | pairwise IoU s | matching s | fit s (match+fuse+confidence+agreement) "
                  "| IoU + fit s | boxes/s | peak RSS MB |", "|---|---|---|---|---|---|---|---|",
                  f"| {sp['n_boxes']:,} | {sp['n_images']:,} | {sp['seconds_pairwise_iou']:.2f} | "
                  f"{sp['seconds_matching']:.2f} | {sp['seconds_fit']:.2f} | {sp['seconds_total']:.2f} | "
                  f"{sp['boxes_per_second']:,.0f} | {sp['peak_rss_mb']:.0f} |", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "datasets"))
    parser.add_argument("--size", type=float, default=1e6)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--speed-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.speed_child:
        print(json.dumps(speed_child(args.speed_child)))
        return 0
    results: dict = {}
    if not args.skip_quality:
        results["quality"] = quality(Path(args.data))
    if not args.skip_speed:
        results["speed"] = speed(int(args.size))
    text = markdown(results)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "boxes.md").write_text(text + "\n")
    (out / "boxes.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
