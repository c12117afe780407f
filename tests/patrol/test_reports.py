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

import csv
import io
import json
import re
import zipfile
from pathlib import Path

from geofence.config import GeofenceSettings
from gridpatrol.cli import main
from patrol.derive import ReportGrids
from patrol.reports import format_rows, run_report
from tests.patrol.day import END, START, build_day
from tracks.store import Store

SETTINGS = GeofenceSettings(timezone="Asia/Shanghai")


def summary(rows: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [
        (r["grid_id"], r["visits"], r["max_gap_s"], r["overdue_s"], r["compliance"]) for r in rows
    ]


def test_compliance_rows_match_the_hand_worked_day(tmp_path):
    db, grid_set = build_day(tmp_path)
    with Store(db, read_only=True) as store:
        rows = run_report("compliance", ReportGrids(store, grid_set), store, START, END, SETTINGS)
        only_a = run_report(
            "compliance", ReportGrids(store, grid_set), store, START, END, SETTINGS, grid_id="A"
        )
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
        rows = run_report("presence", ReportGrids(store, grid_set), store, START, END, SETTINGS)
    assert rows == [{"device_id": "d1", "grid_id": "A", "presence": 0.625}]


def test_the_cli_prints_the_same_rows_as_run_report(tmp_path, capsys):
    db, grid_set = build_day(tmp_path)
    with Store(db, read_only=True) as store:
        rows = run_report("compliance", ReportGrids(store, grid_set), store, START, END, SETTINGS)
    code = main(
        [
            "report",
            "compliance",
            "--db",
            str(db),
            "--start",
            START.isoformat(),
            "--end",
            END.isoformat(),
            "--format",
            "json",
            "--timezone",
            "Asia/Shanghai",
        ]
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out) == rows


def test_table_and_csv_formats():
    rows = [
        {"grid_id": "A", "visits": 2, "violations": [["a", "b"]]},
        {"grid_id": "B", "visits": 10, "violations": []},
    ]
    assert format_rows(rows, "table").splitlines() == [
        "grid_id  visits  violations    ",
        "A        2       1 violation(s)",
        "B        10      -             ",
    ]
    assert format_rows(rows, "csv").splitlines() == [
        "grid_id,visits,violations",
        'A,2,"[[""a"", ""b""]]"',
        "B,10,[]",
    ]
    assert format_rows([], "table") == ""


def sheet_names(book: Path) -> list[str]:
    with zipfile.ZipFile(book) as z:
        xml = z.read("xl/workbook.xml").decode()
    return re.findall(r'<sheet name="([^"]+)"', xml)


def test_the_cli_writes_every_report_to_one_workbook(tmp_path, capsys):
    db, _ = build_day(tmp_path)
    book = tmp_path / "all.xlsx"
    window = ["--db", str(db), "--start", START.isoformat(), "--end", END.isoformat()]
    assert (
        main(["report", "all", *window, "--format", "xlsx", "--out", str(book), "--cell-m", "30"])
        == 0
    )
    assert capsys.readouterr().out.startswith(f"wrote {book}: compliance (4 rows)")
    assert sheet_names(book) == [
        "合规率",
        "覆盖率（网格）",
        "覆盖率（网格员）",
        "到位率",
        "每日考核",
        "考核汇总",
    ]
    english = tmp_path / "scorecard.xlsx"
    assert (
        main(
            [
                "report",
                "scorecard",
                *window,
                "--format",
                "xlsx",
                "--out",
                str(english),
                "--lang",
                "en",
            ]
        )
        == 0
    )
    assert sheet_names(english) == ["scorecard", "assessment"]


def test_the_cli_scorecard_prints_the_days_then_the_means(tmp_path, capsys):
    db, _ = build_day(tmp_path)
    window = ["--db", str(db), "--start", START.isoformat(), "--end", END.isoformat()]
    assert main(["report", "scorecard", *window, "--format", "json", "--cell-m", "30"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["date"], r["device_id"]) for r in rows] == [
        ("2026-11-20", "d1"),
        ("2026-11-20", "d2"),
        ("2026-11-20..2026-11-20", "d1"),
        ("2026-11-20..2026-11-20", "d2"),
    ]
    assert rows[2]["score"] == rows[0]["score"] == 63.2 and rows[2]["days"] == 1


def test_report_refusals_are_one_line(tmp_path, capsys):
    db, _ = build_day(tmp_path)
    window = ["--db", str(db), "--start", START.isoformat(), "--end", END.isoformat()]
    assert main(["report", "compliance", *window, "--format", "xlsx"]) == 2
    assert main(["report", "all", *window, "--format", "csv"]) == 2
    assert main(["report", "scorecard", *window, "--grid", "A"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "--out" in err[0] and "json or xlsx" in err[1], err


def test_csv_neutralises_formulas_in_text_cells_only():
    evil = '=HYPERLINK("http://evil.example","x")'
    rows = [
        {"grid_id": evil, "worker": "@SUM(A1)", "device_id": "-d1", "score": -2.5, "visits": -1},
        {"grid_id": "+1", "worker": "\tx", "device_id": "\r=1", "score": 0.5, "visits": 3},
        {"grid_id": "A-1", "worker": "王芳", "device_id": "d'2", "score": None, "visits": 0},
    ]
    lines = list(csv.reader(io.StringIO(format_rows(rows, "csv"))))
    assert lines == [
        ["grid_id", "worker", "device_id", "score", "visits"],
        ["'" + evil, "'@SUM(A1)", "'-d1", "-2.5", "-1"],
        ["'+1", "'\tx", "'\r=1", "0.5", "3"],
        ["A-1", "王芳", "d'2", "", "0"],
    ]
