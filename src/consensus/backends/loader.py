"""Load a delivery into resident partitions by item, with global code books.

Passes (each a set of tasks; only small summaries reach the driver):

1. read every input piece (a file, or a partition of a dask DataFrame) into the
   role columns, and return its rows and unique item ids (a file is not kept:
   it is read again in step 3, so the whole input never sits in memory);
2. when an item occurs in more than one piece the input is not partitioned by
   item: a one-time repartition hashes item ids into ``n_partitions`` buckets
   (logged); otherwise every file is a partition, placed on the process that
   will keep it (:meth:`Backend.spread`);
3. validate every partition exactly as :func:`consensus.io.judgments.read_judgments`
   does (quarantine reasons, duplicate policy; a partition holds all rows of its
   items in input order, so the duplicate rules give the same answer), code it
   with its own sorted ids (compact int32 arrays; the frames are dropped) and
   return its unique items, workers and labels;
4. on the driver, merge those into the global code books (classes sorted as
   ``read_judgments`` sorts them, worker and item ids sorted: local order is
   global order), then give every partition its global codes (labels renumbered).

A polars (or pandas) frame is scattered and split by hashed item id in a task.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from consensus.backends import tasks
from consensus.backends.base import Backend
from consensus.errors import InputError, ParameterError
from consensus.io.judgments import DEFAULT_NA_LABELS, DUPLICATE_POLICIES, natural_sort


@dataclass
class PartitionedJudgments:
    """Judgments held by a backend as resident partitions, with the global code books.

    Attributes
    ----------
    backend : Backend
    parts : list
        Handles of the resident :class:`consensus.backends.tasks.Partition` objects.
    workers : list of int64 arrays
        Global worker codes present in each partition (sorted).
    item_codes : list of int64 arrays
        Global item code of each partition's items (in the partition's item order).
    item_ids, worker_ids : polars.Series
        Global code books (sorted ids, as ``read_judgments`` makes them).
    classes : list of str
    n_input_rows, n_judgments : int
    quarantine : polars.DataFrame
        Unused rows with a ``reason`` (partition order).
    n_judgments_per_worker, n_na_per_worker : int64 (n_workers,)
    n_labels_per_item, n_na_per_item : int64 (n_items,)
    repartitioned : bool
        Whether the one-time repartition by item ran.
    source : str
    """

    backend: Backend
    parts: list[Any]
    workers: list[np.ndarray]
    item_codes: list[np.ndarray]
    item_ids: pl.Series
    worker_ids: pl.Series
    classes: list[str]
    n_input_rows: int
    n_judgments: int
    quarantine: pl.DataFrame
    n_judgments_per_worker: np.ndarray
    n_na_per_worker: np.ndarray
    n_labels_per_item: np.ndarray
    n_na_per_item: np.ndarray
    repartitioned: bool = False
    source: str = "<partitions>"
    gold: None = None
    gold_quarantine: None = None
    notes: list[str] = field(default_factory=list)

    @property
    def n_partitions(self) -> int:
        return len(self.parts)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def item_keys(self) -> np.ndarray:
        """uint64 (n_items,): per-item keys of the seeded tie-break, as ``Judgments.item_keys``."""
        from consensus.data import id_keys

        return id_keys(self.item_ids)

    @property
    def n_workers(self) -> int:
        return len(self.worker_ids)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n_quarantined(self) -> int:
        return self.quarantine.height

    def accounting_line(self) -> str:
        return f"input rows {self.n_input_rows} = used {self.n_judgments} + quarantined {self.n_quarantined}"

    def gold_accounting_line(self) -> None:
        return None

    def to_global_items(self, per_part: Sequence[np.ndarray]) -> np.ndarray:
        """Stack per-partition item rows into global item order (rows ``item_codes[p]``)."""
        first = np.asarray(per_part[0])
        out = np.empty((self.n_items, *first.shape[1:]), dtype=first.dtype)
        for rows, codes in zip(per_part, self.item_codes):
            out[codes] = rows
        return out

    def map_rows(self, func: Callable[..., Any], rows: tuple[np.ndarray, ...] | None, *shared: Any,
                 per_worker: tuple[str, ...] | None = None) -> Any:
        """``func(part, rows_p, sliced, *shared)`` on every partition.

        ``rows`` are per-worker arrays (first axis: global worker code), shipped
        by :meth:`Backend.ship_rows` (only each partition's rows, or one copy
        per process) and released afterwards.

        Returns the results in partition order, or with ``per_worker`` (the
        keys of per-worker arrays in the dicts the tasks return) their total
        from :meth:`Backend.map_reduce`, with those arrays made dense (one row
        per global worker).
        """
        backend = self.backend
        handles, sliced, owned = backend.ship_rows(self.parts, self.workers, self.n_workers, rows)
        per_part = [(h,) for h in handles]
        try:
            if per_worker is None:
                return backend.map_gather(func, self.parts, sliced, *shared, per_part=per_part)
            total = backend.map_reduce(func, self.parts, sliced, *shared, per_part=per_part, per_worker=per_worker)
        finally:
            backend.release(owned)
        for key in per_worker:
            if key in total:
                total[key] = backend.dense_by_worker(total, key, self.n_workers)
        total.pop("workers", None)
        return total

    def release(self) -> None:
        self.backend.release(self.parts)

    def __repr__(self) -> str:
        return (f"PartitionedJudgments({self.n_judgments} judgments, {self.n_items} items, {self.n_workers} "
                f"workers, {self.n_classes} classes, {self.n_partitions} partitions, source={self.source!r})")


def load_partitions(
    backend: Backend,
    source: Any,
    *,
    item_col: str | None = None,
    worker_col: str | None = None,
    label_col: str | None = None,
    duration_col: str | None = None,
    start_col: str | None = None,
    submit_col: str | None = None,
    na_labels: Iterable[str] | None = DEFAULT_NA_LABELS,
    classes: Sequence[str] | None = None,
    duplicates: str = "first",
    n_partitions: int | None = None,
    log: Callable[[str], None] | None = None,
) -> PartitionedJudgments:
    """Read, validate and integer-code ``source`` into partitions by item held by ``backend``.

    Parameters
    ----------
    backend : Backend
    source : path, glob, list of paths, polars or pandas DataFrame, or dask DataFrame
        As :func:`consensus.io.judgments.read_judgments` (Parquet globs are the
        intended input); a dask DataFrame is read partition by partition.
    item_col, worker_col, label_col, duration_col, start_col, submit_col, na_labels, classes, duplicates
        As :func:`~consensus.io.judgments.read_judgments` (gold is not supported here).
    n_partitions : int, optional
        Partitions made when the input has to be split by item (default ``backend.n_partitions``).
    log : callable, optional
        Receives progress messages (e.g. the repartition notice).

    Returns
    -------
    PartitionedJudgments

    Raises
    ------
    InputError
        As ``read_judgments``: missing files or columns, no usable row, duplicates
        with ``duplicates="error"``, only abstentions.
    """
    if duplicates not in DUPLICATE_POLICIES:
        raise ParameterError(f"The 'duplicates' parameter must be one of {DUPLICATE_POLICIES}. "
                             f"Got {duplicates!r} instead.")
    declared = [str(c) for c in classes] if classes is not None else None
    if declared is not None and len(set(declared)) != len(declared):
        raise ParameterError("The 'classes' parameter must not repeat a class.")
    n_out = _partition_count(n_partitions, backend)
    say = log or (lambda message: None)
    na_set = sorted({str(v).strip().lower() for v in (na_labels or ())})
    columns = {"item": item_col, "worker": worker_col, "label": label_col, "duration": duration_col,
               "start": start_col, "submit": submit_col}
    paths, pieces, name = _read_pieces(backend, source, columns)
    if paths is not None:  # files: read here for the summaries, read again where they are prepared
        summaries = backend.map_gather(tasks.path_summary, paths, columns)
    else:
        summaries = backend.map_gather(tasks.piece_summary, pieces)
    cmap = summaries[0][2]
    for index, summary in enumerate(summaries):
        if summary[2] != cmap and paths is not None:
            # read_judgments resolves the columns once, on all files together; the tasks resolve them per
            # file, so two layouts would be read differently by the two engines: refuse rather than differ
            def layout(m: Any) -> str:
                return ", ".join(f"{role} {getattr(m, role)!r}" for role in ("item", "worker", "label", "duration",
                                                                           "started", "submitted")
                                 if getattr(m, role) is not None)
            raise InputError(f"the files do not name their columns alike ({paths[0]}: {layout(cmap)}; this file: "
                             f"{layout(summary[2])}); the partitioned engine needs one layout: rename the "
                             "columns, or fit in memory (--engine local / engine='local')", source=paths[index])
        if summary[2].gold is not None:  # detected, e.g. a column named "gold": it would be ignored
            raise InputError(f"column {summary[2].gold!r} holds gold answers, which the partitioned engine does "
                             "not use yet; fit in memory (--engine local / engine='local') to use them, or drop "
                             "the column", source=paths[index] if paths is not None else name,
                             column=summary[2].gold)
    n_input_rows = sum(s[0] for s in summaries)
    notes: list[str] = []
    repartitioned = False
    # duplicates="error" is judged on the whole input below (a partition sees only its own duplicates)
    policy = "first" if duplicates == "error" else duplicates
    shared = _shared_item(summaries) if paths is not None and len(paths) > 1 else None
    if paths is not None and len(paths) > 1 and shared is None:
        # every file holds whole items: one partition per file, prepared where it will stay
        prepared = backend.map(tasks.prepare_path, paths, columns, na_set, declared, policy,
                               where=backend.spread([s[0] for s in summaries]))
        spread = False
    else:
        if paths is not None:
            pieces = backend.map(tasks.read_piece, paths, columns)
        splits = backend.map(tasks.split_piece, pieces, n_out)
        backend.release(pieces)
        frames = [backend.submit(tasks.take_bucket, b, *splits) for b in range(n_out)]
        backend.release(splits)
        if shared is not None:
            item, first, second = shared
            repartitioned = True
            notes.append(f"input is not partitioned by item (item {item!r} is in pieces {first} and {second}): "
                         f"repartitioned {len(paths or ())} pieces into {n_out} partitions by hashed item id "
                         "(one-time)")
        elif paths is not None:
            notes.append(f"split {name} into {n_out} partitions by hashed item id")
        prepared = backend.map(tasks.prepare, frames, cmap, na_set, declared, policy)
        backend.release(frames)
        spread = True
    for note in notes:
        say(note)
    info = backend.map_gather(tasks.prepared_summary, prepared)
    quarantine = _in_input_order(pl.concat([s["quarantine"] for s in info], how="vertical_relaxed"), paths)
    if duplicates == "error":
        _raise_on_duplicates(quarantine, cmap)
    n_used = sum(s["n_used"] for s in info)
    if n_used == 0:
        reasons = quarantine.get_column("reason").unique(maintain_order=True).head(3).to_list()
        raise InputError(f"no usable judgments: all {n_input_rows} rows were quarantined ({'; '.join(reasons)})",
                         source=name)
    keep = [p for p, s in enumerate(info) if s["n_used"] > 0]  # partitions with usable rows
    prepared_kept = [prepared[p] for p in keep]
    info = [info[p] for p in keep]
    class_names = declared if declared is not None else natural_sort(
        sorted({label for s in info for label in s["labels"]}))
    if not class_names:
        raise InputError("every judgment is an abstention (n/a); there is no class to aggregate", source=name)
    item_ids, item_codes = _code_book([s["items"] for s in info], "item")
    worker_ids, worker_codes = _code_book([s["workers"] for s in info], "worker")
    del info
    # the partitions stay where they are finalized: spread evenly over the processes (a one-time move of
    # the compact prepared partitions) unless they were prepared where they belong
    # (the code arrays go straight to the process holding each partition, not through the scheduler)
    codes = backend.scatter_near([(item_codes[p], worker_codes[p]) for p in range(len(keep))], prepared_kept)
    parts = backend.map(tasks.finalize, prepared_kept, class_names,
                        per_part=[(p, codes[p]) for p in range(len(keep))],
                        where=backend.spread([int(item_codes[p].size) for p in range(len(keep))]) if spread else None)
    backend.release(prepared)
    backend.release(codes)
    counts = backend.map_gather(tasks.partition_counts, parts)
    n_workers = len(worker_ids)
    data = PartitionedJudgments(
        backend=backend, parts=parts, workers=worker_codes, item_codes=item_codes, item_ids=item_ids,
        worker_ids=worker_ids, classes=list(class_names), n_input_rows=n_input_rows, n_judgments=n_used,
        quarantine=quarantine,
        n_judgments_per_worker=backend.reduce_by_worker([c["n_judgments"] for c in counts], worker_codes, n_workers),
        n_na_per_worker=backend.reduce_by_worker([c["n_na"] for c in counts], worker_codes, n_workers),
        n_labels_per_item=np.zeros(0), n_na_per_item=np.zeros(0), repartitioned=repartitioned, source=name,
        notes=notes)
    data.n_labels_per_item = data.to_global_items([c["n_labels_item"] for c in counts])
    data.n_na_per_item = data.to_global_items([c["n_na_item"] for c in counts])
    return data


def from_codes(backend: Backend, item: np.ndarray, worker: np.ndarray, label: np.ndarray, *,
               n_classes: int | None = None, n_partitions: int | None = None,
               duration: np.ndarray | None = None) -> PartitionedJudgments:
    """Partition integer codes (as :meth:`consensus.data.Judgments.from_codes`) by item range and scatter them.

    Item and worker ids are the codes; items are split into ``n_partitions``
    contiguous ranges. For benchmarks and tests that generate arrays directly.
    """
    item = np.asarray(item, dtype=np.int64)
    worker = np.asarray(worker, dtype=np.int64)
    label = np.asarray(label, dtype=np.int32)
    n_items = int(item.max()) + 1 if item.size else 0
    n_workers = int(worker.max()) + 1 if worker.size else 0
    if n_classes is None:
        n_classes = int(label.max()) + 1 if label.size else 0
    classes = [str(k) for k in range(n_classes)]
    n_out = _partition_count(n_partitions, backend)
    bounds = np.linspace(0, n_items, n_out + 1).astype(np.int64)
    order = np.argsort(item, kind="stable")
    cuts = np.searchsorted(item[order], bounds)
    parts, workers, item_codes, values = [], [], [], []
    for p in range(n_out):
        rows = order[cuts[p]:cuts[p + 1]]
        if rows.size == 0:
            continue
        local_items = np.arange(bounds[p], bounds[p + 1], dtype=np.int64)
        present = np.unique(worker[rows])
        values.append((len(parts), (item[rows] - bounds[p]).astype(np.int32),
                       np.searchsorted(present, worker[rows]).astype(np.int32), label[rows],
                       local_items, present, classes, None if duration is None else duration[rows]))
        parts.append(None)
        workers.append(present)
        item_codes.append(local_items)
    handles = backend.scatter(values)
    parts = [backend.submit(_from_codes_args, h) for h in handles]
    backend.release(handles)
    counts = backend.map_gather(tasks.partition_counts, parts)
    data = PartitionedJudgments(
        backend=backend, parts=parts, workers=workers, item_codes=item_codes,
        item_ids=pl.Series("item", np.arange(n_items, dtype=np.int64)),
        worker_ids=pl.Series("worker", np.arange(n_workers, dtype=np.int64)), classes=classes,
        n_input_rows=int(item.size), n_judgments=int(item.size),
        quarantine=pl.DataFrame(schema={"source": pl.String, "row": pl.Int64, "reason": pl.String}),
        n_judgments_per_worker=backend.reduce_by_worker([c["n_judgments"] for c in counts], workers, n_workers),
        n_na_per_worker=backend.reduce_by_worker([c["n_na"] for c in counts], workers, n_workers),
        n_labels_per_item=np.zeros(0), n_na_per_item=np.zeros(0), source="<codes>")
    data.n_labels_per_item = data.to_global_items([c["n_labels_item"] for c in counts])
    data.n_na_per_item = data.to_global_items([c["n_na_item"] for c in counts])
    return data


def _from_codes_args(args: tuple[Any, ...]) -> tasks.Partition:
    return tasks.from_codes(*args)


def _read_pieces(backend: Backend, source: Any,
                 columns: dict[str, str | None]) -> tuple[list[str] | None, list[Any], str]:
    """File paths (read by the tasks) or handles of ``(role frame, column map)`` pieces, and a name for messages."""
    from consensus.io.readers import describe_source, expand_paths, read_table

    if isinstance(source, (str, os.PathLike)) or (
            isinstance(source, (list, tuple)) and all(isinstance(s, (str, os.PathLike)) for s in source)):
        paths = expand_paths(source)  # raises InputError for missing files
        return [str(path) for path in paths], [], describe_source(source)
    if _is_dask_frame(source):
        return None, _dask_pieces(backend, source, columns), "<dask frame>"
    name = describe_source(source)
    raw = read_table(source)
    return None, backend.scatter([tasks.select_roles(raw, columns, name)]), name


def _is_dask_frame(source: Any) -> bool:
    return type(source).__module__.startswith("dask") and hasattr(source, "to_delayed")


def _dask_pieces(backend: Backend, frame: Any, columns: dict[str, str | None]) -> list[Any]:
    delayed = frame.to_delayed()
    client = getattr(backend, "client", None)
    if client is not None:
        pandas_parts = list(client.compute(delayed))
    else:
        pandas_parts = backend.scatter([d.compute() for d in delayed])
    lengths = backend.map_gather(len, pandas_parts)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    pieces = [backend.submit(tasks.read_pandas_piece, part, int(offsets[p]), columns)
              for p, part in enumerate(pandas_parts)]
    backend.release(pandas_parts)
    return pieces


def _partition_count(n_partitions: Any, backend: Backend) -> int:
    """``n_partitions`` checked (a positive integer), or the backend's default when None."""
    if n_partitions is None:
        return int(backend.n_partitions)
    if isinstance(n_partitions, bool) or not isinstance(n_partitions, (int, np.integer)) or n_partitions < 1:
        raise ParameterError(f"The 'n_partitions' parameter must be a positive integer or None. "
                             f"Got {n_partitions!r} instead.")
    return int(n_partitions)


def _raise_on_duplicates(quarantine: pl.DataFrame, cmap: Any) -> None:
    """``duplicates="error"``: the error ``read_judgments`` gives, from the quarantine of a ``"first"`` run.

    The count is over the whole input and the rows named are those of its first duplicated pair
    (input order) in that pair's file, the kept one included.
    """
    if quarantine.height == 0:
        return
    kept = pl.col("reason").str.extract(r"^duplicate judgment of the same \(item, worker\); kept (.*) row (\d+)$", 1)
    dups = quarantine.with_columns(kept.alias("__ks"), pl.col("reason").str.extract(r" row (\d+)$", 1)
                                   .cast(pl.Int64).alias("__kr")).filter(pl.col("__ks").is_not_null())
    if dups.height == 0:
        return
    first = dups.row(0, named=True)
    pair = dups.filter((pl.col("item") == first["item"]) & (pl.col("worker") == first["worker"])
                       & (pl.col("source") == first["source"]))
    rows = sorted(set(pair.get_column("row").to_list()) | ({first["__kr"]} if first["__ks"] == first["source"] else set()))
    n_dup = dups.height
    raise InputError(
        f"{n_dup} duplicate (item, worker) judgment{'s' if n_dup > 1 else ''} (columns "
        f"{cmap.item!r}, {cmap.worker!r}), e.g. item {first['item']!r} by worker {first['worker']!r}; "
        "keep one with duplicates='first' or 'last' (--duplicates first|last)",
        source=first["source"], rows=rows,
    )


def _in_input_order(quarantine: pl.DataFrame, paths: list[Any] | None) -> pl.DataFrame:
    """The quarantine in input order (file by file as given, then row), as ``read_judgments`` writes it.

    Partitions finish in partition order, which depends on how many there are.
    """
    if quarantine.height == 0 or "row" not in quarantine.columns:
        return quarantine
    if paths is None or "source" not in quarantine.columns:
        return quarantine.sort("row", maintain_order=True)
    file_order = {str(path): k for k, path in enumerate(paths)}
    position = pl.col("source").replace_strict(file_order, default=len(file_order), return_dtype=pl.Int64)
    return quarantine.sort(position, pl.col("row"), maintain_order=True)


def _shared_item(summaries: list[tuple[int, pl.Series, Any]]) -> tuple[str, int, int] | None:
    """An item id present in two pieces, with the two piece numbers (1-based), or None."""
    frame = pl.concat([pl.DataFrame({"item": s[1], "piece": pl.Series([p] * len(s[1]), dtype=pl.Int64)})
                       for p, s in enumerate(summaries)])
    frame = frame.filter(pl.col("item").is_not_null())  # rows without an item are quarantined, never shared
    dup = frame.filter(pl.col("item").is_duplicated())
    if dup.height == 0:
        return None
    item = dup.get_column("item")[0]
    where = sorted(dup.filter(pl.col("item") == item).get_column("piece").to_list())
    return item, where[0] + 1, where[1] + 1


def _code_book(uniques: list[pl.Series], name: str) -> tuple[pl.Series, list[np.ndarray]]:
    """Global sorted ids from per-partition sorted uniques, and each partition's global codes."""
    dtypes = {values.dtype for values in uniques}
    if len(dtypes) > 1:  # files typed differently (int32 and int64 ids, or numbers and text): as read_judgments
        common = pl.Int64 if all(d.is_integer() for d in dtypes) else pl.String
        uniques = [values.cast(common) for values in uniques]
    ids = pl.concat(uniques).unique().sort().alias(name)
    table = pl.DataFrame({"v": ids, "code": pl.int_range(len(ids), dtype=pl.Int64, eager=True)})
    codes = []
    for values in uniques:
        joined = pl.DataFrame({"v": values.cast(ids.dtype)}).join(table, on="v", how="left", maintain_order="left")
        codes.append(joined.get_column("code").to_numpy().astype(np.int64))
    return ids, codes
