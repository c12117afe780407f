"""Rosters (排班) as rules: shift periods, weekly patterns, the calendar and the worker-shifts
of a day. Pure: the rows come from patrol.rosters, which reads files and storage.

A roster row names a worker, the device carried and the assigned grid, and either one day or
a weekly pattern over a validity range, with one or more shift periods a day
(``08:00-12:00,14:00-18:00``; ``22:00-06:00`` runs overnight into the next day). A shift
belongs to the day it starts on. docs/rules.md, "Rosters", defines each pattern.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

#: Calendar kinds: a holiday (放假, weekends included) or a working day (上班, 调休 included).
HOLIDAY, WORKDAY = "holiday", "workday"
CALENDAR_KINDS = (HOLIDAY, WORKDAY)
#: Weekly patterns by name; anything else is a list of ISO weekdays (1 Monday .. 7 Sunday).
NAMED_PATTERNS = ("workdays", "restdays", "daily")
DAY_S = 86_400
EPOCH = dt.date(1970, 1, 1)

_PERIOD = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_SEPARATORS = re.compile(r"[,，;；\s]+")
_WEEKDAYS = re.compile(r"^[1-7](-[1-7])?$")


def parse_shifts(text: str) -> list[tuple[int, int]]:
    """``"08:00-12:00,14:00-18:00"`` -> [(start_s, end_s), ...], seconds after the day's local
    midnight; an overnight period (``22:00-06:00``) ends past 86,400. ValueError with the
    reason for a bad period, a period of zero length or none at all."""
    periods = []
    for part in _SEPARATORS.split(text.strip()):
        if not part:
            continue
        m = _PERIOD.match(part)
        if not m:
            raise ValueError(f"shift {part!r} is not HH:MM-HH:MM")
        h1, m1, h2, m2 = (int(x) for x in m.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            raise ValueError(f"shift {part!r} has an impossible time")
        start, end = h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60
        if start == end:
            raise ValueError(f"shift {part!r} has zero length")
        periods.append((start, end + DAY_S if end < start else end))
    if not periods:
        raise ValueError("no shift periods")
    return periods


def parse_days(text: str) -> str:
    """A weekly pattern in its stored form: ``workdays``, ``restdays``, ``daily``, or ISO
    weekdays as ``1,2,3`` / ``1-5`` (normalised to the sorted list, ``1,2,3,4,5``)."""
    word = text.strip().lower()
    if word in NAMED_PATTERNS:
        return word
    days: set[int] = set()
    for part in _SEPARATORS.split(word):
        if not part:
            continue
        if not _WEEKDAYS.match(part):
            raise ValueError(
                f"days {text!r}: not workdays, restdays, daily or ISO weekdays (1-5, 6,7)"
            )
        lo, _, hi = part.partition("-")
        if hi and int(hi) < int(lo):
            raise ValueError(f"days {text!r}: {part} runs backwards")
        days.update(range(int(lo), int(hi or lo) + 1))
    if not days:
        raise ValueError(f"days {text!r}: no weekday")
    return ",".join(str(d) for d in sorted(days))


@dataclass(frozen=True)
class Calendar:
    """The State Council's holidays and make-up working days (``calendar_days``). A day it
    does not list is a working day Monday to Friday and a holiday on Saturday and Sunday.
    ``years`` are the years it lists a day of: a weekly pattern may only run inside them."""

    kinds: dict[dt.date, str]

    @property
    def years(self) -> frozenset[int]:
        return frozenset(d.year for d in self.kinds)

    def kind_of(self, day: dt.date) -> str:
        return self.kinds.get(day) or (WORKDAY if day.isoweekday() <= 5 else HOLIDAY)


def applies(pattern: str, day: dt.date, calendar: Calendar) -> bool:
    """Whether a weekly pattern has shifts on ``day``: ``workdays`` on the calendar's
    working days, ``restdays`` on its holidays, ``daily`` on every day, a weekday list on
    those weekdays unless the calendar makes the day a holiday."""
    if pattern == "daily":
        return True
    kind = calendar.kind_of(day)
    if pattern == "workdays":
        return kind == WORKDAY
    if pattern == "restdays":
        return kind == HOLIDAY
    return str(day.isoweekday()) in pattern.split(",") and calendar.kinds.get(day) != HOLIDAY


@dataclass(frozen=True)
class RosterEntry:
    """One roster row: ``day`` for a dated row, or ``days`` (a weekly pattern) over
    [valid_from, valid_to]; ``shifts`` as :func:`parse_shifts` gives them."""

    entry: int
    worker: str
    device_id: str
    grid_id: str
    day: dt.date | None
    days: str | None
    valid_from: dt.date
    valid_to: dt.date
    source: str
    shifts: tuple[tuple[int, int], ...]

    def on(self, day: dt.date, calendar: Calendar) -> bool:
        if self.day is not None:
            return day == self.day
        assert self.days is not None
        return self.valid_from <= day <= self.valid_to and applies(self.days, day, calendar)

    def dates(self, calendar: Calendar) -> list[dt.date]:
        """Every day this row has shifts on."""
        span = (self.valid_to - self.valid_from).days + 1
        every = (self.valid_from + dt.timedelta(days=k) for k in range(span))
        return [d for d in every if self.on(d, calendar)]


@dataclass(frozen=True)
class WorkerShift:
    """One shift of one worker on one roster day: [start, end) in epoch seconds."""

    day: dt.date
    worker: str
    device_id: str
    grid_id: str
    start: float
    end: float


def shifts_on(
    entries: Iterable[RosterEntry], day: dt.date, calendar: Calendar, tz: ZoneInfo
) -> list[WorkerShift]:
    """The worker-shifts that start on ``day`` (local), in roster order."""
    midnight = dt.datetime.combine(day, dt.time(), tz)
    return [
        WorkerShift(
            day,
            e.worker,
            e.device_id,
            e.grid_id,
            (midnight + dt.timedelta(seconds=a)).timestamp(),
            (midnight + dt.timedelta(seconds=b)).timestamp(),
        )
        for e in entries
        if e.on(day, calendar)
        for a, b in e.shifts
    ]


def device_shifts(
    entries: Iterable[RosterEntry],
    device_id: str,
    start: float,
    end: float,
    calendar: Calendar,
    tz: ZoneInfo,
) -> np.ndarray | None:
    """The shifts of ``device_id`` that overlap [start, end) as rows (start, end) in epoch
    seconds, in time order; None when no roster row names the device (it knows no duty)."""
    mine = [e for e in entries if e.device_id == device_id]
    if not mine:
        return None
    day = dt.datetime.fromtimestamp(start, tz).date() - dt.timedelta(days=1)  # overnight
    last = dt.datetime.fromtimestamp(end, tz).date()
    periods = []
    while day <= last:
        periods += [(s.start, s.end) for s in shifts_on(mine, day, calendar, tz)]
        day += dt.timedelta(days=1)
    rows = np.array(sorted(p for p in periods if p[1] > start and p[0] < end), np.float64)
    return rows.reshape(-1, 2)


def on_duty(ts: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """True where a time (epoch seconds) falls in one of ``shifts`` ([start, end) rows in time
    order; one device's shifts never overlap: the roster import refuses that)."""
    if len(shifts) == 0:
        return np.zeros(len(ts), dtype=bool)
    k = np.searchsorted(shifts[:, 0], ts, side="right") - 1
    return (k >= 0) & (ts < shifts[np.maximum(k, 0), 1])


def outside_calendar(entry: RosterEntry, calendar: Calendar) -> str | None:
    """Why a weekly pattern reaches past the calendar's years, or None (a dated row does not
    read the calendar)."""
    if entry.days is None:
        return None
    missing = sorted(set(range(entry.valid_from.year, entry.valid_to.year + 1)) - calendar.years)
    if not missing:
        return None
    return f"{entry.valid_from}..{entry.valid_to} reaches {missing[0]}, a year the calendar lacks"


def find_overlaps(entries: list[RosterEntry], calendar: Calendar) -> list[str]:
    """One line per pair of rows whose shifts overlap for one worker or one device (on the
    first day they do), in local wall-clock time."""
    found: dict[tuple[int, int], str] = {}
    rows, starts, ends = [], [], []
    for n, entry in enumerate(entries):
        days = np.array([(d - EPOCH).days for d in entry.dates(calendar)], np.int64)
        for a, b in entry.shifts:
            rows.append(np.full(len(days), n, np.int64))
            starts.append(days * DAY_S + a)
            ends.append(days * DAY_S + b)
    if not rows:
        return []
    row, start, end = np.concatenate(rows), np.concatenate(starts), np.concatenate(ends)
    for field in ("worker", "device_id"):
        names = np.array([getattr(x, field) for x in entries], dtype=object)
        key = np.unique(names[row].astype(str), return_inverse=True)[1]
        order = np.lexsort((start, key))
        k, lo, hi, r = key[order], start[order], end[order], row[order]
        # each key's times shifted past the one before, so running maxima never cross keys
        offset = (k - k.min()) * (int(hi.max() - lo.min()) + DAY_S)
        lo_off, hi_off = lo + offset, hi + offset
        high = np.maximum.accumulate(hi_off)
        holder = np.maximum.accumulate(np.where(hi_off == high, np.arange(len(hi_off)), 0))
        for i in np.flatnonzero(lo_off[1:] < high[:-1]) + 1:
            j = int(holder[i - 1])
            pair = (min(int(r[j]), int(r[i])), max(int(r[j]), int(r[i])))
            if pair in found:  # named once, on its first day, for worker or device
                continue
            first, second = entries[pair[0]], entries[pair[1]]
            day = EPOCH + dt.timedelta(days=int(lo[i] // DAY_S))
            who = f"worker {first.worker!r}" if field == "worker" else f"device {first.device_id!r}"
            where = first.source if pair[0] == pair[1] else f"{first.source} and {second.source}"
            found[pair] = f"{where}: shifts of {who} overlap on {day}"
    return [found[pair] for pair in sorted(found)]
