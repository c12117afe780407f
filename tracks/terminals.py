"""The JT/T 808 terminal registry (``terminals``, ``terminal_events``): named reads and the
few writes of the registry, each one transaction.

Who writes what (docs/jt808.md, "The terminal registry"): ``gridpatrol terminals import``
and ``gridpatrol terminals reset`` write the rows; the gateway alone issues codes
(:func:`issue_code`), only to a terminal that has none, so the first registration wins even
with several gateways on one lake.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import polars as pl

from base.errors import ConfigError
from tracks.schema import TERMINAL_EVENTS, TERMINALS
from tracks.sql import execute_with, select_with
from tracks.store import Store

#: The CSV's header, in this order (the gateway's rules: docs/jt808.md).
CSV_COLUMNS = ["phone", "terminal_id", "plate", "device_id"]
#: A phone number as trackers keep it: BCD[6] (2013) or BCD[10] (2019), so at most 20 digits.
PHONE = re.compile(r"[0-9]{1,20}")
#: What a device id may be (the MQTT contract's rule, docs/mqtt.md).
DEVICE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def phone_key(phone: str) -> str:
    """The registry's key of a phone number: its digits without leading zeros, so
    ``013912345678`` (2013) and ``00000000013912345678`` (2019) are one terminal."""
    return phone.lstrip("0") or "0"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse_terminals(path: Path) -> pl.DataFrame:
    """Read and check a registry CSV (``phone,terminal_id,plate,device_id``): phones as keys
    (:func:`phone_key`), empty terminal ids and plates as '' (any), an empty device id as the
    phone's key. Raises :class:`ConfigError` with the first bad row."""
    try:
        frame = pl.read_csv(path, schema_overrides=dict.fromkeys(CSV_COLUMNS, pl.String))
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ConfigError(f"{path}: cannot read terminals CSV: {exc}") from exc
    if frame.columns != CSV_COLUMNS:
        raise ConfigError(
            f"{path}: header must be {','.join(CSV_COLUMNS)}, got {','.join(frame.columns)}"
        )
    frame = frame.with_columns(pl.col(CSV_COLUMNS).fill_null("").str.strip_chars())
    for line, row in enumerate(frame.iter_rows(named=True), 2):
        if not PHONE.fullmatch(row["phone"]):
            raise ConfigError(f"{path}, line {line}: phone must be 1 to 20 digits")
        device = row["device_id"] or phone_key(row["phone"])
        if not DEVICE_ID.fullmatch(device):
            raise ConfigError(f"{path}, line {line}: device_id {device!r} is not a device id")
    key = pl.col("phone").str.strip_chars_start("0")
    frame = frame.with_columns(
        phone=pl.when(key == "").then(pl.lit("0")).otherwise(key)
    ).with_columns(
        device_id=pl.when(pl.col("device_id") == "")
        .then(pl.col("phone"))
        .otherwise(pl.col("device_id"))
    )
    for column in ("phone", "device_id"):
        twice = frame.filter(pl.col(column).is_duplicated())
        if twice.height:
            raise ConfigError(f"{path}: {column} {twice[column][0]!r} is on more than one row")
    return frame


def import_terminals(store: Store, path: Path) -> int:
    """Insert or update the CSV's terminals; a terminal already registered keeps its code
    (a reset is :func:`reset_terminal`'s). Returns the rows imported."""
    return store_terminals(store, parse_terminals(path), f"from {path.name}")


def store_terminals(store: Store, frame: pl.DataFrame, detail: str = "") -> int:
    """Write checked registry rows (:func:`parse_terminals`' columns), keeping issued codes."""
    now = _now()
    with store.transaction() as con:
        rows = select_with(
            con,
            "terminal_rows",
            frame.select(CSV_COLUMNS),
            "SELECT r.phone, r.terminal_id, r.plate, r.device_id, t.auth_code, "
            "t.registered_at, ?::TIMESTAMPTZ AS imported_at "
            "FROM terminal_rows r LEFT JOIN terminals t USING (phone)",
            [now],
        ).cast(TERMINALS.schema)
        execute_with(
            con,
            "terminal_rows",
            rows.select(TERMINALS.names),
            "DELETE FROM terminals WHERE phone IN (SELECT phone FROM terminal_rows)",
            "INSERT INTO terminals SELECT * FROM terminal_rows",
        )
        events = pl.DataFrame(
            {"phone": rows["phone"], "event": "imported", "event_at": now, "detail": detail}
        ).cast(TERMINAL_EVENTS.schema)
        execute_with(
            con, "event_rows", events, "INSERT INTO terminal_events SELECT * FROM event_rows"
        )
    return frame.height


def issue_code(store: Store, phone: str, code: str) -> bool:
    """Store ``code`` as the terminal's, unless it has one already (then False: someone
    registered it first)."""
    now = _now()
    with store.transaction() as con:
        row = con.execute(
            "UPDATE terminals SET auth_code = ?, registered_at = ? "
            "WHERE phone = ? AND auth_code IS NULL",
            [code, now, phone],
        ).fetchone()
        if not row or not row[0]:
            return False
        con.execute("INSERT INTO terminal_events VALUES (?, 'registered', ?, '')", [phone, now])
    return True


def reset_terminal(store: Store, phone: str, detail: str = "") -> bool:
    """Forget the terminal's code, so that its next registration is answered (an operator's
    act, recorded with ``detail``); False when the phone is not in the registry."""
    key = phone_key(phone)
    now = _now()
    with store.transaction() as con:
        row = con.execute(
            "UPDATE terminals SET auth_code = NULL, registered_at = NULL WHERE phone = ?", [key]
        ).fetchone()
        if not row or not row[0]:
            return False
        con.execute("INSERT INTO terminal_events VALUES (?, 'reset', ?, ?)", [key, now, detail])
    return True


def read_terminals(store: Store) -> pl.DataFrame:
    """The registry (the ``terminals`` table's columns) by phone."""
    return store.read("SELECT * FROM terminals ORDER BY phone").cast(TERMINALS.schema)


def read_terminal_events(store: Store, phone: str | None = None) -> pl.DataFrame:
    """The registry's history, oldest first; one terminal's with ``phone``."""
    if phone is None:
        frame = store.read("SELECT * FROM terminal_events ORDER BY event_at, phone")
    else:
        frame = store.read(
            "SELECT * FROM terminal_events WHERE phone = ? ORDER BY event_at", [phone_key(phone)]
        )
    return frame.cast(TERMINAL_EVENTS.schema)
