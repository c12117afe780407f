"""The hand-built track the rules' tests share, with its answers written out in each test.

Grids (tests/geofence/town.py): A x in [-160, -40], B x in [-40, 40], C x in [40, 160],
y in [-60, 60] metres; parent P. Window 08:00-09:00 Asia/Shanghai, interval 30 min.
Device d1 (assigned to A): 08:10:00 at (-100, 0) in A; 08:45:00 at (-60, 0) in A;
08:45:12 at (60, 0) in C. The 12 s segment crosses B, entering at x = -40: t = 20/120, so
B is visited at 08:45:02.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from geofence.config import GeofenceSettings
from geofence.fixes import Fixes, make_fixes
from geofence.grids import GridSet, load_grids
from tests.geofence.town import lonlat, three_in_a_row

TZ = ZoneInfo("Asia/Shanghai")
START = dt.datetime(2026, 11, 20, 8, 0, tzinfo=TZ).timestamp()
END = START + 3600
SETTINGS = GeofenceSettings()


def at(minute: int, second: int = 0) -> float:
    return START + minute * 60 + second


@pytest.fixture
def scene(tmp_path) -> tuple[GridSet, Fixes]:
    grid_set = load_grids(three_in_a_row(tmp_path / "grids.geojson"))
    points = [(-100, 0), (-60, 0), (60, 0)]
    lon, lat = zip(*(lonlat(x, y) for x, y in points), strict=True)
    fixes = make_fixes(
        grid_set, ["d1"] * 3, np.array([at(10), at(45), at(45, 12)]), np.array(lon), np.array(lat)
    )
    return grid_set, fixes
