"""Turn a raw delivery into a validated :class:`~consensus.data.Judgments`.

Row accounting is exact: every input row is either used (a judgment, possibly
an abstention) or quarantined with a reason, and
``n_input_rows == n_judgments + n_quarantined``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import polars as pl

from consensus.data import Judgments
from consensus.errors import InputError, ParameterError
from consensus.io.columns import MTURK_STATUS_COL, ColumnMap, _detect, _show, one_hot_columns
from consensus.io.readers import ROW_COL, SOURCE_COL, Source, check_scalar_columns, describe_source, read_table

#: Answers that mean "can't tell"; compared after stripping and lower-casing.
DEFAULT_NA_LABELS: tuple[str, ...] = ("", "n/a", "na", "cant_tell", "can't tell", "cannot tell")

DUPLICATE_POLICIES = ("first", "last", "error")
REJECTED_POLICIES = ("quarantine", "keep")
#: Role-table column: the row's MTurk assignment was rejected (present only for MTurk batches).
REJECTED_COL = "__rejected"

#: Column of a gold frame naming the input column each gold label came from (for messages).
GOLD_COLUMN_COL = "__column"

#: Marks a one-hot radio group row with several options chosen (a NUL byte: never in exported text).
SEVERAL = "\x00"

_QUARANTINE_SCHEMA = {
    "source": pl.String, "row": pl.Int64, "item": pl.String, "worker": pl.String,
    "label": pl.String, "reason": pl.String,
}
_GOLD_QUARANTINE_SCHEMA = {
    "source": pl.String, "row": pl.Int64, "item": pl.String, "label": pl.String, "reason": pl.String,
}
_MTURK_TIME = re.compile(r"^(\w{3} \w{3} +\d{1,2} \d{2}:\d{2}:\d{2}) ([A-Z]{1,5}) (\d{4})$")


def read_judgments(
    source: Source,
    *,
    item_col: str | None = None,
    worker_col: str | None = None,
    label_col: str | None = None,
    duration_col: str | None = None,
    start_col: str | None = None,
    submit_col: str | None = None,
    gold_col: str | None = None,
    gold: Source | None = None,
    gold_item_col: str | None = None,
    gold_label_col: str | None = None,
    na_labels: Iterable[str] | None = DEFAULT_NA_LABELS,
    classes: Sequence[str] | None = None,
    duplicates: str = "first",
    rejected: str = "quarantine",
) -> Judgments:
    """Read, validate and integer-code a delivery.

    Parameters
    ----------
    source : path, glob, list of paths, polars or pandas DataFrame
        One row per judgment. See :func:`consensus.io.readers.read_table`.
    item_col, worker_col, label_col : str, optional
        Column names; detected from common export formats when omitted.
        ``label_col`` may name an MTurk one-hot group (``Answer.q``).
    duration_col : str, optional
        Seconds per judgment. When absent, ``submit - start`` is used if both
        timestamp columns are present.
    start_col, submit_col : str, optional
        Start and submission timestamps (ISO 8601, MTurk's
        ``Wed Jun 19 14:00:32 PDT 2019``, or epoch seconds).
    gold_col : str, optional
        In-file gold answers (Toloka ``GOLDEN:*``); empty on non-gold rows.
    gold : path or frame, optional
        A separate gold file with an item and a label column.
    gold_item_col, gold_label_col : str, optional
        Column names in the gold file; detected when omitted.
    na_labels : iterable of str, optional
        Answers that mean "can't tell" (case-insensitive, whitespace stripped).
        They are kept as abstentions (label code -1), never as a class.
    classes : sequence of str, optional
        The declared class list, in the order outputs should use. Labels
        outside it are quarantined. When omitted, the classes are the labels
        seen, sorted numerically when all are numbers.
    duplicates : {"first", "last", "error"}
        What to do with repeated (item, worker) judgments: keep the first or
        the last and quarantine the others, or raise.
    rejected : {"quarantine", "keep"}
        MTurk batches (an ``AssignmentStatus`` column): judgments of assignments
        the requester rejected are quarantined (the default: the requester
        already judged them unusable, and a resubmission by the same worker then
        counts as theirs), or kept like any other.

    Returns
    -------
    Judgments

    Raises
    ------
    InputError
        A file is missing or empty, a required column is missing, no row is
        usable, duplicates are found with ``duplicates="error"``, or the gold
        file names classes the delivery does not have.
    """
    if duplicates not in DUPLICATE_POLICIES:
        raise ParameterError(
            f"The 'duplicates' parameter of read_judgments must be one of {DUPLICATE_POLICIES}. "
            f"Got {duplicates!r} instead."
        )
    if rejected not in REJECTED_POLICIES:
        raise ParameterError(
            f"The 'rejected' parameter of read_judgments must be one of {REJECTED_POLICIES}. "
            f"Got {rejected!r} instead."
        )
    name = describe_source(source)
    na_set = sorted({str(v).strip().lower() for v in (na_labels or ())})
    declared = [str(c) for c in classes] if classes is not None else None
    if declared is not None and len(set(declared)) != len(declared):
        raise ParameterError("The 'classes' parameter of read_judgments must not repeat a class.")
    # integer ids in Parquet or a polars frame: the O(n) path, same result (consensus.io.fast)
    from consensus.io.fast import read_judgments_fast

    fast = read_judgments_fast(source, cmap_args=dict(
        item=item_col, worker=worker_col, label=label_col, duration=duration_col, started=start_col,
        submitted=submit_col, gold=gold_col), na_set=na_set, declared=declared, duplicates=duplicates)
    if fast is not None:
        if gold is not None:
            _attach_gold(fast, _read_gold_table(gold, gold_item_col, gold_label_col), na_set)
        return fast
    raw = read_table(source)
    cmap = ColumnMap(item_col, worker_col, label_col, duration_col, start_col,
                     submit_col, gold_col).resolved(raw.columns, name)
    check_role_columns(raw, cmap)

    frame = _select_roles(raw, cmap)
    frame = frame.with_columns(_reason_expr(cmap, na_set, declared).alias("reason"))
    if rejected == "quarantine":
        frame = _mark_rejected(frame)
    frame = _mark_duplicates(frame, duplicates, cmap)

    several = pl.col("label").str.starts_with(SEVERAL)
    quarantined = frame.filter(pl.col("reason").is_not_null()).with_columns(  # the options as ticked
        pl.when(several).then(pl.col("label").str.strip_prefix(SEVERAL + ";")).otherwise(pl.col("label"))
        .alias("label"))
    used = frame.filter(pl.col("reason").is_null())
    if used.height == 0:
        reasons = quarantined.get_column("reason").unique(maintain_order=True).head(3).to_list()
        raise InputError(
            f"no usable judgments: all {frame.height} rows were quarantined ({'; '.join(reasons)})",
            source=name,
        )
    used = used.with_columns(
        pl.when(pl.col("label").is_null() | pl.col("label").str.to_lowercase().is_in(na_set))
        .then(None).otherwise(pl.col("label")).alias("label")
    )
    class_names = _class_list(used.get_column("label"), declared)
    if not class_names:
        raise InputError(
            "every judgment is an abstention (n/a); there is no class to aggregate", source=name
        )
    judgments = _encode(used, class_names, cmap, name, raw.height, _quarantine_table(quarantined))
    # where each input file starts in the concatenated input: input_row -> (file, row) as in errors
    starts = frame.filter(pl.col(ROW_COL) == 1).select(pl.col(SOURCE_COL), pl.col("__pos"))
    judgments.input_files = pl.DataFrame({"source": starts.get_column(SOURCE_COL).cast(pl.String),
                                          "first_row": starts.get_column("__pos").cast(pl.Int64)})

    gold_frames = []
    if cmap.gold is not None:
        gold_frames.append(
            frame.select(pl.col(SOURCE_COL), pl.col(ROW_COL), pl.col("item").cast(pl.String),
                         pl.col("gold").alias("label"), pl.lit(cmap.gold).alias(GOLD_COLUMN_COL))
            .filter(pl.col("label").is_not_null() & (pl.col("label") != ""))
        )
    if gold is not None:
        gold_frames.append(_read_gold_table(gold, gold_item_col, gold_label_col))
    if gold_frames:
        _attach_gold(judgments, pl.concat(gold_frames, how="vertical_relaxed"), na_set)
    return judgments


# -- columns ------------------------------------------------------------------------------

def check_role_columns(raw: pl.DataFrame, cmap: ColumnMap) -> None:
    """Raise :class:`InputError` when a column ``cmap`` uses holds lists, records or bytes."""
    for role, column in cmap.as_dict().items():
        group = one_hot_columns(raw.columns, column) if role == "label" and column is not None else []
        check_scalar_columns(raw, group or [column], role)


def _select_roles(raw: pl.DataFrame, cmap: ColumnMap) -> pl.DataFrame:
    def ids(column: str) -> pl.Expr:  # a NaN id in a float column is a missing id, not the id "NaN"
        return pl.col(column).fill_nan(None) if raw.schema[column].is_float() else pl.col(column)

    exprs = [
        ids(cmap.item).alias("item"),
        ids(cmap.worker).alias("worker"),
        _label_expr(raw.columns, cmap.label, raw.schema.get(cmap.label)).alias("label"),  # type: ignore[arg-type]
        pl.col(SOURCE_COL),
        pl.col(ROW_COL),
    ]
    for role in ("duration", "started", "submitted"):
        column = getattr(cmap, role)
        if column is not None:
            exprs.append(pl.col(column).alias(f"{role}_raw"))
    if cmap.gold is not None:
        exprs.append(_as_text(pl.col(cmap.gold), raw.schema[cmap.gold]).alias("gold"))
    if MTURK_STATUS_COL in raw.columns:
        status = pl.col(MTURK_STATUS_COL).cast(pl.String).str.strip_chars().str.to_lowercase()
        exprs.append(status.eq("rejected").fill_null(False).alias(REJECTED_COL))
    frame = raw.select(exprs)
    if cmap.duration is not None:
        frame = frame.with_columns(_as_seconds(frame.schema["duration_raw"], "duration_raw").alias("duration"))
    elif cmap.started is not None and cmap.submitted is not None:
        # a difference of whole microseconds, turned into seconds by numpy in _encode (polars
        # divides long columns by multiplying with 1e-6: 58225000 us would be 58.224999999999994 s)
        micros = (_epoch_us(frame.schema["submitted_raw"], "submitted_raw")
                  - _epoch_us(frame.schema["started_raw"], "started_raw"))
        frame = frame.with_columns(micros.alias("duration_us"), (micros / 1e6).alias("duration"))
    for role in ("started", "submitted"):
        if getattr(cmap, role) is not None:
            micros = _epoch_us(frame.schema[f"{role}_raw"], f"{role}_raw")
            frame = frame.with_columns(micros.alias(f"{role}_us"), (micros / 1e6).alias(role))
    return frame.with_row_index("__pos")


def _as_text(column: pl.Expr, dtype: pl.DataType | None) -> pl.Expr:
    """Stripped text of a label column; empty text becomes null (no answer).

    Whole numbers stored as floats (pandas turns an integer column with a
    missing value into float) are written without ``.0`` so they match
    ``--classes 0,1`` and a gold file.
    """
    if dtype is not None and dtype.is_float():
        whole = (column == column.round(0)) & (column.abs() < 2.0**53)
        column = pl.when(column.is_nan()).then(None) \
            .when(whole).then(column.cast(pl.Int64, strict=False).cast(pl.String)) \
            .otherwise(column.cast(pl.String))
    text = column.cast(pl.String).str.strip_chars()
    return pl.when(text == "").then(None).otherwise(text)


def _label_expr(columns: list[str], label: str, dtype: pl.DataType | None = None) -> pl.Expr:
    group = one_hot_columns(columns, label)
    if not group:
        return _as_text(pl.col(label), dtype)
    # One-hot radio group: the option whose column is true; null when none or several are.
    truthy = [pl.col(c).cast(pl.String).str.strip_chars().str.to_lowercase().is_in(["true", "1", "yes", "on"])
              for c in group]
    n_true = pl.sum_horizontal([t.cast(pl.Int32) for t in truthy])
    chosen = pl.coalesce([pl.when(t).then(pl.lit(c[len(label) + 1:])) for t, c in zip(truthy, group)])
    # several chosen: the options as written, behind a NUL marker no exported text holds (stripped in the quarantine)
    several = pl.concat_str([pl.lit(SEVERAL)] + [pl.when(t).then(pl.lit(";" + c[len(label) + 1:]))
                                                 for t, c in zip(truthy, group)], ignore_nulls=True)
    return pl.when(n_true == 1).then(chosen).when(n_true > 1).then(several).otherwise(None)


def _as_seconds(dtype: pl.DataType, column: str) -> pl.Expr:
    if dtype.is_numeric():
        return pl.col(column).cast(pl.Float64)
    if dtype == pl.Duration:
        return pl.col(column).dt.total_microseconds().cast(pl.Float64) / 1e6
    return pl.col(column).cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)


#: Formats tried in turn for text timestamps without a zone (taken as UTC).
_NAIVE_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f",   # ISO 8601, Toloka: 2021-05-12T10:33:12.123
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%m/%d/%Y %H:%M:%S",      # Appen / Figure Eight: 8/20/2019 03:04:24
    "%m/%d/%Y %H:%M",
)
#: ... and with a zone: 2021-05-12T10:33:12Z, 2021-05-12T10:33:12.5+03:00.
_ZONED_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z")
#: Zone abbreviations MTurk writes (US zones, GMT/UTC), as hours east of UTC.
_ZONE_HOURS = {"UTC": 0, "GMT": 0, "Z": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5,
               "MST": -7, "MDT": -6, "PST": -8, "PDT": -7, "AKST": -9, "AKDT": -8, "HST": -10}


def _epoch_us(dtype: pl.DataType, column: str) -> pl.Expr:
    """Microseconds since the Unix epoch (Float64, exact to the microsecond), null when unparseable.

    Accepts numbers (epoch seconds), datetimes, and text in ISO 8601 (with or
    without a zone), MTurk's ``Wed Jun 19 14:00:32 PDT 2019`` (zone applied),
    Appen's ``8/20/2019 03:04:24`` or epoch seconds.
    """
    if dtype.is_numeric():
        return pl.col(column).cast(pl.Float64) * 1e6
    if isinstance(dtype, pl.Datetime):
        return pl.col(column).dt.epoch("us").cast(pl.Float64)
    if dtype == pl.Date:
        return pl.col(column).cast(pl.Datetime("us")).dt.epoch("us").cast(pl.Float64)
    text = pl.col(column).cast(pl.String).str.strip_chars()

    def micros(fmt: str, values: pl.Expr = text) -> pl.Expr:
        parsed = values.str.to_datetime(format=fmt, strict=False, time_unit="us")
        return parsed.dt.epoch("us").cast(pl.Float64)

    mturk_local = micros("%a %b %d %H:%M:%S %Y", text.str.replace(_MTURK_TIME.pattern, "${1} ${3}"))
    zone = text.str.extract(_MTURK_TIME.pattern, 2)
    offset = zone.replace_strict(list(_ZONE_HOURS), [float(h) for h in _ZONE_HOURS.values()],
                                 default=0.0, return_dtype=pl.Float64)
    return pl.coalesce(
        *[micros(fmt) for fmt in _ZONED_FORMATS],
        *[micros(fmt) for fmt in _NAIVE_FORMATS],
        mturk_local - offset * 3600e6,
        text.cast(pl.Float64, strict=False) * 1e6,
    )


# -- validation ---------------------------------------------------------------------------

def _is_missing_id(column: str) -> pl.Expr:
    as_text = pl.col(column).cast(pl.String)
    return as_text.is_null() | (as_text.str.strip_chars() == "")


def _reason_expr(cmap: ColumnMap, na_set: list[str], declared: list[str] | None) -> pl.Expr:
    label = pl.col("label")
    is_na = label.is_null() | label.str.to_lowercase().is_in(na_set)
    chain = (
        pl.when(_is_missing_id("item") & _is_missing_id("worker") & label.is_null())
        .then(pl.lit("empty row (no item, worker or label: a blank line?)"))
        .when(_is_missing_id("item")).then(pl.lit(f"missing item id (column {cmap.item!r})"))
        .when(_is_missing_id("worker")).then(pl.lit(f"missing worker id (column {cmap.worker!r})"))
        .when(label.str.starts_with(SEVERAL)).then(pl.lit(f"several options chosen in the {cmap.label!r} group"))
        .when(label.is_null() & pl.lit("" not in na_set))
        .then(pl.lit(f"missing label (column {cmap.label!r}) and empty answers are not n/a"))
    )
    if declared is not None:
        chain = chain.when(is_na.not_() & label.is_in(declared).not_()).then(
            pl.format("label '{}' is not a declared class (column {})", label, pl.lit(repr(cmap.label)))
        )
    if cmap.duration is not None:
        raw = pl.col("duration_raw").cast(pl.String).str.strip_chars()
        chain = chain.when(pl.col("duration").is_null() & raw.is_not_null() & (raw != "")).then(
            pl.format("duration '{}' is not a number (column {})", raw, pl.lit(repr(cmap.duration)))
        ).when(pl.col("duration") < 0).then(
            pl.format("negative duration {} (column {})", raw, pl.lit(repr(cmap.duration)))
        ).when(pl.col("duration").is_nan() | pl.col("duration").is_infinite()).then(
            pl.format("duration '{}' is not finite (column {})", raw, pl.lit(repr(cmap.duration)))
        )
    for role in ("started", "submitted"):
        column = getattr(cmap, role)
        if column is None:
            continue
        raw = pl.col(f"{role}_raw").cast(pl.String).str.strip_chars()
        parsed = pl.col(role)
        chain = chain.when(parsed.is_null() & raw.is_not_null() & (raw != "")).then(
            pl.format("timestamp '{}' cannot be parsed (column {})", raw, pl.lit(repr(column)))
        )
    if cmap.duration is None and cmap.started is not None and cmap.submitted is not None:
        chain = chain.when(pl.col("duration") < 0).then(
            pl.lit(f"submitted before started (columns {cmap.started!r}, {cmap.submitted!r})")
        )
    return chain.otherwise(pl.lit(None, dtype=pl.String))


def _mark_rejected(frame: pl.DataFrame) -> pl.DataFrame:
    """Quarantine the still-usable rows of rejected MTurk assignments (the ``__rejected`` role column)."""
    if REJECTED_COL not in frame.columns:
        return frame
    reason = f"assignment rejected by the requester ({MTURK_STATUS_COL} = Rejected)"
    return frame.with_columns(
        pl.when(pl.col("reason").is_null() & pl.col(REJECTED_COL))
        .then(pl.lit(reason)).otherwise(pl.col("reason")).alias("reason"))


def _mark_duplicates(frame: pl.DataFrame, policy: str, cmap: ColumnMap) -> pl.DataFrame:
    ok = pl.col("reason").is_null()
    keys = [pl.col("item"), pl.col("worker")]
    # position of the kept row of each (item, worker) group, among usable rows only
    pos = pl.when(ok).then(pl.col("__pos"))
    kept = (pos.min() if policy != "last" else pos.max()).over(keys)
    frame = frame.with_columns(kept.alias("__kept"))
    is_dup = ok & (pl.col("__pos") != pl.col("__kept"))
    n_dup = frame.select(is_dup.sum()).item()
    if n_dup == 0:
        return frame.drop("__kept")
    if policy == "error":
        # name the first duplicated pair and every row of it, in the file it comes from
        first = frame.filter(is_dup).row(0, named=True)
        pair = frame.filter(ok & (pl.col("item") == first["item"]) & (pl.col("worker") == first["worker"]))
        pair = pair.filter(pl.col(SOURCE_COL) == first[SOURCE_COL])
        raise InputError(
            f"{n_dup} duplicate (item, worker) judgment{'s' if n_dup > 1 else ''} (columns "
            f"{cmap.item!r}, {cmap.worker!r}), e.g. item {first['item']!r} by worker {first['worker']!r}; "
            "keep one with duplicates='first' or 'last' (--duplicates first|last)",
            source=first[SOURCE_COL], rows=pair.get_column(ROW_COL).to_list(),
        )
    kept_row = frame.select(pl.col("__pos"), pl.col(SOURCE_COL).alias("__ks"), pl.col(ROW_COL).alias("__kr"))
    frame = frame.join(kept_row, left_on="__kept", right_on="__pos", how="left", maintain_order="left")
    return frame.with_columns(
        pl.when(is_dup).then(
            pl.format("duplicate judgment of the same (item, worker); kept {} row {}", pl.col("__ks"), pl.col("__kr"))
        ).otherwise(pl.col("reason")).alias("reason")
    ).drop("__kept", "__ks", "__kr")


def reason_kind(reason: pl.Expr) -> pl.Expr:
    """A quarantine reason without the row it points to, for counting reasons
    ("...; kept FILE row 12" -> "...; one of them kept")."""
    return reason.str.replace(r"; kept .* row \d+$", "; one of them kept").str.replace(r" row \d+$", "")


def _quarantine_table(quarantined: pl.DataFrame) -> pl.DataFrame:
    return quarantined.select(
        pl.col(SOURCE_COL).alias("source"),
        pl.col(ROW_COL).alias("row"),
        pl.col("item").cast(pl.String),
        pl.col("worker").cast(pl.String),
        pl.col("label").cast(pl.String),
        pl.col("reason"),
    ).cast(_QUARANTINE_SCHEMA)  # type: ignore[arg-type]


# -- encoding -----------------------------------------------------------------------------

def _class_list(labels: pl.Series, declared: list[str] | None) -> list[str]:
    if declared is not None:
        return declared
    seen = labels.drop_nulls().unique().to_list()
    return natural_sort(seen)


def natural_sort(values: list[str]) -> list[str]:
    """Sort numerically when every value parses as a number, else as text."""
    try:
        return sorted(values, key=lambda v: (float(v), v))
    except ValueError:
        return sorted(values)


def _codes(values: pl.Series, ids: pl.Series) -> np.ndarray:
    table = pl.DataFrame({"v": ids, "code": pl.int_range(len(ids), dtype=pl.Int32, eager=True)})
    joined = pl.DataFrame({"v": values}).join(table, on="v", how="left", maintain_order="left")
    return joined.get_column("code").to_numpy()


def _encode(used: pl.DataFrame, class_names: list[str], cmap: ColumnMap, name: str,
            n_input_rows: int, quarantine: pl.DataFrame) -> Judgments:
    item_ids = used.get_column("item").unique().sort().alias("item")
    worker_ids = used.get_column("worker").unique().sort().alias("worker")
    coded = used.with_columns(
        pl.Series("item_code", _codes(used.get_column("item"), item_ids)),
        pl.Series("worker_code", _codes(used.get_column("worker"), worker_ids)),
        pl.col("label").replace_strict(class_names, list(range(len(class_names))),
                                       default=-1, return_dtype=pl.Int32).alias("label_code"),
    ).sort(["item_code", "worker_code"])
    duration = submitted = None
    if "duration_us" in coded.columns:
        duration = coded.get_column("duration_us").to_numpy().astype(np.float64) / 1e6
    elif "duration" in coded.columns:
        duration = coded.get_column("duration").to_numpy().astype(np.float64)
    if "submitted_us" in coded.columns:
        submitted = coded.get_column("submitted_us").to_numpy().astype(np.float64) / 1e6
    return Judgments(
        coded.get_column("item_code").to_numpy(),
        coded.get_column("worker_code").to_numpy(),
        coded.get_column("label_code").to_numpy(),
        item_ids,
        worker_ids,
        class_names,
        duration=None if duration is None else np.nan_to_num(duration, nan=np.nan),
        submitted=submitted,
        input_row=coded.get_column("__pos").cast(pl.Int64).to_numpy(),
        n_input_rows=n_input_rows,
        quarantine=quarantine,
        source=name,
    )


# -- gold ---------------------------------------------------------------------------------

def _read_gold_table(gold: Source, item_col: str | None, label_col: str | None) -> pl.DataFrame:
    """Read a gold file: one row per item with its true label (``source, row, item, label``)."""
    name = describe_source(gold)
    raw = read_table(gold)
    columns = [c for c in raw.columns if c not in (SOURCE_COL, ROW_COL)]
    for role, given, flag in (("item", item_col, "--gold-item-col"), ("label", label_col, "--gold-label-col")):
        if given is not None and given not in columns:
            raise InputError(
                f"column {given!r} given for the gold {role} ({flag}) is not in the gold file; "
                f"its columns are {_show(columns)}", source=name)
    if item_col is None:
        item_col = _detect("item", columns, name)
    if label_col is None:
        lowered = {c.lower(): c for c in columns}
        for candidate in ("label", "gold", "gold_label", "true_label", "truth", "answer", "class"):
            if candidate in lowered:
                label_col = lowered[candidate]
                break
        else:
            label_col = _detect("gold", columns, name) or _detect("label", columns, name)
    for role, found, flag in (("item", item_col, "--gold-item-col"), ("label", label_col, "--gold-label-col")):
        if found is None:
            raise InputError(
                f"no {role} column found in the gold file among {_show(columns)}; name it with {flag} "
                f"(gold_{role}_col= in Python)", source=name)
    check_scalar_columns(raw, [item_col], "gold item")
    check_scalar_columns(raw, [label_col], "gold label")
    return raw.select(
        pl.col(SOURCE_COL), pl.col(ROW_COL),
        # a NaN id in a float column is a missing id, as in read_judgments (not the id "NaN")
        (pl.col(item_col).fill_nan(None) if raw.schema[item_col].is_float() else pl.col(item_col))
        .cast(pl.String).alias("item"),  # type: ignore[arg-type]
        _as_text(pl.col(label_col), raw.schema[label_col]).alias("label"),  # type: ignore[index]
        pl.lit(label_col).alias(GOLD_COLUMN_COL),
    )


def _attach_gold(judgments: Judgments, gold: pl.DataFrame, na_set: list[str]) -> None:
    """Validate gold rows, set ``judgments.gold`` and ``judgments.gold_quarantine``."""
    item_index = pl.DataFrame({
        "item": judgments.item_ids.cast(pl.String),
        "item_code": pl.int_range(judgments.n_items, dtype=pl.Int32, eager=True),
    })
    gold = gold.with_row_index("__pos").join(item_index, on="item", how="left", maintain_order="left")
    label = pl.col("label")
    is_na = label.is_null() | label.str.to_lowercase().is_in(na_set)
    gold = gold.with_columns(
        pl.when(pl.col("item").is_null() | (pl.col("item").str.strip_chars() == "")).then(pl.lit("missing item id"))
        .when(is_na).then(pl.lit("gold label is empty or n/a"))
        .when(pl.col("item_code").is_null()).then(pl.lit("gold item is not in the delivery"))
        .otherwise(pl.lit(None, dtype=pl.String)).alias("reason")
    )
    if GOLD_COLUMN_COL not in gold.columns:
        gold = gold.with_columns(pl.lit(None, dtype=pl.String).alias(GOLD_COLUMN_COL))
    usable = gold.filter(pl.col("reason").is_null())
    unknown = usable.filter(label.is_in(judgments.classes).not_())
    if unknown.height:
        first = unknown.row(0, named=True)
        same_file = unknown.filter(pl.col(SOURCE_COL) == first[SOURCE_COL])
        raise InputError(
            f"gold label {first['label']!r} is not a class of the delivery {judgments.classes}; "
            "declare every class with --classes (classes= in Python) if it is a class no annotator chose",
            source=first[SOURCE_COL], column=first[GOLD_COLUMN_COL],
            rows=same_file.get_column(ROW_COL).to_list(),
        )
    conflicts = usable.group_by("item", maintain_order=True).agg(pl.col("label").n_unique().alias("n")) \
        .filter(pl.col("n") > 1)
    if conflicts.height:
        item = conflicts.get_column("item")[0]
        bad = usable.filter(pl.col("item") == item)
        first = bad.row(0, named=True)
        where = "; ".join(f"{src} row {row}: {lab!r}" for src, row, lab in
                          bad.select(SOURCE_COL, ROW_COL, "label").head(5).iter_rows())
        raise InputError(
            f"item {item!r} has conflicting gold labels {sorted(set(bad.get_column('label').to_list()))} "
            f"({where}); keep one gold label per item",
            source=first[SOURCE_COL], column=first[GOLD_COLUMN_COL],
            rows=bad.filter(pl.col(SOURCE_COL) == first[SOURCE_COL]).get_column(ROW_COL).to_list(),
        )
    # Repeats that agree (every assignment of a Toloka control task carries its GOLDEN answer)
    # are all used: they say the same thing.
    kept = gold.filter(pl.col("reason").is_null())
    codes = np.full(judgments.n_items, -1, dtype=np.int32)
    label_codes = kept.get_column("label").replace_strict(
        judgments.classes, list(range(judgments.n_classes)), return_dtype=pl.Int32).to_numpy()
    codes[kept.get_column("item_code").to_numpy()] = label_codes
    judgments.gold = codes
    judgments.n_gold_rows = gold.height
    judgments.gold_quarantine = gold.filter(pl.col("reason").is_not_null()).select(
        pl.col(SOURCE_COL).alias("source"), pl.col(ROW_COL).alias("row"), "item", "label", "reason"
    ).cast(_GOLD_QUARANTINE_SCHEMA)  # type: ignore[arg-type]
