"""Reports from the facts of pieces (geofence.daily) against the recompute from the
window's fixes (geofence.reports), on random tracks and windows: every row equal."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geofence.config import GeofenceSettings
from geofence.coverage import LeafCells, grid_cells
from geofence.daily import PieceFacts, WindowFacts, day_bounds, piece_facts, window_facts
from geofence.fixes import Fixes, make_fixes
from geofence.grids import GridSet, load_grids
from geofence.reports import compute_report
from tests.geofence.town import feature, lonlat, rect

TZ = ZoneInfo("Asia/Shanghai")
DAY0 = dt.date(2026, 11, 20)
MIDNIGHT = day_bounds(DAY0, TZ)[0]
SETTINGS = GeofenceSettings()
HOURS = [None, "08:00-20:00", "20:00-08:00", "00:00-24:00", "23:58-00:03"]


def grid_file(path: Path, hours: list[str | None], interval_min: float) -> Path:
    """Parents P over A | B and Q over C; Q's leaf C has a hole; the devices may be
    assigned to a parent."""
    props = [{} if h is None else {"service_hours": h} for h in hours]
    hole = [
        [list(lonlat(x, y)) for x, y in [(80, -20), (120, -20), (120, 20), (80, 20), (80, -20)]]
    ]
    features = [
        feature("P", rect(-160, -60, 40, 60)),
        feature("Q", rect(40, -60, 160, 60)),
        feature("A", rect(-160, -60, -40, 60), parent="P", interval_min=interval_min, **props[0]),
        feature("B", rect(-40, -60, 40, 60), parent="P", interval_min=interval_min, **props[1]),
        feature(
            "C",
            rect(40, -60, 160, 60)[:1] + hole,
            parent="Q",
            interval_min=interval_min,
            **props[2],
        ),
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


#: x positions: inside, outside, and on the shared edges and a hole's edge
XS = st.one_of(st.floats(-220, 220), st.sampled_from([-160.0, -40.0, 40.0, 80.0, 160.0]))
YS = st.one_of(st.floats(-90, 90), st.sampled_from([-60.0, 0.0, 20.0, 60.0]))
#: seconds after the first midnight, in whole microseconds as storage keeps them
MICROS = st.integers(0, 3 * 86400 * 10**6).map(lambda us: us / 1e6)
#: near one of the two midnights inside the three days
NEAR_MIDNIGHT = st.tuples(st.sampled_from([1, 2]), st.integers(-150 * 10**6, 150 * 10**6)).map(
    lambda k: k[0] * 86400 + k[1] / 1e6
)
#: where tracks start: mostly just before a midnight, so that they cross it
STARTS = st.one_of(
    st.tuples(st.sampled_from([1, 2]), st.integers(0, 900 * 10**6)).map(
        lambda k: k[0] * 86400 - k[1] / 1e6
    ),
    MICROS,
)
#: seconds between fixes: mostly segments, sometimes a dead zone
STEPS = st.one_of(st.integers(1, 150), st.integers(1, 150), st.integers(1, 3000)).map(float)
BOUNDS = st.one_of(st.sampled_from([0.0, 86400.0, 2 * 86400.0, 3 * 86400.0]), NEAR_MIDNIGHT, MICROS)


def window_of(grid_set: GridSet, fixes: Fixes, a: float, b: float) -> Fixes:
    """The fixes with a <= ts < b, naming only their devices (as a read from storage)."""
    rows = np.flatnonzero((fixes.ts >= a) & (fixes.ts < b))
    names = [fixes.devices[d] for d in fixes.device[rows]]
    return make_fixes(grid_set, names, fixes.ts[rows], fixes.lon[rows], fixes.lat[rows])


def reports(
    kind: str, grid_set: GridSet, fixes: Fixes, s: float, e: float, assigned: dict[str, str]
) -> dict[str, list[dict[str, object]]]:
    start = dt.datetime.fromtimestamp(s, TZ)
    end = dt.datetime.fromtimestamp(e, TZ)
    out = {kind: compute_report(kind, grid_set, fixes, start, end, SETTINGS, assigned)}
    if kind == "coverage":
        out["device"] = compute_report(
            kind, grid_set, fixes, start, end, SETTINGS, assigned, by_device=True
        )
    return out


def facts_of(
    grid_set: GridSet,
    cells: LeafCells,
    s: float,
    e: float,
    stored: dict[dt.date, tuple[float, PieceFacts]],
    compute,
) -> WindowFacts:
    """The window's facts as patrol.derive reads them: the computed pieces first, then
    the stored parts the window takes (the rows do not depend on the order)."""
    facts = WindowFacts(grid_set, cells, s, e, TZ)
    through = {day: b for day, (b, _) in stored.items()}
    for day, across in window_facts(facts, SETTINGS, through, compute):
        piece = stored[day][1]
        facts.add(piece.devices, piece.across if across else piece.own)
    return facts


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    hours=st.lists(st.sampled_from(HOURS), min_size=3, max_size=3),
    interval_min=st.sampled_from([0.5, 2.0, 30.0]),
    tracks=st.lists(
        st.tuples(STARTS, st.lists(st.tuples(STEPS, XS, YS), min_size=1, max_size=40)),
        min_size=1,
        max_size=4,
    ),
    window=st.tuples(BOUNDS, BOUNDS).filter(lambda w: w[0] != w[1]),
    stored_days=st.one_of(st.just({0, 1, 2}), st.sets(st.integers(0, 2))),
    throughs=st.lists(st.one_of(st.none(), st.integers(1, 86400 * 10**6)), min_size=3, max_size=3),
)
def test_facts_of_pieces_give_the_rows_of_the_recompute(
    tmp_path, hours, interval_min, tracks, window, stored_days, throughs
):
    grid_set = load_grids(grid_file(tmp_path / "g.geojson", hours, interval_min))
    cells = grid_cells(grid_set, SETTINGS.cell_m)
    rows = []
    for d, (t, steps) in enumerate(tracks):
        for step, x, y in steps:  # a device's fix times are distinct, as in storage
            rows.append((d, t, x, y))
            t += step
    devices = [f"d{d}" for d, *_ in rows]
    xy = [lonlat(x, y) for *_, x, y in rows]
    fixes = make_fixes(
        grid_set,
        devices,
        MIDNIGHT + np.array([t for _, t, *_ in rows]),
        np.array([p[0] for p in xy]),
        np.array([p[1] for p in xy]),
    )
    s, e = MIDNIGHT + min(window), MIDNIGHT + max(window)
    seg = SETTINGS.segment_max_s

    def compute(a: float, b: float, end: float):
        return piece_facts(
            grid_set, cells, window_of(grid_set, fixes, a, min(b + seg, end)), a, b, end, SETTINGS
        )

    stored = {}
    for k in stored_days:
        day = DAY0 + dt.timedelta(days=k)
        a, b = day_bounds(day, TZ)
        if throughs[k] is not None:  # derived through a time of the day, not to its end
            b = a + throughs[k] / 1e6
        stored[day] = (
            b,
            piece_facts(
                grid_set, cells, window_of(grid_set, fixes, a, b + seg), a, b, np.inf, SETTINGS
            ),
        )
    assigned = {"d0": "A", "d1": "P", "d2": "C", "d3": "Q"}
    facts = facts_of(grid_set, cells.leaf_cells, s, e, stored, compute)
    expected = {}
    for kind in ("compliance", "coverage", "presence"):
        expected |= reports(kind, grid_set, window_of(grid_set, fixes, s, e), s, e, assigned)
    assert facts.compliance() == expected["compliance"]
    assert facts.presence(assigned) == expected["presence"]
    assert facts.coverage() == expected["coverage"]
    assert facts.device_coverage(assigned) == expected["device"]


def test_a_crossing_across_midnight_splits_a_gap_of_the_day_before(tmp_path):
    """A (service 23:58-00:03, interval 30 min): d0 in A at 23:58:00, 23:58:30, 23:59:50,
    00:00:40, 00:01:50, 00:02:50; d1 from x = -220 (outside) at 23:59:00 to x = 0 (in B) at
    00:00:30 enters A at x = -160, 60/220 of 90 s later: 23:59:24.545. The gaps of A around
    that midnight are 0, 30, 54.5, 25.5, 50, 70, 60 and 10 s (and under 70 s in the service
    minutes at the window's two ends): the largest is 70 s, not the 80 s of d0 alone
    (23:58:30 -> 23:59:50), though both days' facts were stored before the window."""
    grid_set = load_grids(grid_file(tmp_path / "g.geojson", ["23:58-00:03", None, None], 30.0))
    cells = grid_cells(grid_set, SETTINGS.cell_m)
    m = MIDNIGHT + 86400
    # and, so that no other gap is longer, in the service minutes at the window's ends
    ends = [40.0 - 86400, 100.0 - 86400, 160.0 - 86400, 86310.0, 86370.0]
    d0 = [-120.0, -90.0, -10.0, 40.0, 110.0, 170.0, *ends]
    rows = [("d0", t, -100.0) for t in d0] + [("d1", -60.0, -220.0), ("d1", 30.0, 0.0)]
    xy = [lonlat(x, 0.0) for *_, x in rows]
    fixes = make_fixes(
        grid_set,
        [r[0] for r in rows],
        m + np.array([r[1] for r in rows]),
        np.array([p[0] for p in xy]),
        np.array([p[1] for p in xy]),
    )
    seg = SETTINGS.segment_max_s
    stored = {}
    for k in (0, 1):
        a, b = day_bounds(DAY0 + dt.timedelta(days=k), TZ)
        stored[DAY0 + dt.timedelta(days=k)] = (
            b,
            piece_facts(
                grid_set, cells, window_of(grid_set, fixes, a, b + seg), a, b, np.inf, SETTINGS
            ),
        )
    facts = facts_of(
        grid_set,
        cells.leaf_cells,
        MIDNIGHT,
        MIDNIGHT + 2 * 86400,
        stored,
        lambda a, b, e: pytest.fail("all is stored"),
    )
    a_row = facts.compliance()[0]
    assert (a_row["grid_id"], a_row["visits"], a_row["max_gap_s"]) == ("A", 12, 70.0)
    assert (
        facts.compliance()
        == reports("compliance", grid_set, fixes, MIDNIGHT, MIDNIGHT + 2 * 86400, {})["compliance"]
    )
