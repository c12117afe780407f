"""Attendance from a real database: the report (CLI, API, workbook) and the scorecard of a
rostered worker, on the day of tests/patrol/day.py with answers written out.

d1 (Li Wei) is rostered 08:00-08:10 in A on 2026-11-20; its fixes k = 0..9 are in A at
x = -150 + 10 k, one a minute from 08:00 (k = 10.. are in B, after the shift). Arrival
08:00, departure 08:09 (not before 08:05: not early); inside 10 x 60 = 600 s of 600:
presence 1.0; mileage 9 segments of 10 m = 90 m (08:09 -> 08:10 ends after the shift).
d2 (Wang Fang) is rostered 08:00-09:00 in C and never heard from: absent, silent 3,600 s.

Scorecard: d1's presence becomes 1.0 (the fix-time rule gave 0.625): 100 x (0.4 x 1.0 +
0.3 x 0.5 + 0.3 x 0.839583) = 80.1875, minus 2 for A's violation: 78.2. d2's presence
becomes 0.0 (was missing): the same 13.0 points.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import httpx
import openpyxl
import pytest

from api.app import create_app
from api.config import ApiSettings
from api.context import ApiContext
from api.tokens import TokenFile, add_token
from base.errors import ConfigError
from geofence.config import GeofenceSettings
from gridpatrol.cli import main
from patrol.attendance import run_attendance
from patrol.derive import ReportGrids
from patrol.scorecard import run_scorecard
from tests.patrol.day import DAY, END, START, build_day
from tracks.store import Store

SETTINGS = GeofenceSettings(cell_m=30.0, timezone="Asia/Shanghai")
ROSTER = (
    "worker,device_id,grid_id,date,shifts\n"
    "Li Wei,d1,A,2026-11-20,08:00-08:10\n"
    "Wang Fang,d2,C,2026-11-20,08:00-09:00\n"
)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path, _ = build_day(tmp_path)
    (tmp_path / "roster.csv").write_text(ROSTER)
    assert main(["roster", "import", str(tmp_path / "roster.csv"), "--db", str(path)]) == 0
    return path


def test_attendance_rows_from_the_stored_fixes(db: Path):
    with Store(db, read_only=True) as store:
        rows = run_attendance(ReportGrids(store), store, START, END, SETTINGS)
    li, wang = rows
    assert li == {
        "date": "2026-11-20",
        "worker": "Li Wei",
        "device_id": "d1",
        "grid_id": "A",
        "shift_start": "2026-11-20T08:00:00+08:00",
        "shift_end": "2026-11-20T08:10:00+08:00",
        "arrival": "2026-11-20T08:00:00+08:00",
        "late": False,
        "late_s": 0.0,
        "departure": "2026-11-20T08:09:00+08:00",
        "left_early": False,
        "early_s": 0.0,
        "absent": False,
        "shift_s": 600.0,
        "inside_s": 600.0,
        "out_s": 0.0,
        "silent_s": 0.0,
        "presence": 1.0,
        "fix_presence": 1.0,
        "mileage_m": 90.0,
        "out_periods": [],
        "silent_periods": [],
    }
    assert (wang["absent"], wang["presence"], wang["silent_s"]) == (True, 0.0, 3600.0)
    assert wang["silent_periods"] == [["2026-11-20T08:00:00+08:00", "2026-11-20T09:00:00+08:00"]]
    # a window holding neither shift's start has no row; one device's rows only
    with Store(db, read_only=True) as store:
        grids = ReportGrids(store)
        later = START + dt.timedelta(hours=9)
        assert run_attendance(grids, store, later, END, SETTINGS) == []
        assert [
            r["worker"] for r in run_attendance(grids, store, START, END, SETTINGS, device_id="d2")
        ] == ["Wang Fang"]


def test_the_scorecard_takes_shift_presence_for_rostered_workers(db: Path):
    with Store(db, read_only=True) as store:
        grids = ReportGrids(store)
        rows = run_scorecard(grids, store, DAY, SETTINGS)
        audit = run_scorecard(grids, store, DAY, SETTINGS, recompute=True)
    assert [(r["device_id"], r["presence"], r["score"]) for r in rows] == [
        ("d1", 1.0, 78.2),
        ("d2", 0.0, 13.0),
    ]
    assert audit == rows


def test_report_attendance_on_the_command_line(db: Path, tmp_path: Path, capsys):
    window = ["--start", START.isoformat(), "--end", END.isoformat()]
    assert main(["report", "attendance", "--db", str(db), *window, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["worker"], r["presence"], r["absent"]) for r in rows] == [
        ("Li Wei", 1.0, False),
        ("Wang Fang", 0.0, True),
    ]
    assert main(["report", "attendance", "--db", str(db), *window, "--grid", "C"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 2 and "Wang Fang" in table[1] and "1 period(s)" in table[1]
    out = tmp_path / "attendance.xlsx"
    assert (
        main(
            [
                "report",
                "attendance",
                "--db",
                str(db),
                *window,
                "--format",
                "xlsx",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    book = openpyxl.load_workbook(out)
    sheet = book["考勤"]
    header = [c.value for c in sheet[1]]
    assert header[:8] == [
        "日期",
        "网格员",
        "设备编号",
        "网格编号",
        "班次开始",
        "班次结束",
        "到岗时间",
        "迟到",
    ]
    assert [c.value for c in sheet[2]][:4] == ["date", "worker", "device_id", "grid_id"]
    assert sheet.cell(4, 2).value == "Wang Fang" and sheet.cell(4, 13).value is True  # 缺岗


def _get(
    context: ApiContext, token: str, path: str = "attendance", **params: str
) -> httpx.Response:
    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(context))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            return await c.get(
                f"/api/v1/{path}", params=params, headers={"Authorization": f"Bearer {token}"}
            )

    return asyncio.run(get())


def test_the_api_scopes_attendance_by_the_tokens_grids(db: Path, tmp_path: Path):
    tokens = tmp_path / "tokens.jsonl"
    _, admin = add_token(tokens, "admin", [], "ops")
    _, supervisor = add_token(tokens, "supervisor", ["C"], "Zhao")
    window = {"start": START.isoformat(), "end": END.isoformat()}
    with Store(db) as store:
        context = ApiContext(
            store=store,
            grid_set=ReportGrids(store).indexed(),
            live=None,
            geofence=SETTINGS,
            settings=ApiSettings(),
            tokens=TokenFile(tokens),
        )
        everything = _get(context, admin, **window)
        assert everything.status_code == 200, everything.text
        assert [r["device_id"] for r in everything.json()] == ["d1", "d2"]
        assert everything.json()[0]["mileage_m"] == 90.0
        scoped = _get(context, supervisor, **window).json()
        assert [r["device_id"] for r in scoped] == ["d2"]
        assert _get(context, supervisor, grid_id="A", **window).status_code == 403
        assert _get(context, admin, grid_id="Z", **window).status_code == 404
        context.access.stop()  # the reads on record before the store closes
        assert store.read_one(
            "SELECT count(*) FROM access_log WHERE route = '/api/v1/attendance'"
        ) == (4,)


@pytest.mark.parametrize("off_duty", ["hide", "keep"])
def test_off_duty_fixes_are_hidden_from_supervisors(db: Path, tmp_path: Path, off_duty: str):
    """d1's shift is 08:00-08:10: its fixes k = 0..9 (08:00 .. 08:09) are on duty, k = 10..14
    (08:10 .. 08:14) are not. Under --off-duty hide a supervisor's track and CSV export hold
    the 10 on duty, and its position list shows d1 without its newest fix; an admin's hold
    all 15; under keep everyone sees 15. d2 has no fix."""
    tokens = tmp_path / "tokens.jsonl"
    _, admin = add_token(tokens, "admin", [], "ops")
    _, supervisor = add_token(tokens, "supervisor", ["A"], "Zhao")
    window = {"start": START.isoformat(), "end": END.isoformat()}
    shown = 10 if off_duty == "hide" else 15
    with Store(db) as store:
        context = ApiContext(
            store=store,
            grid_set=ReportGrids(store).indexed(),
            live=None,
            geofence=SETTINGS,
            settings=ApiSettings(off_duty=off_duty),
            tokens=TokenFile(tokens),
        )
        track = _get(context, supervisor, "devices/d1/track", **window).json()
        times = track["properties"]["times"]
        assert len(times) == shown, times
        assert times[-1] == (
            "2026-11-20T08:09:00+08:00" if shown == 10 else "2026-11-20T08:14:00+08:00"
        )
        csv_text = _get(context, supervisor, "devices/d1/track", format="csv", **window).text
        assert len(csv_text.strip().splitlines()) == 1 + shown
        everything = _get(context, admin, "devices/d1/track", **window).json()
        assert len(everything["properties"]["times"]) == 15
        # the positions: d1's newest fix (08:14) is off duty, so a supervisor under hide sees
        # d1 without where and when; an admin sees it
        (d1,) = [d for d in _get(context, supervisor, "devices").json() if d["device_id"] == "d1"]
        newest = "2026-11-20T08:14:00+08:00"
        assert (d1["last_seen"], d1["current_grid"]) == (
            (None, None) if off_duty == "hide" else (newest, "B")
        )
        assert (d1["lat"] is None) == (off_duty == "hide")
        (d1,) = [d for d in _get(context, admin, "devices").json() if d["device_id"] == "d1"]
        assert (d1["last_seen"], d1["current_grid"]) == (newest, "B")
        context.access.stop()


def test_an_unknown_off_duty_setting_is_refused():
    with pytest.raises(ConfigError, match="off_duty: 'show' is not one of keep, hide, drop"):
        ApiSettings(off_duty="show")
