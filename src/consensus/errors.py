"""Errors raised for bad input and bad parameters.

Every message is one line that names what is wrong and where (file, row,
column) and, where possible, what to do instead. The CLI turns these into
exit status 2 without a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence


class ConsensusError(Exception):
    """Base class of every error this package raises on purpose."""


class InputError(ConsensusError, ValueError):
    """An input file or frame cannot be used as given.

    Parameters
    ----------
    message : str
        What is wrong and what to do about it.
    source : str, optional
        File name (or ``"<frame>"``) the problem was found in.
    column : str, optional
        Column the problem was found in.
    rows : sequence of int, optional
        1-based data-row numbers (the first row after the header is row 1).
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        column: str | None = None,
        rows: Sequence[int] | None = None,
    ) -> None:
        self.source = source
        self.column = column
        self.rows = list(rows) if rows is not None else []
        where = []
        if source:
            where.append(str(source))
        if column:
            where.append(f"column {column!r}")
        if self.rows:
            where.append(_format_rows(self.rows))
        prefix = ", ".join(where)
        text = f"{prefix}: {message}" if prefix else message
        # one line whatever the input holds (a header field or value with a line break in it)
        super().__init__(text.replace("\r", "\\r").replace("\n", "\\n"))


class ParameterError(ConsensusError, ValueError):
    """A parameter of an estimator or command has an invalid value."""


def _format_rows(rows: Sequence[int], shown: int = 5) -> str:
    head = ", ".join(str(r) for r in rows[:shown])
    more = f" and {len(rows) - shown} more" if len(rows) > shown else ""
    noun = "row" if len(rows) == 1 else "rows"
    return f"{noun} {head}{more}"


def check_param(owner: str, name: str, value: object, ok: bool, expected: str) -> None:
    """Raise :class:`ParameterError` in scikit-learn's wording unless ``ok``."""
    if not ok:
        raise ParameterError(
            f"The {name!r} parameter of {owner} must be {expected}. Got {value!r} instead."
        )
