"""The live state alone (patrol/live.py), on a fixed clock."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from geofence.alerts import AlertKind
from geofence.config import GeofenceSettings
from geofence.grids import load_grids
from patrol.live import LiveState, StoredState
from tests.geofence.town import lonlat, three_in_a_row

NOW = 1_764_000_000.0


def test_a_device_offline_by_its_last_will_stays_offline_after_a_restart(tmp_path: Path):
    """A phone whose only news was its last will: its offline alert is stored, and a
    restarted state (which keeps no last wills) holds it open without a fix to end it,
    instead of failing at every tick; its next fix brings it online."""
    grid_set = load_grids(three_in_a_row(tmp_path / "grids.geojson"))
    state = LiveState(grid_set, GeofenceSettings(), clock=lambda: NOW)
    state.load(StoredState(open_alerts=[(AlertKind.DEVICE_OFFLINE, "wang.phone", NOW - 60)]))
    for now in (NOW, NOW + 3600):
        assert [a for a in state.evaluate(now=now) if a.device_id is not None] == []
    lon, lat = lonlat(0, 0)
    alerts = state.apply_fixes(
        ["wang.phone"],
        np.array([NOW + 10]),
        np.array([lon]),
        np.array([lat]),
        np.array([-1], dtype=np.int32),
    )
    alerts += state.evaluate(now=NOW + 20)
    online = [a for a in alerts if a.kind == AlertKind.DEVICE_ONLINE]
    assert [(a.device_id, a.at) for a in online] == [("wang.phone", NOW + 10)]


def test_alarm_bits_raise_and_end_their_alerts_once_each_in_fix_time_order(tmp_path: Path):
    """Tracker T, fixes at +1 .. +6 s, arriving out of order in two batches. Alarm flags:
    +1 0; +2 SOS (bit 0) and bit 3 (not mapped); +3 SOS and power cut (bit 8); +4 power cut;
    +5 none; +6 no flags (NaN: a phone's ping). A late fix at +2.5 (bit 1) changes nothing.
    Then a rebuilt state holds an SOS open from storage and ends it with the next fix."""
    grid_set = load_grids(three_in_a_row(tmp_path / "grids.geojson"))
    state = LiveState(grid_set, GeofenceSettings(), clock=lambda: NOW)
    first = state.apply_alarms(
        ["T", "T", "T"], np.array([NOW + 3, NOW + 1, NOW + 2]), np.array([0x101, 0, 0x9])
    )
    second = state.apply_alarms(
        ["T", "T", "T", "T"],
        np.array([NOW + 2.5, NOW + 4, NOW + 6, NOW + 5]),
        np.array([0x2, 0x100, np.nan, 0]),
    )
    got = [(a.kind, a.at - NOW, a.detail) for a in first + second]
    assert got == [
        (AlertKind.ALARM_SOS, 2, "bit 0"),
        (AlertKind.ALARM_POWER_CUT, 3, "bit 8"),
        (AlertKind.ALARM_SOS_ENDED, 4, "bit 0"),
        (AlertKind.ALARM_POWER_CUT_ENDED, 5, "bit 8"),
    ]
    assert all(a.device_id == "T" for a in first + second)
    rebuilt = LiveState(grid_set, GeofenceSettings(), clock=lambda: NOW)
    rebuilt.load(StoredState(open_alerts=[(AlertKind.ALARM_SOS, "T", NOW + 2)]))
    assert rebuilt.apply_alarms(["T"], np.array([NOW + 1]), np.array([0])) == []
    ended = rebuilt.apply_alarms(["T"], np.array([NOW + 7]), np.array([0]))
    assert [(a.kind, a.at - NOW) for a in ended] == [(AlertKind.ALARM_SOS_ENDED, 7)]
