"""Live alerts through the real broker: overdue, cleared, and state after a restart."""

from __future__ import annotations

import json
import queue
import time
import uuid
from pathlib import Path

import pytest

from geofence.config import GeofenceSettings
from gridpatrol.broker import Mosquitto
from gridpatrol.serve import ServeOptions, Service
from ingest.config import IngestSettings
from tests.clock import ShiftedClock
from tests.geofence.town import lonlat, three_in_a_row
from tests.mqtt_helpers import connect, publish_all, running, wait_for

pytestmark = pytest.mark.broker


def subscribe_alerts(broker: Mosquitto) -> tuple[object, queue.Queue[dict]]:
    received: queue.Queue[dict] = queue.Queue()
    client = connect(broker)
    client.on_message = lambda c, u, m: received.put(json.loads(m.payload))
    result, _ = client.subscribe("gridpatrol/v1/alerts/#", qos=1)
    assert result == 0
    time.sleep(0.3)
    return client, received


def next_alert(received: queue.Queue[dict], kind: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            alert = received.get(timeout=0.2)
        except queue.Empty:
            continue
        if alert["kind"] == kind:
            return alert
    raise AssertionError(f"no {kind} alert in {timeout} s")


def test_overdue_then_cleared_then_state_survives_restart(broker: Mosquitto, tmp_path: Path):
    grids = three_in_a_row(tmp_path / "grids.geojson", interval_min=1)
    db = tmp_path / "gp.db"
    ingest = IngestSettings(broker=broker.url, client_id=f"live-{uuid.uuid4().hex[:6]}",
                            session_expiry_s=5, batch_age_ms=50)  # fmt: skip
    geofence = GeofenceSettings(tick_s=0.1, offline_after_s=3600)
    client, alerts = subscribe_alerts(broker)
    lon, lat = lonlat(-100, 0)  # in grid A
    clock = ShiftedClock(-55.0)  # serve starts watching the never-visited grids 55 s ago
    service = Service(ServeOptions(db=db, grids=grids), ingest, geofence, clock=clock)
    live = service.live
    assert live is not None
    with running(service):
        wait_for(lambda: live.health.ticks, what="the first tick (it starts the watch)")
        clock.shift_s = 0.0
        overdue = next_alert(alerts, "overdue")
        assert overdue["grid_id"] in ("A", "B", "C")
        wait_for(lambda: len(live.snapshot().overdue) == 3, what="all three grids overdue")
        publish_all(
            broker,
            [
                (
                    "gridpatrol/v1/ping/live-1",
                    json.dumps({"ts": time.time(), "lat": lat, "lon": lon}).encode(),
                )
            ],
        )
        cleared = next_alert(alerts, "cleared")
        assert cleared["grid_id"] == "A"
        wait_for(lambda: "A" not in live.snapshot().overdue, what="A cleared")
        stored = (
            service.store.cursor()
            .execute("SELECT kind, grid_id FROM alerts ORDER BY raised_at")
            .fetchall()
        )
    assert ("overdue", "A") in stored and stored[-1] == ("cleared", "A")
    client.disconnect()

    restarted = Service(ServeOptions(db=db), ingest, geofence)
    assert restarted.live is not None
    after = restarted.live.snapshot()
    assert set(after.overdue) == {"B", "C"}
    a = after.grid_ids.index("A")
    assert after.last_visit[a] == pytest.approx(time.time(), abs=30)
    assert after.last_seen["live-1"] == pytest.approx(time.time(), abs=30)
    restarted.store.close()
