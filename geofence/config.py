"""Geofence settings: the patrol rules' constants for one deployment."""

from __future__ import annotations

from dataclasses import dataclass

from base.settings import setting


@dataclass(frozen=True, kw_only=True)
class GeofenceSettings:
    segment_max_s: float = setting(
        120.0, "longest gap between two fixes that still makes a segment"
    )
    cell_m: float = setting(20.0, "side of a coverage cell, m")
    reach_m: float = setting(25.0, "a cell is covered when a track passes this close to its centre")
    timezone: str = setting("Asia/Shanghai", "time zone of service hours and service days")
    offline_after_s: float = setting(600.0, "silence after which a device is reported offline")
    live_clock: str = setting(
        "wall", "live alerts run on 'wall' clock time or 'event' time (the newest fix seen)"
    )
    tick_s: float = setting(1.0, "how often live state checks for overdue grids")
    derive_every_s: float = setting(
        60.0, "how often the live stage brings the derived patrol data up to date"
    )
