"""The daily scorecard from storage: one code path for ``gridpatrol scorecard`` and the API."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from geofence.config import GeofenceSettings
from geofence.grids import GridSet
from geofence.scorecard import day_window, scorecard_rows
from patrol.fixes import load_fixes
from tracks.devices import read_assignments
from tracks.store import Store


def run_scorecard(
    grid_set: GridSet, store: Store, day: dt.date, settings: GeofenceSettings
) -> list[dict[str, object]]:
    """Each assigned worker's row for the service day ``day`` (see geofence.scorecard)."""
    start, end = day_window(day, ZoneInfo(settings.timezone))
    workers = list(read_assignments(store).iter_rows())
    fixes = load_fixes(grid_set, store, start, end)
    return scorecard_rows(grid_set, fixes, workers, day, settings)
