"""Functions that run inside the backend's tasks, next to the resident partitions.

All are module-level (they pickle by reference, so a multi-process cluster
runs them unchanged) and take partitions, resident states and small numpy
arrays. Partitions hold every judgment of their items; worker codes inside a
partition are *local* (``0 .. n_local - 1``, in global-code order) and
``Partition.workers`` maps them to global codes, so each task receives and
returns rows for its own workers only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from consensus.data import Judgments
from consensus.io.readers import ROW_COL, SOURCE_COL

#: Internal column: which bucket (partition) a row's item hashes to.
BUCKET_COL = "__bucket"


@dataclass
class Partition:
    """One partition: a :class:`Judgments` of its items plus its place in the global code books.

    ``judgments.worker`` holds local worker codes; ``judgments.item_ids`` the
    partition's item ids (sorted) and ``item_codes`` their global codes;
    ``workers`` the global code of every local worker (sorted).
    """

    index: int
    judgments: Judgments
    item_codes: np.ndarray
    workers: np.ndarray


# -- loading ----------------------------------------------------------------------------------------
def read_piece(path: str, columns: dict[str, str | None]) -> tuple[pl.DataFrame, Any]:
    """Read one file into the role columns (``item``, ``worker``, ``label``, ...) plus ``__source``/``__row``."""
    from consensus.io.readers import read_table

    return select_roles(read_table(path), columns, path)


def read_pandas_piece(frame: Any, row_offset: int, columns: dict[str, str | None]) -> tuple[pl.DataFrame, Any]:
    """One partition of a dask DataFrame (a pandas frame) as role columns; rows numbered from ``row_offset + 1``."""
    raw = pl.from_pandas(frame, include_index=False)
    raw = raw.with_columns(pl.lit("<dask frame>", dtype=pl.String).alias(SOURCE_COL),
                           pl.int_range(row_offset + 1, row_offset + raw.height + 1, dtype=pl.Int64).alias(ROW_COL))
    return select_roles(raw, columns, "<dask frame>")


def select_roles(raw: pl.DataFrame, columns: dict[str, str | None], name: str) -> tuple[pl.DataFrame, Any]:
    from consensus.io.columns import ColumnMap
    from consensus.io.judgments import _select_roles, check_role_columns

    cmap = ColumnMap(columns.get("item"), columns.get("worker"), columns.get("label"), columns.get("duration"),
                     columns.get("start"), columns.get("submit"), None).resolved(raw.columns, name)
    check_role_columns(raw, cmap)
    return _select_roles(raw, cmap).drop("__pos"), cmap


def piece_summary(piece: tuple[pl.DataFrame, Any]) -> tuple[int, pl.Series, Any]:
    """Rows, unique item ids (as text, for the overlap check) and the resolved column map."""
    frame, cmap = piece
    return frame.height, frame.get_column("item").cast(pl.String).unique(), cmap


def split_by_item(frame: pl.DataFrame, n_buckets: int) -> list[pl.DataFrame]:
    """Rows of ``frame`` in ``n_buckets`` buckets by hashed item id, row order kept within a bucket."""
    key = pl.col("item").cast(pl.String).hash(seed=0) % n_buckets
    tagged = frame.with_columns(key.cast(pl.Int64).alias(BUCKET_COL))
    return [tagged.filter(pl.col(BUCKET_COL) == b).drop(BUCKET_COL) for b in range(n_buckets)]


def split_piece(piece: tuple[pl.DataFrame, Any], n_buckets: int) -> list[pl.DataFrame]:
    return split_by_item(piece[0], n_buckets)


def take_bucket(bucket: int, *splits: list[pl.DataFrame]) -> pl.DataFrame:
    """Bucket ``bucket`` of every piece, stacked in piece order (so input order is kept)."""
    return pl.concat([split[bucket] for split in splits], how="diagonal_relaxed")


def validate(frame: pl.DataFrame, cmap: Any, na_set: list[str], declared: list[str] | None,
             duplicates: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The checks of :func:`consensus.io.judgments.read_judgments` on one partition: ``(used, quarantine)``."""
    from consensus.io.judgments import _mark_duplicates, _mark_rejected, _quarantine_table, _reason_expr

    frame = frame.with_row_index("__pos")
    frame = frame.with_columns(_reason_expr(cmap, na_set, declared).alias("reason"))
    frame = _mark_rejected(frame)  # as read_judgments' default (rejected="quarantine")
    frame = _mark_duplicates(frame, duplicates, cmap)
    quarantined = frame.filter(pl.col("reason").is_not_null())
    used = frame.filter(pl.col("reason").is_null()).with_columns(
        pl.when(pl.col("label").is_null() | pl.col("label").str.to_lowercase().is_in(na_set))
        .then(None).otherwise(pl.col("label")).alias("label"))
    return used, _quarantine_table(quarantined)


@dataclass
class Prepared:
    """A validated partition coded with its own (local) code books, waiting for the global ones.

    Local codes follow the sorted local ids, which is the order of the global
    ids too, so :func:`finalize` keeps the arrays and only renumbers labels.
    """

    item: np.ndarray              # int32 local item codes, sorted by (item, worker)
    worker: np.ndarray            # int32 local worker codes
    label: np.ndarray             # int32 codes into ``labels``, -1 for abstentions
    duration: np.ndarray | None
    submitted: np.ndarray | None
    items: pl.Series              # sorted unique item ids
    workers: pl.Series            # sorted unique worker ids
    labels: list[str]             # sorted unique class labels
    quarantine: pl.DataFrame
    n_used: int


def prepare(frame: pl.DataFrame, cmap: Any, na_set: list[str], declared: list[str] | None,
            duplicates: str) -> Prepared:
    """:func:`validate` one partition and code it locally (only compact arrays stay resident)."""
    from consensus.io.judgments import _codes

    used, quarantine = validate(frame, cmap, na_set, declared, duplicates)
    del frame
    items = used.get_column("item").unique().sort().alias("item")
    workers = used.get_column("worker").unique().sort().alias("worker")
    labels = sorted(used.get_column("label").drop_nulls().unique().to_list())
    coded = used.select(
        pl.Series("item_code", _codes(used.get_column("item"), items)),
        pl.Series("worker_code", _codes(used.get_column("worker"), workers)),
        pl.col("label").replace_strict(labels, list(range(len(labels))), default=-1,
                                       return_dtype=pl.Int32).alias("label_code"),
        *[pl.col(c) for c in ("duration_us", "duration", "submitted_us") if c in used.columns],
    ).sort(["item_code", "worker_code"])
    del used
    duration = submitted = None
    if "duration_us" in coded.columns:
        duration = coded.get_column("duration_us").to_numpy().astype(np.float64) / 1e6
    elif "duration" in coded.columns:
        duration = coded.get_column("duration").to_numpy().astype(np.float64)
    if "submitted_us" in coded.columns:
        submitted = coded.get_column("submitted_us").to_numpy().astype(np.float64) / 1e6

    def codes(name: str) -> np.ndarray:
        return np.ascontiguousarray(coded.get_column(name).to_numpy(), dtype=np.int32)

    return Prepared(codes("item_code"), codes("worker_code"), codes("label_code"), duration, submitted,
                    items, workers, labels, quarantine, coded.height)


def prepare_path(path: str, columns: dict[str, str | None], na_set: list[str], declared: list[str] | None,
                 duplicates: str) -> Prepared:
    """Read a file that holds whole items and :func:`prepare` it (nothing else stays in memory).

    Parquet files with integer ids take ``read_judgments``'s O(n) path
    (:func:`consensus.io.fast.read_judgments_fast`: same codes, order, classes
    and quarantine as the general path), which already codes the file with its
    own sorted ids.
    """
    from consensus.io.fast import read_judgments_fast

    fast = read_judgments_fast(path, cmap_args=dict(
        item=columns.get("item"), worker=columns.get("worker"), label=columns.get("label"),
        duration=columns.get("duration"), started=columns.get("start"), submitted=columns.get("submit"),
        gold=None), na_set=na_set, declared=declared, duplicates=duplicates)
    if fast is not None:
        quarantine = fast.quarantine if fast.quarantine is not None else _empty_quarantine()
        return Prepared(fast.item, fast.worker, fast.label, fast.duration, fast.submitted,
                        fast.item_ids.alias("item"), fast.worker_ids.alias("worker"), list(fast.classes),
                        quarantine, fast.n_judgments)
    frame, cmap = read_piece(path, columns)
    return prepare(frame, cmap, na_set, declared, duplicates)


def _empty_quarantine() -> pl.DataFrame:
    from consensus.io.judgments import _quarantine_table

    return _quarantine_table(pl.DataFrame(schema={SOURCE_COL: pl.String, ROW_COL: pl.Int64, "item": pl.String,
                                                  "worker": pl.String, "label": pl.String, "reason": pl.String}))


def path_summary(path: str, columns: dict[str, str | None]) -> tuple[int, pl.Series, Any]:
    """:func:`piece_summary` of a file, without keeping it (it is read again by :func:`prepare_path`).

    A Parquet file is summarised from its schema and item column only.
    """
    from consensus.io.columns import ColumnMap
    from consensus.io.readers import _PARQUET_SUFFIXES

    if Path(path).suffix.lower() in _PARQUET_SUFFIXES:
        try:
            names = list(pl.read_parquet_schema(path))
            cmap = ColumnMap(columns.get("item"), columns.get("worker"), columns.get("label"),
                             columns.get("duration"), columns.get("start"), columns.get("submit"),
                             None).resolved([*names, SOURCE_COL, ROW_COL], path)
            items = pl.read_parquet(path, columns=[cmap.item], glob=False).get_column(cmap.item)
        except Exception:  # noqa: BLE001 - the general reader below reports the problem
            pass
        else:
            return items.len(), items.cast(pl.String).unique().alias("item"), cmap
    return piece_summary(read_piece(path, columns))


def prepared_summary(prep: Prepared) -> dict[str, Any]:
    return {"items": prep.items, "workers": prep.workers, "labels": prep.labels, "n_used": prep.n_used,
            "quarantine": prep.quarantine}


def finalize(prep: Prepared, index: int, codes: tuple[np.ndarray, np.ndarray], classes: list[str]) -> Partition:
    """The partition with the global code books: global class codes, global item and worker codes."""
    item_codes, workers = codes
    remap = np.array([classes.index(c) for c in prep.labels] + [-1], dtype=np.int32)
    label = remap[prep.label]  # -1 indexes the trailing -1
    judgments = Judgments(
        prep.item, prep.worker, label, prep.items, pl.Series("worker", np.asarray(workers, dtype=np.int64)),
        classes, duration=prep.duration, submitted=prep.submitted, source=f"partition {index}")
    return Partition(index, judgments, np.asarray(item_codes, dtype=np.int64), np.asarray(workers, dtype=np.int64))


def from_codes(index: int, item: np.ndarray, worker: np.ndarray, label: np.ndarray, item_codes: np.ndarray,
               workers: np.ndarray, classes: list[str], duration: np.ndarray | None = None) -> Partition:
    """A partition from integer codes: ``item`` indexes ``item_codes`` (local item codes),
    ``worker`` indexes ``workers`` (local worker codes); rows in any order."""
    order = np.lexsort((label, worker, item))
    judgments = Judgments(
        item[order], worker[order], label[order], pl.Series("item", np.asarray(item_codes, dtype=np.int64)),
        pl.Series("worker", np.asarray(workers, dtype=np.int64)), classes,
        duration=None if duration is None else np.asarray(duration, dtype=np.float64)[order],
        source=f"partition {index}")
    return Partition(index, judgments, np.asarray(item_codes, dtype=np.int64), np.asarray(workers, dtype=np.int64))


def partition_counts(part: Partition) -> dict[str, np.ndarray]:
    """Per local worker: judgments and abstentions; per item: class answers and abstentions."""
    j = part.judgments
    return {"n_judgments": j.n_judgments_per_worker, "n_na": j.n_na_per_worker,
            "n_labels_item": j.n_labels_per_item, "n_na_item": j.n_na_per_item}


# -- generic ----------------------------------------------------------------------------------------
def combine_sums(results: list[dict[str, Any]], per_worker: tuple[str, ...]) -> dict[str, Any]:
    """Add task results in order: rows of ``per_worker`` arrays matched by global worker code.

    Every result has ``"workers"`` (sorted, unique global worker codes); the
    output's ``"workers"`` is their union and each of its ``per_worker``
    arrays has one row per code (the sum over the results that have it, in
    result order). Every other value is added in result order.
    """
    first = results[0]
    codes = [np.asarray(r["workers"]) for r in results]
    if all(c.size == codes[0].size and np.array_equal(c, codes[0]) for c in codes[1:]):
        union = codes[0]
        where: list[Any] = [slice(None)] * len(results)
    else:
        union = np.unique(np.concatenate(codes))
        where = [np.searchsorted(union, c) for c in codes]
    out: dict[str, Any] = {"workers": union}
    for key, value in first.items():
        if key == "workers":
            continue
        if key in per_worker:
            # an empty partition's arrays may carry another dtype (int64 zeros): add in the widest
            dtype = np.result_type(*(np.asarray(r[key]).dtype for r in results))
            if isinstance(where[0], slice):  # same workers everywhere: no zero table to start from
                total = np.array(value, dtype=dtype, copy=True)
                for r in results[1:]:
                    total += r[key]
            else:
                total = np.zeros((union.size, *np.shape(value)[1:]), dtype=dtype)
                for r, rows in zip(results, where):
                    total[rows] += r[key]
        else:
            total = value
            for r in results[1:]:
                total = total + r[key]
        out[key] = total
    return out


def local_rows(part: Partition, rows: tuple[np.ndarray, ...] | None, sliced: bool) -> tuple[np.ndarray, ...]:
    """The partition's rows of per-worker arrays (local worker order), from its own rows or whole tables.

    See :meth:`consensus.backends.loader.PartitionedJudgments.map_rows`.
    """
    if rows is None:
        return ()
    if sliced:
        return tuple(rows)
    codes = part.workers
    if codes.size and codes[-1] - codes[0] == codes.size - 1:  # sorted and unique: a range, take a view
        return tuple(a[codes[0]:codes[-1] + 1] for a in rows)
    return tuple(np.ascontiguousarray(a[codes]) for a in rows)


def write_frame(part: Any, path: str, func: Any, *args: Any) -> int:
    frame = func(part, *args)
    frame.write_parquet(path)
    return frame.height
