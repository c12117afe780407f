"""A ping as ingest builds it: the decoder's numpy buffers and the batch DataFrame.

Both are derived from :data:`tracks.schema.PING_COLUMNS`, the one declaration of the
``pings`` table (its SQL, polars and numpy types); ``tests/ingest/test_schema.py`` checks
they agree.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from tracks.schema import PING_COLUMNS, PINGS, TS_UNIT

__all__ = ["PING_COLUMNS", "PING_DTYPE", "PING_SCHEMA", "TS_UNIT", "pings_from_columns"]

#: Numeric columns as one numpy structured dtype (timestamps as float epoch seconds).
PING_DTYPE = np.dtype([(c.name, c.numpy) for c in PING_COLUMNS if c.numpy != "O"])

#: The same columns as polars sees them in a batch.
PING_SCHEMA = PINGS.schema

#: Optional float fields of a ping (NaN in buffers, NULL in the table).
OPTIONAL_FIELDS = ("acc", "spd", "hdg", "alt", "bat", "sat", "alarm")

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
            s = pl.Series(c.name, values.astype(c.numpy), nan_to_null=True).cast(c.polars)
        else:
            s = pl.Series(c.name, values, dtype=c.polars)
        data[c.name] = s
    return pl.DataFrame(data)
