"""Derived patrol data in a real DuckDB file: every report from it equals the recompute
from the pings, whatever was derived when, and whatever arrived late or twice."""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geofence.config import GeofenceSettings
from geofence.grids import check_grids
from gridpatrol.cli import main
from patrol.derive import ReportGrids, derive_day, derive_range, stale_days
from patrol.grids import read_grids, save_grids
from patrol.reports import run_report
from patrol.scorecard import run_scorecard
from tests.geofence.test_daily import BOUNDS, DAY0, MIDNIGHT, STARTS, STEPS, TZ, XS, YS, grid_file
from tests.geofence.town import lonlat
from tests.patrol.day import ping_frame
from tracks.engines import open_store
from tracks.schema import DEVICES, REJECTED
from tracks.store import Store

SETTINGS = GeofenceSettings(timezone="Asia/Shanghai")
KINDS = ("compliance", "coverage", "presence")


def both(
    store: Store, grids: ReportGrids, kind: str, start: dt.datetime, end: dt.datetime, **only: str
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    derived = run_report(kind, grids, store, start, end, SETTINGS, **only)  # type: ignore[arg-type]
    recomputed = run_report(kind, grids, store, start, end, SETTINGS, recompute=True, **only)  # type: ignore[arg-type]
    return derived, recomputed


def when(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(MIDNIGHT + seconds, TZ)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    hours=st.lists(
        st.sampled_from([None, "08:00-20:00", "20:00-08:00", "23:58-00:03"]), min_size=3, max_size=3
    ),
    tracks=st.lists(
        st.tuples(STARTS, st.lists(st.tuples(STEPS, XS, YS), min_size=1, max_size=30)),
        min_size=1,
        max_size=4,
    ),
    batches=st.integers(1, 6),
    seed=st.integers(0, 1000),
    windows=st.lists(
        st.tuples(BOUNDS, BOUNDS).filter(lambda w: w[0] != w[1]), min_size=1, max_size=3
    ),
)
def test_reports_from_derived_data_equal_the_recompute(
    tmp_path_factory, hours, tracks, batches, seed, windows
):
    check_reports(tmp_path_factory.mktemp("derive"), hours, tracks, batches, seed, windows, 4)


#: a month and more: tracks anywhere in 40 days, windows of 1 to 40 days
LONG = 40 * 86400


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    hours=st.lists(st.sampled_from([None, "08:00-20:00", "20:00-08:00"]), min_size=3, max_size=3),
    tracks=st.lists(
        st.tuples(
            st.integers(0, LONG).map(float),
            st.lists(st.tuples(STEPS, XS, YS), min_size=1, max_size=30),
        ),
        min_size=1,
        max_size=4,
    ),
    seed=st.integers(0, 1000),
    windows=st.lists(
        st.tuples(
            st.integers(0, LONG // 3600).map(lambda h: h * 3600.0),
            st.integers(1, 40).map(lambda d: d * 86400.0),
        ),
        min_size=1,
        max_size=2,
    ).map(lambda ws: [(a, a + d) for a, d in ws]),
)
def test_reports_over_windows_of_up_to_forty_days(tmp_path_factory, hours, tracks, seed, windows):
    check_reports(tmp_path_factory.mktemp("derive"), hours, tracks, 3, seed, windows, 41)


def check_reports(folder, hours, tracks, batches, seed, windows, days):
    """Store the tracks in batches (some derived between them), compare every report."""
    rng = random.Random(seed)
    with Store(folder / "t.db") as store:
        save_grids(store, check_grids(grid_file(folder / "g.geojson", hours, 2.0))[0])
        store.upsert_devices(
            pl.DataFrame(
                {
                    "device_id": ["d0", "d1", "d2"],
                    "kind": ["tracker", "phone", "phone"],
                    "worker": ["a", "b", "c"],
                    "grid_id": ["A", "P", "C"],
                },
                schema=DEVICES.schema,
            )
        )
        grid_set = read_grids(store)
        assert grid_set is not None
        grids = ReportGrids(store, grid_set)
        rows = []
        for d, (t, steps) in enumerate(tracks):
            for step, x, y in steps:
                rows.append((f"d{d}", t, *lonlat(x, y)))
                t += step
        # batches in any order (late ones after later ones), a few fixes sent twice, and
        # days derived between batches: some derived before their late fixes came
        rng.shuffle(rows)
        cuts = sorted(rng.sample(range(len(rows) + 1), min(batches, len(rows) + 1)))
        for lo, hi in zip([0, *cuts], [*cuts, len(rows)], strict=True):
            part = rows[lo:hi] + rng.sample(rows, min(2, len(rows)))
            part = list({(r[0], r[1]): r for r in part}.values())
            if part:
                frame = ping_frame(
                    grid_set,
                    [r[0] for r in part],
                    MIDNIGHT + np.array([r[1] for r in part]),
                    np.array([r[2] for r in part]),
                    np.array([r[3] for r in part]),
                )
                store.write_batch(frame, REJECTED.empty(), {})
            for k in rng.sample(range(days), rng.randint(0, min(days, 6))):  # whole, or part
                through = None if rng.random() < 0.5 else MIDNIGHT + 86400 * (k + rng.random())
                derive_day(grids, store, DAY0 + dt.timedelta(days=k), SETTINGS, through)
        for w in windows:
            start, end = when(min(w)), when(max(w))
            for kind in KINDS:
                derived, recomputed = both(store, grids, kind, start, end)
                assert derived == recomputed, (kind, w)
            derived, recomputed = both(store, grids, "coverage", start, end, device_id="d1")
            assert derived == recomputed
        day = DAY0 + dt.timedelta(days=1)
        assert run_scorecard(grids, store, day, SETTINGS) == run_scorecard(
            grids, store, day, SETTINGS, recompute=True
        )


def test_a_late_fix_makes_its_day_stale_until_derived_again(tmp_path):
    with Store(tmp_path / "t.db") as store:
        save_grids(store, check_grids(grid_file(tmp_path / "g.geojson", [None] * 3, 30.0))[0])
        grid_set = read_grids(store)
        assert grid_set is not None
        grids = ReportGrids(store, grid_set)

        def write(seconds: list[float], x: float) -> None:
            lon, lat = lonlat(x, 0.0)
            store.write_batch(
                ping_frame(
                    grid_set,
                    ["d0"] * len(seconds),
                    MIDNIGHT + np.array(seconds),
                    np.full(len(seconds), lon),
                    np.full(len(seconds), lat),
                ),
                REJECTED.empty(),
                {},
            )

        write([3600.0, 7200.0, 86400.0 + 3600], -100.0)  # A, twice on day 0 and once on day 1
        days = [DAY0, DAY0 + dt.timedelta(days=1)]
        assert stale_days(grids, store, days, SETTINGS) == days
        done = derive_range(grids, store, SETTINGS)
        assert [d.day for d in done] == days and [d.fixes for d in done] == [2, 1]
        assert stale_days(grids, store, days, SETTINGS) == []
        write([5400.0], 0.0)  # late, into B on day 0: only day 0 is stale
        assert stale_days(grids, store, days, SETTINGS) == [DAY0]
        write([5400.0], 0.0)  # a redelivery stores nothing and changes nothing more
        start, end = when(0), when(2 * 86400)
        derived, recomputed = both(store, grids, "compliance", start, end)
        assert derived == recomputed
        b = next(r for r in derived if r["grid_id"] == "B")
        assert b["visits"] == 1  # from the pings: day 0 is not current
        assert [d.day for d in derive_range(grids, store, SETTINGS, only_stale=True)] == [DAY0]
        assert stale_days(grids, store, days, SETTINGS) == []
        assert both(store, grids, "compliance", start, end)[0] == derived


def test_derive_command_builds_what_reports_read(tmp_path, capsys):
    with Store(tmp_path / "t.db") as store:
        save_grids(store, check_grids(grid_file(tmp_path / "g.geojson", [None] * 3, 30.0))[0])
        grid_set = read_grids(store)
        assert grid_set is not None
        lon, lat = lonlat(-100.0, 0.0)
        store.write_batch(
            ping_frame(
                grid_set,
                ["d0"] * 2,
                MIDNIGHT + np.array([60.0, 120.0]),
                np.full(2, lon),
                np.full(2, lat),
            ),
            REJECTED.empty(),
            {},
        )
    assert main(["derive", "--db", str(tmp_path / "t.db")]) == 0
    assert "derived 1 day(s), 2 fixes" in capsys.readouterr().out
    with Store(tmp_path / "t.db", read_only=True) as store:
        grids = ReportGrids(store)
        assert stale_days(grids, store, [DAY0], SETTINGS) == []
    args = [
        "report",
        "compliance",
        "--db",
        str(tmp_path / "t.db"),
        "--format",
        "json",
        "--start",
        when(0).isoformat(),
        "--end",
        when(86400).isoformat(),
    ]
    assert main(args) == 0
    derived = capsys.readouterr().out
    assert main([*args, "--recompute"]) == 0
    assert capsys.readouterr().out == derived
    assert '"visits": 2' in derived


def test_derived_data_in_a_lake_gives_the_same_rows(lake, tmp_path):
    """The same facts through the DuckLake engine: appended change counts summed, days
    replaced by delete and insert."""
    with open_store(lake.db, lake.data_path) as store:
        save_grids(store, check_grids(grid_file(tmp_path / "g.geojson", [None] * 3, 30.0))[0])
        grid_set = read_grids(store)
        assert grid_set is not None
        grids = ReportGrids(store, grid_set)
        for seconds, x in (([600.0, 660.0, 86400.0 + 60], -100.0), ([630.0], 0.0)):
            lon, lat = lonlat(x, 0.0)
            ts = MIDNIGHT + np.array(seconds)
            store.write_batch(
                ping_frame(
                    grid_set, ["d0"] * len(ts), ts, np.full(len(ts), lon), np.full(len(ts), lat)
                ),
                REJECTED.empty(),
                {},
            )
            derive_range(grids, store, SETTINGS)  # the second batch is late: derived again
        days = [DAY0, DAY0 + dt.timedelta(days=1)]
        assert stale_days(grids, store, days, SETTINGS) == []
        start, end = when(0), when(2 * 86400)
        for kind in KINDS:
            derived, recomputed = both(store, grids, kind, start, end)
            assert derived == recomputed
        compliance = both(store, grids, "compliance", start, end)[0]
        assert [r["visits"] for r in compliance if r["grid_id"] in ("A", "B")] == [3, 1]
