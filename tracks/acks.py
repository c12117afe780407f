"""Operators' acknowledgements of alerts (``alert_acks``): the one write and the named read.

The table is append-only on both engines: nothing but :func:`write_ack` writes it. An alert
acknowledged twice (two api processes at the same moment) keeps both rows; the first, by
``acked_at``, is the acknowledgement (:func:`read_acks`).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from tracks.schema import ALERT_ACKS
from tracks.sql import execute_with
from tracks.store import Store


def write_ack(store: Store, alert_id: str, acked_at: dt.datetime, operator: str, note: str) -> None:
    """Append one acknowledgement, in one transaction."""
    frame = pl.DataFrame(
        {"alert_id": [alert_id], "acked_at": [acked_at], "operator": [operator], "note": [note]},
        schema=ALERT_ACKS.schema,
    )
    with store.transaction() as con:
        execute_with(con, "ack_rows", frame, "INSERT INTO alert_acks SELECT * FROM ack_rows")


def read_acks(store: Store, alert_ids: list[str]) -> dict[str, tuple[dt.datetime, str, str]]:
    """The acknowledgement (acked_at, operator, note) of each of these alerts that has one.

    A store created before the table existed (opened read-only, so not upgraded) has none.
    """
    if not alert_ids:
        return {}
    found = store.read_one("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'alert_acks'")
    if not found or not found[0]:
        return {}
    rows = store.read_rows(
        "SELECT alert_id, min(acked_at), arg_min(operator, acked_at), arg_min(note, acked_at) "
        "FROM alert_acks WHERE alert_id IN (SELECT unnest(?)) GROUP BY alert_id",
        [alert_ids],
    )
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def read_alert_subject(
    store: Store, alert_id: str
) -> tuple[str, str | None, str | None, str | None] | None:
    """One alert's kind, grid_id, device_id and its device's assigned grid; None: no such
    alert."""
    row = store.read_one(
        "SELECT a.kind, a.grid_id, a.device_id, d.grid_id FROM alerts a "
        "LEFT JOIN devices d ON d.device_id = a.device_id WHERE a.alert_id = ?",
        [alert_id],
    )
    return (row[0], row[1], row[2], row[3]) if row else None
