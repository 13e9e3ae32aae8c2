"""Per-image box agreement on partitions by image, on a local or Dask backend.

The agreement of an image (soft F1 over annotator pairs, mean IoU of matched
box pairs: :func:`consensus.kernels.box_fusion.image_agreement`) is scored on
the objects :class:`~consensus.boxes.BoxConsensus` finds there: the per-image
matching, then ``n_iter`` rounds of reliability-weighted fusion and merging
of overlapping candidates, where the weights are the annotators' localisation
reliabilities estimated from all images. So it runs like the partitioned EM:
every task holds whole images (resident), and per round receives the weights
of its annotators, fuses and merges its objects and returns per-annotator sums
(squared relative deviations and their counts); the driver adds them
(:meth:`Backend.map_reduce`) and computes the next weights exactly as
:func:`consensus.boxes.model.fit_arrays` does. A last task per partition scores
its images; the driver stacks the rows in the order ``read_boxes`` gives the
images. The numbers equal ``fit_boxes(source).images``'s ``mean_iou`` and
``f1`` (tested to 1e-9; only summation order differs).

Sources: a :class:`~consensus.boxes.BoxSet` (split into ranges of images on
the driver and scattered), a path / glob / list of tabular files (CSV, TSV,
Parquet, JSONL; read by the tasks; rows are regrouped by hashed image id, a
one-time shuffle, unless every file already holds whole images), or a polars /
pandas frame (scattered, then split by image in a task). COCO and Label Studio
JSON are read on the driver with ``read_boxes`` and split like a BoxSet. Rows
are validated in the tasks exactly as ``read_boxes`` does (same quarantine).

What stays on one machine: the consensus boxes, confidence, annotator
quality and flags of :class:`~consensus.boxes.BoxConsensus`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from consensus.backends import tasks
from consensus.errors import InputError, ParameterError, check_param

#: ``read_boxes`` options :func:`box_agreement` passes on (``seen`` is handled separately).
READ_OPTIONS = ("box_format", "normalized", "image_col", "worker_col", "label_col", "coord_cols", "width_col",
                "height_col", "duration_col", "time_col")

#: Columns of :attr:`BoxAgreement.images`.
IMAGE_COLUMNS = ("image", "n_annotators", "n_boxes", "n_pairs", "mean_iou", "f1")


@dataclass
class BoxAgreement:
    """Per-image agreement computed on partitions.

    Attributes
    ----------
    images : polars.DataFrame
        One row per image, in ``read_boxes`` order: ``image``, ``n_annotators``
        (annotators who saw it), ``n_boxes``, ``n_pairs`` (matched box pairs),
        ``mean_iou`` (mean IoU of the matched pairs; NaN without any), ``f1``
        (mean soft F1 over annotator pairs; NaN with fewer than two annotators).
    quarantine : polars.DataFrame
        Unused input rows with a ``reason`` (as ``read_boxes``).
    n_input_rows, n_boxes, n_empty : int
        Rows read; boxes used; empty annotations (saw the image, drew nothing).
    n_partitions : int
    repartitioned : bool
        Whether the rows were regrouped by image (files that do not hold whole images).
    source : str
    """

    images: pl.DataFrame
    quarantine: pl.DataFrame
    n_input_rows: int
    n_boxes: int
    n_empty: int
    n_partitions: int
    repartitioned: bool
    source: str
    n_source_rows: int | None = None  # rows of an MTurk batch file, each holding several box records

    @property
    def n_quarantined(self) -> int:
        return self.quarantine.height

    def accounting_line(self) -> str:
        used = self.n_boxes + self.n_empty
        if self.n_source_rows is not None:  # as BoxSet.accounting_line
            return (f"input rows {self.n_source_rows} hold {self.n_input_rows} box records = used {used} + "
                    f"quarantined {self.n_quarantined}")
        return f"input rows {self.n_input_rows} = used {used} + quarantined {self.n_quarantined}"

    def __repr__(self) -> str:
        return (f"BoxAgreement({self.images.height} images, {self.n_boxes} boxes, {self.n_partitions} partitions, "
                f"source={self.source!r})")


# -- tasks ------------------------------------------------------------------------------------------
@dataclass
class BoxPart:
    """One partition: whole images as a :class:`~consensus.boxes.BoxSet` (its own worker codes), the
    global code of each of its workers, and its current objects (``match`` output, merged so far)."""

    boxes: Any
    workers: np.ndarray | None
    obj: np.ndarray
    local: np.ndarray
    start: np.ndarray


def start_boxes(boxes: Any, workers: np.ndarray | None, iou_threshold: float, class_aware: bool) -> BoxPart:
    """Match every image's boxes (the candidate objects)."""
    from consensus.boxes.model import match

    obj, local, start = match(boxes, iou_threshold, class_aware)
    return BoxPart(boxes, None if workers is None else np.asarray(workers, dtype=np.int64), obj, local, start)


def start_rows(frame: pl.DataFrame, seen: pl.DataFrame | None, name: str, options: dict[str, Any],
               iou_threshold: float, class_aware: bool) -> BoxPart:
    """Validate the rows of whole images as ``read_boxes`` does, then :func:`start_boxes`."""
    from consensus.boxes.readers import _build

    read = {key: options.get(key) for key in READ_OPTIONS}
    read["box_format"] = read["box_format"] or "auto"
    return start_boxes(_build(frame, name, seen=seen, require_rows=False, **read), None, iou_threshold, class_aware)


def part_summary(part: BoxPart) -> dict[str, Any]:
    b = part.boxes
    return {"workers": b.worker_ids.cast(pl.String), "quarantine": b.quarantine, "n_input_rows": b.n_input_rows,
            "n_boxes": b.n_boxes, "n_empty": b.n_empty}


def with_workers(part: BoxPart, workers: np.ndarray) -> BoxPart:
    return BoxPart(part.boxes, np.asarray(workers, dtype=np.int64), part.obj, part.local, part.start)


def fusion_round(prev: Any, rows: Any, sliced: bool, iou_threshold: float, class_aware: bool,
                 method: int) -> tuple[BoxPart, dict[str, Any]]:
    """One round of :func:`consensus.boxes.model.fit_arrays`'s fusion loop on these images.

    Fuse every object with the annotators' localisation weights, merge
    candidates whose fused boxes overlap (to a fixed point), and return the
    per-annotator sums the next weights are made of: ``cnt`` (4 x boxes in
    objects of two or more boxes) and ``ss`` (their squared deviations from the
    fused box, relative to its size, corrected by k/(k-1)).
    """
    from consensus.boxes.model import _apply_merge, _group
    from consensus.kernels.box_fusion import fuse_boxes
    from consensus.kernels.box_matching import merge_objects

    part = prev[0] if isinstance(prev, tuple) else prev
    b = part.boxes
    (loc_weight,) = tasks.local_rows(part, rows, sliced)
    obj, local, start = part.obj, part.local, part.start
    n_obj = int(start[-1])
    obj_offsets, members = _group(obj, n_obj)
    weight = np.ascontiguousarray(loc_weight[b.worker])
    fused, _ = fuse_boxes(obj_offsets, members, b.coords, weight, method)
    rep, merged = merge_objects(b.image_offsets, start, obj, b.coords, b.worker, b.label, weight, fused,
                                iou_threshold, class_aware, method)
    if n_obj and np.any(rep != np.arange(n_obj)):
        obj, local, start, fused = _apply_merge(b, obj, start, rep, merged)
        n_obj = int(start[-1])
        obj_offsets, members = _group(obj, n_obj)
    n_members = np.diff(obj_offsets)
    n_local = b.n_workers
    in_obj = obj >= 0
    shared = in_obj.copy()
    shared[in_obj] = n_members[obj[in_obj]] >= 2
    idx = np.flatnonzero(shared)
    f = fused[obj[idx]]
    size = np.maximum(np.stack([f[:, 2] - f[:, 0], f[:, 3] - f[:, 1]], axis=1), 1e-12)
    rel = (b.coords[idx] - f) / np.concatenate([size, size], axis=1)
    k = n_members[obj[idx]].astype(np.float64)
    sums = {"workers": part.workers.astype(np.int32),
            "cnt": 4.0 * np.bincount(b.worker[idx], minlength=n_local),
            "ss": np.bincount(b.worker[idx], weights=(rel ** 2).sum(axis=1) * k / (k - 1.0), minlength=n_local)}
    return BoxPart(b, part.workers, obj, local, start), sums


def round_sums(state: tuple[BoxPart, dict[str, Any]]) -> dict[str, Any]:
    return state[1]


def agree(prev: Any) -> dict[str, Any]:
    """Score every image on its final objects: one entry per image."""
    from consensus.kernels.box_fusion import image_agreement

    part = prev[0] if isinstance(prev, tuple) else prev
    b = part.boxes
    f1, mean_iou, n_pairs = image_agreement(b.image_offsets, b.coords, b.worker, part.obj, b.valid,
                                            b.seen_offsets, b.seen_worker)
    return {"image": b.image_ids.cast(pl.String), "n_annotators": np.diff(b.seen_offsets),
            "n_boxes": np.diff(b.image_offsets), "n_pairs": n_pairs, "mean_iou": mean_iou, "f1": f1}


def read_rows(path: str) -> pl.DataFrame:
    """A tabular file with the ``__source``/``__row`` bookkeeping columns."""
    from consensus.io.readers import read_table

    return read_table(path)


def image_keys(frame: pl.DataFrame, image_col: str | None, name: str) -> pl.Series:
    """The image id of every row, as ``read_boxes`` reads it (text, stripped; 12.0 -> "12")."""
    from consensus.boxes.readers import IMAGE_NAMES, _as_id, _pick
    from consensus.io.readers import ROW_COL, SOURCE_COL, check_scalar_columns

    columns = [c for c in frame.columns if c not in (SOURCE_COL, ROW_COL)]
    icol = _pick(columns, image_col, IMAGE_NAMES, "image id", name, True)
    check_scalar_columns(frame, [icol], "image id")
    return frame.select(_as_id(frame, icol)).to_series() if frame.height else pl.Series([], dtype=pl.String)


def unique_images(frame: pl.DataFrame, image_col: str | None, name: str) -> tuple[int, pl.Series]:
    """Rows and unique image ids of a piece (for the check that files hold whole images)."""
    return frame.height, image_keys(frame, image_col, name).drop_nulls().unique()


def split_by_image(frame: pl.DataFrame, image_col: str | None, name: str, n_buckets: int) -> list[pl.DataFrame]:
    """Rows of ``frame`` in ``n_buckets`` buckets by hashed image id, row order kept within a bucket."""
    bucket = (image_keys(frame, image_col, name).hash(seed=0) % n_buckets).cast(pl.Int64)
    return [frame.filter(bucket == b) for b in range(n_buckets)]


# -- driver -----------------------------------------------------------------------------------------
def box_agreement(source: Any, engine: Any = "dask", *, iou_threshold: float = 0.5, class_aware: bool = True,
                  fusion: str = "median", n_iter: int = 5, prior_boxes: float = 4.0, seen: Any = None,
                  n_partitions: int | None = None, log: Callable[[str], None] | None = None,
                  **read_options: Any) -> BoxAgreement:
    """Per-image box agreement (mean matched IoU and soft F1) computed on partitions by image.

    Parameters
    ----------
    source : BoxSet, path, glob, list of paths, or polars/pandas DataFrame
        See the module docstring.
    engine : "dask", "local" or a :class:`~consensus.backends.Backend`
        ``"dask"`` starts a local Dask cluster (closed afterwards); ``"local"``
        runs the partitions in this process (:class:`LocalBackend`).
    iou_threshold, class_aware, fusion, n_iter, prior_boxes
        As :class:`~consensus.boxes.BoxConsensus` (matching, fusion and the
        reliability rounds that decide the objects).
    seen : path or frame, optional
        Every (image, annotator) pair that was shown, as ``read_boxes``.
    n_partitions : int, optional
        Partitions (default: the backend's).
    log : callable, optional
        Receives progress messages (e.g. the regrouping notice).
    **read_options
        ``read_boxes`` options: ``box_format``, ``normalized``, ``image_col``,
        ``worker_col``, ``label_col``, ``coord_cols``, ``width_col``,
        ``height_col``, ``duration_col``, ``time_col``, ``annotator_field``.

    Returns
    -------
    BoxAgreement
        ``images.mean_iou`` and ``images.f1`` equal ``fit_boxes(source).images``'s.

    Raises
    ------
    InputError
        As ``read_boxes`` (missing files or columns), with the file named.
    ParameterError
        An unknown option or an invalid parameter.
    """
    from consensus.backends.base import resolve_engine
    from consensus.backends.local import LocalBackend
    from consensus.boxes.model import BoxConsensus

    unknown = sorted(set(read_options) - set(READ_OPTIONS) - {"annotator_field"})
    if unknown:
        raise ParameterError(f"box_agreement got unknown option(s) {', '.join(unknown)}; "
                             f"read options are {', '.join(READ_OPTIONS)}, annotator_field")
    BoxConsensus(iou_threshold=iou_threshold, class_aware=class_aware, fusion=fusion, n_iter=n_iter,
                 prior_boxes=prior_boxes)._check()  # the same parameter checks and messages
    if n_partitions is not None:
        check_param("box_agreement", "n_partitions", n_partitions,
                    isinstance(n_partitions, int) and n_partitions >= 1, "an int >= 1")
    if isinstance(engine, str) and engine == "local":
        backend, owned = LocalBackend(), False
    else:
        backend, owned = resolve_engine(engine)
    assert backend is not None
    from consensus.kernels.box_fusion import MEAN, MEDIAN

    params = _Params(float(iou_threshold), bool(class_aware), MEDIAN if fusion == "median" else MEAN, int(n_iter),
                     float(prior_boxes))
    try:
        return _agreement(backend, source, params, seen, int(n_partitions or backend.n_partitions),
                          log or (lambda message: None), read_options)
    finally:
        if owned:
            backend.close()


@dataclass
class _Params:
    iou_threshold: float
    class_aware: bool
    method: int
    n_iter: int
    prior_boxes: float


def _agreement(backend: Any, source: Any, params: _Params, seen: Any, n_out: int, say: Callable[[str], None],
               options: dict[str, Any]) -> BoxAgreement:
    from consensus.boxes.data import BoxSet
    from consensus.boxes.readers import read_boxes
    from consensus.io.readers import describe_source, expand_paths, read_table

    name = describe_source(source) if not isinstance(source, BoxSet) else source.source
    paths = None
    if isinstance(source, (str, os.PathLike)) or (
            isinstance(source, (list, tuple)) and all(isinstance(s, (str, os.PathLike)) for s in source)):
        paths = [str(p) for p in expand_paths(source)]  # raises InputError for missing files
        # COCO / Label Studio JSON and MTurk box batches (one JSON list per row): read here, split below
        if any(p.lower().endswith(".json") for p in paths) or any(_is_mturk_batch(p) for p in paths):
            source = read_boxes(source, seen=seen, **options)
            paths = None
    repartitioned = False
    if isinstance(source, BoxSet):
        pieces, workers = _split_boxset(source, n_out)
        handles = backend.scatter(pieces)
        parts = backend.map(start_boxes, handles, params.iou_threshold, params.class_aware,
                            per_part=[(w,) for w in workers])
        backend.release(handles)
        worker_ids = source.worker_ids
        accounting = (source.quarantine, source.n_input_rows, source.n_boxes, source.n_empty)
    else:
        seen_frame = None
        if seen is not None:
            from consensus.boxes.readers import _read_seen

            seen_frame = _read_seen(seen)
        image_col = options.get("image_col")
        whole = False
        if paths is not None:
            pieces = backend.map(read_rows, paths)
            if len(paths) > 1:
                summaries = backend.map_gather(unique_images, pieces, image_col, name)
                ids = pl.concat([s[1] for s in summaries])
                whole = ids.n_unique() == ids.len()
        else:
            pieces = backend.scatter([read_table(source)])
        if whole and seen_frame is None:  # every file holds whole images: one partition per file
            frames = pieces
        else:
            splits = backend.map(split_by_image, pieces, image_col, name, n_out)
            backend.release(pieces)
            frames = [backend.submit(tasks.take_bucket, b, *splits) for b in range(n_out)]
            backend.release(splits)
            if paths is not None and len(paths) > 1:
                repartitioned = True
                say(f"box rows are not grouped by image across the {len(paths)} files: regrouped into {n_out} "
                    "partitions by hashed image id (one-time)")
        seen_parts: list[Any] = [None] * len(frames)
        if seen_frame is not None:
            bucket = (seen_frame.get_column("image").hash(seed=0) % n_out).cast(pl.Int64)
            seen_parts = [seen_frame.filter(bucket == b) for b in range(n_out)]
        local_parts = backend.map(start_rows, frames, name, options, params.iou_threshold, params.class_aware,
                                  per_part=[(s,) for s in seen_parts])
        backend.release(frames)
        info = backend.map_gather(part_summary, local_parts)
        from consensus.io.judgments import natural_sort

        worker_ids = pl.Series("worker", natural_sort(
            pl.concat([i["workers"] for i in info]).unique().to_list()), dtype=pl.String)
        code = {w: k for k, w in enumerate(worker_ids.to_list())}
        workers = [np.array([code[w] for w in i["workers"].to_list()], dtype=np.int64) for i in info]
        parts = backend.map(with_workers, local_parts, per_part=[(w,) for w in workers])
        backend.release(local_parts)
        accounting = _accounting(info)
        if accounting[2] + accounting[3] == 0:  # as read_boxes: no box and no empty annotation anywhere
            reasons = accounting[0].get_column("reason").unique(maintain_order=True).head(3).to_list() \
                if accounting[0].height else []
            raise InputError(f"no usable boxes: all {accounting[1]} rows were quarantined ({'; '.join(reasons)})",
                             source=name)
    try:
        states = _fusion_rounds(backend, parts, workers, len(worker_ids), params)
        results = backend.map_gather(agree, states)
        backend.release(states)
    finally:
        backend.release(parts)
    return _assemble(results, name, len(parts), repartitioned, ordered=paths is None and isinstance(source, BoxSet),
                     accounting=accounting,
                     n_source_rows=source.n_source_rows if isinstance(source, BoxSet) else None)


def _fusion_rounds(backend: Any, parts: list[Any], workers: list[np.ndarray], n_workers: int,
                   params: _Params) -> list[Any]:
    """``n_iter`` rounds of fusion and merging on the partitions, the weights updated on the driver in
    between as :func:`consensus.boxes.model.fit_arrays` updates them; returns the final states."""
    loc_weight = np.ones(n_workers)
    states = parts
    for round_ in range(params.n_iter):
        handles, sliced, owned = backend.ship_rows(states, workers, n_workers, (loc_weight,))
        new = backend.map(fusion_round, states, sliced, params.iou_threshold, params.class_aware, params.method,
                          per_part=[(h,) for h in handles])
        if states is not parts:
            backend.release(states)
        states = new
        if round_ == params.n_iter - 1:  # the last weights are not needed for the objects
            backend.release(owned)
            break
        total = backend.map_reduce(round_sums, states, per_worker=("cnt", "ss"))
        backend.release(owned)
        cnt = backend.dense_by_worker(total, "cnt", n_workers)
        ss = backend.dense_by_worker(total, "ss", n_workers)
        pooled = ss.sum() / cnt.sum() if cnt.sum() > 0 else 1.0
        pooled = max(pooled, 1e-12)
        var = np.maximum((ss + 4.0 * params.prior_boxes * pooled) / (cnt + 4.0 * params.prior_boxes), 1e-12)
        loc_weight = 1.0 / var
        loc_weight = loc_weight / np.exp(np.mean(np.log(loc_weight)))  # geometric mean 1
    return states


def _is_mturk_batch(path: str) -> bool:
    """Whether a text file's header names MTurk's bounding-box answer column (then ``read_boxes`` reads it)."""
    import gzip

    from consensus.boxes.readers import MTURK_BOXES_SUFFIX

    opener = gzip.open if path.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", errors="replace") as handle:  # type: ignore[operator]
            header = handle.readline()
    except (OSError, EOFError):
        return False  # the readers report an unreadable file with its name
    return "Answer." in header and MTURK_BOXES_SUFFIX in header


def _accounting(info: list[dict[str, Any]]) -> tuple[pl.DataFrame, int, int, int]:
    """Quarantine (input order) and row counts of the partitions."""
    quarantines = [i["quarantine"] for i in info if i["quarantine"] is not None]
    quarantine = pl.concat(quarantines, how="diagonal_relaxed") if quarantines \
        else pl.DataFrame(schema={"reason": pl.String})
    if "source" in quarantine.columns and "row" in quarantine.columns:
        quarantine = quarantine.sort(["source", "row"], maintain_order=True)
    return (quarantine, sum(int(i["n_input_rows"]) for i in info), sum(int(i["n_boxes"]) for i in info),
            sum(int(i["n_empty"]) for i in info))


def _split_boxset(boxes: Any, n_parts: int) -> tuple[list[Any], list[np.ndarray]]:
    """Consecutive ranges of images with about the same number of boxes, as BoxSets with their own worker
    codes, and the global code of each partition's workers."""
    from consensus.boxes.data import BoxSet

    offsets = boxes.image_offsets
    n_images = boxes.n_images
    targets = np.linspace(0, boxes.n_boxes, n_parts + 1)[1:-1]
    cuts = np.unique(np.concatenate([[0], np.searchsorted(offsets, targets, side="left").clip(0, n_images),
                                     [n_images]]))
    out, codes = [], []
    for p, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:])):
        r0, r1 = offsets[lo], offsets[hi]
        s0, s1 = boxes.seen_offsets[lo], boxes.seen_offsets[hi]
        workers = np.unique(np.concatenate([boxes.worker[r0:r1], boxes.seen_worker[s0:s1]])).astype(np.int64)
        out.append(BoxSet(
            boxes.image[r0:r1] - lo, np.searchsorted(workers, boxes.worker[r0:r1]), boxes.label[r0:r1],
            boxes.coords[r0:r1], boxes.image_ids.slice(lo, hi - lo), boxes.worker_ids.gather(workers),
            boxes.classes, boxes.seen_image[s0:s1] - lo, np.searchsorted(workers, boxes.seen_worker[s0:s1]),
            image_width=boxes.image_width[lo:hi], image_height=boxes.image_height[lo:hi],
            duration=boxes.duration[r0:r1], box_format=boxes.box_format, normalized=boxes.normalized,
            source=f"partition {p}"))
        codes.append(workers)
    return out, codes


def _assemble(results: list[dict[str, Any]], name: str, n_parts: int, repartitioned: bool, ordered: bool,
              accounting: tuple[pl.DataFrame, int, int, int], n_source_rows: int | None = None) -> BoxAgreement:
    """Stack the partitions' rows; images in ``read_boxes`` order (natural sort) unless already ordered."""
    from consensus.io.judgments import natural_sort

    frames = [pl.DataFrame({
        "image": r["image"], "n_annotators": pl.Series(r["n_annotators"], dtype=pl.Int64),
        "n_boxes": pl.Series(r["n_boxes"], dtype=pl.Int64), "n_pairs": pl.Series(r["n_pairs"], dtype=pl.Int64),
        "mean_iou": pl.Series(r["mean_iou"], dtype=pl.Float64), "f1": pl.Series(r["f1"], dtype=pl.Float64),
    }) for r in results]
    images = pl.concat(frames, how="vertical") if frames else pl.DataFrame(
        schema={c: (pl.String if c == "image" else pl.Float64 if c in ("mean_iou", "f1") else pl.Int64)
                for c in IMAGE_COLUMNS})
    if not ordered and images.height:
        order = pl.DataFrame({"image": pl.Series(natural_sort(images.get_column("image").to_list()),
                                                 dtype=pl.String)})
        images = order.join(images, on="image", how="left", maintain_order="left")
    quarantine, n_input_rows, n_boxes, n_empty = accounting
    if quarantine is None:
        quarantine = pl.DataFrame(schema={"reason": pl.String})
    return BoxAgreement(images=images, quarantine=quarantine, n_input_rows=int(n_input_rows), n_boxes=int(n_boxes),
                        n_empty=int(n_empty), n_partitions=n_parts, repartitioned=repartitioned, source=name,
                        n_source_rows=n_source_rows)
