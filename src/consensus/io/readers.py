"""Read delivery files and frames into one polars DataFrame.

Text formats (CSV, TSV, JSONL) are read with every column as a string so ids
stay exactly as written (``007`` stays ``007``). Each row gets two bookkeeping
columns: ``__source`` (file name) and ``__row`` (1-based data-row number in
that file; the first row after the header is row 1).
"""

from __future__ import annotations

import glob as globmod
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from consensus.errors import InputError

SOURCE_COL = "__source"
ROW_COL = "__row"

_TEXT_SUFFIXES = {".csv", ".tsv", ".tab", ".txt"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}
_JSONL_SUFFIXES = {".jsonl", ".ndjson"}
_JSON_SUFFIXES = {".json"}

Source = str | os.PathLike[str] | pl.DataFrame | pl.LazyFrame | Any


def describe_source(source: Source) -> str:
    """A short human name for a source (used in messages)."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (list, tuple)):
        return ", ".join(describe_source(s) for s in source)
    if isinstance(source, (pl.DataFrame, pl.LazyFrame)):
        return "<polars frame>"
    return f"<{type(source).__module__.split('.')[0]} frame>"


def expand_paths(source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Expand a path, a glob or a list of them into existing files, in sorted order."""
    items: Iterable[str | os.PathLike[str]] = (
        source if isinstance(source, (list, tuple)) else [source]  # type: ignore[list-item]
    )
    paths: list[Path] = []
    for entry in items:
        text = str(entry)
        if any(ch in text for ch in "*?["):
            matches = sorted(globmod.glob(text, recursive=True))
            if not matches:
                raise InputError("no file matches this pattern", source=text)
            paths.extend(Path(m) for m in matches)
        else:
            path = Path(text)
            if not path.exists():
                raise InputError("file not found", source=text)
            if path.is_dir():
                raise InputError("is a directory; pass a file or a glob such as dir/*.csv", source=text)
            paths.append(path)
    return paths


def read_table(source: Source) -> pl.DataFrame:
    """Read ``source`` into one DataFrame with ``__source`` and ``__row`` columns.

    Parameters
    ----------
    source : path, glob, list of paths, polars DataFrame/LazyFrame or pandas DataFrame
        CSV, TSV, Parquet, JSONL/NDJSON or JSON (an array of records), chosen by
        file extension. Several files are stacked; columns missing from a file are null.

    Returns
    -------
    polars.DataFrame
        The rows of every file, in file order then row order.

    Raises
    ------
    InputError
        A file is missing, empty, unreadable or of an unknown type.
    """
    if isinstance(source, pl.LazyFrame):
        source = source.collect()
    if isinstance(source, pl.DataFrame):
        return _with_bookkeeping(source, "<polars frame>")
    if _is_pandas(source):
        frame = pl.from_pandas(source, include_index=False)
        return _with_bookkeeping(frame, "<pandas frame>")
    if not isinstance(source, (str, os.PathLike, list, tuple)):
        raise InputError(
            f"cannot read judgments from a {type(source).__name__}; pass a file path, "
            "a glob, a list of paths, or a polars/pandas DataFrame"
        )
    frames = [_read_file(path) for path in expand_paths(source)]
    if len(frames) == 1:
        return frames[0]
    try:
        return pl.concat(frames, how="diagonal_relaxed")
    except pl.exceptions.PolarsError as exc:  # incompatible column types across files
        raise InputError(
            f"files cannot be stacked: {_first_line(exc)}", source=describe_source(source)
        ) from None


def _read_file(path: Path) -> pl.DataFrame:
    name = str(path)
    suffixes = [s.lower() for s in path.suffixes]
    suffix = suffixes[-1] if suffixes else ""
    if suffix == ".gz" and len(suffixes) > 1:
        suffix = suffixes[-2]
    if path.stat().st_size == 0:
        raise InputError("file is empty", source=name)
    try:
        if suffix in _TEXT_SUFFIXES:
            frame = pl.read_csv(
                path,
                separator=_sniff_separator(path, suffix),
                infer_schema=False,
                quote_char='"',
                truncate_ragged_lines=False,
            )
        elif suffix in _PARQUET_SUFFIXES:
            frame = pl.read_parquet(path)
        elif suffix in _JSONL_SUFFIXES:
            frame = pl.read_ndjson(path, infer_schema_length=None)
        elif suffix in _JSON_SUFFIXES:
            frame = pl.read_json(path, infer_schema_length=None)
        else:
            raise InputError(
                f"unknown file type {suffix or '(no extension)'!r}; "
                "use .csv, .tsv, .parquet, .jsonl or .json",
                source=name,
            )
    except InputError:
        raise
    except pl.exceptions.NoDataError:
        raise InputError("file is empty", source=name) from None
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise InputError(f"cannot be read: {_first_line(exc)}", source=name) from None
    if frame.height == 0:
        raise InputError("file has a header but no data rows", source=name)
    return _with_bookkeeping(frame, name)


def _sniff_separator(path: Path, suffix: str) -> str:
    if suffix in {".tsv", ".tab"}:
        return "\t"
    with open(path, "rb") as handle:
        header = handle.readline()
    if suffix == ".txt" or (b"\t" in header and b"," not in header):
        return "\t" if header.count(b"\t") >= header.count(b",") else ","
    return ","


def _with_bookkeeping(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    clash = [c for c in (SOURCE_COL, ROW_COL) if c in frame.columns]
    if clash:
        raise InputError(f"column name {clash[0]!r} is reserved; rename it", source=name)
    return frame.with_columns(
        pl.lit(name, dtype=pl.String).alias(SOURCE_COL),
        pl.int_range(1, frame.height + 1, dtype=pl.Int64).alias(ROW_COL),
    )


def _is_pandas(obj: object) -> bool:
    return type(obj).__module__.startswith("pandas") and hasattr(obj, "columns")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
