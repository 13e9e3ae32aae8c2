"""The box data model: integer-coded boxes sorted by image, then annotator, with CSR offsets.

Coordinates are kept in the input's units (pixels or normalised) as
``x0, y0, x1, y1``; IoU, fusion weights and the tightness bias are all
invariant to per-axis scaling, so nothing needs the image size except the
out-of-image and whole-image checks.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import polars as pl

BOX_FORMATS = ("xyxy", "xywh")


class BoxSet:
    """A validated, integer-coded set of boxes drawn by annotators on images.

    Parameters
    ----------
    image, worker, label : ndarray of int32, shape (n_boxes,)
        Codes, sorted by image, then worker, then coordinates. Image codes index
        ``image_ids``, worker codes ``worker_ids``, label codes ``classes``.
    coords : ndarray of float64, shape (n_boxes, 4)
        ``x0, y0, x1, y1`` in the input's units. A box with ``x1 <= x0`` or
        ``y1 <= y0`` is degenerate: it is kept, flagged and left out of matching.
    image_ids, worker_ids : polars.Series
        Original ids, one per code.
    classes : list of str
    seen_image, seen_worker : ndarray of int32
        Every (image, annotator) pair that was shown, sorted by image then
        worker: the annotators who drew boxes plus those who saw the image and
        drew nothing (empty annotations, or a ``seen`` table).
    image_width, image_height : ndarray of float64, shape (n_images,), optional
        Image size in the coordinates' units (1.0 for normalised coordinates);
        NaN where unknown.
    duration : ndarray of float64, shape (n_boxes,), optional
        Seconds spent drawing each box; NaN where unknown.
    box_format : {"xyxy", "xywh"}
        The input's format; output tables use it again.
    normalized : bool
        Coordinates are fractions of the image size.
    input_row : ndarray of int64, optional
        0-based position of each box among the input rows.
    n_input_rows : int
        Rows read (boxes + empty annotations + quarantined).
    n_empty : int
        Input rows that were empty annotations (annotator saw the image, drew nothing).
    n_source_rows : int, optional
        Rows of the file when one row holds several box records (an MTurk batch: one row per
        assignment); ``n_input_rows`` then counts the records.
    quarantine : polars.DataFrame, optional
        Unused input rows with a ``reason`` column.
    source : str
    """

    def __init__(self, image: np.ndarray, worker: np.ndarray, label: np.ndarray, coords: np.ndarray,
                 image_ids: pl.Series, worker_ids: pl.Series, classes: list[str],
                 seen_image: np.ndarray, seen_worker: np.ndarray, *,
                 image_width: np.ndarray | None = None, image_height: np.ndarray | None = None,
                 duration: np.ndarray | None = None, box_format: str = "xyxy", normalized: bool = False,
                 input_row: np.ndarray | None = None, n_input_rows: int | None = None, n_empty: int = 0,
                 quarantine: pl.DataFrame | None = None, source: str = "<arrays>",
                 n_source_rows: int | None = None) -> None:
        self.image = np.ascontiguousarray(image, dtype=np.int32)
        self.worker = np.ascontiguousarray(worker, dtype=np.int32)
        self.label = np.ascontiguousarray(label, dtype=np.int32)
        self.coords = np.ascontiguousarray(coords, dtype=np.float64).reshape(-1, 4)
        self.image_ids = image_ids
        self.worker_ids = worker_ids
        self.classes = list(classes)
        self.seen_image = np.ascontiguousarray(seen_image, dtype=np.int32)
        self.seen_worker = np.ascontiguousarray(seen_worker, dtype=np.int32)
        n_images = len(image_ids)
        nan = np.full(n_images, np.nan)
        self.image_width = nan.copy() if image_width is None else np.asarray(image_width, dtype=np.float64)
        self.image_height = nan.copy() if image_height is None else np.asarray(image_height, dtype=np.float64)
        n = self.image.size
        self.duration = np.full(n, np.nan) if duration is None else np.asarray(duration, dtype=np.float64)
        self.box_format = box_format
        self.normalized = bool(normalized)
        self.input_row = np.arange(n, dtype=np.int64) if input_row is None else np.asarray(input_row, np.int64)
        self.n_empty = int(n_empty)
        self.quarantine = quarantine
        n_q = 0 if quarantine is None else quarantine.height
        self.n_input_rows = int(n_input_rows) if n_input_rows is not None else n + self.n_empty + n_q
        self.source = source
        self.n_source_rows = None if n_source_rows is None else int(n_source_rows)
        if not (self.worker.size == n and self.label.size == n and self.coords.shape[0] == n):
            raise ValueError("image, worker, label and coords must have one entry per box")
        key = np.lexsort((self.worker, self.image))
        if n and not np.array_equal(key, np.arange(n)):
            raise ValueError("boxes must be sorted by image, then worker")

    # -- sizes ------------------------------------------------------------------------------
    @property
    def n_boxes(self) -> int:
        return int(self.image.size)

    @property
    def n_images(self) -> int:
        return len(self.image_ids)

    @property
    def n_workers(self) -> int:
        return len(self.worker_ids)

    @property
    def n_quarantined(self) -> int:
        return 0 if self.quarantine is None else self.quarantine.height

    # -- layouts ----------------------------------------------------------------------------
    @cached_property
    def image_offsets(self) -> np.ndarray:
        """int64 (n_images + 1,): boxes of image ``g`` are ``image_offsets[g]:image_offsets[g+1]``."""
        return _offsets(self.image, self.n_images)

    @cached_property
    def seen_offsets(self) -> np.ndarray:
        """int64 (n_images + 1,): CSR offsets of ``seen_worker`` by image."""
        return _offsets(self.seen_image, self.n_images)

    @cached_property
    def valid(self) -> np.ndarray:
        """uint8 (n_boxes,): 1 for a box with positive width and height."""
        c = self.coords
        ok = (c[:, 2] > c[:, 0]) & (c[:, 3] > c[:, 1])
        return ok.astype(np.uint8)

    def accounting_line(self) -> str:
        """The row-accounting sentence the CLI prints."""
        used = self.n_boxes + self.n_empty
        if self.n_source_rows is not None:  # several boxes per row: account for the records, from the rows
            return (f"input rows {self.n_source_rows} hold {self.n_input_rows} box records = used {used} + "
                    f"quarantined {self.n_quarantined}")
        return f"input rows {self.n_input_rows} = used {used} + quarantined {self.n_quarantined}"

    def __repr__(self) -> str:
        return (f"BoxSet({self.n_boxes} boxes, {self.n_images} images, {self.n_workers} annotators, "
                f"{len(self.classes)} classes, format={self.box_format}"
                f"{', normalised' if self.normalized else ''})")


def _offsets(codes: np.ndarray, n_groups: int) -> np.ndarray:
    counts = np.bincount(codes, minlength=n_groups) if codes.size else np.zeros(n_groups, dtype=np.int64)
    offsets = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets
