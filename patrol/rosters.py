"""Roster and calendar files as supervisors keep them (CSV or xlsx), checked and stored.

``gridpatrol roster import FILE`` and ``gridpatrol calendar import FILE``. A CSV is read in
UTF-8 or, failing that, GB18030 (GBK: a Chinese Excel's "CSV"), as the devices file is
(base.devicefile); an xlsx's first sheet is read with openpyxl. Headers in English or in
the Chinese the workbook uses. Every bad row is one line naming its line (the header is line
1), and nothing is imported while one remains (docs/cli.md).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from base.devicefile import read_text
from base.errors import ConfigError
from geofence.rosters import (
    CALENDAR_KINDS,
    Calendar,
    RosterEntry,
    device_shifts,
    find_overlaps,
    on_duty,
    outside_calendar,
    parse_days,
    parse_shifts,
)
from tracks.devices import read_devices
from tracks.grids import read_grid_rows
from tracks.rosters import read_calendar, read_roster, replace_calendar_years, replace_roster
from tracks.schema import CALENDAR_DAYS, ROSTER_SHIFTS, ROSTERS
from tracks.store import Store

#: Each column's name and the Chinese headers taken for it.
ROSTER_COLUMNS = {
    "worker": ("网格员", "姓名", "人员"),
    "device_id": ("设备编号", "设备"),
    "grid_id": ("网格编号", "网格"),
    "date": ("日期",),
    "days": ("星期", "排班规律"),
    "valid_from": ("生效日期", "开始日期"),
    "valid_to": ("截止日期", "结束日期"),
    "shifts": ("班次", "时段"),
}
CALENDAR_COLUMNS = {"date": ("日期",), "kind": ("类型",)}
#: Columns a file may leave out (a roster of dated rows has no days, valid_from, valid_to).
OPTIONAL = ("date", "days", "valid_from", "valid_to")
#: Calendar kinds as the notice words them.
KIND_WORDS = {
    "holiday": "holiday",
    "放假": "holiday",
    "休": "holiday",
    "workday": "workday",
    "上班": "workday",
    "班": "workday",
}
#: At most this many problems are listed, one line each.
PROBLEMS_SHOWN = 50
#: A file of more rows is refused before any is checked (a district's month: 2,000 workers).
MAX_ROWS = 200_000


def read_table(path: Path, columns: Mapping[str, tuple[str, ...]]) -> list[dict[str, str]]:
    """The rows of a CSV or an xlsx's first sheet as text by column name (missing: '')."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        grid = _xlsx_cells(path)
    else:
        grid = list(csv.reader(io.StringIO(read_text(path, "it"))))
    if not grid:
        raise ConfigError(f"{path}: empty, no header")
    header = [_header(h, columns) for h in grid[0]]
    missing = [c for c in columns if c not in header and c not in OPTIONAL]
    if missing:
        raise ConfigError(f"{path}: no column {', '.join(missing)} in the header")
    if len(grid) - 1 > MAX_ROWS:
        raise ConfigError(f"{path}: {len(grid) - 1} rows, more than {MAX_ROWS}")
    rows = []
    for cells in grid[1:]:
        row = dict.fromkeys(columns, "")
        for name, cell in zip(header, cells, strict=False):
            if name in row:
                row[name] = cell.strip()
        rows.append(row)
    return rows


def _header(text: str, columns: Mapping[str, tuple[str, ...]]) -> str:
    word = text.strip().lstrip("\ufeff")
    for name, chinese in columns.items():
        if word.lower() == name or word in chinese:
            return name
    return word


def _xlsx_cells(path: Path) -> list[list[str]]:
    import zipfile

    import openpyxl  # only a roster from Excel needs it

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable xlsx workbook: {exc}") from exc
    try:
        sheet = book.worksheets[0]
        return [
            [_cell_text(v) for v in row]
            for row in sheet.iter_rows(values_only=True)
            if any(v is not None for v in row)
        ]
    finally:
        book.close()


def _cell_text(value: object) -> str:
    """An Excel cell as the text a CSV would hold: dates as YYYY-MM-DD, times as HH:MM,
    whole numbers without '.0' (a device id typed as a number)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _date(text: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not YYYY-MM-DD") from None


def parse_roster(
    path: Path, devices: set[str], grids: set[str], calendar: Calendar
) -> list[RosterEntry]:
    """The roster file's rows, checked: every problem is one line naming its line, and a
    ConfigError lists them all when there is any."""
    problems: list[str] = []
    entries: list[RosterEntry] = []
    for line, row in enumerate(read_table(path, ROSTER_COLUMNS), start=2):
        if not any(row.values()):
            continue
        try:
            entry = _entry(len(entries), f"line {line}", row, devices, grids)
        except ValueError as exc:
            problems.append(f"line {line}: {exc}")
            continue
        reason = outside_calendar(entry, calendar)
        if reason:
            problems.append(f"line {line}: dates outside the calendar: {reason}")
            continue
        entries.append(entry)
    if not problems:
        problems = find_overlaps(entries, calendar)
    _refuse(path, problems)
    return entries


def _entry(
    number: int, source: str, row: dict[str, str], devices: set[str], grids: set[str]
) -> RosterEntry:
    if not row["worker"]:
        raise ValueError("no worker")
    if row["device_id"] not in devices:
        raise ValueError(f"unknown device {row['device_id']!r} (gridpatrol devices import)")
    if row["grid_id"] not in grids:
        raise ValueError(f"unknown grid {row['grid_id']!r}")
    if bool(row["date"]) == bool(row["days"]):
        raise ValueError("give either a date or days (a weekly pattern), not both or neither")
    shifts = tuple(parse_shifts(row["shifts"]))
    if row["date"]:
        day = _date(row["date"], "date")
        if row["valid_from"] or row["valid_to"]:
            raise ValueError("a dated row takes no valid_from or valid_to")
        return RosterEntry(
            number,
            row["worker"],
            row["device_id"],
            row["grid_id"],
            day,
            None,
            day,
            day,
            source,
            shifts,
        )
    days = parse_days(row["days"])
    first = _date(row["valid_from"], "valid_from")
    last = _date(row["valid_to"], "valid_to")
    if last < first:
        raise ValueError(f"valid_to {last} is before valid_from {first}")
    return RosterEntry(
        number,
        row["worker"],
        row["device_id"],
        row["grid_id"],
        None,
        days,
        first,
        last,
        source,
        shifts,
    )


def _refuse(path: Path, problems: list[str]) -> None:
    if not problems:
        return
    lines = [f"  {p}" for p in problems[:PROBLEMS_SHOWN]]
    if len(problems) > PROBLEMS_SHOWN:
        lines.append(f"  and {len(problems) - PROBLEMS_SHOWN} more")
    raise ConfigError(f"{path}: {len(problems)} problem(s), nothing imported:\n" + "\n".join(lines))


def import_roster(store: Store, path: Path) -> int:
    """Check the roster file against the stored devices, grids and calendar, and replace the
    stored roster with it. Returns the rows imported."""
    devices = set(read_devices(store)["device_id"].to_list())
    grids = set(read_grid_rows(store, geometry=False)["grid_id"].to_list())
    entries = parse_roster(path, devices, grids, load_calendar(store))
    frame = pl.DataFrame(
        [
            {
                "entry": e.entry,
                "worker": e.worker,
                "device_id": e.device_id,
                "grid_id": e.grid_id,
                "day": e.day,
                "days": e.days,
                "valid_from": e.valid_from,
                "valid_to": e.valid_to,
                "source": f"{path.name} {e.source}",
            }
            for e in entries
        ],
        schema=ROSTERS.schema,
    )
    shifts = pl.DataFrame(
        [(e.entry, a, b) for e in entries for a, b in e.shifts],
        schema=ROSTER_SHIFTS.schema,
        orient="row",
    )
    replace_roster(store, frame, shifts)
    return len(entries)


def parse_calendar(path: Path) -> pl.DataFrame:
    """The calendar file's days (day, kind), checked as :func:`parse_roster` checks."""
    problems: list[str] = []
    days: dict[dt.date, tuple[int, str]] = {}
    for line, row in enumerate(read_table(path, CALENDAR_COLUMNS), start=2):
        if not any(row.values()):
            continue
        kind = KIND_WORDS.get(row["kind"].lower())
        try:
            day = _date(row["date"], "date")
        except ValueError as exc:
            problems.append(f"line {line}: {exc}")
            continue
        if kind is None:
            problems.append(
                f"line {line}: kind {row['kind']!r} is not {' or '.join(CALENDAR_KINDS)}"
            )
        elif day in days:
            problems.append(f"line {line}: {day} is listed on line {days[day][0]} too")
        else:
            days[day] = (line, kind)
    if not days and not problems:
        problems.append("no days")
    _refuse(path, problems)
    return pl.DataFrame(
        {"day": list(days), "kind": [k for _, k in days.values()]}, schema=CALENDAR_DAYS.schema
    )


def import_calendar(store: Store, path: Path) -> tuple[int, list[int]]:
    """Replace the stored days of the file's years with the file's. Returns the days and
    years imported."""
    days = parse_calendar(path)
    replace_calendar_years(store, days)
    return days.height, sorted({d.year for d in days["day"].to_list()})


def load_calendar(store: Store) -> Calendar:
    frame = read_calendar(store)
    return Calendar(dict(zip(frame["day"].to_list(), frame["kind"].to_list(), strict=True)))


def load_roster(store: Store) -> list[RosterEntry]:
    """The stored roster's rows with their shifts, in roster order."""
    entries, shifts = read_roster(store)
    periods: dict[int, list[tuple[int, int]]] = {}
    for entry, a, b in shifts.iter_rows():
        periods.setdefault(entry, []).append((a, b))
    return [
        RosterEntry(
            r["entry"],
            r["worker"],
            r["device_id"],
            r["grid_id"],
            r["day"],
            r["days"],
            r["valid_from"],
            r["valid_to"],
            r["source"],
            tuple(periods.get(r["entry"], ())),
        )
        for r in entries.iter_rows(named=True)
    ]


def on_duty_only(store: Store, device_id: str, track: pl.DataFrame, tz: ZoneInfo) -> pl.DataFrame:
    """``track`` (a frame with ``ts``) without the fixes outside the device's shifts (what
    supervisors see under ``--off-duty hide``); whole for a device no roster names."""
    if track.height == 0:
        return track
    ts = track["ts"].dt.epoch("us").to_numpy() / 1e6
    shifts = device_shifts(
        load_roster(store), device_id, ts.min(), ts.max() + 1, load_calendar(store), tz
    )
    if shifts is None:
        return track
    return track.filter(pl.Series(on_duty(ts, shifts)))
