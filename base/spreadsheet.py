"""Cells a spreadsheet will not run: CSV formula injection neutralised as OWASP recommends.

A text cell starting with ``= + - @``, a tab or a carriage return is a formula to Excel,
LibreOffice Calc or WPS when a CSV is opened (``=HYPERLINK(...)`` in a grid id or a worker's
name would run on a supervisor's machine). Such a cell gets a leading single quote; numbers,
negative ones included, are numbers and stay as they are. Every CSV gridpatrol writes goes
through here (docs/api.md, docs/cli.md).
"""

from __future__ import annotations

import polars as pl

#: What a text cell must not start with (OWASP, "CSV Injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_PATTERN = r"^[=+\-@\t\r]"


def neutralise(value: object) -> object:
    """``value`` with a leading ``'`` when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def restore(value: str) -> str:
    """The text :func:`neutralise` was given (for gridpatrol reading its own CSV back)."""
    if value.startswith("'") and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


def neutralise_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with :func:`neutralise` applied to every text column."""
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(_FORMULA_PATTERN))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name, dtype in frame.schema.items()
        if dtype == pl.String
    )
