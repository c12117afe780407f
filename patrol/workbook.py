"""Report rows as one xlsx workbook for the monthly assessment: a sheet per report kind.

Rows are exactly what ``geofence.reports.compute_report`` (compliance, coverage per grid and
per device, presence) and ``geofence.scorecard.scorecard_rows`` return. In each sheet: Chinese
headers over the rows' English keys (``language="zh"``) or the keys alone (``"en"``), frozen
with the first column; an autofilter; numbers as numbers; ratios in 0..1 as percentages;
ISO times as spreadsheet datetimes in the deployment's time zone; violations as text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Literal
from zoneinfo import ZoneInfo

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

Rows = Sequence[Mapping[str, object]]

#: Sheet titles per report kind; the order of the workbook is the order the reports are given.
SHEETS: dict[str, tuple[str, str]] = {
    "compliance": ("合规率", "compliance"),
    "coverage": ("覆盖率（网格）", "coverage by grid"),
    "device_coverage": ("覆盖率（网格员）", "coverage by device"),
    "presence": ("到位率", "presence"),
    "scorecard": ("每日考核", "scorecard"),
    "assessment": ("考核汇总", "assessment"),
    "attendance": ("考勤", "attendance"),
}

#: The columns of each kind when it has no rows (otherwise the first row's keys, in order).
COLUMNS: dict[str, tuple[str, ...]] = {
    "compliance": ("grid_id", "visits", "max_gap_s", "overdue_s", "compliance", "violations"),
    "coverage": ("grid_id", "cells", "covered", "coverage"),
    "device_coverage": ("device_id", "grid_id", "cells", "covered", "coverage"),
    "presence": ("device_id", "grid_id", "presence"),
    "scorecard": (
        "date",
        "worker",
        "device_id",
        "grid_id",
        "presence",
        "coverage",
        "compliance",
        "violations",
        "score",
    ),
    "assessment": (
        "date",
        "worker",
        "device_id",
        "grid_id",
        "presence",
        "coverage",
        "compliance",
        "violations",
        "score",
        "days",
    ),
    "attendance": (
        "date",
        "worker",
        "device_id",
        "grid_id",
        "shift_start",
        "shift_end",
        "arrival",
        "late",
        "late_s",
        "departure",
        "left_early",
        "early_s",
        "absent",
        "shift_s",
        "inside_s",
        "out_s",
        "silent_s",
        "presence",
        "fix_presence",
        "mileage_m",
        "out_periods",
        "silent_periods",
    ),
}

#: Chinese headers by key; a key not listed keeps its English name.
HEADERS = {
    "date": "日期",
    "worker": "网格员",
    "device_id": "设备编号",
    "grid_id": "网格编号",
    "visits": "巡查次数",
    "max_gap_s": "最长间隔（秒）",
    "overdue_s": "超时时长（秒）",
    "compliance": "合规率",
    "violations": "超时时段",
    "cells": "单元格数",
    "covered": "已覆盖单元格",
    "coverage": "覆盖率",
    "presence": "到位率",
    "score": "得分",
    "days": "天数",
    "shift_start": "班次开始",
    "shift_end": "班次结束",
    "arrival": "到岗时间",
    "late": "迟到",
    "late_s": "迟到时长（秒）",
    "departure": "离岗时间",
    "left_early": "早退",
    "early_s": "早退时长（秒）",
    "absent": "缺岗",
    "shift_s": "班次时长（秒）",
    "inside_s": "在岗时长（秒）",
    "out_s": "脱岗时长（秒）",
    "silent_s": "失联时长（秒）",
    "fix_presence": "定位到位率",
    "mileage_m": "巡查里程（米）",
    "out_periods": "脱岗时段",
    "silent_periods": "失联时段",
}
#: Headers that differ by kind: the scorecard's violations are a count, not a list of
#: periods; the assessment's date is the days it covers.
KIND_HEADERS = {
    "scorecard": {"violations": "超时次数"},
    "assessment": {"violations": "超时次数", "date": "考核时段"},
}

#: Ratios in 0..1 as percentages; the score (0..100 points) with one decimal.
NUMBER_STYLES = {
    "compliance": "percent",
    "coverage": "percent",
    "presence": "percent",
    "fix_presence": "percent",
    "score": "score",
}
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_CELL_TEXT = 32767  # a spreadsheet cell's limit, in characters


def write_workbook(
    target: str | Path | IO[bytes],
    reports: Mapping[str, Rows],
    *,
    timezone: str,
    language: Literal["zh", "en"] = "zh",
) -> None:
    """Write ``reports`` (kind -> rows; kinds from :data:`SHEETS`) to one xlsx workbook."""
    unknown = sorted(set(reports) - set(SHEETS))
    if unknown:
        raise ValueError(f"unknown report kinds {unknown}; known: {sorted(SHEETS)}")
    tz = ZoneInfo(timezone)
    target = str(target) if isinstance(target, Path) else target
    with xlsxwriter.Workbook(target, {"in_memory": True}) as book:
        formats = {
            "header": book.add_format({"bold": True, "bg_color": "#DDE6EE", "border": 1}),
            "key": book.add_format({"italic": True, "font_color": "#555555", "border": 1}),
            "percent": book.add_format({"num_format": "0.0%"}),
            "datetime": book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
            "date": book.add_format({"num_format": "yyyy-mm-dd"}),
            "score": book.add_format({"num_format": "0.0"}),
            "text": book.add_format({"text_wrap": True, "valign": "top"}),
        }
        for kind, rows in reports.items():
            sheet = book.add_worksheet(SHEETS[kind][0 if language == "zh" else 1])
            _write_sheet(sheet, kind, rows, tz, language, formats)


def _write_sheet(
    sheet: Worksheet, kind: str, rows: Rows, tz: ZoneInfo, language: str, formats: dict[str, Format]
) -> None:
    keys = list(rows[0]) if rows else list(COLUMNS[kind])
    header = [keys]
    if language == "zh":
        chinese = KIND_HEADERS.get(kind, {})
        header.insert(0, [chinese.get(k) or HEADERS.get(k, k) for k in keys])
    for i, labels in enumerate(header):
        sheet.write_row(i, 0, labels, formats["header" if i == 0 else "key"])
    header_rows = len(header)
    widths = [max(_width(label) for label in column) for column in zip(*header, strict=True)]
    for r, row in enumerate(rows, start=header_rows):
        for c, key in enumerate(keys):
            widths[c] = max(widths[c], _write_cell(sheet, r, c, key, row.get(key), tz, formats))
    for c, width in enumerate(widths):
        sheet.set_column(c, c, min(width + 2, 60))
    sheet.freeze_panes(header_rows, 1)
    sheet.autofilter(header_rows - 1, 0, header_rows - 1 + len(rows), len(keys) - 1)


def _write_cell(
    sheet: Worksheet,
    r: int,
    c: int,
    key: str,
    value: object,
    tz: ZoneInfo,
    formats: dict[str, Format],
) -> int:
    """Write one value; return the width it needs, in characters."""
    if value is None:
        sheet.write_blank(r, c, None)
        return 0
    if isinstance(value, bool):  # late, left early, absent: TRUE or FALSE, for the filter
        sheet.write_boolean(r, c, value)
        return 5
    if isinstance(value, int | float):
        sheet.write_number(r, c, value, formats.get(NUMBER_STYLES.get(key, "")))
        return 8
    if isinstance(value, list):
        text = _periods(value, tz)
        sheet.write_string(r, c, text, formats["text"])
        return min(_width(text), 60)
    text = str(value)
    if ISO_TIME.fullmatch(text):
        moment = dt.datetime.fromisoformat(text).astimezone(tz).replace(tzinfo=None)
        sheet.write_datetime(r, c, moment, formats["datetime"])
        return 19
    if ISO_DATE.fullmatch(text):
        sheet.write_datetime(r, c, dt.date.fromisoformat(text), formats["date"])
        return 10
    sheet.write_string(r, c, text[:MAX_CELL_TEXT])
    return _width(text)


def _periods(periods: Sequence[Sequence[str]], tz: ZoneInfo) -> str:
    """Violations [[start, end], ...] as '11-20 08:40–08:45; 11-20 23:50–11-21 00:10'."""
    parts = []
    for period in periods:
        start, end = (dt.datetime.fromisoformat(t).astimezone(tz) for t in period)
        tail = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%m-%d %H:%M}"
        parts.append(f"{start:%m-%d %H:%M}–{tail}")
    text = "; ".join(parts)
    if len(text) <= MAX_CELL_TEXT:
        return text
    kept = text[: MAX_CELL_TEXT - 40].rsplit("; ", 1)[0]
    return f"{kept}; … ({len(parts) - kept.count('; ') - 1} more)"


def _width(text: str) -> int:
    """Display width: a CJK character takes two columns."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
