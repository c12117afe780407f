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


#: The kind that ends each condition.
ENDED_BY = {AlertKind.OVERDUE: AlertKind.CLEARED, AlertKind.DEVICE_OFFLINE: AlertKind.DEVICE_ONLINE}
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
