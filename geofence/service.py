"""Service hours: when a grid must be patrolled, as UTC intervals inside a window."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import numpy as np

_HOURS = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


def parse_service_hours(text: object) -> tuple[int, int]:
    """``"08:00-20:00"`` -> (start, end) in seconds after local midnight; end may pass 24:00."""
    if not isinstance(text, str) or not (m := _HOURS.match(text)):
        raise ValueError(f"{text!r} is not of the form HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(x) for x in m.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"{text!r} has an impossible time")
    start, end = h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60
    if start == end:
        raise ValueError(f"{text!r} is empty")
    if end < start:  # overnight, e.g. 20:00-08:00
        end += 86400
    return start, end


def service_intervals(hours: str | None, start: float, end: float, tz: ZoneInfo) -> np.ndarray:
    """The [start, end) epoch-second intervals of service inside the window, as an (n, 2) array."""
    if hours is None:
        return np.array([[start, end]], dtype=np.float64) if end > start else np.empty((0, 2))
    open_s, close_s = parse_service_hours(hours)
    day = dt.datetime.fromtimestamp(start, tz).date() - dt.timedelta(days=1)
    last = dt.datetime.fromtimestamp(end, tz).date()
    out = []
    while day <= last:
        midnight = dt.datetime.combine(day, dt.time(), tz)
        a = (midnight + dt.timedelta(seconds=open_s)).timestamp()
        b = (midnight + dt.timedelta(seconds=close_s)).timestamp()
        lo, hi = max(a, start), min(b, end)
        if hi > lo:
            out.append((lo, hi))
        day += dt.timedelta(days=1)
    return np.array(out, dtype=np.float64).reshape(-1, 2)
