"""The roster and the calendar in storage, on both engines: replaced whole (the roster) or
by year (the calendar), read back as declared."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from conftest import Lake
from tracks.engines import open_store
from tracks.rosters import read_calendar, read_roster, replace_calendar_years, replace_roster
from tracks.schema import CALENDAR_DAYS, ROSTER_SHIFTS, ROSTERS


def entries(workers: list[str]) -> pl.DataFrame:
    day = dt.date(2026, 10, 9)
    return pl.DataFrame(
        {
            "entry": list(range(len(workers))),
            "worker": workers,
            "device_id": [f"d{i}" for i in range(len(workers))],
            "grid_id": ["A"] * len(workers),
            "day": [day] * len(workers),
            "days": [None] * len(workers),
            "valid_from": [day] * len(workers),
            "valid_to": [day] * len(workers),
            "source": [f"r.csv line {i + 2}" for i in range(len(workers))],
        },
        schema=ROSTERS.schema,
    )


def shifts(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {"entry": list(range(n)), "start_s": [28800] * n, "end_s": [108000] * n},
        schema=ROSTER_SHIFTS.schema,
    )


@pytest.mark.parametrize("engine", ["file", "lake"])
def test_roster_and_calendar_on_both_engines(engine: str, tmp_path: Path, request):
    if engine == "file":
        db, data_path = str(tmp_path / "gp.db"), None
    else:
        lake: Lake = request.getfixturevalue("lake")
        db, data_path = lake.db, lake.data_path
    with open_store(db, data_path) as store:
        replace_roster(store, entries(["李伟", "王芳", "张强"]), shifts(3))
        replace_roster(store, entries(["赵敏"]), shifts(1))  # replaced whole
        replace_calendar_years(
            store,
            pl.DataFrame(
                {
                    "day": [dt.date(2026, 10, 1), dt.date(2026, 10, 10), dt.date(2027, 1, 1)],
                    "kind": ["holiday", "workday", "holiday"],
                },
                schema=CALENDAR_DAYS.schema,
            ),
        )
        replace_calendar_years(  # 2026 again: its days replaced, 2027's kept
            store,
            pl.DataFrame(
                {"day": [dt.date(2026, 10, 2)], "kind": ["holiday"]}, schema=CALENDAR_DAYS.schema
            ),
        )
    with open_store(db, data_path, read_only=True) as store:
        rows, periods = read_roster(store)
        calendar = read_calendar(store)
    assert rows["worker"].to_list() == ["赵敏"] and rows.schema == ROSTERS.schema
    assert periods.rows() == [(0, 28800, 108000)] and periods.schema == ROSTER_SHIFTS.schema
    assert calendar.rows() == [(dt.date(2026, 10, 2), "holiday"), (dt.date(2027, 1, 1), "holiday")]
