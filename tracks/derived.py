"""Reads of the derived patrol data, each set of them in one transaction (one snapshot).

A derived day is current when ``derived_days`` has it with the reader's fingerprint and
with ``changes`` equal to ``ping_changes`` summed over the day's quarters now: a ping
stored (or removed) in the day since adds to the sum in its own transaction, so a report
never takes a day's facts that miss a committed ping.

A day derived through a time no later than the newest purge's limit (tracks.retention) is
final: its pings are gone, so its facts are current whatever ``ping_changes`` says since
(a late fix from before the limit, stored and then purged again, changes nothing).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import polars as pl

from tracks.queries import FIXES_SQL
from tracks.reader import Reader
from tracks.retention import purged_before
from tracks.schema import DERIVED_TABLES, PING_CHANGES
from tracks.store import QUARTER_US, Store

#: A day and the quarters its facts depend on: [first, last] (tracks.store.QUARTER_US).
DayQuarters = tuple[dt.date, int, int]


def quarters(start_us: int, end_us: int) -> tuple[int, int]:
    """The first and last quarter holding fix times in [start_us, end_us)."""
    return start_us // QUARTER_US, (end_us - 1) // QUARTER_US


class DerivedReader:
    """The reads of one report or one derivation, on one snapshot of the store."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader
        names = {name for (name,) in reader.rows("SELECT table_name FROM duckdb_tables()")}
        # a version 1 file opened read-only has none of them: nothing is derived
        self.has_derived = {t.name for t in DERIVED_TABLES} | {PING_CHANGES.name} <= names
        limit = purged_before(reader)
        #: the newest purge's limit (epoch microseconds), None if nothing was purged
        self.purged_us = None if limit is None else round(limit.timestamp() * 1e6)

    def changes(self, days: list[DayQuarters]) -> dict[dt.date, int]:
        """``ping_changes`` summed over each day's quarters."""
        if not days or not self.has_derived:
            return {day: 0 for day, _, _ in days}
        frame = pl.DataFrame(
            {
                "day": [d for d, _, _ in days],
                "q0": [q for _, q, _ in days],
                "q1": [q for *_, q in days],
            },
            schema={"day": pl.Date, "q0": pl.Int64, "q1": pl.Int64},
        )
        rows = self._reader.rows(
            "SELECT w.day, coalesce(sum(c.changes), 0) FROM wanted w "
            "LEFT JOIN ping_changes c ON c.quarter BETWEEN w.q0 AND w.q1 GROUP BY w.day",
            frames={"wanted": frame},
        )
        return {day: int(n) for day, n in rows}

    def current_days(
        self, days: list[tuple[dt.date, int]], reach_us: int, fingerprint: str
    ) -> dict[dt.date, float]:
        """Of ``days`` (each with its start, epoch microseconds), those whose derived facts
        are current for ``fingerprint``: day -> through (epoch seconds). The facts of
        [start, through) depend on the pings up to through + ``reach_us``."""
        if not days or not self.has_derived:
            return {}
        starts = dict(days)
        derived = self._reader.rows(
            "SELECT day, epoch_us(through), changes FROM derived_days "
            "WHERE fingerprint = ? AND day BETWEEN ? AND ?",
            [fingerprint, min(starts), max(starts)],
        )
        derived = [row for row in derived if row[0] in starts]
        if not derived:
            return {}
        q0 = [starts[day] // QUARTER_US for day, _, _ in derived]
        q1 = [(through + reach_us - 1) // QUARTER_US for _, through, _ in derived]
        counts = self._reader.frame(
            "SELECT quarter, changes FROM ping_changes WHERE quarter BETWEEN ? AND ?",
            [min(q0), max(q1)],
        )  # the file has one row per quarter, the lake one per commit: summed here
        quarter, changes = counts["quarter"].to_numpy(), counts["changes"].to_numpy()
        out = {}
        final = self.purged_us if self.purged_us is not None else -1
        for (day, through, stored), lo, hi in zip(derived, q0, q1, strict=True):
            if through <= final or int(changes[(quarter >= lo) & (quarter <= hi)].sum()) == stored:
                out[day] = through / 1e6
        return out

    def _parts(self, sql: str, parts: list[tuple[dt.date, bool]]) -> pl.DataFrame:
        """``sql`` (``SELECT ... FROM table {parts}``) over these parts of the derived
        days: (day, across); the days' range lets the scan skip the others' row groups."""
        own = sorted(d for d, across in parts if not across)
        past = sorted(d for d, across in parts if across)
        days = [d for d, _ in parts]
        where = (
            "WHERE day BETWEEN ? AND ? "
            "AND list_contains(CASE WHEN across THEN ?::DATE[] ELSE ?::DATE[] END, day)"
        )
        return self._reader.frame(sql.format(parts=where), [min(days), max(days), past, own])

    def visits(self, parts: list[tuple[dt.date, bool]]) -> pl.DataFrame:
        """The runs of visits of these parts (grid_id, first_ts, last_ts, visits,
        max_inner_s), in no order."""
        return self._parts(
            "SELECT grid_id, first_ts, last_ts, visits, max_inner_s FROM derived_visits {parts}",
            parts,
        )

    def time(self, parts: list[tuple[dt.date, bool]]) -> pl.DataFrame:
        """Fix time of these parts summed per device and leaf (device_id, grid_id, fix_us)."""
        return self._parts(
            "SELECT device_id, grid_id, sum(fix_us)::BIGINT AS fix_us FROM derived_time "
            "{parts} GROUP BY device_id, grid_id",
            parts,
        )

    def cells(self, parts: list[tuple[dt.date, bool]]) -> pl.DataFrame:
        """The cells some device covered in these parts (cell), each once."""
        return self._parts("SELECT DISTINCT cell FROM derived_cells {parts}", parts)

    def device_cells(self, parts: list[tuple[dt.date, bool]]) -> pl.DataFrame:
        """The cells each device covered in these parts (device_id, cell), each pair once."""
        return self._parts("SELECT DISTINCT device_id, cell FROM derived_cells {parts}", parts)

    def grid_cells(self, fingerprint: str) -> pl.DataFrame:
        """grid_id, cell of every leaf's coverage cells for ``fingerprint`` (empty if none)."""
        if not self.has_derived:
            return pl.DataFrame(schema={"grid_id": pl.String, "cell": pl.Int32})
        return self._reader.frame(
            "SELECT grid_id, cell FROM derived_grid_cells WHERE fingerprint = ? "
            "ORDER BY grid_id, cell",
            [fingerprint],
        )

    def fixes(self, start: dt.datetime, end: dt.datetime) -> pl.DataFrame:
        """As :func:`tracks.queries.read_fixes`, on this snapshot."""
        return self._reader.frame(FIXES_SQL, [start, end])


@contextmanager
def derived_reader(store: Store) -> Iterator[DerivedReader]:
    """A :class:`DerivedReader` on one read transaction of ``store``."""
    with store.snapshot() as reader:
        yield DerivedReader(reader)
