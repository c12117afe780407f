"""The one schema of a ping: its columns, their numpy, polars and SQL types.

Everything else (the decoder's column buffers, the batch DataFrame, the ``pings`` table)
is derived from :data:`PING_COLUMNS`; ``tests/ingest/test_schema.py`` checks they agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl


@dataclass(frozen=True)
class Column:
    name: str
    numpy: str  # numpy dtype of the column buffer ("O" for strings)
    polars: pl.DataType
    sql: str
    help: str


TS_UNIT: Literal["us"] = "us"

PING_COLUMNS: tuple[Column, ...] = (
    Column("device_id", "O", pl.String(), "VARCHAR NOT NULL", "device id from the topic"),
    Column("ts", "f8", pl.Datetime(TS_UNIT, "UTC"), "TIMESTAMPTZ NOT NULL", "fix time"),
    Column("lat", "f8", pl.Float64(), "DOUBLE NOT NULL", "WGS84 latitude, degrees"),
    Column("lon", "f8", pl.Float64(), "DOUBLE NOT NULL", "WGS84 longitude, degrees"),
    Column("acc", "f4", pl.Float32(), "REAL", "horizontal accuracy, m"),
    Column("spd", "f4", pl.Float32(), "REAL", "speed over ground, m/s"),
    Column("hdg", "f4", pl.Float32(), "REAL", "heading, degrees from north"),
    Column("alt", "f4", pl.Float32(), "REAL", "altitude, m"),
    Column("bat", "f4", pl.Float32(), "REAL", "battery, %"),
    Column(
        "flags", "u1", pl.UInt8(), "UTINYINT NOT NULL", "bit 1: poor accuracy, bit 2: speed outlier"
    ),
    Column("grid_id", "O", pl.String(), "VARCHAR", "leaf grid holding the fix, NULL outside all"),
    Column(
        "sent_at", "f8", pl.Datetime(TS_UNIT, "UTC"), "TIMESTAMPTZ", "device send time, if given"
    ),
    Column(
        "received_at", "f8", pl.Datetime(TS_UNIT, "UTC"), "TIMESTAMPTZ NOT NULL", "arrival time"
    ),
)

#: Numeric columns as one numpy structured dtype (timestamps as float epoch seconds).
PING_DTYPE = np.dtype([(c.name, c.numpy) for c in PING_COLUMNS if c.numpy != "O"])

#: The same columns as polars sees them in a batch.
PING_SCHEMA = pl.Schema({c.name: c.polars for c in PING_COLUMNS})

#: Optional float fields of a ping (NaN in buffers, NULL in the table).
OPTIONAL_FIELDS = ("acc", "spd", "hdg", "alt", "bat")

FLAG_POOR_ACCURACY = 1
FLAG_SPEED_OUTLIER = 2


def pings_from_columns(columns: dict[str, np.ndarray | pl.Series]) -> pl.DataFrame:
    """Build a batch DataFrame from decoder buffers (NaN optionals become NULL) and string
    columns (polars Series)."""
    data: dict[str, pl.Series] = {}
    for c in PING_COLUMNS:
        values = columns[c.name]
        if isinstance(values, pl.Series):
            s = values.alias(c.name).cast(c.polars)
        elif c.name in ("ts", "received_at"):
            s = pl.Series(c.name, np.round(values * 1e6).astype(np.int64)).cast(c.polars)
        elif c.name == "sent_at":
            micros = pl.Series(c.name, np.round(values * 1e6), nan_to_null=True)
            s = micros.cast(pl.Int64).cast(c.polars)
        elif c.name in OPTIONAL_FIELDS:
            s = pl.Series(c.name, values.astype(c.numpy), nan_to_null=True)
        else:
            s = pl.Series(c.name, values, dtype=c.polars)
        data[c.name] = s
    return pl.DataFrame(data)
