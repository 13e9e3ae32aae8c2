"""Read box deliveries into a :class:`BoxSet`: CSV/TSV/Parquet/JSONL/frames, COCO JSON, Label Studio JSON.

Every input row ends up as a box, an empty annotation (image and annotator
given, all coordinates empty: the annotator saw the image and drew nothing) or
a quarantined row with its ``reason``.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np
import polars as pl

from consensus.boxes.data import BOX_FORMATS, BoxSet
from consensus.errors import InputError, ParameterError, check_param
from consensus.io.columns import MTURK_STATUS_COL, _show
from consensus.io.judgments import natural_sort
from consensus.io.readers import ROW_COL, SOURCE_COL, check_scalar_columns, describe_source, expand_paths, read_table

IMAGE_NAMES = ("image", "image_id", "img", "item", "task", "file", "filename", "file_name", "image_name")
WORKER_NAMES = ("worker", "annotator", "worker_id", "annotator_id", "workerid", "user", "user_id", "rater",
                "completed_by")
LABEL_NAMES = ("label", "class", "category", "class_name", "category_name", "label_name")
XYXY_NAMES = (("x0", "y0", "x1", "y1"), ("xmin", "ymin", "xmax", "ymax"), ("x_min", "y_min", "x_max", "y_max"),
              ("left", "top", "right", "bottom"), ("x1", "y1", "x2", "y2"))
XYWH_NAMES = (("x", "y", "w", "h"), ("x", "y", "width", "height"), ("left", "top", "width", "height"),
              ("x0", "y0", "w", "h"))
WIDTH_NAMES = ("image_width", "img_width", "original_width", "imagewidth")
HEIGHT_NAMES = ("image_height", "img_height", "original_height", "imageheight")
DURATION_NAMES = ("duration", "seconds", "duration_s", "box_seconds")
TIME_NAMES = ("timestamp", "timestamp_ms", "time", "drawn_at", "created_at")
COCO_ANNOTATOR_FIELDS = ("annotator", "annotator_id", "worker", "worker_id", "user_id", "creator", "completed_by",
                         "rater")
DEFAULT_LABEL = "object"
#: Largest coordinate magnitude read: 1e15 pixels is beyond any image, and an area of such boxes stays
#: exact enough for IoU; past ~1e154 the area overflows to inf and IoU is NaN. Larger values are quarantined.
MAX_COORD = 1e15  # the reason below writes it out
#: Reason a JSON reader already found for leaving a record out (quarantined with it).
NOTE_COL = "__note"


def read_boxes(source: Any, *, box_format: str = "auto", normalized: bool | None = None,
               image_col: str | None = None, worker_col: str | None = None, label_col: str | None = None,
               coord_cols: tuple[str, str, str, str] | None = None, width_col: str | None = None,
               height_col: str | None = None, duration_col: str | None = None, time_col: str | None = None,
               seen: Any = None, annotator_field: str | None = None) -> BoxSet:
    """Read boxes from a file, files, glob or frame.

    Parameters
    ----------
    source : path, glob, list of paths, polars/pandas DataFrame
        One row per box: image, annotator, four coordinates, optional class
        label, image width/height, seconds per box or a per-box timestamp. A
        ``.json`` file may also be a COCO file (``annotations`` with ``bbox`` and an
        annotator field; ``images`` for file names and sizes) or a Label Studio export (a list of tasks
        with ``annotations`` of ``rectanglelabels`` results and ``completed_by``). An MTurk batch
        download of the bounding-box template (``Answer.<name>.boundingBoxes``: a JSON list of
        ``left, top, width, height, label`` per assignment, in pixels) is read as one row per box,
        the image named by ``Input.image_url`` (or ``HITId`` when the URL is hidden) and the
        annotator by ``WorkerId``; the boxes of rejected assignments (``AssignmentStatus``) are
        quarantined, as :func:`consensus.read_judgments` does.
    box_format : {"auto", "xyxy", "xywh"}
        ``xyxy``: corners ``x0, y0, x1, y1``; ``xywh``: top-left corner, width, height.
        ``auto`` picks from the column names.
    normalized : bool, optional
        Coordinates are fractions of the image size. Default: true when every
        coordinate lies in [-0.5, 1.5].
    image_col, worker_col, label_col, width_col, height_col, duration_col, time_col : str, optional
        Column names (detected from common names when omitted). ``time_col``
        holds when each box was drawn (epoch seconds or milliseconds, or a
        datetime); seconds per box are then the gaps between one annotator's
        consecutive boxes on an image.
    coord_cols : tuple of 4 str, optional
        The coordinate columns, in the order of ``box_format``.
    seen : path or frame, optional
        Every (image, annotator) pair that was shown (columns detected like
        ``image_col``/``worker_col``), so annotators who drew nothing count.
    annotator_field : str, optional
        COCO: the annotation field naming the annotator.

    Returns
    -------
    BoxSet

    Raises
    ------
    InputError
        A file is missing or unreadable, or a needed column cannot be found.
    ParameterError
        An option has an invalid value.
    """
    check_param("read_boxes", "box_format", box_format, box_format in ("auto", *BOX_FORMATS),
                "one of 'auto', 'xyxy', 'xywh'")
    name = describe_source(source)
    special = _read_special_json(source, annotator_field)
    coord_names = None  # how the reasons name the coordinates: the input's own columns or fields
    n_source_rows = None  # rows of the file when one row holds several boxes (an MTurk batch)
    if special is not None:
        raw, fmt, special_norm, coord_names = special
        box_format = fmt
        coord_cols = ("x", "y", "w", "h")
        image_col, worker_col, label_col = "image", "worker", "label"
        width_col = width_col or "image_width"
        height_col = height_col or "image_height"
        duration_col = duration_col or ("duration" if "duration" in raw.columns else None)
        if normalized is None:
            normalized = special_norm
    else:
        raw = read_table(source)
        answer = _mturk_box_column(raw.columns) if coord_cols is None else None
        if answer is not None:  # an MTurk crowd-bounding-box batch: one JSON list of boxes per assignment
            n_source_rows = raw.height
            raw = _mturk_rows(raw, answer, image_col, worker_col, name)
            coord_names = tuple(f"{answer}[].{k}" for k in ("left", "top", "width", "height"))
            box_format, coord_cols = "xywh", ("x", "y", "w", "h")
            image_col, worker_col, label_col = "image", "worker", "label"
            width_col, height_col, duration_col = "image_width", "image_height", "duration"
            normalized = False if normalized is None else normalized
    return _build(raw, name, box_format=box_format, normalized=normalized, image_col=image_col,
                  worker_col=worker_col, label_col=label_col, coord_cols=coord_cols, width_col=width_col,
                  height_col=height_col, duration_col=duration_col, time_col=time_col, seen=seen,
                  coord_names=coord_names, n_source_rows=n_source_rows)


# -- column detection -------------------------------------------------------------------------
def _pick(columns: list[str], given: str | None, names: tuple[str, ...], role: str, source: str,
          required: bool) -> str | None:
    if given is not None:
        if given not in columns:
            raise InputError(f"no column {given!r} for the {role}; columns are {_show(columns)}",
                             source=source)
        return given
    lower = {c.lower(): c for c in columns}
    for candidate in names:
        if candidate in lower:
            return lower[candidate]
    if required:
        raise InputError(f"cannot find the {role} column (tried {', '.join(names[:6])}, ...); "
                         f"name it with the matching option; columns are {_show(columns)}",
                         source=source)
    return None


def _pick_coords(columns: list[str], box_format: str, coord_cols: tuple[str, ...] | None,
                 source: str) -> tuple[str, tuple[str, str, str, str]]:
    if coord_cols is not None:
        if len(coord_cols) != 4:
            raise ParameterError(f"coord_cols must name 4 columns; got {coord_cols!r}")
        missing = [c for c in coord_cols if c not in columns]
        if missing:
            raise InputError(f"no coordinate column {missing[0]!r}; columns are {_show(columns)}",
                             source=source)
        if box_format == "auto":
            box_format = _format_of_names(tuple(coord_cols))
        return box_format, tuple(coord_cols)  # type: ignore[return-value]
    lower = {c.lower(): c for c in columns}
    tried = {"xyxy": XYXY_NAMES, "xywh": XYWH_NAMES}
    order = ("xyxy", "xywh") if box_format == "auto" else (box_format,)
    for fmt in order:
        for names in tried[fmt]:
            if all(n in lower for n in names):
                if fmt == "xyxy" and names == ("x1", "y1", "x2", "y2") and "x0" in lower:
                    continue
                return fmt, tuple(lower[n] for n in names)  # type: ignore[return-value]
    want = " / ".join(",".join(n) for fmt in order for n in tried[fmt][:2])
    raise InputError(f"cannot find the box coordinate columns (expected e.g. {want}); "
                     "name them with coord_cols / --coords", source=source)


def _format_of_names(coord_cols: tuple[str, ...]) -> str:
    """``xyxy`` or ``xywh`` for coordinate columns named by the user, from their names; else an error.

    Known sets (``x,y,w,h``, ``xmin,ymin,xmax,ymax``, ...) and, otherwise, the last two names: a width and
    a height (``bw,bh``, ``box_width,box_height``) or a far corner (``x2,y2``, ``right,bottom``, ``*max``).
    """
    lowered = tuple(c.lower() for c in coord_cols)
    if lowered in XYWH_NAMES:
        return "xywh"
    if lowered in XYXY_NAMES:
        return "xyxy"
    third, fourth = lowered[2], lowered[3]
    if third.endswith(("w", "width")) and fourth.endswith(("h", "height")):
        return "xywh"
    if third.endswith(("2", "max", "right")) and fourth.endswith(("2", "max", "bottom")):
        return "xyxy"
    raise ParameterError(f"cannot tell from the names {','.join(coord_cols)} whether the boxes are corners or "
                         "corner + size: give --box-format xyxy or xywh (box_format= in Python) with --coords")


# -- building ---------------------------------------------------------------------------------
def _as_float(frame: pl.DataFrame, column: str) -> pl.Expr:
    dtype = frame.schema[column]
    expr = pl.col(column)
    if dtype == pl.String:
        expr = expr.str.strip_chars()
        return pl.when(expr == "").then(None).otherwise(expr).cast(pl.Float64, strict=False)
    if dtype.is_numeric() or dtype == pl.Boolean:
        return expr.cast(pl.Float64)
    return pl.lit(None, dtype=pl.Float64)


def _as_text(frame: pl.DataFrame, column: str) -> pl.Expr:
    dtype = frame.schema[column]
    expr = pl.col(column)
    if dtype.is_float():
        # 12.0 -> "12": ids written as floats by a spreadsheet stay readable
        # (non-finite values stay text: "NaN", "inf"; a strict cast to Int64 would raise on them, and one
        # beyond the Int64 range, 1e160, would turn null: read as empty)
        expr = pl.when(expr.is_finite() & (expr == expr.round(0)) & (expr.abs() < 1e15)) \
            .then(expr.cast(pl.Int64, strict=False).cast(pl.String)) \
            .otherwise(expr.cast(pl.String))
    elif dtype != pl.String:
        expr = expr.cast(pl.String)
    expr = expr.str.strip_chars()
    return pl.when(expr == "").then(None).otherwise(expr)


def _as_id(frame: pl.DataFrame, column: str) -> pl.Expr:
    """An id or class as text; NaN in a float column is a missing value (pandas writes one so), not "NaN"."""
    text = _as_text(frame, column)
    return pl.when(pl.col(column).is_nan()).then(None).otherwise(text) if frame.schema[column].is_float() else text


def _draw_time(frame: pl.DataFrame, column: str) -> pl.Expr:
    """Seconds since the epoch of each cell of a draw-time column, parsed cell by cell; null where a cell
    is empty or cannot be parsed (the caller quarantines the latter).

    A number is epoch seconds, or milliseconds when the column's numbers are mostly beyond 1e11 (after
    1973 in ms, past year 5000 in s); text that is not a number is a datetime as
    :func:`consensus.read_judgments` reads timestamps (ISO 8601 with or without a zone, MTurk's and
    Appen's forms).
    """
    from consensus.io.judgments import _epoch_us

    dtype = frame.schema[column]
    if dtype.is_temporal():
        return _epoch_us(dtype, column) / 1e6
    num = frame.select(_as_float(frame, column)).to_series()
    finite = num.filter(num.is_finite())
    scale = 1e3 if finite.len() and float(finite.median()) > 1e11 else 1.0  # type: ignore[arg-type]
    number = _as_float(frame, column)
    number = pl.when(number.is_finite()).then(number / scale).otherwise(None)
    if dtype != pl.String:
        return number
    day = pl.col(column).str.strip_chars().str.to_datetime("%Y-%m-%d", strict=False, time_unit="us")
    return pl.coalesce(number, _epoch_us(pl.String, column) / 1e6, day.dt.epoch("us").cast(pl.Float64) / 1e6)


def _seconds_between(frame: pl.DataFrame) -> pl.DataFrame:
    """Per-box seconds from the draw times (``__t``): gap to the same annotator's previous box on the image."""
    frame = frame.with_columns(
        (pl.col("__t") - pl.col("__t").sort().shift(1).over(["image", "worker"], order_by="__t"))
        .alias("duration"))
    return frame.drop("__t")


def _columns_named(conditions: list[pl.Expr], names: tuple[str, ...]) -> pl.Expr:
    """``column 'x1'`` / ``columns 'x1', 'y1'``: the names whose condition holds, for a reason."""
    listed = pl.concat_str([pl.when(c).then(pl.lit(repr(n))) for c, n in zip(conditions, names)],
                           separator=", ", ignore_nulls=True)
    several = pl.sum_horizontal(*(c.cast(pl.Int32) for c in conditions)) > 1
    return pl.concat_str([pl.when(several).then(pl.lit("columns ")).otherwise(pl.lit("column ")), listed])


def _build(raw: pl.DataFrame, name: str, *, box_format: str, normalized: bool | None, image_col: str | None,
           worker_col: str | None, label_col: str | None, coord_cols: tuple[str, str, str, str] | None,
           width_col: str | None, height_col: str | None, duration_col: str | None, time_col: str | None,
           seen: Any, require_rows: bool = True, coord_names: tuple[str, ...] | None = None,
           n_source_rows: int | None = None) -> BoxSet:
    """Validate, quarantine and code box rows; ``require_rows=False`` for one partition of a larger input
    (a partition may hold no usable row; the whole input is checked by its caller). ``coord_names``: how
    reasons name the four coordinates (default: their columns); ``n_source_rows``: rows of the file when
    ``raw`` holds several box records per row (an MTurk batch)."""
    columns = [c for c in raw.columns if c not in (SOURCE_COL, ROW_COL, NOTE_COL)]
    icol = _pick(columns, image_col, IMAGE_NAMES, "image id", name, True)
    wcol = _pick(columns, worker_col, WORKER_NAMES, "annotator id", name, True)
    lcol = _pick(columns, label_col, LABEL_NAMES, "class label", name, False)
    fmt, ccols = _pick_coords(columns, box_format, coord_cols, name)
    wd = _pick(columns, width_col, WIDTH_NAMES, "image width", name, False)
    ht = _pick(columns, height_col, HEIGHT_NAMES, "image height", name, False)
    dcol = _pick(columns, duration_col, DURATION_NAMES, "seconds per box", name, False)
    tcol = None if dcol else _pick(columns, time_col, TIME_NAMES, "draw time", name, False)
    for role, column in (("image id", icol), ("annotator id", wcol), ("class label", lcol), ("image width", wd),
                         ("image height", ht), ("seconds per box", dcol), ("draw time", tcol),
                         *(("box coordinate", c) for c in ccols)):
        check_scalar_columns(raw, [column], role)
    n_rows = raw.height
    exprs = [
        _as_id(raw, icol).alias("image"), _as_id(raw, wcol).alias("worker"),
        (_as_id(raw, lcol) if lcol else pl.lit(DEFAULT_LABEL, dtype=pl.String)).alias("label"),
        *(_as_float(raw, c).alias(f"c{k}") for k, c in enumerate(ccols)),
        (_as_float(raw, wd) if wd else pl.lit(None, dtype=pl.Float64)).alias("image_width"),
        (_as_float(raw, ht) if ht else pl.lit(None, dtype=pl.Float64)).alias("image_height"),
        (_as_float(raw, dcol) if dcol else pl.lit(None, dtype=pl.Float64)).alias("duration"),
        (_draw_time(raw, tcol) if tcol else pl.lit(None, dtype=pl.Float64)).alias("__t"),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("__pos"),
        # a width / height written but not a number ("abc") is quarantined, never read as unknown in silence
        (_as_text(raw, wd).is_not_null() if wd else pl.lit(False)).alias("__width_text"),
        (_as_text(raw, ht).is_not_null() if ht else pl.lit(False)).alias("__height_text"),
    ]
    frame = raw.with_columns(exprs)
    c = [pl.col(f"c{k}") for k in range(4)]
    n_null = pl.sum_horizontal(*(x.is_null().cast(pl.Int32) for x in c))
    raw_coord_blank = pl.sum_horizontal(*(
        (_as_text(raw, col).is_null()).cast(pl.Int32) for col in ccols))
    names = tuple(coord_names) if coord_names is not None else tuple(ccols)
    blank = [_as_text(raw, col).is_null() for col in ccols]
    not_finite = [x.is_null() | ~x.is_finite() for x in c]
    huge = [x.abs() > MAX_COORD for x in c]
    note = pl.col(NOTE_COL) if NOTE_COL in raw.columns else pl.lit(None, dtype=pl.String)

    def written(column: str) -> pl.Expr:
        return _as_text(raw, column).str.slice(0, 40)

    reason = (
        pl.when(note.is_not_null()).then(note)
        .when(pl.col("image").is_null()).then(pl.lit(f"missing image id (column {icol!r})"))
        .when(pl.col("worker").is_null()).then(pl.lit(f"missing annotator id (column {wcol!r})"))
        .when((n_null == 4) & (raw_coord_blank == 4)).then(pl.lit(None, dtype=pl.String))  # empty annotation
        .when(raw_coord_blank > 0)
        .then(pl.concat_str([pl.lit("some box coordinates are empty ("), _columns_named(blank, names), pl.lit(")")]))
        .when(pl.any_horizontal(*not_finite))
        .then(pl.concat_str([pl.lit("box coordinate is not a finite number ("), _columns_named(not_finite, names),
                             pl.lit(")")]))
        .when(pl.any_horizontal(*huge))
        .then(pl.concat_str([pl.lit("box coordinate beyond ±1e15 ("), _columns_named(huge, names),
                             pl.lit("): no image is that large, and its area would lose precision or overflow")]))
        .when(pl.col("label").is_null()).then(pl.lit(f"missing class label (column {lcol!r})"))
        .when(pl.col("__width_text") & pl.col("image_width").is_null())
        .then(pl.lit(f"image width is not a number (column {wd!r})"))
        .when(pl.col("image_width").is_not_null() & ~(pl.col("image_width") > 0))
        .then(pl.lit("image width is not a positive number"))
        .when(pl.col("__height_text") & pl.col("image_height").is_null())
        .then(pl.lit(f"image height is not a number (column {ht!r})"))
        .when(pl.col("image_height").is_not_null() & ~(pl.col("image_height") > 0))
        .then(pl.lit("image height is not a positive number"))
    )
    if dcol:
        reason = reason.when(pl.col("duration").is_null() & _as_text(raw, dcol).is_not_null()).then(
            pl.format("seconds per box '{}' is not a number (column {})", written(dcol), pl.lit(repr(dcol))))
    if tcol:  # each cell on its own: one bad cell must not turn the others' timing off
        reason = reason.when(pl.col("__t").is_null() & _as_text(raw, tcol).is_not_null()).then(
            pl.format("draw time '{}' cannot be parsed as epoch seconds/milliseconds or a datetime (column {})",
                      written(tcol), pl.lit(repr(tcol))))
    reason = reason.otherwise(pl.lit(None, dtype=pl.String))
    frame = frame.with_columns(reason.alias("reason"),
                               ((n_null == 4) & (raw_coord_blank == 4)).alias("__empty"))
    if wd:
        frame = frame.with_columns(pl.when(pl.col("image_width").is_not_null() & ~(pl.col("image_width") > 0))
                                   .then(None).otherwise(pl.col("image_width")).alias("image_width"))
    if ht:
        frame = frame.with_columns(pl.when(pl.col("image_height").is_not_null() & ~(pl.col("image_height") > 0))
                                   .then(None).otherwise(pl.col("image_height")).alias("image_height"))
    empty_rows = frame.filter(pl.col("reason").is_null() & pl.col("__empty"))
    boxes = frame.filter(pl.col("reason").is_null() & ~pl.col("__empty"))
    if fmt == "xywh":
        boxes = boxes.with_columns((pl.col("c0") + pl.col("c2")).alias("c2"), (pl.col("c1") + pl.col("c3")).alias("c3"))
    # exact duplicates (same image, annotator, class and corners): keep the first
    dup = boxes.select(pl.struct("image", "worker", "label", "c0", "c1", "c2", "c3").is_first_distinct()).to_series()
    dup_rows = boxes.filter(~dup).with_columns(
        pl.lit("duplicate box (same annotator, image, class and coordinates)").alias("reason"))
    boxes = boxes.filter(dup)
    if tcol and not dcol:
        boxes = _seconds_between(boxes)
    quarantined = pl.concat([frame.filter(pl.col("reason").is_not_null()), dup_rows], how="vertical")
    # the rows as the input wrote them (role columns were parsed in place: a width "abc" must show as "abc")
    as_written = raw.with_row_index("__pos").with_columns(pl.col("__pos").cast(pl.Int64)).join(
        quarantined.select("__pos", "reason"), on="__pos", how="inner").sort("__pos")
    quarantine = _as_printable(_quarantine_columns(as_written, raw.columns))
    if require_rows and boxes.height == 0 and empty_rows.height == 0:
        raise _nothing_usable(quarantine, name, n_rows, n_source_rows)
    if normalized is None:
        vals = boxes.select(pl.min_horizontal(*c).min().alias("lo"), pl.max_horizontal(*c).max().alias("hi"))
        lo, hi = vals.row(0)
        normalized = bool(boxes.height and lo is not None and lo >= -0.5 and hi <= 1.5)
    seen_frame = _read_seen(seen) if seen is not None else None
    return _encode(boxes, empty_rows, seen_frame, fmt, normalized, name, n_rows, quarantine, n_source_rows)


def _nothing_usable(quarantine: pl.DataFrame, name: str, n_rows: int, n_source_rows: int | None) -> InputError:
    """The error when every row was quarantined: how many, the commonest reasons, the rows; the
    quarantine rides along (``.quarantine``) so the CLI can write it before it stops."""
    counts = quarantine.group_by("reason").len().sort(["len", "reason"], descending=[True, False])
    top = [f"{reason}: {count} {'row' if count == 1 else 'rows'}" for reason, count in counts.head(3).iter_rows()]
    rest = counts.height - len(top)
    what = f"all {n_rows} rows" if n_source_rows is None else f"all {n_rows} box records (from {n_source_rows} rows)"
    one_file = quarantine.get_column("source").n_unique() == 1
    rows = quarantine.get_column("row").unique(maintain_order=True).to_list() if one_file else None
    more = f"; {rest} other reason{'s' if rest != 1 else ''}" if rest > 0 else ""
    exc = InputError(f"no usable boxes: {what} were quarantined ({'; '.join(top)}{more})", source=name, rows=rows)
    exc.quarantine = quarantine  # type: ignore[attr-defined]
    return exc


def _quarantine_columns(rows: pl.DataFrame, raw_columns: list[str]) -> pl.DataFrame:
    """Quarantined rows as ``source``, ``row`` (as the judgments' quarantine), the input's columns, ``reason``.

    An input column that is itself called ``source``, ``row`` or ``reason`` is kept as ``input_<name>``.
    """
    data = [c for c in raw_columns if c not in (SOURCE_COL, ROW_COL, NOTE_COL)]
    return rows.select(pl.col(SOURCE_COL).alias("source"), pl.col(ROW_COL).alias("row"),
                       *(pl.col(c).alias(f"input_{c}" if c in ("source", "row", "reason") else c) for c in data),
                       "reason")


def _as_printable(frame: pl.DataFrame) -> pl.DataFrame:
    """Unused columns holding lists, records or bytes as text, so the quarantine can be written as CSV."""
    def text(value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, bytes):
            return value.decode("utf-8", "backslashreplace")
        return json.dumps(value, default=str, ensure_ascii=False)

    odd = [c for c, dtype in frame.schema.items() if dtype.is_nested() or dtype in (pl.Binary, pl.Object)]
    return frame.with_columns(pl.Series(c, [text(v) for v in frame.get_column(c).to_list()], dtype=pl.String)
                              for c in odd) if odd else frame


def _read_seen(seen: Any) -> pl.DataFrame:
    name = describe_source(seen)
    raw = read_table(seen)
    columns = [c for c in raw.columns if c not in (SOURCE_COL, ROW_COL)]
    icol = _pick(columns, None, IMAGE_NAMES, "image id", name, True)
    wcol = _pick(columns, None, WORKER_NAMES, "annotator id", name, True)
    check_scalar_columns(raw, [icol], "image id")
    check_scalar_columns(raw, [wcol], "annotator id")
    frame = raw.select(_as_id(raw, icol).alias("image"), _as_id(raw, wcol).alias("worker"))
    bad = frame.select(pl.col("image").is_null() | pl.col("worker").is_null()).to_series()
    if bad.any():
        rows = (np.flatnonzero(bad.to_numpy()) + 1).tolist()
        raise InputError("missing image or annotator id in the table of shown pairs", source=name, rows=rows)
    return frame


def _codes(values: pl.Series, ids: list[str]) -> np.ndarray:
    table = pl.DataFrame({"v": pl.Series(ids, dtype=pl.String),
                          "code": pl.int_range(len(ids), dtype=pl.Int32, eager=True)})
    joined = pl.DataFrame({"v": values}).join(table, on="v", how="left", maintain_order="left")
    return joined.get_column("code").to_numpy()


def _encode(boxes: pl.DataFrame, empty_rows: pl.DataFrame, seen: pl.DataFrame | None, fmt: str,
            normalized: bool, name: str, n_rows: int, quarantine: pl.DataFrame,
            n_source_rows: int | None = None) -> BoxSet:
    pairs = [boxes.select("image", "worker"), empty_rows.select("image", "worker")]
    if seen is not None:
        pairs.append(seen)
    pairs_frame = pl.concat(pairs, how="vertical").unique()
    image_ids = natural_sort(pairs_frame.get_column("image").unique().to_list())
    worker_ids = natural_sort(pairs_frame.get_column("worker").unique().to_list())
    classes = natural_sort(boxes.get_column("label").unique().to_list())
    coded = boxes.with_columns(
        pl.Series("ic", _codes(boxes.get_column("image"), image_ids)),
        pl.Series("wc", _codes(boxes.get_column("worker"), worker_ids)),
        pl.Series("lc", _codes(boxes.get_column("label"), classes)),
    ).sort(["ic", "wc", "c0", "c1", "c2", "c3", "lc"])
    pair_codes = np.stack([_codes(pairs_frame.get_column("image"), image_ids),
                           _codes(pairs_frame.get_column("worker"), worker_ids)])
    order = np.lexsort((pair_codes[1], pair_codes[0]))
    n_images = len(image_ids)
    width = np.full(n_images, np.nan)
    height = np.full(n_images, np.nan)
    sizes = pl.concat([boxes.select("image", "image_width", "image_height"),
                       empty_rows.select("image", "image_width", "image_height")]) \
        .group_by("image").agg(pl.col("image_width").max(), pl.col("image_height").max())
    codes = _codes(sizes.get_column("image"), image_ids)
    width[codes] = sizes.get_column("image_width").fill_null(np.nan).to_numpy()
    height[codes] = sizes.get_column("image_height").fill_null(np.nan).to_numpy()
    if normalized:
        width[:] = 1.0
        height[:] = 1.0
    coords = coded.select("c0", "c1", "c2", "c3").to_numpy().astype(np.float64)
    return BoxSet(
        coded.get_column("ic").to_numpy(), coded.get_column("wc").to_numpy(), coded.get_column("lc").to_numpy(),
        coords, pl.Series("image", image_ids, dtype=pl.String), pl.Series("worker", worker_ids, dtype=pl.String),
        classes, pair_codes[0][order], pair_codes[1][order], image_width=width, image_height=height,
        duration=coded.get_column("duration").fill_null(np.nan).to_numpy().astype(np.float64),
        box_format=fmt, normalized=normalized, input_row=coded.get_column("__pos").to_numpy(),
        n_input_rows=n_rows, n_empty=empty_rows.height, quarantine=quarantine, source=name,
        n_source_rows=n_source_rows)


# -- MTurk crowd-bounding-box batch CSV --------------------------------------------------------------
#: MTurk's bounding-box template answers in ``Answer.<name>.boundingBoxes``: a JSON list of
#: ``{"left", "top", "width", "height", "label"}`` in pixels, one list per assignment.
MTURK_BOXES_SUFFIX = ".boundingBoxes"
#: The image size the template records next to it (``...inputImageProperties.width`` / ``.height``).
MTURK_SIZE_SUFFIX = "inputImageProperties."


def _mturk_box_column(columns: list[str]) -> str | None:
    return next((c for c in columns if c.startswith("Answer.") and c.endswith(MTURK_BOXES_SUFFIX)), None)


def _mturk_image_column(raw: pl.DataFrame, given: str | None, source: str) -> str:
    """The image id: ``given``, else ``Input.image_url`` when it names one image per HIT, else ``HITId``.

    The template shows one image per HIT; a requester may hide the URL (the column then holds the
    same placeholder on every row), so the HIT id is the fallback.
    """
    if given is not None:
        if given not in raw.columns:
            raise InputError(f"no column {given!r} (the image id); columns are {_show(raw.columns)}", source=source)
        return given
    if "HITId" not in raw.columns:
        raise InputError("an MTurk bounding-box batch needs the HITId column (or name the image column with "
                         "--image-col)", source=source)
    url = next((c for c in raw.columns if c.lower() == "input.image_url"), None)
    if url is not None:
        pairs = raw.select(pl.col("HITId"), pl.col(url)).unique()
        if pairs.get_column(url).n_unique() == pairs.get_column("HITId").n_unique() == pairs.height:
            return url
    return "HITId"


def _mturk_rows(raw: pl.DataFrame, answer: str, image_col: str | None, worker_col: str | None,
                source: str) -> pl.DataFrame:
    """One row per drawn box, per unusable box (quarantined) and per assignment that drew nothing.

    Each keeps the batch file and data row of its assignment (``__source``, ``__row``), so the
    quarantine points at the assignment. Seconds per box: ``WorkTimeInSeconds`` over the boxes drawn.
    """
    icol = _mturk_image_column(raw, image_col, source)
    wcol = worker_col or "WorkerId"
    if wcol not in raw.columns:
        raise InputError(f"no annotator column {wcol!r} in an MTurk bounding-box batch; name it with "
                         "--worker-col", source=source)
    prefix = answer[: -len(MTURK_BOXES_SUFFIX)]
    size = {side: next((c for c in raw.columns if c.startswith(prefix) and c.endswith(MTURK_SIZE_SUFFIX + side)),
                       None) for side in ("width", "height")}
    check_scalar_columns(raw, [icol, wcol, answer, size["width"], size["height"]], "MTurk batch column")
    picked = {"image": icol, "worker": wcol, "answer": answer, "width": size["width"],
              "height": size["height"], "seconds": "WorkTimeInSeconds" if "WorkTimeInSeconds" in raw.columns else None,
              "status": MTURK_STATUS_COL if MTURK_STATUS_COL in raw.columns else None}
    rows = raw.select([SOURCE_COL, ROW_COL] + [(pl.col(c).cast(pl.String) if c else pl.lit(None, dtype=pl.String))
                                               .alias(k) for k, c in picked.items()])
    records: list[dict[str, Any]] = []
    for row in rows.iter_rows(named=True):
        # each record keeps its answer as written: the assignment's whole list, or the one box of it
        base = {**_EMPTY_RECORD, "image": row["image"], "worker": row["worker"],
                "image_width": _num(row["width"]), "image_height": _num(row["height"]),
                answer: row["answer"], SOURCE_COL: row[SOURCE_COL], ROW_COL: row[ROW_COL]}
        missing = ("image", icol) if row["image"] is None else ("annotator", wcol) if row["worker"] is None else None
        if missing is not None:  # named by the batch's own column, not this reader's
            records.append({**base, NOTE_COL: f"missing {missing[0]} id (column {missing[1]!r})"})
            continue
        if (row["status"] or "").strip().lower() == "rejected":  # as read_judgments (rejected="quarantine")
            records.append({**base, NOTE_COL: f"assignment rejected by the requester ({MTURK_STATUS_COL} = Rejected)"})
            continue
        try:
            boxes = json.loads(row["answer"]) if row["answer"] is not None else None
        except (json.JSONDecodeError, RecursionError):
            records.append({**base, NOTE_COL: f"{answer} is not valid JSON"})
            continue
        if not isinstance(boxes, list):
            records.append({**base, NOTE_COL: f"{answer} is not a JSON list of boxes"})
            continue
        if not boxes:
            records.append(base)  # saw the image, drew nothing
            continue
        seconds = _num(row["seconds"])
        n_drawn = sum(isinstance(box, dict) for box in boxes)
        per_box = seconds / n_drawn if seconds is not None and seconds >= 0 and n_drawn else None
        for box in boxes:
            one = {**base, answer: json.dumps(box, ensure_ascii=False)}
            if not isinstance(box, dict):
                records.append({**one, NOTE_COL: "a box is not a JSON object"})
                continue
            x, y, w, h = (_num(box.get(k)) for k in ("left", "top", "width", "height"))
            label = box.get("label")
            note = ("box label is not a number or text" if not _is_scalar(label) else
                    None if None not in (x, y, w, h) else "box lacks a number among left, top, width, height")
            records.append({**one, "label": DEFAULT_LABEL if label is None or not _is_scalar(label) else _text(label),
                            "x": x, "y": y, "w": w, "h": h, "duration": per_box, NOTE_COL: note})
    return _records_frame(records, source, (answer,))


# -- COCO and Label Studio JSON -----------------------------------------------------------------
#: How quarantine reasons name the coordinates of a COCO annotation and a Label Studio rectangle.
COCO_COORDS = ("bbox[0]", "bbox[1]", "bbox[2]", "bbox[3]")
LABEL_STUDIO_COORDS = ("value.x", "value.y", "value.width", "value.height")


def _read_special_json(source: Any,
                       annotator_field: str | None) -> tuple[pl.DataFrame, str, bool, tuple[str, ...]] | None:
    if not isinstance(source, (str, os.PathLike, list, tuple)):
        return None
    paths = expand_paths(source)
    json_paths = [p for p in paths if p.suffix.lower() == ".json"]
    if len(paths) > 1:
        for path in json_paths:
            kind = _special_kind(_load_json(path))
            if kind is not None:
                raise InputError(f"is a {kind} file; {kind} files are read one at a time, "
                                 "not together with other inputs", source=str(path))
        return None
    if not json_paths:
        return None
    path = json_paths[0]
    doc = _load_json(path)
    kind = _special_kind(doc)
    if kind == "COCO":
        return _coco_rows(doc, str(path), annotator_field), "xywh", False, COCO_COORDS
    if kind == "Label Studio":
        return (*_label_studio_rows(doc, str(path)), LABEL_STUDIO_COORDS)
    return None


def _load_json(path: Any) -> Any:
    try:
        with open(path, encoding="utf-8-sig") as handle:
            return json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"cannot be read as JSON: {exc}", source=str(path)) from None


def _special_kind(doc: Any) -> str | None:
    if isinstance(doc, dict) and "annotations" in doc:  # "images" only adds file names and sizes
        return "COCO"
    if isinstance(doc, list) and doc and isinstance(doc[0], dict) and "data" in doc[0] \
            and ("annotations" in doc[0] or "completions" in doc[0]):
        return "Label Studio"
    return None


def _text(value: Any) -> str | None:
    """An id as text; ``None`` when missing or not a number, text or user record."""
    if value is None or isinstance(value, list):
        return None
    if isinstance(value, dict):
        for key in ("email", "id", "name", "username"):
            if value.get(key) is not None and not isinstance(value[key], (dict, list)):
                return str(value[key])
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float))


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        out = float(value)
    except (ValueError, OverflowError):  # "abc"; an integer beyond the float range
        return None
    return out


_RECORD_SCHEMA = {"image": pl.String, "worker": pl.String, "label": pl.String, "x": pl.Float64, "y": pl.Float64,
                  "w": pl.Float64, "h": pl.Float64, "image_width": pl.Float64, "image_height": pl.Float64,
                  "duration": pl.Float64, NOTE_COL: pl.String}


def _frame(records: list[dict[str, Any]], source: str) -> pl.DataFrame:
    """Box records of one JSON file, numbered 1.. in order (their ``__row``)."""
    if not records:
        raise InputError("holds no annotations", source=source)
    frame = pl.DataFrame(records, schema=_RECORD_SCHEMA, orient="row")
    return frame.with_columns(pl.lit(source, dtype=pl.String).alias(SOURCE_COL),
                              pl.int_range(1, frame.height + 1, dtype=pl.Int64).alias(ROW_COL))


def _records_frame(records: list[dict[str, Any]], source: str, extra: tuple[str, ...] = ()) -> pl.DataFrame:
    """Box records that carry their own ``__source`` and ``__row`` (several may share a row), and the
    text columns ``extra``."""
    if not records:
        raise InputError("holds no assignments", source=source)
    schema = {**_RECORD_SCHEMA, **{c: pl.String for c in extra}, SOURCE_COL: pl.String, ROW_COL: pl.Int64}
    return pl.DataFrame(records, schema=schema, orient="row")


def _list_field(doc: dict[str, Any], key: str, source: str, where: str = "", required: bool = False) -> list[Any]:
    """``doc[key]`` when it is a list; [] when absent (unless required); an error naming it otherwise."""
    value = doc.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise InputError(f"{where}{key!r} must be a list; got {type(value).__name__}", source=source)
    return value


_EMPTY_RECORD = {"image": None, "worker": None, "label": DEFAULT_LABEL, "x": None, "y": None, "w": None, "h": None,
                 "image_width": None, "image_height": None, "duration": None, NOTE_COL: None}


def _coco_rows(doc: dict[str, Any], source: str, annotator_field: str | None) -> pl.DataFrame:
    """One row per element of ``annotations`` (an element that is not an object is quarantined)."""
    images = {img.get("id"): img for img in _list_field(doc, "images", source)
              if isinstance(img, dict) and _is_scalar(img.get("id"))}
    image_names = _coco_image_names(images)
    cats = {c.get("id"): c.get("name") for c in _list_field(doc, "categories", source)
            if isinstance(c, dict) and _is_scalar(c.get("id"))}
    entries = _list_field(doc, "annotations", source, required=True)
    anns = [a for a in entries if isinstance(a, dict)]
    field = annotator_field
    if field is None:
        present = {k for a in anns[:1000] for k in a}
        field = next((f for f in COCO_ANNOTATOR_FIELDS if f in present), None)
        if field is None:
            raise InputError("COCO annotations have no annotator field (tried "
                             f"{', '.join(COCO_ANNOTATOR_FIELDS)}); name it with annotator_field / "
                             "--annotator-field", source=source)
    # a file that names categories (or whose annotations carry them) gives every box one
    has_classes = bool(cats) or any("category_id" in a for a in anns)
    records = []
    for ann in entries:
        if not isinstance(ann, dict):
            records.append({**_EMPTY_RECORD, NOTE_COL: "annotation is not a JSON object"})
            continue
        image_id, cat = ann.get("image_id"), ann.get("category_id")
        img = images.get(image_id, {}) if _is_scalar(image_id) else {}
        bbox = ann.get("bbox")
        is_box = isinstance(bbox, list) and len(bbox) == 4
        xywh = [_num(v) for v in bbox] if is_box else [None] * 4
        label = cats.get(cat, None if cat is None else str(cat)) if _is_scalar(cat) else None
        name = image_names.get(image_id, image_id) if img else image_id
        # a bbox without numbers is bad, never "drew nothing": a COCO annotation always holds a box
        note = ("image_id is not a number or text" if not _is_scalar(image_id) else
                "missing image id (COCO annotation field 'image_id')" if image_id is None else
                f"missing annotator id (COCO annotation field {field!r})" if ann.get(field) is None else
                "category_id is not a number or text" if not _is_scalar(cat) else
                # a file that lists its images / categories names every one its boxes use
                f"image_id {image_id!r} is not in the file's 'images' list" if images and image_id not in images else
                f"category_id {cat!r} is not in the file's 'categories' list"
                if cats and cat is not None and cat not in cats else
                "bbox is not a list of 4 numbers" if not is_box or None in xywh else
                # as a CSV with a class column and an empty cell (one class "object" only without classes)
                "missing class (COCO annotation field 'category_id')" if cat is None and has_classes else None)
        records.append({
            "image": _text(name) if _is_scalar(name) else _text(image_id),
            "worker": _text(ann.get(field)),
            "label": _text(label) if label is not None else None if has_classes else DEFAULT_LABEL,
            "x": xywh[0], "y": xywh[1], "w": xywh[2], "h": xywh[3],
            "image_width": _num(img.get("width")), "image_height": _num(img.get("height")),
            "duration": None, NOTE_COL: note})
    return _frame(records, source)


def _coco_image_names(images: dict[Any, dict[str, Any]]) -> dict[Any, str | None]:
    """The name of each COCO image in the outputs: its ``file_name`` (else its id); when several images
    (different ids) share one, each becomes ``file_name (id N)``, so they stay different images."""
    base = {}
    for image_id, img in images.items():
        file_name = img.get("file_name")
        base[image_id] = _text(file_name) if file_name is not None and _is_scalar(file_name) else _text(image_id)
    uses: dict[str | None, int] = {}
    for text in base.values():
        uses[text] = uses.get(text, 0) + 1
    return {image_id: f"{text} (id {_text(image_id)})" if uses[text] > 1 else text
            for image_id, text in base.items()}


#: Label Studio result types that are regions drawn on the image (not boxes this reader can use).
_LS_REGION_TYPES = ("polygonlabels", "polygon", "keypointlabels", "keypoint", "brushlabels", "brush",
                    "ellipselabels", "ellipse")


def _label_studio_rows(tasks: list[Any], source: str) -> tuple[pl.DataFrame, str, bool]:
    """One row per rectangle, per other result (quarantined) and per annotation that drew nothing."""
    records: list[dict[str, Any]] = []
    any_unscaled = False
    for number, task in enumerate(tasks, start=1):
        if not isinstance(task, dict):
            raise InputError(f"task {number} is not a JSON object (a Label Studio export is a list of tasks)",
                             source=source)
        image = _text(_label_studio_image(task.get("data")) or task.get("id"))
        key = "annotations" if "annotations" in task else "completions"
        for ann in _list_field(task, key, source, f"task {number}: "):
            if not isinstance(ann, dict):
                raise InputError(f"task {number}: every element of {key!r} must be a JSON object; "
                                 f"got {type(ann).__name__}", source=source)
            worker = _text(ann.get("completed_by"))
            results = _list_field(ann, "result", source, f"task {number}, annotation by {worker}: ")
            is_rect = [isinstance(r, dict) and r.get("type") in ("rectanglelabels", "rectangle") for r in results]
            rects = [r for r, ok in zip(results, is_rect) if ok]
            others = [r for r, ok in zip(results, is_rect) if not ok]
            lead = _num(ann.get("lead_time"))
            per_box = lead / len(rects) if lead is not None and rects else None
            base = {**_EMPTY_RECORD, "image": image, "worker": worker}
            if worker is None:
                records.append({**base, NOTE_COL: "missing annotator id (Label Studio annotation field 'completed_by')"})
                continue
            if ann.get("was_cancelled"):
                records.append({**base, NOTE_COL: "cancelled annotation (was_cancelled)"})
                continue
            for r in others:
                kind = r.get("type") if isinstance(r, dict) else None
                records.append({**base, NOTE_COL: f"result type {kind!r} is not a rectangle (rectanglelabels)"
                                if kind is not None else "result is not a JSON object with a 'type'"})
            drew_other = any(isinstance(r, dict) and r.get("type") in _LS_REGION_TYPES for r in others)
            if not rects and not drew_other:
                records.append(base)  # saw the image, drew nothing
                continue
            for r in rects:
                v = r.get("value")
                if not isinstance(v, dict):
                    records.append({**base, NOTE_COL: "rectangle 'value' is not a JSON object"})
                    continue
                ow, oh = _num(r.get("original_width")), _num(r.get("original_height"))
                ow, oh = (ow, oh) if ow and oh else (None, None)
                labels = v.get("rectanglelabels")
                labels = [labels] if isinstance(labels, str) else labels if isinstance(labels, list) else []
                if len(labels) > 1:  # one box, several classes: which one is meant is not ours to pick
                    records.append({**base, "label": ";".join(map(str, labels)),
                                    NOTE_COL: "several labels on one rectangle (value.rectanglelabels)"})
                    continue
                label = _text(labels[0]) if labels else (DEFAULT_LABEL if r.get("type") == "rectangle" else None)
                rot = _num(v.get("rotation")) or 0.0
                x, y, w, h = (_num(v.get(k)) for k in ("x", "y", "width", "height"))
                if None in (x, y, w, h):  # a rectangle without its numbers is bad, never "drew nothing"
                    records.append({**base, "label": label, NOTE_COL: "rectangle lacks a number among "
                                    "value.x, value.y, value.width, value.height"})
                    continue
                any_unscaled |= ow is None
                records.append({**base, "label": label, "x": x, "y": y, "w": w, "h": h,  # percent, scaled below
                                "image_width": ow, "image_height": oh, "duration": per_box,
                                NOTE_COL: "rotated rectangle (rotation != 0) cannot be an axis-aligned box" if rot and not math.isclose(rot, 0.0) else None})
    # Label Studio stores percents of the image. Pixels when every rectangle carries its image size;
    # otherwise every box stays a share of its image (one unit for the whole file: a box in pixels and
    # the same box as a share would never match).
    for record in records:
        if record.get("x") is None:
            continue
        if any_unscaled:
            sx = sy = 0.01
            record["image_width"] = record["image_height"] = None
        else:
            sx, sy = record["image_width"] / 100.0, record["image_height"] / 100.0
        record.update(x=record["x"] * sx, y=record["y"] * sy, w=record["w"] * sx, h=record["h"] * sy)
    frame = _frame(records, source)
    return frame, "xywh", any_unscaled


#: Keys of a Label Studio task's ``data`` that name its image, in order of preference.
_LS_IMAGE_KEYS = ("image", "img", "image_url", "url", "file", "file_name", "filename", "path")


def _label_studio_image(data: Any) -> str | None:
    """The image a task's ``data`` names: a usual image key, else the one text value that looks like a path or URL.

    ``None`` (the caller uses the task id) when there is no such value or several: another text field
    (a batch name, say) must never stand in for the image, or tasks sharing it would merge.
    """
    if not isinstance(data, dict):
        return None
    lowered = {str(k).lower(): v for k, v in data.items()}
    for key in _LS_IMAGE_KEYS:
        if isinstance(lowered.get(key), str) and lowered[key].strip():
            return lowered[key]
    paths = [v for v in data.values() if isinstance(v, str) and ("/" in v or "\\" in v or "." in v.strip()[-5:])]
    return paths[0] if len(paths) == 1 else None
