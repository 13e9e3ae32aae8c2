"""Fast path of :func:`consensus.io.judgments.read_judgments` for large typed deliveries.

Taken when the item and worker columns are integers (Parquet files or a
polars frame) and no timestamp or in-file gold column is involved. It reads
only the needed columns straight to numpy (no per-row Python objects, no
string ids), codes ids in O(n) when they are dense (a presence table instead
of a hash or a sort), orders judgments by (item, worker) with an O(n) counting
sort, and finds duplicates as adjacent equal pairs. Labels are coded once per
distinct value (a Parquet string column is read dictionary-encoded).

The result is the same :class:`~consensus.data.Judgments` as the general path:
the same codes, order, classes, ``input_row``, and the same quarantine table,
whose reasons are computed by the general path's own expressions on the few
quarantined rows. Anything the fast path does not cover returns ``None`` and
the caller uses the general path.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl

from consensus.data import Judgments
from consensus.io.columns import MTURK_STATUS_COL, ColumnMap, one_hot_columns
from consensus.io.readers import _PARQUET_SUFFIXES, ROW_COL, SOURCE_COL, describe_source, expand_paths
from consensus.kernels.sort import (adjacent_duplicates, dense_remap, gather_count, gather_float64, gather_int32,
                                   grouped_order)

#: Integer id ranges up to this many times the row count are coded with a presence table.
_DENSE_FACTOR = 4


class _Column:
    """One role's values: numpy data plus a null mask (``None`` when no nulls)."""

    def __init__(self, values: np.ndarray, null: np.ndarray | None, dtype: pl.DataType) -> None:
        self.values = values
        self.null = null
        self.dtype = dtype


def _series_column(series: pl.Series) -> _Column:
    null = series.is_null().to_numpy() if series.null_count() else None
    if null is not None:
        series = series.fill_null(0)
    return _Column(series.to_numpy(), null, series.dtype)


def _labels_from_series(series: pl.Series) -> tuple[np.ndarray, pl.Series]:
    """(index int32 per row into the distinct values, distinct values incl. a null)."""
    if series.dtype.is_integer() and series.len():
        col = _series_column(series)
        values = col.values
        low, high = int(values.min()), int(values.max())
        if high - low < 1 << 16:
            idx, present = dense_remap(values, low, high - low + 1)
        else:
            present, idx = np.unique(values, return_inverse=True)
            idx = idx.astype(np.int32)
        uniques = pl.Series("label", present).cast(series.dtype)
        if col.null is not None:
            idx[col.null] = uniques.len()
            uniques = uniques.extend(pl.Series("label", [None], dtype=series.dtype))
        return idx, uniques
    frame = pl.DataFrame({"label": series})
    ranks = frame.select(pl.col("label").rank("dense").cast(pl.Int32)).to_series()
    uniques = series.drop_nulls().unique().sort()
    idx = (ranks.fill_null(uniques.len() + 1) - 1).to_numpy()
    if series.null_count():
        uniques = uniques.extend(pl.Series("label", [None], dtype=series.dtype))
    return np.ascontiguousarray(idx, dtype=np.int32), uniques.alias("label")


def _labels_from_parquet(paths: list[Path], column: str) -> tuple[np.ndarray, pl.Series]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    chunks = []
    for path in paths:
        chunks.extend(pq.read_table(path, columns=[column], read_dictionary=[column]).column(column).chunks)
    col = pa.chunked_array(chunks).unify_dictionaries()
    dictionary = col.chunk(0).dictionary if col.num_chunks else pa.array([], pa.string())
    n_values = len(dictionary)
    idx = np.empty(len(col), dtype=np.int32)
    start = 0
    for chunk in col.chunks:
        indices = chunk.indices if not chunk.indices.null_count else pc.fill_null(chunk.indices, n_values)
        idx[start:start + len(chunk)] = indices.to_numpy()
        start += len(chunk)
    has_null = col.null_count > 0
    del col, chunks
    uniques = pl.Series("label", pl.from_arrow(dictionary))
    if has_null:
        uniques = uniques.extend(pl.Series("label", [None], dtype=uniques.dtype))
    return idx, uniques


def _code_ids(col: _Column, keep: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Codes (int32, rank among the distinct kept ids) and the distinct kept ids, ascending."""
    values = col.values if keep is None else col.values[keep]
    if values.size == 0:
        return np.empty(0, np.int32), np.empty(0, values.dtype)
    low, high = int(values.min()), int(values.max())
    span = high - low + 1
    if span <= _DENSE_FACTOR * values.size + (1 << 20):
        codes, present = dense_remap(values, low, span)
        return codes, present
    present, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int32), present


def _load(source, cmap_args: dict) -> tuple | None:  # noqa: ANN001
    """Read the role columns; ``None`` when the fast path does not apply."""
    if isinstance(source, pl.LazyFrame):
        source = source.collect()
    if isinstance(source, pl.DataFrame):
        schema = dict(source.schema)
        paths = None
        heights = [source.height]
        names = ["<polars frame>"]
    elif isinstance(source, (str, os.PathLike, list, tuple)):
        try:
            paths = expand_paths(source)
        except Exception:  # noqa: BLE001 - the general path reports it
            return None
        if not paths or any(p.suffix.lower() not in _PARQUET_SUFFIXES for p in paths):
            return None
        import pyarrow.parquet as pq

        try:
            metas = [pq.read_metadata(p) for p in paths]
            schemas = [pl.read_parquet_schema(p) for p in paths]
        except Exception:  # noqa: BLE001 - unreadable: the general path reports it
            return None
        if any(dict(s) != dict(schemas[0]) for s in schemas) or any(m.num_rows == 0 for m in metas):
            return None
        schema = dict(schemas[0])
        heights = [m.num_rows for m in metas]
        names = [str(p) for p in paths]
    else:
        return None
    columns = list(schema)
    if SOURCE_COL in columns or ROW_COL in columns or MTURK_STATUS_COL in columns:
        return None  # bookkeeping columns, or an MTurk batch whose rejections the general path quarantines
    try:
        cmap = ColumnMap(**cmap_args).resolved(columns, describe_source(source))
    except Exception:  # noqa: BLE001 - the general path raises the same error
        return None
    if cmap.started is not None or cmap.submitted is not None or cmap.gold is not None:
        return None
    if cmap.label not in schema or one_hot_columns(columns, cmap.label):
        return None
    if not (schema[cmap.item].is_integer() and schema[cmap.worker].is_integer()):
        return None
    label_dtype = schema[cmap.label]
    if label_dtype.is_nested() or label_dtype in (pl.Binary, pl.Object):
        return None  # the general path names the file, column and row
    if cmap.duration is not None and not schema[cmap.duration].is_numeric():
        return None
    # labels first (their transient Arrow buffers are the largest), then one column at a time
    if paths is None:
        idx, uniques = _labels_from_series(source.get_column(cmap.label))
    elif schema[cmap.label] in (pl.String, pl.Categorical) or isinstance(schema[cmap.label], pl.Enum):
        idx, uniques = _labels_from_parquet(paths, cmap.label)
    else:
        idx, uniques = _labels_from_series(_read_column(paths, cmap.label))

    def column(name: str, cast: pl.DataType | None = None) -> _Column:
        series = source.get_column(name) if paths is None else _read_column(paths, name)
        return _series_column(series if cast is None else series.cast(cast))

    item = column(cmap.item)
    worker = column(cmap.worker)
    duration = column(cmap.duration, pl.Float64) if cmap.duration is not None else None
    return cmap, names, heights, item, worker, idx, uniques, duration, schema


def _read_column(paths: list[Path], name: str) -> pl.Series:
    frames = [pl.read_parquet(p, columns=[name], glob=False) for p in paths]
    frame = frames[0] if len(frames) == 1 else pl.concat(frames)
    return frame.get_column(name)


def read_judgments_fast(source, *, cmap_args: dict, na_set: list[str], declared: list[str] | None,  # noqa: ANN001
                        duplicates: str) -> Judgments | None:
    """The fast path; ``None`` when it does not apply (the caller then reads generally)."""
    from consensus.io.judgments import _as_text, natural_sort

    loaded = _load(source, cmap_args)
    if loaded is None:
        return None
    cmap, names, heights, item, worker, label_idx, uniques, duration, schema = loaded
    n_rows = int(sum(heights))

    # per distinct label: class text, abstention, or a reason to quarantine
    text = pl.DataFrame({"label": uniques}).select(_as_text(pl.col("label"), uniques.dtype)).to_series()
    texts = text.to_list()
    lowered = [None if t is None else t.lower() for t in texts]
    na = set(na_set)
    is_na = np.array([t is None or low in na for t, low in zip(texts, lowered)], dtype=bool)
    bad_label = np.array([(t is None and "" not in na) or
                          (declared is not None and not n and t not in declared)
                          for t, n in zip(texts, is_na)], dtype=bool)

    bad = bad_label[label_idx] if bad_label.any() else np.zeros(n_rows, dtype=bool)
    for col in (item, worker):
        if col.null is not None:
            bad |= col.null
    if duration is not None:  # nulls were filled with 0: a null duration is kept (unknown)
        with np.errstate(invalid="ignore"):
            bad |= ~np.isfinite(duration.values) | (duration.values < 0)
    keep = np.flatnonzero(~bad) if bad.any() else None
    n_keep = n_rows if keep is None else keep.size
    if n_keep == 0:
        return None
    bad_pos = np.flatnonzero(bad) if keep is not None else np.empty(0, np.int64)
    del bad
    bad_ids = [_subset(col, bad_pos) for col in (item, worker)]  # raw ids of the bad rows

    item_codes, item_present = _code_ids(item, keep)
    item.values = None  # the raw ids are not needed any more (values = present[code])
    worker_codes, worker_present = _code_ids(worker, keep)
    worker.values = None
    order, _ = grouped_order(item_codes, item_present.size, worker_codes)
    sorted_item = gather_int32(item_codes, order)
    del item_codes
    sorted_worker = gather_int32(worker_codes, order)
    del worker_codes
    position = order if keep is None else keep[order]  # input position of each kept row, sorted
    del order, keep

    dup_flags = adjacent_duplicates(sorted_item, sorted_worker)
    dup_pos = dup_kept = np.empty(0, np.int64)
    dup_ids = [(np.empty(0, np.int64), None), (np.empty(0, np.int64), None)]
    if dup_flags.any():
        if duplicates == "error":
            return None  # the general path raises, naming the rows
        starts = np.flatnonzero(dup_flags == 0)
        run = np.cumsum(dup_flags == 0) - 1
        anchor = starts if duplicates == "first" else np.append(starts[1:], dup_flags.size) - 1
        is_dup = np.ones(dup_flags.size, dtype=bool)
        is_dup[anchor] = False
        dup_pos = position[is_dup]
        dup_kept = position[anchor[run[is_dup]]]
        dup_ids = [(item_present[sorted_item[is_dup]], None), (worker_present[sorted_worker[is_dup]], None)]
        used = ~is_dup
        sorted_item, sorted_worker, position = sorted_item[used], sorted_worker[used], position[used]
        del used, is_dup, run
    del dup_flags

    # label codes of the used rows
    used_idx, used_counts = gather_count(label_idx, position, len(texts))
    present_labels = used_counts > 0
    class_names = declared if declared is not None else natural_sort(
        sorted({texts[v] for v in np.flatnonzero(present_labels & ~is_na & ~bad_label)}))
    if not class_names:
        return None
    class_code = {c: k for k, c in enumerate(class_names)}
    lut = np.array([-1 if is_na[v] or bad_label[v] else class_code.get(texts[v], -1)
                    for v in range(len(texts))], dtype=np.int32)
    label = lut[used_idx]
    del used_idx

    quarantine = _quarantine(bad_pos, dup_pos, dup_kept, bad_ids, dup_ids, names, heights, duration,
                             uniques, label_idx, cmap=cmap, na_set=na_set, declared=declared, schema=schema)
    del label_idx
    dur = None
    if duration is not None:
        values = duration.values if duration.null is None else np.where(duration.null, np.nan, duration.values)
        duration = None
        dur = gather_float64(np.ascontiguousarray(values, dtype=np.float64), position)
        del values
    return Judgments(
        sorted_item, sorted_worker, label,
        pl.Series("item", item_present).cast(schema[cmap.item]),
        pl.Series("worker", worker_present).cast(schema[cmap.worker]),
        class_names,
        duration=dur,
        input_row=position.astype(np.int64, copy=False),
        n_input_rows=n_rows,
        input_files=_input_files(names, heights),
        quarantine=quarantine,
        source=describe_source(source),
    )


def _input_files(names: list[str], heights: list[int]) -> pl.DataFrame:
    """``source`` and ``first_row`` per input file (see :func:`consensus.data.file_rows`)."""
    return pl.DataFrame({"source": pl.Series(names, dtype=pl.String),
                         "first_row": np.cumsum([0, *heights[:-1]]).astype(np.int64)})


def _subset(col: _Column, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    return col.values[positions], None if col.null is None else col.null[positions]


def _quarantine(bad_pos, dup_pos, dup_kept, bad_ids, dup_ids, names, heights, duration,  # noqa: ANN001
                uniques, label_idx, *, cmap, na_set, declared, schema) -> pl.DataFrame:
    """The quarantine table, in input order, with the general path's reasons.

    ``bad_ids`` / ``dup_ids``: (item, worker) raw ids of those rows as (values, null mask).
    """
    from consensus.data import file_rows
    from consensus.io.judgments import _quarantine_table, _reason_expr, _select_roles

    positions = np.concatenate([bad_pos, dup_pos]).astype(np.int64)
    kind = np.concatenate([np.zeros(bad_pos.size, np.int8), np.ones(dup_pos.size, np.int8)])
    kept = np.concatenate([np.full(bad_pos.size, -1, np.int64), dup_kept]).astype(np.int64)
    order = np.argsort(positions, kind="stable")
    positions, kind, kept = positions[order], kind[order], kept[order]
    files = _input_files(names, heights)

    def where(pos: np.ndarray) -> tuple[pl.Series, pl.Series]:
        return file_rows(files, pos)

    if positions.size == 0:
        return _quarantine_table(pl.DataFrame(
            {SOURCE_COL: [], ROW_COL: [], "item": [], "worker": [], "label": [], "reason": []},
            schema={SOURCE_COL: pl.String, ROW_COL: pl.Int64, "item": pl.String, "worker": pl.String,
                    "label": pl.String, "reason": pl.String}))

    def role(bad: tuple, dup: tuple, dtype: pl.DataType, name: str) -> pl.Series:
        values = np.concatenate([bad[0], dup[0].astype(bad[0].dtype, copy=False)])[order]
        series = pl.Series(name, values).cast(dtype)
        if bad[1] is not None:
            null = np.concatenate([bad[1], np.zeros(dup[0].size, dtype=bool)])[order]
            series = pl.select(pl.when(pl.Series(null)).then(None).otherwise(series).alias(name)).to_series()
        return series

    src, row = where(positions)
    columns = {cmap.item: role(bad_ids[0], dup_ids[0], schema[cmap.item], cmap.item),
               cmap.worker: role(bad_ids[1], dup_ids[1], schema[cmap.worker], cmap.worker),
               cmap.label: uniques.gather(label_idx[positions]).alias(cmap.label)}
    if duration is not None:
        sub = _subset(duration, positions)
        columns[cmap.duration] = _duration_series(sub, cmap.duration, schema)
    raw = pl.DataFrame(columns).with_columns(src.alias(SOURCE_COL), row.alias(ROW_COL))
    frame = _select_roles(raw, cmap).with_columns(_reason_expr(cmap, na_set, declared).alias("reason"))
    kept_src, kept_row = where(np.maximum(kept, 0))
    dup_reason = [f"duplicate judgment of the same (item, worker); kept {s} row {r}"
                  for s, r in zip(kept_src, kept_row)]
    frame = frame.with_columns(
        pl.when(pl.Series(kind == 1)).then(pl.Series(dup_reason, dtype=pl.String))
        .otherwise(pl.col("reason")).alias("reason"))
    return _quarantine_table(frame)


def _duration_series(sub: tuple, name: str, schema: dict) -> pl.Series:
    values, null = sub
    series = pl.Series(name, values)
    if null is not None:
        series = pl.select(pl.when(pl.Series(null)).then(None).otherwise(series).alias(name)).to_series()
    return series.cast(schema[name])
