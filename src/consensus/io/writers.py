"""Write result tables; the format follows the file extension."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import polars as pl

from consensus.errors import ParameterError

FORMATS = (".csv", ".tsv", ".parquet", ".json", ".jsonl", ".ndjson")


def write_table(frame: pl.DataFrame, path: str | os.PathLike[str] | None) -> None:
    """Write ``frame`` to ``path`` (CSV to stdout when ``path`` is None or ``-``).

    ``.csv``/``.tsv`` text, ``.parquet``, ``.json`` (an array of records) or
    ``.jsonl``/``.ndjson`` (one record per line). Parent folders are created.

    Raises
    ------
    ParameterError
        The extension is not one of the formats above.
    """
    if path is None or str(path) == "-":
        sys.stdout.write(frame.write_csv())
        return
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ParameterError(
            f"cannot write {str(path)!r}: unknown output extension {suffix or '(none)'!r}; "
            f"use one of {', '.join(FORMATS)}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        frame.write_csv(path)
    elif suffix == ".tsv":
        frame.write_csv(path, separator="\t")
    elif suffix == ".parquet":
        frame.write_parquet(path)
    elif suffix == ".json":
        frame.write_json(path)
    else:
        frame.write_ndjson(path)
