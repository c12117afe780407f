"""Reports over a window from a real database: one code path for the CLI and the API.

The day of tests/patrol/day.py (interval 43,200 s, the window one local day of 86,400 s):
  A: visits 08:00 .. 08:09 (10); longest gap 08:09 -> 24:00 = 57,060 s; overdue 13,860 s;
     compliance 1 - 13,860 / 86,400 = 0.839583
  B: visits 08:10 .. 08:14 (5); gaps 00:00 -> 08:10 = 29,400 s and 08:14 -> 24:00 = 56,760 s;
     overdue 13,560 s; compliance 1 - 13,560 / 86,400 = 0.843056
  C: no visit: one gap of 86,400 s, overdue 43,200 s, compliance 0.5
  P (A + B + C): 15 visits, longest gap 86,400 s, overdue 70,620 s of 259,200 s:
     compliance 1 - 70,620 / 259,200 = 0.727546
"""

from __future__ import annotations

import json

from geofence.config import GeofenceSettings
from gridpatrol.cli import main
from patrol.reports import format_rows, run_report
from tests.patrol.day import END, START, build_day
from tracks.store import Store

SETTINGS = GeofenceSettings(timezone="Asia/Shanghai")


def summary(rows: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [(r["grid_id"], r["visits"], r["max_gap_s"], r["overdue_s"], r["compliance"])
            for r in rows]  # fmt: skip


def test_compliance_rows_match_the_hand_worked_day(tmp_path):
    db, grid_set = build_day(tmp_path)
    with Store(db, read_only=True) as store:
        rows = run_report("compliance", grid_set, store, START, END, SETTINGS)
        only_a = run_report("compliance", grid_set, store, START, END, SETTINGS, grid_id="A")
    assert summary(rows) == [
        ("A", 10, 57060.0, 13860.0, 0.839583),
        ("B", 5, 56760.0, 13560.0, 0.843056),
        ("C", 0, 86400.0, 43200.0, 0.5),
        ("P", 15, 86400.0, 70620.0, 0.727546),
    ]
    assert rows[0]["violations"] == [["2026-11-20T20:09:00+08:00", "2026-11-21T00:00:00+08:00"]]
    assert only_a == rows[:1]


def test_presence_of_one_device(tmp_path):
    """d1: 600 s of 960 s inside A (see tests/patrol/test_scorecard.py); d2 has no fixes."""
    db, grid_set = build_day(tmp_path)
    with Store(db, read_only=True) as store:
        rows = run_report("presence", grid_set, store, START, END, SETTINGS)
    assert rows == [{"device_id": "d1", "grid_id": "A", "presence": 0.625}]


def test_the_cli_prints_the_same_rows_as_run_report(tmp_path, capsys):
    db, grid_set = build_day(tmp_path)
    with Store(db, read_only=True) as store:
        rows = run_report("compliance", grid_set, store, START, END, SETTINGS)
    code = main(["report", "compliance", "--db", str(db), "--start", START.isoformat(),
                 "--end", END.isoformat(), "--format", "json", "--timezone", "Asia/Shanghai"])  # fmt: skip
    assert code == 0
    assert json.loads(capsys.readouterr().out) == rows


def test_table_and_csv_formats():
    rows = [{"grid_id": "A", "visits": 2, "violations": [["a", "b"]]},
            {"grid_id": "B", "visits": 10, "violations": []}]  # fmt: skip
    assert format_rows(rows, "table").splitlines() == [
        "grid_id  visits  violations    ",
        "A        2       1 violation(s)",
        "B        10      -             ",
    ]
    assert format_rows(rows, "csv").splitlines() == [
        "grid_id,visits,violations", 'A,2,"[[""a"", ""b""]]"', "B,10,[]"]  # fmt: skip
    assert format_rows([], "table") == ""
