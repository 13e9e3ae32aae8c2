"""Optional inputs of the redundancy advice: machine-model probabilities and row importance.

Both are validated here, at the boundary: a bad value raises
:class:`~consensus.errors.InputError` naming the file, column and rows; model
rows for items that are not in the delivery are quarantined with a reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from consensus.data import Judgments
from consensus.errors import InputError, ParameterError
from consensus.io.readers import ROW_COL, SOURCE_COL, Source, check_scalar_columns, describe_source, read_table

#: Rows whose probabilities sum to 1 within this are accepted (and renormalised).
SUM_TOLERANCE = 1e-3

#: Importance of the built-in categories (case-insensitive); numbers >= 1 are used as they are.
IMPORTANCE_CATEGORIES: dict[str, float] = {
    "low": 1.0, "normal": 1.0, "medium": 1.0, "high": 2.0, "critical": 10.0, "safety": 10.0,
}

_ITEM_NAMES = ("item", "item_id", "task", "task_id", "id")


@dataclass
class ModelProbs:
    """Machine-model probabilities aligned with a delivery's items.

    Attributes
    ----------
    probs : ndarray of float64, shape (n_items, n_classes)
        Rows renormalised to sum to one; NaN rows for items the model did not score.
    has_probs : ndarray of bool, shape (n_items,)
    n_rows : int
        Rows read from the file (used + quarantined).
    quarantine : polars.DataFrame
        Rows not used (item not in the delivery), with ``source``, ``row``, ``item`` and ``reason``.
    source : str
    """

    probs: np.ndarray
    has_probs: np.ndarray
    n_rows: int
    quarantine: pl.DataFrame
    source: str

    def accounting_line(self) -> str:
        used = self.n_rows - self.quarantine.height
        return f"model rows {self.n_rows} = used {used} + quarantined {self.quarantine.height}"


def read_model_probs(source: Source, judgments: Judgments, *, item_col: str | None = None) -> ModelProbs:
    """Read per-class model probabilities and align them with ``judgments``' items.

    Parameters
    ----------
    source : path or frame
        One row per item: an item column (``item_col``, or one of ``item``,
        ``item_id``, ``task``, ``task_id``, ``id``) and one probability column
        per class, named after the class (``cat``) or ``prob_<class>`` /
        ``p_<class>``. Other columns are ignored.
    judgments : Judgments
        The delivery; its item ids and classes decide the matching.
    item_col : str, optional

    Returns
    -------
    ModelProbs

    Raises
    ------
    InputError
        A column is missing or holds lists; a class has two probability columns;
        a ``prob_``/``p_`` column names a class the delivery does not have; an item
        appears twice; a probability is missing, not a number, negative, or a row
        does not sum to 1 (within 0.001).
    """
    name = describe_source(source)
    raw = read_table(source)
    columns = [c for c in raw.columns if c not in (SOURCE_COL, ROW_COL)]
    if item_col is None:
        item_col = next((c for c in columns if c.lower() in _ITEM_NAMES), None)
        if item_col is None:
            raise InputError(f"no item column; name it with item_col (columns: {columns})", source=name)
    elif item_col not in columns:
        raise InputError(f"item column {item_col!r} not found (columns: {columns})", source=name)
    class_cols = []
    for cls in judgments.classes:
        candidates = [c for c in (cls, f"prob_{cls}", f"p_{cls}") if c in columns and c != item_col]
        if len(candidates) > 1:
            raise InputError(f"class {cls!r} has several probability columns {candidates}; keep one",
                             source=name)
        found = candidates[0] if candidates else None
        if found is None:
            raise InputError(f"no probability column for class {cls!r}; expected {cls!r}, 'prob_{cls}' "
                             f"or 'p_{cls}' (columns: {columns})", source=name)
        class_cols.append(found)
    known = {str(c) for c in judgments.classes}
    for col in columns:
        prefix = next((p for p in ("prob_", "p_") if col.startswith(p)), None)
        if col not in class_cols and col != item_col and prefix and col[len(prefix):] not in known:
            raise InputError(f"probability column for class {col[len(prefix):]!r}, which is not a class of the "
                             f"delivery {judgments.classes}; declare it with --classes (classes= in Python) or "
                             "drop the column", source=name, column=col)
    check_scalar_columns(raw, [item_col], "model item")
    check_scalar_columns(raw, class_cols, "model probability")

    rows = raw.get_column(ROW_COL).to_numpy()
    values = np.empty((raw.height, len(class_cols)), dtype=np.float64)
    for k, col in enumerate(class_cols):
        series = raw.get_column(col)
        numeric = series.cast(pl.Float64, strict=False) if series.dtype != pl.Float64 else series
        bad = (numeric.is_null() | numeric.is_nan()).to_numpy() if numeric.dtype == pl.Float64 \
            else numeric.is_null().to_numpy()
        if bad.any():
            raise InputError("missing or non-numeric probability", source=name, column=col,
                             rows=rows[bad].tolist())
        values[:, k] = numeric.to_numpy()
        negative = values[:, k] < 0
        if negative.any():
            raise InputError("negative probability", source=name, column=col, rows=rows[negative].tolist())
        above = values[:, k] > 1.0 + SUM_TOLERANCE
        if above.any():
            raise InputError("probability above 1", source=name, column=col, rows=rows[above].tolist())
    sums = values.sum(axis=1)
    off = np.abs(sums - 1.0) > SUM_TOLERANCE
    if off.any():
        unread = [c for c in columns if c not in class_cols and c != item_col]
        raise InputError(f"probabilities of a row must sum to 1 (within {SUM_TOLERANCE}); first bad sum "
                         f"{sums[off][0]:.6g} over the columns of the delivery's classes {judgments.classes}"
                         + (f" (not read: {unread})" if unread else ""),
                         source=name, column=",".join(class_cols), rows=rows[off].tolist())
    values /= sums[:, None]

    items = raw.get_column(item_col).cast(pl.String)
    if items.null_count():
        raise InputError("missing item id", source=name, column=item_col,
                         rows=rows[items.is_null().to_numpy()].tolist())
    duplicated = items.is_duplicated().to_numpy()
    if duplicated.any():
        raise InputError("item listed more than once", source=name, column=item_col,
                         rows=rows[duplicated].tolist())
    known = pl.DataFrame({"item": judgments.item_ids.cast(pl.String),
                          "code": np.arange(judgments.n_items, dtype=np.int64)})
    code = pl.DataFrame({"item": items}).join(known, on="item", how="left", maintain_order="left") \
        .get_column("code").to_numpy()
    code = np.where(np.isnan(code.astype(np.float64)), -1, code).astype(np.int64)
    unknown = code < 0
    quarantine = pl.DataFrame({
        "source": raw.get_column(SOURCE_COL).filter(pl.Series(unknown)),
        "row": pl.Series(rows[unknown], dtype=pl.Int64),
        "item": items.filter(pl.Series(unknown)),
        "reason": pl.Series(["item not in the judgments"] * int(unknown.sum()), dtype=pl.String),
    })
    probs = np.full((judgments.n_items, judgments.n_classes), np.nan)
    probs[code[~unknown]] = values[~unknown]
    has = np.zeros(judgments.n_items, dtype=bool)
    has[code[~unknown]] = True
    return ModelProbs(probs, has, raw.height, quarantine, name)


def importance_per_item(judgments: Judgments, importance: Any, *,
                        categories: Mapping[str, float] | None = None) -> np.ndarray:
    """Importance of every item (float64, shape (n_items,), >= 1) from the forms the API accepts.

    ``importance`` is an array with one value per item (in item-code order), a
    mapping ``{item id: value}`` (missing items get 1), or a polars frame with
    columns ``item`` and ``importance``. Values are numbers >= 1 or category
    names (see :data:`IMPORTANCE_CATEGORIES`, overridable with ``categories``).
    """
    mapping = {k.lower(): float(v) for k, v in (categories or IMPORTANCE_CATEGORIES).items()}
    if isinstance(importance, pl.DataFrame):
        if not {"item", "importance"} <= set(importance.columns):
            raise ParameterError("The 'importance' frame must have columns 'item' and 'importance'; "
                                 f"got {importance.columns}.")
        pairs = importance.select(pl.col("item").cast(pl.String), pl.col("importance")).unique()
        repeated = pairs.filter(pl.col("item").is_duplicated()).get_column("item").unique().sort().to_list()
        if repeated:
            raise ParameterError(f"The 'importance' frame gives item {repeated[0]!r} more than one importance "
                                 f"({len(repeated)} such items); give one value per item.")
        importance = dict(zip(pairs.get_column("item").to_list(), pairs.get_column("importance").to_list(),
                              strict=True))
    if isinstance(importance, Mapping):
        ids = judgments.item_ids.cast(pl.String).to_list()
        text = {str(k): v for k, v in importance.items()}
        unknown = sorted(set(text) - set(ids))
        if unknown:
            raise ParameterError(f"The 'importance' values name {len(unknown)} item(s) the delivery does not have, "
                                 f"e.g. {unknown[0]!r}; check the item ids.")
        values = [text.get(i) for i in ids]
    else:
        values = list(np.asarray(importance, dtype=object).reshape(-1))
        if len(values) != judgments.n_items:
            raise ParameterError(f"The 'importance' array must have one value per item ({judgments.n_items}); "
                                 f"got {len(values)}.")
    out = np.ones(judgments.n_items, dtype=np.float64)
    for i, value in enumerate(values):
        parsed = _importance_value(value, mapping)
        if parsed is None:
            raise ParameterError(f"importance of item {judgments.item_ids[i]!r} is {value!r}; use a number >= 1 "
                                 f"or one of {sorted(mapping)}")
        out[i] = parsed
    return out


def importance_from_column(judgments: Judgments, source: Source, column: str, *,
                           categories: Mapping[str, float] | None = None) -> np.ndarray:
    """Per-item importance from a per-row column of the judgments input (the CLI's ``--importance-col``).

    Each used judgment row's value is parsed (a number >= 1, a category name, or
    empty = 1); an item's importance is the largest over its rows.

    Raises
    ------
    InputError
        The column is missing, or a used row holds a value that is not a number
        >= 1 or a known category (names the file, column and rows).
    """
    mapping = {k.lower(): float(v) for k, v in (categories or IMPORTANCE_CATEGORIES).items()}
    raw = read_table(source)
    if column not in raw.columns:
        shown = [c for c in raw.columns if c not in (SOURCE_COL, ROW_COL)]
        raise InputError(f"importance column {column!r} not found (columns: {shown})",
                         source=describe_source(source))
    if judgments.input_row is None:
        raise InputError("these judgments do not record their input rows; pass importance per item instead",
                         source=judgments.source)
    positions = np.asarray(judgments.input_row, dtype=np.int64)
    used = raw.select(pl.col(column), pl.col(SOURCE_COL), pl.col(ROW_COL))[positions]
    values = used.get_column(column).to_list()
    parsed = np.array([_importance_value(v, mapping) for v in values], dtype=object)
    bad = np.array([p is None for p in parsed], dtype=bool)
    if bad.any():
        first = np.flatnonzero(bad)[0]
        sources = used.get_column(SOURCE_COL).filter(pl.Series(bad)).unique(maintain_order=True).to_list()
        raise InputError(f"importance must be a number >= 1 or one of {sorted(mapping)}; got "
                         f"{values[first]!r}", source=", ".join(sources), column=column,
                         rows=sorted(used.get_column(ROW_COL).filter(pl.Series(bad)).to_list()))
    per_row = parsed.astype(np.float64)
    out = np.ones(judgments.n_items, dtype=np.float64)
    np.maximum.at(out, judgments.item, per_row)
    return out


def _importance_value(value: Any, mapping: Mapping[str, float]) -> float | None:
    """A parsed importance >= 1, 1 for empty/None, or None when invalid."""
    if value is None:
        return 1.0
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        number = float(value)
    else:
        text = str(value).strip()
        if not text:
            return 1.0
        if text.lower() in mapping:
            return mapping[text.lower()]
        try:
            number = float(text)
        except ValueError:
            return None
    if not np.isfinite(number) or number < 1.0:
        return None
    return number
