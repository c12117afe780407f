"""The assessment workbook, read back by LibreOffice: every sheet's numbers equal the rows.

Grids A | B | C under P (tests/geofence/town.py), all day, interval 30 min; the day is
2026-11-20 in Asia/Shanghai. d1 (李伟, assigned A): 08:10 at (-100, 0) in A, 08:45 at (-60, 0)
in A, 08:45:12 at (60, 0) in C. d2 (王芳, assigned C): 09:00:00 and 09:00:30 in C.
A's visits are 08:10 and 08:45, so its violations, each gap past 30 min, are
00:30-08:10, 08:40-08:45 and 09:15 to midnight: "11-20 00:30–08:10; 11-20 08:40–08:45;
11-20 09:15–11-21 00:00".
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from geofence.config import GeofenceSettings
from geofence.grids import check_grids, load_grids
from geofence.reports import compute_report
from geofence.scorecard import day_window
from patrol.derive import ReportGrids
from patrol.fixes import load_fixes
from patrol.grids import save_grids
from patrol.reports import assigned_grids
from patrol.scorecard import run_scorecard
from patrol.workbook import write_workbook
from tests.geofence.town import lonlat, three_in_a_row
from tracks.store import Store

TIMEZONE = "Asia/Shanghai"
TZ = ZoneInfo(TIMEZONE)
DAY = dt.date(2026, 11, 20)
SETTINGS = GeofenceSettings()
LIBREOFFICE_PACKAGE = "libreoffice-calc-nogui"
# CSV export options: comma, double quotes, UTF-8, from line 1, no cell formats, system
# language, no quoting as text, detect numbers, raw values (not as shown), no formulas,
# keep spaces, and -1: every sheet, each to "<file>-<sheet>.csv" (LibreOffice 7.2 and later)
CSV_FILTER = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1"
FIXES = [
    ("d1", 8, 10, 0, -100),
    ("d1", 8, 45, 0, -60),
    ("d1", 8, 45, 12, 60),
    ("d2", 9, 0, 0, 100),
    ("d2", 9, 0, 30, 110),
]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, object]]]:
    folder = tmp_path_factory.mktemp("workbook")
    path = three_in_a_row(folder / "grids.geojson")
    grid_set = load_grids(path)
    with Store(folder / "gp.db") as store:
        save_grids(store, check_grids(path)[0])
        rows = []
        for device, hour, minute, second, x in FIXES:
            lon, lat = lonlat(x, 0)
            ts = dt.datetime(2026, 11, 20, hour, minute, second, tzinfo=TZ)
            rows.append({"device_id": device, "ts": ts, "lat": lat, "lon": lon})
        devices = pl.DataFrame(
            {
                "device_id": ["d1", "d2"],
                "kind": ["phone", "tracker"],
                "worker": ["李伟", "王芳"],
                "grid_id": ["A", "C"],
            }
        )
        with store.transaction() as con:
            con.register("f", pl.DataFrame(rows))
            con.execute(
                "INSERT INTO pings (device_id, ts, lat, lon, flags, received_at) "
                "SELECT device_id, ts, lat, lon, 0, ts FROM f"
            )
            con.register("d", devices)
            con.execute("INSERT INTO devices SELECT * FROM d")
        start, end = day_window(DAY, TZ)
        fixes = load_fixes(grid_set, store, start, end)
        assigned = assigned_grids(store)

        def report(kind: str, by_device: bool = False) -> list[dict[str, object]]:
            return compute_report(
                kind, grid_set, fixes, start, end, SETTINGS, assigned, by_device=by_device
            )

        return {
            "compliance": report("compliance"),
            "coverage": report("coverage"),
            "device_coverage": report("coverage", by_device=True),
            "presence": report("presence"),
            "scorecard": run_scorecard(ReportGrids(store, grid_set), store, DAY, SETTINGS),
        }


def sheets_as_csv(book: Path) -> dict[str, list[list[str]]]:
    """Every sheet of ``book`` through LibreOffice, by sheet name."""
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.fail(
            "reading workbooks back needs LibreOffice: apt-get install -y "
            f"--no-install-recommends {LIBREOFFICE_PACKAGE}"
        )
    out = book.parent / f"{book.stem}-csv"
    profile = book.parent / "lo-profile"  # its own profile: parallel runs do not share a lock
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--convert-to",
            CSV_FILTER,
            "--outdir",
            str(out),
            str(book),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    sheets = {}
    for path in out.glob(f"{book.stem}-*.csv"):
        with path.open(encoding="utf-8", newline="") as f:
            sheets[path.stem.removeprefix(f"{book.stem}-")] = list(csv.reader(f))
    return sheets


def read_back(cell: str, key: str, value: object) -> object:
    """A CSV cell as the row's value: percentages back to ratios, numbers to floats."""
    if value is None:
        assert cell == ""
        return None
    if isinstance(value, str | list):
        return cell
    if key in ("compliance", "coverage", "presence"):
        assert cell.endswith("%"), (key, cell)
        return float(cell[:-1]) / 100
    return float(cell)


def assert_sheet_equals(table: list[list[str]], rows: list[dict[str, object]], headers: int):
    keys = table[headers - 1]
    assert keys == list(rows[0])
    assert len(table) == headers + len(rows)
    for line, row in zip(table[headers:], rows, strict=True):
        for cell, key in zip(line, keys, strict=True):
            value = row[key]
            got = read_back(cell, key, value)
            if isinstance(value, list):  # violations: each period, from its local start
                assert isinstance(got, str) and got.count("–") == len(value), (got, value)
                for start, _ in value:
                    assert f"{dt.datetime.fromisoformat(start).astimezone(TZ):%m-%d %H:%M}–" in got
            elif isinstance(value, int | float):
                assert got == pytest.approx(value, rel=1e-12, abs=1e-12), (key, cell, value)
            else:
                assert got == value, (key, cell, value)


def test_every_sheet_reads_back_as_the_rows(reports, tmp_path):
    book = tmp_path / "month.xlsx"
    write_workbook(book, reports, timezone=TIMEZONE)
    sheets = sheets_as_csv(book)
    names = {
        "compliance": "合规率",
        "coverage": "覆盖率（网格）",
        "device_coverage": "覆盖率（网格员）",
        "presence": "到位率",
        "scorecard": "每日考核",
    }
    assert set(sheets) == set(names.values())
    for kind, rows in reports.items():
        assert rows, kind
        assert_sheet_equals(sheets[names[kind]], rows, headers=2)
    assert sheets["合规率"][0] == [
        "网格编号",
        "巡查次数",
        "最长间隔（秒）",
        "超时时长（秒）",
        "合规率",
        "超时时段",
    ]
    assert sheets["每日考核"][0][7] == "超时次数"
    compliance = {line[0]: line for line in sheets["合规率"][2:]}
    assert compliance["A"][5] == "11-20 00:30–08:10; 11-20 08:40–08:45; 11-20 09:15–11-21 00:00"
    assert compliance["P"][5] == ""
    assert [line[1] for line in sheets["每日考核"][2:]] == ["李伟", "王芳"]


def test_english_headers_times_and_sheet_layout(reports, tmp_path):
    """English: one header row of keys. A time in a row becomes a spreadsheet datetime in the
    deployment's time zone (00:30:05 UTC is 08:30:05 in Shanghai)."""
    book = tmp_path / "month-en.xlsx"
    presence = [{**reports["presence"][0], "last_fix": "2026-11-20T00:30:05+00:00"}]
    write_workbook(
        book,
        {"presence": presence, "scorecard": reports["scorecard"]},
        timezone=TIMEZONE,
        language="en",
    )
    sheets = sheets_as_csv(book)
    assert set(sheets) == {"presence", "scorecard"}
    assert_sheet_equals(sheets["scorecard"], reports["scorecard"], headers=1)
    assert sheets["presence"][0] == ["device_id", "grid_id", "presence", "last_fix"]
    assert sheets["presence"][1][3] == "2026-11-20 08:30:05"
    with zipfile.ZipFile(book) as z:
        presence_xml = z.read("xl/worksheets/sheet1.xml").decode()
        scorecard_xml = z.read("xl/worksheets/sheet2.xml").decode()
        styles = z.read("xl/styles.xml").decode()
    # frozen header and first column, an autofilter over the header and the rows
    assert (
        '<pane xSplit="1" ySplit="1" topLeftCell="B2" activePane="bottomRight" state="frozen"/>'
        in scorecard_xml
    )
    assert f'<autoFilter ref="A1:I{1 + len(reports["scorecard"])}"/>' in scorecard_xml
    # dates and times are numbers (days since 1899-12-30), not text
    assert re.search(r'<c r="A2" s="\d+"><v>46346</v></c>', scorecard_xml)
    assert re.search(r'<c r="D2" s="\d+"><v>46346\.354224537', presence_xml)
    assert 'formatCode="0.0%"' in styles
