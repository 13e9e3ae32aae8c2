"""The judgments data model: integer-coded long-form arrays plus code books.

Everything downstream of the loaders works on a :class:`Judgments`: three
``int32`` code arrays of equal length ``n_judgments`` (item, worker, label),
sorted by item and then worker, with the code books that map codes back to
the original ids and class names. A label code of ``-1`` is an abstention
("n/a", "can't tell"): it is kept and counted, and skipped by every model.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import polars as pl

NA_CODE = -1


class Judgments:
    """A validated, integer-coded set of judgments.

    Parameters
    ----------
    item, worker, label : ndarray of int32, shape (n_judgments,)
        Codes, sorted by ``item`` then ``worker``. ``label == -1`` marks an
        abstention. Item codes index ``item_ids``, worker codes ``worker_ids``,
        label codes ``classes``.
    item_ids, worker_ids : polars.Series
        Original ids, one per code, in code order (ids exactly as given).
    classes : sequence of str
        Class names, one per label code.
    duration : ndarray of float64, shape (n_judgments,), optional
        Seconds spent on each judgment; NaN where unknown.
    submitted : ndarray of float64, shape (n_judgments,), optional
        Submission time in seconds since the Unix epoch; NaN where unknown.
    gold : ndarray of int32, shape (n_items,), optional
        Gold class code per item, ``-1`` where the item has no gold answer.
    input_row : ndarray of int64, shape (n_judgments,), optional
        0-based position of each judgment in the concatenated input.
    n_input_rows : int, optional
        Rows read from the input (used + quarantined). Defaults to ``n_judgments``.
    input_files : polars.DataFrame, optional
        ``source`` (file name) and ``first_row`` (its first ``input_row``) per input file, in
        order; set by the readers. :meth:`source_rows` turns an ``input_row`` into the file and
        1-based row that errors and the quarantine name.
    quarantine : polars.DataFrame, optional
        Input rows that were not used, one per row, with a ``reason`` column.
    gold_quarantine : polars.DataFrame, optional
        Gold rows that were not used, with a ``reason`` column.
    source : str
        Where the judgments came from (file names or ``"<frame>"``).
    """

    def __init__(
        self,
        item: np.ndarray,
        worker: np.ndarray,
        label: np.ndarray,
        item_ids: pl.Series,
        worker_ids: pl.Series,
        classes: Sequence[str],
        *,
        duration: np.ndarray | None = None,
        submitted: np.ndarray | None = None,
        gold: np.ndarray | None = None,
        input_row: np.ndarray | None = None,
        n_input_rows: int | None = None,
        input_files: pl.DataFrame | None = None,
        quarantine: pl.DataFrame | None = None,
        gold_quarantine: pl.DataFrame | None = None,
        source: str = "<arrays>",
    ) -> None:
        self.item = np.ascontiguousarray(item, dtype=np.int32)
        self.worker = np.ascontiguousarray(worker, dtype=np.int32)
        self.label = np.ascontiguousarray(label, dtype=np.int32)
        self.item_ids = item_ids
        self.worker_ids = worker_ids
        self.classes = [str(c) for c in classes]
        self.duration = duration
        self.submitted = submitted
        self.gold = gold
        self.input_row = input_row
        self.n_input_rows = len(self.item) if n_input_rows is None else int(n_input_rows)
        self.input_files = input_files
        self.quarantine = quarantine
        self.gold_quarantine = gold_quarantine
        self.source = source
        #: Rows read from gold input (file and in-file gold column), used + quarantined.
        self.n_gold_rows = 0 if gold is None else int((np.asarray(gold) >= 0).sum())
        self.item_offsets = _offsets(self.item, self.n_items)

    @classmethod
    def from_codes(
        cls,
        item: np.ndarray,
        worker: np.ndarray,
        label: np.ndarray,
        *,
        n_classes: int | None = None,
        gold: np.ndarray | None = None,
        duration: np.ndarray | None = None,
    ) -> Judgments:
        """Build from integer codes (any order); ids become the codes themselves.

        Used by benchmarks and tests that generate data directly as arrays.
        ``item`` and ``worker`` codes should be contiguous from 0; missing
        codes become items/workers without judgments.
        """
        import polars as pl

        from consensus.errors import InputError

        item = np.asarray(item)
        worker = np.asarray(worker)
        label = np.asarray(label)
        if not (item.shape == worker.shape == label.shape) or item.ndim != 1:
            raise InputError("item, worker and label codes must be 1-D arrays of equal length")
        if item.size and (item.min() < 0 or worker.min() < 0 or label.min() < -1):
            raise InputError("item and worker codes must be >= 0 and label codes >= -1 (-1 = n/a)")
        if n_classes is not None and label.size and label.max() >= n_classes:
            raise InputError(f"label code {int(label.max())} is out of range for n_classes={n_classes}")
        n_items = int(item.max()) + 1 if item.size else 0
        n_workers = int(worker.max()) + 1 if worker.size else 0
        # the permutation of np.lexsort((label, worker, item)) (canonical even with repeated
        # pairs), by an O(n) counting sort on item and a parallel sort within each item
        from consensus.kernels.sort import counting_order, order_within_groups

        item32 = np.ascontiguousarray(item, dtype=np.int32)
        order, item_offsets = counting_order(item32, n_items)
        order = order_within_groups(item_offsets, order, np.ascontiguousarray(worker, dtype=np.int32),
                                    np.ascontiguousarray(label, dtype=np.int32), True)
        if n_classes is None:
            n_classes = int(label.max()) + 1 if label.size else 0
        from consensus.kernels.sort import gather_int32

        return cls(
            gather_int32(item32, order),
            gather_int32(np.ascontiguousarray(worker, dtype=np.int32), order),
            gather_int32(np.ascontiguousarray(label, dtype=np.int32), order),
            pl.Series("item", np.arange(n_items, dtype=np.int64)),
            pl.Series("worker", np.arange(n_workers, dtype=np.int64)),
            [str(k) for k in range(n_classes)],
            gold=None if gold is None else np.asarray(gold, dtype=np.int32),
            duration=None if duration is None else np.asarray(duration, dtype=np.float64)[order],
            input_row=order,
        )

    # sizes -----------------------------------------------------------------
    @property
    def n_judgments(self) -> int:
        return int(self.item.size)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_workers(self) -> int:
        return len(self.worker_ids)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n_quarantined(self) -> int:
        return 0 if self.quarantine is None else self.quarantine.height

    # derived arrays ----------------------------------------------------------
    @cached_property
    def item_keys(self) -> np.ndarray:
        """uint64 (n_items,): a key per item id for seeded per-item draws (:func:`id_keys`)."""
        return id_keys(self.item_ids)

    @cached_property
    def worker_order(self) -> np.ndarray:
        """Judgment indices grouped by worker, shape (n_judgments,), stable within a worker."""
        from consensus.kernels.sort import counting_order  # O(n); = np.argsort(worker, kind="stable")

        return counting_order(self.worker, self.n_workers)[0]

    @cached_property
    def worker_offsets(self) -> np.ndarray:
        """CSR offsets into :attr:`worker_order`, shape (n_workers + 1,), int64."""
        return _offsets(self.worker[self.worker_order], self.n_workers)

    @cached_property
    def item_by_worker(self) -> np.ndarray:
        """Item codes in :attr:`worker_order`, shape (n_judgments,), int32."""
        return np.ascontiguousarray(self.item[self.worker_order])

    @cached_property
    def label_by_worker(self) -> np.ndarray:
        """Label codes in :attr:`worker_order`, shape (n_judgments,), int32."""
        return np.ascontiguousarray(self.label[self.worker_order])

    @cached_property
    def n_labels_per_item(self) -> np.ndarray:
        """Class (non-abstention) judgments per item, shape (n_items,), int64."""
        return np.bincount(self.item[self.label >= 0], minlength=self.n_items)

    @cached_property
    def n_na_per_item(self) -> np.ndarray:
        """Abstentions per item, shape (n_items,), int64."""
        return np.bincount(self.item[self.label < 0], minlength=self.n_items)

    @cached_property
    def n_judgments_per_worker(self) -> np.ndarray:
        """All judgments (abstentions included) per worker, shape (n_workers,), int64."""
        return np.bincount(self.worker, minlength=self.n_workers)

    @cached_property
    def n_na_per_worker(self) -> np.ndarray:
        """Abstentions per worker, shape (n_workers,), int64."""
        return np.bincount(self.worker[self.label < 0], minlength=self.n_workers)

    def source_rows(self, positions: np.ndarray) -> tuple[pl.Series, pl.Series]:
        """The input file and its 1-based data row of each ``input_row`` position (as in errors and
        the quarantine); ``(source, row)``, both null where the position (negative) or the files
        are unknown."""
        return file_rows(self.input_files, positions)

    def judgment_rows(self, idx: np.ndarray) -> pl.DataFrame:
        """``source, row, item, worker, label`` of the judgments at positions ``idx``: where each came
        from (as in errors and the quarantine) and what it says (label null for an abstention)."""
        import polars as pl

        idx = np.asarray(idx, dtype=np.int64)
        source, row = self.source_rows(self.input_row[idx] if self.input_row is not None else np.full(idx.size, -1))
        label = self.label[idx]
        classes = pl.Series(list(self.classes), dtype=pl.String)
        names = classes.gather(np.maximum(label, 0).astype(np.int64)) if idx.size and classes.len() \
            else pl.Series([None] * idx.size, dtype=pl.String)
        if (label < 0).any():
            names = names.scatter(np.flatnonzero(label < 0), None)
        return pl.DataFrame({"source": source, "row": row,
                             "item": self.item_ids.gather(self.item[idx].astype(np.int64)),
                             "worker": self.worker_ids.gather(self.worker[idx].astype(np.int64)),
                             "label": names})

    def accounting_line(self) -> str:
        """The row-accounting sentence the CLI prints."""
        return (
            f"input rows {self.n_input_rows} = used {self.n_judgments} "
            f"+ quarantined {self.n_quarantined}"
        )

    def gold_accounting_line(self) -> str | None:
        """The gold row-accounting sentence, or None when no gold was given."""
        if self.gold is None:
            return None
        n_quarantined = 0 if self.gold_quarantine is None else self.gold_quarantine.height
        n_used = self.n_gold_rows - n_quarantined
        return f"gold rows {self.n_gold_rows} = used {n_used} + quarantined {n_quarantined}"

    def __repr__(self) -> str:
        return (
            f"Judgments({self.n_judgments} judgments, {self.n_items} items, "
            f"{self.n_workers} workers, {self.n_classes} classes, source={self.source!r})"
        )


def _offsets(sorted_codes: np.ndarray, n_groups: int) -> np.ndarray:
    """CSR offsets of a sorted code array: shape (n_groups + 1,), int64."""
    from consensus.kernels.sort import group_offsets  # O(n), no int64 temporary

    if sorted_codes.size and (sorted_codes.min() < 0 or sorted_codes.max() >= n_groups):
        offsets = np.zeros(n_groups + 1, dtype=np.int64)  # out-of-range codes: numpy raises
        np.cumsum(np.bincount(sorted_codes, minlength=n_groups), out=offsets[1:])
        return offsets
    return group_offsets(np.ascontiguousarray(sorted_codes), int(n_groups))


def file_rows(input_files: pl.DataFrame | None, positions: np.ndarray) -> tuple[pl.Series, pl.Series]:
    """``(source, row)`` of each 0-based position in a concatenated input.

    ``input_files``: ``source`` and ``first_row`` (first position) per file, in order. ``row`` is
    1-based within its file. Null where a position is negative or ``input_files`` is None.
    """
    import polars as pl

    positions = np.asarray(positions, dtype=np.int64)
    if input_files is None or input_files.height == 0:
        return (pl.Series("source", [None] * positions.size, dtype=pl.String),
                pl.Series("row", [None] * positions.size, dtype=pl.Int64))
    first = input_files.get_column("first_row").to_numpy()
    segment = np.maximum(np.searchsorted(first, positions, side="right") - 1, 0)
    unknown = np.flatnonzero(positions < 0)
    source = input_files.get_column("source").gather(segment).alias("source")
    row = pl.Series("row", positions - first[segment] + 1, dtype=pl.Int64)
    if unknown.size:
        source, row = source.scatter(unknown, None), row.scatter(unknown, None)
    return source, row


def id_keys(ids: pl.Series) -> np.ndarray:
    """uint64 (n,): a key per id that depends on the id alone (not on the other ids or their order).

    The 64-bit FNV-1a hash of the id's UTF-8 text (:func:`consensus.kernels.vote.fnv1a_keys`); an
    integer id is hashed as its decimal text without building it (:func:`~consensus.kernels.vote.
    fnv1a_decimal_keys`), so ``5`` read from Parquet and ``"5"`` read from CSV get one key, and a
    delivery whose ids turn from integers to text when a text id joins keeps every other key.
    Stable across runs, machines and library versions.
    """
    import polars as pl
    import pyarrow as pa
    import pyarrow.compute as pc

    from consensus.kernels.vote import fnv1a_decimal_keys, fnv1a_keys

    if ids.dtype in (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32):
        return fnv1a_decimal_keys(np.ascontiguousarray(ids.cast(pl.Int64).to_numpy()))
    if ids.dtype == pl.UInt64:
        return fnv1a_decimal_keys(np.ascontiguousarray(ids.to_numpy()))
    # text, and integers wider than 64 bits (a JSON id past 2**63 reads as Int128): their decimal text
    strings = pc.cast(ids.cast(pl.String).to_arrow(), pa.large_string())
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    _, offsets, data = strings.buffers()
    offsets = np.frombuffer(offsets, dtype=np.int64)[strings.offset: strings.offset + len(strings) + 1]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
    return fnv1a_keys(np.ascontiguousarray(offsets), data)
