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
    from consensus.io.judgments import _select_roles

    cmap = ColumnMap(columns.get("item"), columns.get("worker"), columns.get("label"), columns.get("duration"),
                     columns.get("start"), columns.get("submit"), None).resolved(raw.columns, name)
    return _select_roles(raw, cmap).drop("__pos"), cmap


def piece_frame(piece: tuple[pl.DataFrame, Any]) -> pl.DataFrame:
    return piece[0]


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
    from consensus.io.judgments import _mark_duplicates, _quarantine_table, _reason_expr

    frame = frame.with_row_index("__pos")
    frame = frame.with_columns(_reason_expr(cmap, na_set, declared).alias("reason"))
    frame = _mark_duplicates(frame, duplicates, cmap)
    quarantined = frame.filter(pl.col("reason").is_not_null())
    used = frame.filter(pl.col("reason").is_null()).with_columns(
        pl.when(pl.col("label").is_null() | pl.col("label").str.to_lowercase().is_in(na_set))
        .then(None).otherwise(pl.col("label")).alias("label"))
    return used, _quarantine_table(quarantined)


def validated_summary(validated: tuple[pl.DataFrame, pl.DataFrame]) -> dict[str, Any]:
    used, quarantine = validated
    return {
        "items": used.get_column("item").unique().sort(),
        "workers": used.get_column("worker").unique().sort(),
        "labels": used.get_column("label").drop_nulls().unique().to_list(),
        "n_used": used.height,
        "quarantine": quarantine,
    }


def encode(validated: tuple[pl.DataFrame, pl.DataFrame], index: int, item_codes: np.ndarray,
           workers: np.ndarray, classes: list[str]) -> Partition:
    """Integer-code a validated partition with the global class list and code books."""
    from consensus.io.judgments import _codes

    used, _ = validated
    item_ids = used.get_column("item").unique().sort().alias("item")
    local_workers = used.get_column("worker").unique().sort().alias("worker")
    coded = used.with_columns(
        pl.Series("item_code", _codes(used.get_column("item"), item_ids)),
        pl.Series("worker_code", _codes(used.get_column("worker"), local_workers)),
        pl.col("label").replace_strict(classes, list(range(len(classes))),
                                       default=-1, return_dtype=pl.Int32).alias("label_code"),
    ).sort(["item_code", "worker_code"])
    duration = submitted = None
    if "duration_us" in coded.columns:
        duration = coded.get_column("duration_us").to_numpy().astype(np.float64) / 1e6
    elif "duration" in coded.columns:
        duration = coded.get_column("duration").to_numpy().astype(np.float64)
    if "submitted_us" in coded.columns:
        submitted = coded.get_column("submitted_us").to_numpy().astype(np.float64) / 1e6
    judgments = Judgments(
        coded.get_column("item_code").to_numpy(), coded.get_column("worker_code").to_numpy(),
        coded.get_column("label_code").to_numpy(), item_ids,
        pl.Series("worker", np.asarray(workers, dtype=np.int64)), classes,
        duration=duration, submitted=submitted, source=f"partition {index}")
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
def second(state: tuple[Any, Any]) -> Any:
    """The small half of a ``(resident, small)`` task result."""
    return state[1]


def noop(part: Partition, prev: Any, *params: Any) -> tuple[Any, float]:
    """Touch the partition and the parameters, compute nothing (the engine-overhead benchmark)."""
    return (prev[0] if prev is not None else None), float(part.judgments.n_judgments)


def write_frame(part: Any, path: str, func: Any, *args: Any) -> int:
    frame = func(part, *args)
    frame.write_parquet(path)
    return frame.height
