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
