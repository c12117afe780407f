"""Service hours: parsing, the UTC intervals of a window, and their cut of the interval rule."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from geofence.compliance import compliance_rows
from geofence.fixes import make_fixes
from geofence.grids import load_grids
from geofence.service import parse_service_hours, service_intervals
from geofence.visits import find_visits
from tests.geofence.scene import END, SETTINGS, START, TZ, at
from tests.geofence.town import lonlat, three_in_a_row


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("08:00-20:00", (8 * 3600, 20 * 3600)),
        ("00:00-24:00", (0, 86400)),
        # overnight: the end passes midnight, 20:00 + 12 h
        ("20:00-08:00", (20 * 3600, 32 * 3600)),
    ],
)
def test_parse_service_hours(text, expected):
    assert parse_service_hours(text) == expected


@pytest.mark.parametrize(
    "text", ["8:00-20:00", "08:00-08:00", "25:00-26:00", "08:60-09:00", "24:30-01:00", None, 800]
)
def test_impossible_service_hours_are_refused(text):
    with pytest.raises(ValueError):
        parse_service_hours(text)


def test_intervals_of_a_two_day_window_in_local_time():
    """20:00-08:00 from 2026-11-20 12:00 to 2026-11-22 12:00 (+08:00): the night that began
    on the 19th ends at 08:00 on the 20th, before the window; then 20th 20:00 - 21st 08:00
    and 21st 20:00 - 22nd 08:00; the 22nd's night starts after the window ends."""
    start = dt.datetime(2026, 11, 20, 12, tzinfo=TZ).timestamp()
    end = dt.datetime(2026, 11, 22, 12, tzinfo=TZ).timestamp()
    got = service_intervals("20:00-08:00", start, end, TZ)
    local = [[dt.datetime.fromtimestamp(t, TZ).strftime("%d %H:%M") for t in row] for row in got]
    assert local == [["20 20:00", "21 08:00"], ["21 20:00", "22 08:00"]]


def test_no_service_hours_is_the_whole_window():
    assert service_intervals(None, 100.0, 200.0, TZ).tolist() == [[100.0, 200.0]]
    assert service_intervals(None, 200.0, 200.0, TZ).shape == (0, 2)


def test_service_hours_cut_the_window(tmp_path):
    grid_set = load_grids(three_in_a_row(tmp_path / "g.geojson", service_hours="08:30-20:00"))
    lon, lat = lonlat(-100, 0)
    fixes = make_fixes(grid_set, ["d1"], np.array([at(10)]), np.array([lon]), np.array([lat]))
    visits = find_visits(grid_set, fixes, SETTINGS.segment_max_s)
    rows = {r["grid_id"]: r for r in compliance_rows(grid_set, visits, START, END, TZ)}
    # only 08:30-09:00 counts, and the 08:10 visit is outside it: one 1800 s gap, not overdue
    assert rows["A"]["visits"] == 0
    assert rows["A"]["max_gap_s"] == 1800.0 and rows["A"]["overdue_s"] == 0.0
    assert rows["A"]["compliance"] == 1.0
