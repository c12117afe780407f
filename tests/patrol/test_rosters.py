"""Roster and calendar import: CSV (UTF-8 and GBK) and xlsx, checked row by row, stored whole
or not at all, and the days each row has shifts on."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
import xlsxwriter

from geofence.grids import check_grids
from geofence.rosters import Calendar, parse_days, parse_shifts, shifts_on
from gridpatrol.cli import main
from patrol.grids import save_grids
from patrol.rosters import load_calendar, load_roster
from tests.geofence.town import three_in_a_row
from tracks.store import Store

TZ = ZoneInfo("Asia/Shanghai")

#: 2026's National Day: 10-01 .. 10-07 off, Saturday 10-10 worked (as the yearly notice sets
#: days; the dates here are the test's, not the State Council's).
CALENDAR = """date,kind
2026-10-01,holiday
2026-10-02,holiday
2026-10-05,holiday
2026-10-06,holiday
2026-10-07,holiday
2026-10-10,workday
"""


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "r.db"
    with Store(path) as store:
        save_grids(store, check_grids(three_in_a_row(tmp_path / "g.geojson"))[0])
        store.upsert_devices(
            pl.DataFrame(
                {
                    "device_id": ["d1", "d2", "d3"],
                    "kind": ["phone"] * 3,
                    "worker": ["李伟", "王芳", "张强"],
                    "grid_id": ["A", None, None],
                }
            )
        )
    (tmp_path / "cal.csv").write_text(CALENDAR)
    assert main(["calendar", "import", str(tmp_path / "cal.csv"), "--db", str(path)]) == 0
    return path


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def stored(db: Path) -> tuple[int, int]:
    with Store(db, read_only=True) as store:
        a = store.read_one("SELECT count(*) FROM rosters")
        b = store.read_one("SELECT count(*) FROM roster_shifts")
    assert a is not None and b is not None
    return a[0], b[0]


def test_shift_periods_and_weekly_patterns():
    assert parse_shifts("08:00-12:00,14:00-18:00") == [(28800, 43200), (50400, 64800)]
    assert parse_shifts("22:00-06:00") == [(79200, 86400 + 21600)]  # overnight
    assert parse_shifts("00:00-24:00；") == [(0, 86400)]
    for bad, why in (
        ("08:00-08:00", "zero length"),
        ("00:00-24:00,8-9", "not HH:MM-HH:MM"),
        ("25:00-26:00", "impossible"),
        ("", "no shift"),
    ):
        with pytest.raises(ValueError, match=why):
            parse_shifts(bad)
    assert parse_days("1-5") == "1,2,3,4,5" and parse_days(" 6，7 ") == "6,7"
    assert parse_days("Workdays") == "workdays"
    with pytest.raises(ValueError, match="backwards"):
        parse_days("5-1")


def test_the_calendar_decides_where_weekly_patterns_apply():
    calendar = Calendar({dt.date(2026, 10, 5): "holiday", dt.date(2026, 10, 10): "workday"})
    monday, saturday = dt.date(2026, 10, 5), dt.date(2026, 10, 10)
    assert calendar.kind_of(monday) == "holiday" and calendar.kind_of(saturday) == "workday"
    assert calendar.kind_of(dt.date(2026, 10, 11)) == "holiday"  # a plain Sunday
    from geofence.rosters import applies

    assert not applies("workdays", monday, calendar) and applies("workdays", saturday, calendar)
    assert applies("restdays", monday, calendar) and not applies("restdays", saturday, calendar)
    assert not applies("1,2,3,4,5", monday, calendar)  # a holiday Monday: no shift
    assert not applies("1,2,3,4,5", saturday, calendar)  # a weekday list keeps to its days
    assert applies("6", saturday, calendar) and applies("daily", monday, calendar)


def test_a_roster_is_imported_and_replaced_whole(db: Path, tmp_path: Path, capsys):
    roster = write(
        tmp_path / "roster.csv",
        "worker,device_id,grid_id,date,days,valid_from,valid_to,shifts\n"
        '李伟,d1,A,,workdays,2026-09-28,2026-10-11,"08:00-12:00,14:00-18:00"\n'
        "王芳,d2,P,2026-10-06,,,,22:00-06:00\n",
    )
    assert main(["roster", "import", str(roster), "--db", str(db)]) == 0
    assert "imported 2 roster rows" in capsys.readouterr().out
    assert stored(db) == (2, 3)
    with Store(db, read_only=True) as store:
        entries, calendar = load_roster(store), load_calendar(store)
    li = entries[0]
    assert li.dates(calendar) == [
        dt.date(2026, 9, 28),
        dt.date(2026, 9, 29),
        dt.date(2026, 9, 30),
        dt.date(2026, 10, 8),
        dt.date(2026, 10, 9),
        dt.date(2026, 10, 10),  # the make-up Saturday
    ]
    night = shifts_on(entries, dt.date(2026, 10, 6), calendar, TZ)
    assert [(s.worker, s.grid_id) for s in night] == [("王芳", "P")]
    assert night[0].start == dt.datetime(2026, 10, 6, 22, tzinfo=TZ).timestamp()
    assert night[0].end == dt.datetime(2026, 10, 7, 6, tzinfo=TZ).timestamp()
    # a new import replaces the whole roster
    write(roster, "worker,device_id,grid_id,date,shifts\n张强,d3,C,2026-10-09,08:00-09:00\n")
    assert main(["roster", "import", str(roster), "--db", str(db)]) == 0
    assert stored(db) == (1, 1)


def test_a_gbk_csv_with_chinese_headers_is_read(db: Path, tmp_path: Path):
    roster = write(
        tmp_path / "排班.csv",
        "网格员,设备编号,网格编号,日期,班次\n李伟,d1,A,2026-10-09,08:00-12:00\n",
        encoding="gbk",
    )
    assert main(["roster", "import", str(roster), "--db", str(db)]) == 0
    with Store(db, read_only=True) as store:
        assert [e.worker for e in load_roster(store)] == ["李伟"]


def test_an_xlsx_roster_as_excel_keeps_it(db: Path, tmp_path: Path):
    path = tmp_path / "roster.xlsx"
    with xlsxwriter.Workbook(str(path)) as book:
        sheet = book.add_worksheet("排班")
        sheet.write_row(
            0, 0, ["网格员", "设备编号", "网格编号", "星期", "生效日期", "截止日期", "班次"]
        )
        sheet.write_row(1, 0, ["李伟", "d1", "A", "1-5"])
        date = book.add_format({"num_format": "yyyy-mm-dd"})
        sheet.write_datetime(1, 4, dt.datetime(2026, 10, 12), date)
        sheet.write_datetime(1, 5, dt.datetime(2026, 10, 16), date)
        sheet.write_string(1, 6, "07:30-11:30")
    assert main(["roster", "import", str(path), "--db", str(db)]) == 0
    with Store(db, read_only=True) as store:
        [entry] = load_roster(store)
    assert (entry.days, entry.valid_from, entry.valid_to) == (
        "1,2,3,4,5",
        dt.date(2026, 10, 12),
        dt.date(2026, 10, 16),
    )
    assert entry.shifts == ((27000, 41400),)


def test_bad_rows_are_one_line_each_and_nothing_is_imported(db: Path, tmp_path: Path, capsys):
    good = write(
        tmp_path / "good.csv",
        "worker,device_id,grid_id,date,shifts\n李伟,d1,A,2026-10-09,08:00-12:00\n",
    )
    assert main(["roster", "import", str(good), "--db", str(db)]) == 0
    bad = write(
        tmp_path / "bad.csv",
        "worker,device_id,grid_id,date,days,valid_from,valid_to,shifts\n"
        "李伟,d1,Z,2026-10-09,,,,08:00-12:00\n"  # line 2: unknown grid
        "李伟,d9,A,2026-10-09,,,,08:00-12:00\n"  # line 3: unknown device
        "王芳,d2,A,2026-10-09,,,,08:00-08:00\n"  # line 4: zero length
        "张强,d3,B,,workdays,2026-12-01,2027-01-31,08:00-12:00\n"  # line 5: 2027 unknown
        "王芳,d2,B,2026-10-09,workdays,,,08:00-12:00\n",  # line 6: both a date and days
        encoding="gbk",
    )
    capsys.readouterr()
    assert main(["roster", "import", str(bad), "--db", str(db)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"gridpatrol: error: {bad}: 5 problem(s), nothing imported:"
    assert err[1:] == [
        "  line 2: unknown grid 'Z'",
        "  line 3: unknown device 'd9' (gridpatrol devices import)",
        "  line 4: shift '08:00-08:00' has zero length",
        "  line 5: dates outside the calendar: 2026-12-01..2027-01-31 reaches 2027, a year "
        "the calendar lacks",
        "  line 6: give either a date or days (a weekly pattern), not both or neither",
    ]
    assert stored(db) == (1, 1)  # the roster before stays whole


def test_overlapping_shifts_of_one_worker_are_refused(db: Path, tmp_path: Path, capsys):
    bad = write(
        tmp_path / "overlap.csv",
        "worker,device_id,grid_id,date,days,valid_from,valid_to,shifts\n"
        "李伟,d1,A,,workdays,2026-10-01,2026-10-31,08:00-12:00\n"
        "李伟,d2,B,2026-10-09,,,,11:00-13:00\n"  # overlaps line 2 on the 9th
        "王芳,d3,C,2026-10-08,,,,22:00-06:00\n"
        "王芳,d3,C,2026-10-09,,,,05:00-07:00\n"  # overlaps the night before
        '张强,d2,C,2026-10-12,,,,"08:00-10:00,09:00-11:00"\n',  # within one row
    )
    assert main(["roster", "import", str(bad), "--db", str(db)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[1:] == [
        "  line 2 and line 3: shifts of worker '李伟' overlap on 2026-10-09",
        "  line 4 and line 5: shifts of worker '王芳' overlap on 2026-10-09",
        "  line 6: shifts of worker '张强' overlap on 2026-10-12",
    ]
    assert stored(db) == (0, 0)


def test_calendar_bad_rows_and_yearly_replacement(db: Path, tmp_path: Path, capsys):
    bad = write(
        tmp_path / "bad.csv",
        "日期,类型\n2026-13-01,holiday\n2026-10-01,节日\n2027-01-01,放假\n2027-01-01,休\n",
    )
    assert main(["calendar", "import", str(bad), "--db", str(db)]) == 2
    assert capsys.readouterr().err.splitlines()[1:] == [
        "  line 2: date '2026-13-01' is not YYYY-MM-DD",
        "  line 3: kind '节日' is not holiday or workday",
        "  line 5: 2027-01-01 is listed on line 4 too",
    ]
    year = write(tmp_path / "2027.csv", "date,kind\n2027-01-01,放假\n")
    assert main(["calendar", "import", str(year), "--db", str(db)]) == 0
    again = write(tmp_path / "2026.csv", "date,kind\n2026-10-01,holiday\n")
    assert main(["calendar", "import", str(again), "--db", str(db)]) == 0
    with Store(db, read_only=True) as store:
        calendar = load_calendar(store)
    assert calendar.kinds == {dt.date(2026, 10, 1): "holiday", dt.date(2027, 1, 1): "holiday"}
