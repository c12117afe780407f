"""The roster (``rosters``, ``roster_shifts``) and the calendar (``calendar_days``): named
reads and the two writes, each one transaction.

``gridpatrol roster import`` replaces the whole roster; ``gridpatrol calendar import``
replaces the days of the years its file lists (the State Council's notice is yearly).
"""

from __future__ import annotations

import polars as pl

from tracks.schema import CALENDAR_DAYS, ROSTER_SHIFTS, ROSTERS
from tracks.sql import execute_with
from tracks.store import Store


def replace_roster(store: Store, entries: pl.DataFrame, shifts: pl.DataFrame) -> None:
    """Replace the stored roster with these rows (the tables' schemas), in one transaction."""
    with store.transaction() as con:
        con.execute("DELETE FROM roster_shifts")
        con.execute("DELETE FROM rosters")
        for table, frame in ((ROSTERS, entries), (ROSTER_SHIFTS, shifts)):
            rows = frame.select(table.names).cast(table.schema)
            if rows.height:
                execute_with(con, "rows", rows, f"INSERT INTO {table.name} SELECT * FROM rows")


def read_roster(store: Store) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The roster's rows by entry, and their shifts by entry and start."""
    entries = store.read("SELECT * FROM rosters ORDER BY entry").cast(ROSTERS.schema)
    shifts = store.read("SELECT * FROM roster_shifts ORDER BY entry, start_s")
    return entries, shifts.cast(ROSTER_SHIFTS.schema)


def replace_calendar_years(store: Store, days: pl.DataFrame) -> None:
    """Replace the stored days of every year ``days`` lists with ``days``."""
    rows = days.select(CALENDAR_DAYS.names).cast(CALENDAR_DAYS.schema)
    years = sorted({d.year for d in rows["day"].to_list()})
    with store.transaction() as con:
        con.execute("DELETE FROM calendar_days WHERE year(day) IN (SELECT unnest(?))", [years])
        execute_with(con, "rows", rows, "INSERT INTO calendar_days SELECT * FROM rows")


def read_calendar(store: Store) -> pl.DataFrame:
    """Every calendar day (day, kind) by day."""
    return store.read("SELECT * FROM calendar_days ORDER BY day").cast(CALENDAR_DAYS.schema)
