"""Commands to devices and their outcomes (``device_commands``): one append per command, when
it ended, and the named reads (docs/storage.md)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from tracks.schema import DEVICE_COMMANDS
from tracks.sql import execute_with
from tracks.store import Store


def record_commands(store: Store, rows: list[dict[str, object]]) -> None:
    """Append ended commands (rows of ``device_commands``' columns), in one transaction."""
    if not rows:
        return
    frame = pl.DataFrame(rows, schema=DEVICE_COMMANDS.schema)
    with store.transaction() as con:
        execute_with(
            con, "command_rows", frame, "INSERT INTO device_commands SELECT * FROM command_rows"
        )


def read_commands(store: Store, device_id: str, since: dt.datetime) -> pl.DataFrame:
    """A device's commands sent at or after ``since``, oldest first."""
    return store.read(
        "SELECT * FROM device_commands WHERE device_id = ? AND sent_at >= ? ORDER BY sent_at",
        [device_id, since],
    )
