"""Live alerts through the real broker: overdue, cleared, and state after a restart."""

from __future__ import annotations

import collections
import json
import queue
import time
import uuid
from pathlib import Path

import pytest

from geofence.alerts import Alert, AlertKind
from geofence.config import GeofenceSettings
from geofence.grids import check_grids
from gridpatrol.broker import Mosquitto
from gridpatrol.compose import IngestProcess
from gridpatrol.roles import ServeOptions
from ingest.config import IngestSettings
from patrol.config import LiveSettings
from patrol.grids import save_grids
from patrol.outbox import alert_rows
from tests.clock import ShiftedClock
from tests.geofence.town import lonlat, three_in_a_row
from tests.mqtt_helpers import connect, publish_all, running, subscribe, wait_for
from tracks.store import Store

pytestmark = pytest.mark.broker


def subscribe_alerts(broker: Mosquitto) -> tuple[object, queue.Queue[dict]]:
    received: queue.Queue[dict] = queue.Queue()
    client = connect(broker)
    client.on_message = lambda c, u, m: received.put(json.loads(m.payload))
    subscribe(client, "gridpatrol/v1/alerts/#")
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
    ingest = IngestSettings(
        broker=broker.url,
        client_id=f"live-{uuid.uuid4().hex[:6]}",
        session_expiry_s=5,
        batch_age_ms=50,
    )
    live_settings = LiveSettings(tick_s=0.1, offline_after_s=3600)
    client, alerts = subscribe_alerts(broker)
    lon, lat = lonlat(-100, 0)  # in grid A
    clock = ShiftedClock(-55.0)  # serve starts watching the never-visited grids 55 s ago
    service = IngestProcess(
        ServeOptions(db=db, grids=grids),
        ingest,
        GeofenceSettings(),
        live=live_settings,
        clock=clock,
    )
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
    # stored in order; a due_soon of A may follow the clear (A's short interval runs again)
    assert stored.index(("overdue", "A")) < stored.index(("cleared", "A"))
    client.disconnect()

    restarted = IngestProcess(ServeOptions(db=db), ingest, GeofenceSettings(), live=live_settings)
    assert restarted.live is not None
    after = restarted.live.snapshot()
    assert set(after.overdue) == {"B", "C"}
    a = after.grid_ids.index("A")
    assert after.last_visit[a] == pytest.approx(time.time(), abs=30)
    assert after.last_seen["live-1"] == pytest.approx(time.time(), abs=30)
    restarted.store.close()


def test_alerts_stored_not_published_are_published_once_by_the_next_serve(
    broker: Mosquitto, tmp_path: Path
):
    """What a serve SIGKILLed between storing alerts and publishing them leaves: alerts
    stored, not recorded as published. The next serve publishes each once, before its first
    tick; the one after publishes none again. An alert recorded as published, and one
    raised longer ago than the horizon (a day), are not published."""
    db = tmp_path / "gp.db"
    now = time.time()
    grids, _ = check_grids(three_in_a_row(tmp_path / "grids.geojson"))

    def overdue(grid_id: str, raised_at: float) -> Alert:
        return Alert(
            AlertKind.OVERDUE,
            raised_at - 60,
            raised_at,
            grid_id=grid_id,
            detail="no visit for 30 min",
        )

    left, published, old = (
        overdue("A", now - 5),
        overdue("B", now - 5),
        overdue("C", now - 2 * 86400),
    )
    with Store(db) as store:
        save_grids(store, grids)
        store.write_alerts(alert_rows([left, published, old]))
        store.write_published([published.alert_id])
    counts: collections.Counter[str] = collections.Counter()
    watcher = connect(broker)
    watcher.on_message = lambda c, u, m: counts.update([json.loads(m.payload)["alert_id"]])
    subscribe(watcher, "gridpatrol/v1/alerts/#")  # subscribed before serve starts
    ingest = IngestSettings(
        broker=broker.url,
        client_id=f"ob-{uuid.uuid4().hex[:6]}",
        session_expiry_s=5,
        batch_age_ms=50,
    )
    try:
        for restart in range(2):
            service = IngestProcess(
                ServeOptions(db=db), ingest, GeofenceSettings(), live=LiveSettings(tick_s=0.1)
            )
            live = service.live
            assert live is not None
            with running(service):
                wait_for(
                    lambda live=live: live.health.ticks >= 3 and not live.outbox.unacked(),
                    what="the outbox settled",
                )
                assert live.outbox.health.republished == (1 if restart == 0 else 0)
            time.sleep(0.3)
            assert counts == {left.alert_id: 1}, restart
    finally:
        watcher.disconnect()
        watcher.loop_stop()
