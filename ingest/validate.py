"""Vectorised checks on decoded pings: one reason code (or none) per row.

Traccar's filters are the reference: coordinates in range, no (0, 0) fix, fix times neither
in the future nor too old, and flags (not rejections) for poor accuracy and implied speed.
"""

from __future__ import annotations

import numpy as np

from ingest.reasons import Reason

#: Epoch seconds above this (year 5138) are taken for milliseconds.
MILLISECONDS_FLOOR = 1e11

#: Row reason codes: index into this tuple; 0 means the row is good.
CODES: tuple[Reason | None, ...] = (
    None,
    Reason.LAT_OUT_OF_RANGE,
    Reason.LON_OUT_OF_RANGE,
    Reason.NULL_ISLAND,
    Reason.TS_MILLISECONDS,
    Reason.TS_FUTURE,
    Reason.TS_TOO_OLD,
    Reason.UNKNOWN_DEVICE,
    Reason.OFF_DUTY,
)
_CODE = {reason: i for i, reason in enumerate(CODES)}
#: The code of a fix dropped off duty: given after every other check, to good fixes only.
OFF_DUTY_CODE = _CODE[Reason.OFF_DUTY]


def find_bad_pings(
    *,
    ts: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    received_at: np.ndarray,
    known_device: np.ndarray | None,
    max_future_s: float,
    max_age_s: float,
) -> np.ndarray:
    """A uint8 code per row (see :data:`CODES`); the first failing check wins."""
    code = np.zeros(len(ts), dtype=np.uint8)
    checks = [
        (np.abs(lat) > 90.0, Reason.LAT_OUT_OF_RANGE),
        (np.abs(lon) > 180.0, Reason.LON_OUT_OF_RANGE),
        ((lat == 0.0) & (lon == 0.0), Reason.NULL_ISLAND),
        (ts > MILLISECONDS_FLOOR, Reason.TS_MILLISECONDS),
        (ts > received_at + max_future_s, Reason.TS_FUTURE),
        (ts < received_at - max_age_s, Reason.TS_TOO_OLD),
    ]
    if known_device is not None:
        checks.append((~known_device, Reason.UNKNOWN_DEVICE))
    for bad, reason in reversed(checks):
        code[bad] = _CODE[reason]
    return code


def describe(reason: Reason, ts: float, lat: float, lon: float, received_at: float) -> str:
    """A human line for the ``rejected.detail`` column."""
    if reason in (Reason.LAT_OUT_OF_RANGE, Reason.LON_OUT_OF_RANGE, Reason.NULL_ISLAND):
        return f"lat={lat!r} lon={lon!r}"
    if reason in (Reason.TS_FUTURE, Reason.TS_TOO_OLD, Reason.TS_MILLISECONDS):
        return f"ts={ts!r} is {ts - received_at:+.0f} s from receive time"
    return ""
