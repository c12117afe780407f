"""A phone's late upload through the broker: a past day's report before and after it, from
the derived data the live updater keeps, equal to the recompute and to a fresh derive.

Grids A | B | C (tests/geofence/town.py), all day, interval 30 min. Two days ago (local):
  d1 (tracker) sits in A from 10:00 to 11:00, a fix a minute; then walks into B at 11:10
  and back to A at 11:20 (one fix in B);
  d2 (phone) was in a dead zone: its fixes in B from 10:20 to 10:40, a fix a minute, reach
  the broker only after everything else (a late batch), splitting B's first gap.
B before the late batch: 1 visit, gaps 00:00 -> 11:10 (40,200 s) and 11:10 -> 24:00;
after: 22 visits, the first gap 00:00 -> 10:20 (37,200 s).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from geofence.config import GeofenceSettings
from gridpatrol.broker import Mosquitto
from gridpatrol.cli import main
from gridpatrol.compose import IngestProcess
from gridpatrol.roles import ServeOptions
from ingest.config import IngestSettings
from patrol.config import LiveSettings
from patrol.derive import ReportGrids, stale_days
from patrol.reports import run_report
from tests.geofence.town import lonlat, three_in_a_row
from tests.mqtt_helpers import publish_all, running, wait_for
from tracks.queries import count_pings
from tracks.store import Store

pytestmark = pytest.mark.broker

TZ = ZoneInfo("Asia/Shanghai")
SETTINGS = GeofenceSettings(timezone="Asia/Shanghai")
LIVE = LiveSettings(derive_every_s=0.2, tick_s=0.2)


def fixes(device: str, first: dt.datetime, minutes: range, x: float) -> list[tuple[str, bytes]]:
    lon, lat = lonlat(x, 0.0)
    return [
        (
            f"gridpatrol/v1/ping/{device}",
            json.dumps(
                {"ts": (first + dt.timedelta(minutes=m)).timestamp(), "lat": lat, "lon": lon}
            ).encode(),
        )
        for m in minutes
    ]


def reports(
    store: Store,
    grids: ReportGrids,
    start: dt.datetime,
    end: dt.datetime,
    *,
    recompute: bool = False,
) -> dict[str, list[dict[str, object]]]:
    return {
        kind: run_report(kind, grids, store, start, end, SETTINGS, recompute=recompute)
        for kind in ("compliance", "coverage", "presence")
    }


def row(rows: dict[str, list[dict[str, object]]], grid_id: str) -> dict[str, object]:
    return next(r for r in rows["compliance"] if r["grid_id"] == grid_id)


def test_a_late_batch_changes_the_days_report_as_if_it_came_in_order(
    broker: Mosquitto, tmp_path: Path
):
    grids = three_in_a_row(tmp_path / "grids.geojson", interval_min=30)
    db = tmp_path / "gp.db"
    ingest = IngestSettings(
        broker=broker.url, client_id=f"late-{uuid.uuid4().hex[:6]}", batch_age_ms=50
    )
    day = dt.datetime.now(TZ).date() - dt.timedelta(days=2)  # whole, and within --max-age-s
    start = dt.datetime.combine(day, dt.time(), TZ)
    end = start + dt.timedelta(days=1)
    ten = start + dt.timedelta(hours=10)
    in_order = (
        fixes("d1", ten, range(61), -100.0)
        + fixes("d1", ten, range(70, 71), 0.0)
        + fixes("d1", ten, range(80, 81), -100.0)
    )
    late = fixes("d2", ten, range(20, 41), 0.0)
    service = IngestProcess(ServeOptions(db=db, grids=grids), ingest, SETTINGS, live=LIVE)
    assert service.live is not None
    upkeep = service.live.upkeep
    store = service.store
    with running(service):
        report_grids = ReportGrids(store, service.grid_set)

        def derived_after(pings: int) -> None:
            wait_for(lambda: count_pings(store) == pings, what=f"{pings} pings stored")
            wait_for(
                lambda: stale_days(report_grids, store, [day], SETTINGS) == [],
                what="the day derived again",
            )

        publish_all(broker, in_order)
        derived_after(63)
        before = reports(store, report_grids, start, end)
        assert before == reports(store, report_grids, start, end, recompute=True)
        b = row(before, "B")
        assert (b["visits"], b["max_gap_s"]) == (1, 46_200.0)  # 11:10 -> 24:00
        derived_days = upkeep.health.days_derived
        publish_all(broker, late)
        derived_after(84)
        assert upkeep.health.days_derived > derived_days
        after = reports(store, report_grids, start, end)
        assert after == reports(store, report_grids, start, end, recompute=True)
        b = row(after, "B")
        assert b["visits"] == 22 and b["overdue_s"] < row(before, "B")["overdue_s"]
        # 00:00 -> 10:20 and 11:10 -> 24:00; 10:40 -> 11:10 is the interval exactly
        assert b["violations"] == [
            [
                (start + dt.timedelta(minutes=30)).isoformat(),
                (ten + dt.timedelta(minutes=20)).isoformat(),
            ],
            [(ten + dt.timedelta(minutes=100)).isoformat(), end.isoformat()],
        ]
    # a fresh derive from the pings gives the same numbers
    assert main(["derive", "--db", str(db)]) == 0
    with Store(db, read_only=True) as again:
        assert reports(again, ReportGrids(again), start, end) == after
