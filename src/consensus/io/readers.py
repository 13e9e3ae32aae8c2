"""Read delivery files and frames into one polars DataFrame.

Text formats (CSV, TSV, JSONL) are read with every column as a string so ids
stay exactly as written (``007`` stays ``007``). Each row gets two bookkeeping
columns: ``__source`` (file name) and ``__row`` (1-based data-row number in
that file; the first row after the header is row 1).
"""

from __future__ import annotations

import csv
import glob as globmod
import gzip
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
        if any(ch in text for ch in "*?[") and not Path(text).is_file():
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
    if suffix != ".gz" and suffix in (*_TEXT_SUFFIXES, *_JSONL_SUFFIXES, *_JSON_SUFFIXES):
        _check_utf8_encoding(path)
    try:
        separator = _sniff_separator(path, suffix) if suffix in _TEXT_SUFFIXES else ","
    except (OSError, EOFError) as exc:  # unreadable, or a broken .gz
        raise InputError(f"cannot be read: {_first_line(exc)}", source=name) from None
    if suffix in _TEXT_SUFFIXES:
        _check_header_names(path, separator)
    try:
        if suffix in _TEXT_SUFFIXES:
            frame = pl.read_csv(
                path,
                separator=separator,
                infer_schema=False,
                quote_char='"',
                truncate_ragged_lines=False,
                glob=False,  # the path is a file already expanded; [1] in a name is literal
            )
        elif suffix in _PARQUET_SUFFIXES:
            frame = pl.read_parquet(path, glob=False)
        elif suffix in _JSONL_SUFFIXES:
            with open(path, "rb") as handle:  # a handle, so [1] in a name is not a glob
                frame = pl.read_ndjson(handle, infer_schema_length=None)
        elif suffix in _JSON_SUFFIXES:
            with open(path, "rb") as handle:
                frame = pl.read_json(handle, infer_schema_length=None)
            _check_json_array(path)  # polars reads an object as one record; a typo, never a delivery
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
    except (pl.exceptions.PolarsError, OSError, EOFError, ValueError) as exc:
        if suffix in _TEXT_SUFFIXES:
            _check_ragged(path, separator)
        if suffix in (*_JSONL_SUFFIXES, *_JSON_SUFFIXES):
            # polars' JSON errors name no record or field: read it again with the standard library,
            # which names the line of a syntax error and reads NaN (as Python's json.dump writes it)
            frame = _read_json_records(path, suffix in _JSONL_SUFFIXES)
        else:
            raise InputError(f"cannot be read: {_first_line(exc)}", source=name) from None
    if frame.height == 0:
        if suffix in _TEXT_SUFFIXES and _bare_carriage_returns(path):
            raise InputError("lines end with a bare carriage return (classic Mac OS); "
                             "save the file with \\n or \\r\\n line endings", source=name)
        raise InputError("file has a header but no data rows", source=name)
    if suffix in _TEXT_SUFFIXES and frame.width and frame.get_column(frame.columns[-1]).null_count():
        # polars pads a row with too few fields with nulls; only such rows can be short.
        _check_ragged(path, separator, frame)
    return _with_bookkeeping(frame, name)


def _check_header_names(path: Path, separator: str) -> None:
    """Raise :class:`InputError` when two header fields have the same name.

    polars would rename the second one (``label_duplicated_0``) and read on:
    the values of one of the two columns would silently go unused.
    """
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:  # type: ignore[operator]
            reader = csv.reader(handle, delimiter=separator, quotechar='"')
            header = next((record for record in reader if record), [])  # polars skips blank lines too
    except (OSError, UnicodeDecodeError, csv.Error, EOFError):
        return  # polars reports an unreadable or empty file
    seen: dict[str, int] = {}
    for position, field in enumerate(header, start=1):
        if field == "":
            continue  # unnamed (trailing) columns cannot be used anyway; spreadsheets export them
        if field in seen:
            raise InputError(
                f"the header names column {field!r} twice (fields {seen[field]} and {position}); "
                "rename one so that no values are silently ignored",
                source=str(path))
        seen[field] = position


def _bare_carriage_returns(path: Path) -> bool:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rb") as handle:  # type: ignore[operator]
            head = handle.read(1 << 16)
    except (OSError, EOFError):
        return False
    return b"\r" in head.rstrip(b"\r") and b"\n" not in head


def _check_utf8_encoding(path: Path) -> None:
    """Raise :class:`InputError` for a UTF-16 or UTF-32 file (its byte-order mark), which would
    otherwise show as a garbled header."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    for mark, encoding in ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
                           (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16")):
        if head.startswith(mark):
            raise InputError(f"is {encoding} encoded; save it as UTF-8", source=str(path))


def _json_text(value: object) -> str | None:
    """A JSON scalar as text, as it is written in JSON (``true``, ``5``, ``NaN``); strings as they are."""
    import json

    return value if isinstance(value, str) or value is None else json.dumps(value)


def _read_json_records(path: Path, lines: bool) -> pl.DataFrame:
    """Records of a ``.json`` array or ``.jsonl`` file read with :mod:`json`, every value as text; an
    :class:`InputError` naming the line of a syntax error, or the record and field of a nested value."""
    import json

    name = str(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"is not UTF-8 text (byte {exc.start + 1})", source=name) from None
    if lines:
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(f"line {number}, column {exc.colno}: not valid JSON ({exc.msg})", source=name) from None
    else:
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})", source=name) from None
        if not isinstance(records, list):
            _check_json_array(path)
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise InputError(f"record {number} is not a JSON object", source=name)
        for key, value in record.items():
            if isinstance(value, (list, dict)):
                kind = "a list" if isinstance(value, list) else "a record"
                raise InputError(f"record {number}, field {key!r}: holds {kind}; every field must be one value "
                                 "(text or a number)", source=name)
    keys = list(dict.fromkeys(key for record in records for key in record))
    return pl.DataFrame({key: pl.Series(key, [_json_text(r.get(key)) for r in records], dtype=pl.String)
                         for key in keys})


def _check_json_array(path: Path) -> None:
    """Raise :class:`InputError` unless a ``.json`` file holds an array (of records)."""
    with open(path, "rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head and not head.startswith(b"["):
        kind = "an object" if head.startswith(b"{") else "a single value"
        raise InputError(
            f"holds {kind}; a .json input must be an array of records such as "
            '[{"item": ..., "worker": ..., "label": ...}, ...] (or use .jsonl, one record per line)',
            source=str(path))


def check_scalar_columns(frame: pl.DataFrame, columns: Iterable[str | None], what: str = "") -> None:
    """Raise :class:`InputError` when a column that is used holds lists, records or bytes.

    ``frame`` comes from :func:`read_table` (with ``__source`` and ``__row``); the
    message names the file and the first row holding such a value.
    """
    for column in columns:
        if column is None or column not in frame.columns:
            continue
        dtype = frame.schema[column]
        if not (dtype.is_nested() or dtype in (pl.Binary, pl.Object)):
            continue
        present = frame.filter(pl.col(column).is_not_null())
        if present.height == 0:
            continue
        first = present.row(0, named=True) if SOURCE_COL in frame.columns else {}
        kind = {pl.List: "lists", pl.Array: "lists", pl.Struct: "records",
                pl.Binary: "raw bytes", pl.Object: "Python objects"}.get(dtype.base_type(), str(dtype))
        raise InputError(
            f"holds {kind} ({dtype}){' as the ' + what if what else ''}; one number or text per row "
            "is expected: store one value per row (or name another column)",
            source=first.get(SOURCE_COL), column=column,
            rows=[first[ROW_COL]] if ROW_COL in first else None)


def _check_ragged(path: Path, separator: str, frame: pl.DataFrame | None = None) -> None:
    """Raise :class:`InputError` naming the rows whose field count differs from the header.

    A short row would otherwise be read with nulls in its last columns (a label
    silently turned into "no answer"); a long one cannot be placed at all.
    Short rows are accepted when every column they lack is empty throughout
    ``frame``: MTurk batch results end the header with ``Approve,Reject`` but
    leave those two fields out of every data row, and nothing is lost.
    """
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return
    bad: list[tuple[int | None, int, int]] = []
    header_lines = 1

    def handler(row: object) -> str:
        number = getattr(row, "number", None)
        bad.append((None if number is None else number - header_lines,  # lines up to the header
                    getattr(row, "expected_columns", 0), getattr(row, "actual_columns", 0)))
        return "skip"

    try:
        opener = gzip.open if path.suffix.lower() == ".gz" else open
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:  # type: ignore[operator]
            reader = csv.reader(handle, delimiter=separator, quotechar='"')
            header = next((record for record in reader if record), None)  # polars skips blank lines too
            header_lines = reader.line_num
        if not header:
            return
        names = [f"f{k}" for k in range(len(header))]
        # Only the field count matters: name the columns, convert just the first one, as text.
        pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False, skip_rows=header_lines, column_names=names),
            parse_options=pacsv.ParseOptions(delimiter=separator, quote_char='"',
                                             newlines_in_values=True, invalid_row_handler=handler),
            convert_options=pacsv.ConvertOptions(include_columns=names[:1],
                                                 column_types={names[0]: pa.string()}),
        )
    except (pa.ArrowException, OSError, ValueError, UnicodeDecodeError, StopIteration, csv.Error):
        return
    if not bad:
        return
    expected = bad[0][1]
    if frame is not None and all(actual < expected for _, _, actual in bad):
        lacking = frame.columns[min(actual for _, _, actual in bad):expected]
        if all(frame.get_column(c).null_count() == frame.height for c in lacking):
            return
    counts = sorted({actual for _, _, actual in bad})
    rows = _ragged_row_numbers(path, separator, expected)
    if rows is None:
        rows = [number for number, _, _ in bad if number is not None]
    raise InputError(
        f"ragged rows: the header has {expected} fields but {len(bad)} "
        f"row{'s have' if len(bad) > 1 else ' has'} {'/'.join(str(c) for c in counts)}; "
        "check the separator and the quoting of these rows",
        source=str(path), rows=rows,
    )


def _ragged_row_numbers(path: Path, separator: str, expected: int) -> list[int] | None:
    """Data-row numbers (1 = the first line after the header) of the rows without ``expected`` fields.

    Numbered as the reader and the quarantine number rows: a blank line is a row
    (read as all-empty and quarantined), so the error and the quarantine agree;
    pyarrow's own numbers skip blank lines. ``None`` if the file cannot be re-read.
    Only runs on the error path, so a second pass over the file costs nothing in the normal case.
    """
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    rows: list[int] = []
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:  # type: ignore[operator]
            reader = csv.reader(handle, delimiter=separator, quotechar='"')
            if next((record for record in reader if record), None) is None:
                return None
            for number, record in enumerate(reader, start=1):
                if record and len(record) != expected:
                    rows.append(number)
    except (OSError, UnicodeDecodeError, csv.Error, EOFError):
        return None
    return rows or None


def _sniff_separator(path: Path, suffix: str) -> str:
    if suffix in {".tsv", ".tab"}:
        return "\t"
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as handle:  # type: ignore[operator]
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
