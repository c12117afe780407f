"""The usable fixes of a window, read from storage and placed in their grids."""

from __future__ import annotations

import datetime as dt

from geofence.fixes import Fixes, fixes_from_frame
from geofence.grids import GridSet
from tracks.queries import read_fixes
from tracks.store import Store


def load_fixes(grid_set: GridSet, store: Store, start: dt.datetime, end: dt.datetime) -> Fixes:
    """Usable (unflagged) fixes with start <= ts < end, sorted by (device, ts)."""
    return fixes_from_frame(grid_set, read_fixes(store, start, end))
