"""Alerts: the conditions the live updater raises and clears, as data (no storage, no transport).

Alerts are published on MQTT under ``gridpatrol/v1/alerts/{kind}/{grid_id or device_id}``
and kept in the ``alerts`` table; :class:`AlertKind` is the one list of kinds (the API
serves it to the live map).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo


class AlertKind(StrEnum):
    OVERDUE = "overdue"  # a grid in service hours without a visit for longer than its interval
    CLEARED = "cleared"  # an overdue grid visited again
    DEVICE_OFFLINE = "device_offline"  # a device silent longer than the offline threshold
    DEVICE_ONLINE = "device_online"  # an offline device heard from again
    # a tracker's alarm flag (the JT/T 808 alarm DWORD, ping field ``alarm``) set, and cleared
    ALARM_SOS = "alarm_sos"  # bit 0, emergency (紧急报警): the button pressed
    ALARM_SOS_ENDED = "alarm_sos_ended"
    ALARM_OVERSPEED = "alarm_overspeed"  # bit 1, overspeed (超速报警)
    ALARM_OVERSPEED_ENDED = "alarm_overspeed_ended"
    ALARM_GNSS_FAULT = "alarm_gnss_fault"  # bit 4, GNSS module fault (GNSS模块发生故障)
    ALARM_GNSS_FAULT_ENDED = "alarm_gnss_fault_ended"
    ALARM_ANTENNA_CUT = "alarm_antenna_cut"  # bit 5, GNSS antenna missing or cut (天线未接或被剪断)
    ALARM_ANTENNA_CUT_ENDED = "alarm_antenna_cut_ended"
    ALARM_ANTENNA_SHORT = "alarm_antenna_short"  # bit 6, GNSS antenna short circuit (天线短路)
    ALARM_ANTENNA_SHORT_ENDED = "alarm_antenna_short_ended"
    ALARM_POWER_LOW = "alarm_power_low"  # bit 7, main power under-voltage (终端主电源欠压)
    ALARM_POWER_LOW_ENDED = "alarm_power_low_ended"
    ALARM_POWER_CUT = "alarm_power_cut"  # bit 8, main power cut (终端主电源掉电): unplugged
    ALARM_POWER_CUT_ENDED = "alarm_power_cut_ended"
    ALARM_MOVED = "alarm_moved"  # bit 28, moved without the ignition on (车辆非法位移)
    ALARM_MOVED_ENDED = "alarm_moved_ended"
    OUT_OF_GRID = "out_of_grid"  # a worker on shift beyond the buffer around the grid (越界)
    IN_GRID = "in_grid"  # back within the buffer, or the shift over
    STATIONARY = "stationary"  # a worker on shift moving less than the radius (滞留)
    MOVING = "moving"  # moved beyond the radius, or the shift over
    ABSENT = "absent"  # a worker not in the grid by shift start + grace (缺岗)
    ARRIVED = "arrived"  # the first fix in the grid, or the shift over
    SILENT = "silent"  # a worker on shift without a fix (失联; device_offline knows no roster)
    HEARD = "heard"  # a fix again, or the shift over
    DUE_SOON = "due_soon"  # a grid's gap within the lead of its interval (预警), nearest workers
    DUE_SOON_ENDED = "due_soon_ended"  # the grid visited, or overdue


#: The JT/T 808 alarm flag bits that are alerts: bit -> (raised when it sets, when it clears).
ALARM_BITS: dict[int, tuple[AlertKind, AlertKind]] = {
    0: (AlertKind.ALARM_SOS, AlertKind.ALARM_SOS_ENDED),
    1: (AlertKind.ALARM_OVERSPEED, AlertKind.ALARM_OVERSPEED_ENDED),
    4: (AlertKind.ALARM_GNSS_FAULT, AlertKind.ALARM_GNSS_FAULT_ENDED),
    5: (AlertKind.ALARM_ANTENNA_CUT, AlertKind.ALARM_ANTENNA_CUT_ENDED),
    6: (AlertKind.ALARM_ANTENNA_SHORT, AlertKind.ALARM_ANTENNA_SHORT_ENDED),
    7: (AlertKind.ALARM_POWER_LOW, AlertKind.ALARM_POWER_LOW_ENDED),
    8: (AlertKind.ALARM_POWER_CUT, AlertKind.ALARM_POWER_CUT_ENDED),
    28: (AlertKind.ALARM_MOVED, AlertKind.ALARM_MOVED_ENDED),
}

#: The bits of :data:`ALARM_BITS` as one mask: other alarm bits are stored, never alerts.
ALARM_MASK = sum(1 << bit for bit in ALARM_BITS)

#: The kind that ends each condition.
ENDED_BY = {
    AlertKind.OVERDUE: AlertKind.CLEARED,
    AlertKind.DEVICE_OFFLINE: AlertKind.DEVICE_ONLINE,
    **dict(ALARM_BITS.values()),
}
#: The worker alerts (geofence/workers.py) and the kind that ends each; their subject is the
#: device, and they name the grid of the shift too.
WORKER_ENDED_BY = {
    AlertKind.OUT_OF_GRID: AlertKind.IN_GRID,
    AlertKind.STATIONARY: AlertKind.MOVING,
    AlertKind.ABSENT: AlertKind.ARRIVED,
    AlertKind.SILENT: AlertKind.HEARD,
}
ENDED_BY.update(WORKER_ENDED_BY)
ENDED_BY[AlertKind.DUE_SOON] = AlertKind.DUE_SOON_ENDED
#: Kinds about a device, even when they name a grid too.
DEVICE_SUBJECT = frozenset(WORKER_ENDED_BY) | frozenset(WORKER_ENDED_BY.values())


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    at: float  # when the condition began (event time), epoch seconds
    raised_at: float  # when gridpatrol raised it (the live clock), epoch seconds
    grid_id: str | None = None
    device_id: str | None = None
    detail: str = ""
    stored_id: str | None = None  # the id storage holds, for an alert read back from it

    @property
    def subject(self) -> str:
        if self.kind in DEVICE_SUBJECT:
            return self.device_id or ""
        return self.grid_id or self.device_id or ""

    @property
    def alert_id(self) -> str:
        """kind:subject:time; an alert read back from storage keeps the id stored."""
        if self.stored_id is not None:
            return self.stored_id
        return f"{self.kind}:{self.subject}:{self.at:.3f}"

    def to_json(self, tz: ZoneInfo) -> dict[str, object]:
        return {
            "alert_id": self.alert_id,
            "kind": str(self.kind),
            "grid_id": self.grid_id,
            "device_id": self.device_id,
            "at": dt.datetime.fromtimestamp(self.at, tz).isoformat(),
            "raised_at": dt.datetime.fromtimestamp(self.raised_at, tz).isoformat(),
            "detail": self.detail,
        }
