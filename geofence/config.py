"""The patrol rules' constants for one deployment: what the derived data's fingerprint hashes.

Live operation's knobs (offline after, the live clock, ticks, how often to derive) are not
rules: they are :class:`patrol.config.LiveSettings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from zoneinfo import ZoneInfo

from base.settings import setting


@dataclass(frozen=True, kw_only=True)
class GeofenceSettings:
    segment_max_s: float = setting(
        120.0, "longest gap between two fixes that still makes a segment"
    )
    cell_m: float = setting(20.0, "side of a coverage cell, m")
    reach_m: float = setting(25.0, "a cell is covered when a track passes this close to its centre")
    timezone: str = setting("Asia/Shanghai", "time zone of service hours and service days")
    grace_s: float = setting(
        300.0,
        "a rostered worker arriving later than shift start + this is late; leaving "
        "before shift end - this is leaving early",
    )

    @cached_property
    def tz(self) -> ZoneInfo:
        """:attr:`timezone` as a time zone, built once."""
        return ZoneInfo(self.timezone)
