"""The alerts' outbox against real faults: a write that fails publishes nothing until the
alerts are stored, then publishes each once (real Mosquitto, a lake on a real PostgreSQL
that is stopped and started)."""

from __future__ import annotations

import collections
import json
import time
import uuid

import pytest

from api.config import ApiSettings
from api.context import ApiContext
from api.routes.system import _Collector as Collector
from api.routes.system import health_body
from geofence.config import GeofenceSettings
from geofence.grids import check_grids
from gridpatrol.broker import Mosquitto
from gridpatrol.postgres import PostgresCluster
from ingest.config import IngestSettings
from ingest.publisher import Publisher
from patrol.grids import read_grids, save_grids
from patrol.updater import LiveUpdater
from tests.geofence.town import lonlat, three_in_a_row
from tests.mqtt_helpers import connect, subscribe, wait_for
from tests.tracks.test_reads import T, pings
from tracks.alerts import read_alerts_since, read_unpublished_alerts
from tracks.engines import open_store
from tracks.schema import REJECTED

pytestmark = pytest.mark.broker


def test_a_failed_alert_write_publishes_nothing_until_stored_then_once(
    broker: Mosquitto, own_postgres: PostgresCluster, tmp_path
):
    """A device last heard an hour ago (in grid A, whose interval is 10 min): the first
    tick raises it offline and A overdue. PostgreSQL is stopped: the write fails, nothing
    is published or streamed, the alerts wait; it is started: the next ticks store them and
    publish each once, and the broker's acknowledgements are recorded."""
    device = f"of-{uuid.uuid4().hex[:6]}"
    counts: collections.Counter[str] = collections.Counter()
    watcher = connect(broker)

    def on_message(client: object, userdata: object, message: object) -> None:
        body = json.loads(message.payload)  # type: ignore[attr-defined]
        if body["device_id"] == device or body["grid_id"] == "A":
            counts[body["alert_id"]] += 1

    watcher.on_message = on_message
    subscribe(watcher, "gridpatrol/v1/alerts/#")
    cluster = own_postgres  # this test stops it
    publisher = Publisher(IngestSettings(broker=broker.url, client_id=f"{device}-pub"))
    publisher.start()
    try:
        cluster.create_database("town")
        store = open_store(cluster.attach("town"), tmp_path / "lake")
        grids, _ = check_grids(three_in_a_row(tmp_path / "grids.geojson", interval_min=10))
        save_grids(store, grids)
        grid_set = read_grids(store)
        assert grid_set is not None
        lon, lat = lonlat(-100, 0)  # in A, days ago
        store.write_batch(pings([(device, 0, lon, lat, 0, "A")]), REJECTED.empty(), {})
        streamed: list[str] = []
        live = LiveUpdater(grid_set, GeofenceSettings(), store, publish=publisher.publish)
        live.listeners.append(lambda alert: streamed.append(alert.alert_id))
        live.outbox.flush()  # the start's replay: nothing stored yet
        cluster.stop()
        live.tick()
        assert live.outbox.unstored() == 2 and live.outbox.health.store_failures == 1
        time.sleep(0.5)
        assert streamed == [] and not counts  # nothing published before it is stored
        context = ApiContext(
            store=store,
            grid_set=grid_set,
            live=live,
            geofence=GeofenceSettings(),
            settings=ApiSettings(),
            tokens=None,
        )
        status, body = health_body(context)
        assert status == 503 and body["live_stage"]["alerts_unstored"] == 2  # type: ignore[index]
        assert any(
            p.startswith("2 alert(s) not stored, so not published yet: ") for p in body["problems"]
        )  # type: ignore[attr-defined]
        metrics = {reading.metric: value for reading, value in Collector(context)._values()}
        assert metrics["gridpatrol_alerts_unstored"] == 2
        assert metrics["gridpatrol_alert_store_failures"] == 1
        cluster.start()

        def settled() -> bool:
            live.tick()
            return live.outbox.unstored() == 0 and live.outbox.unacked() == 0

        wait_for(settled, 30, what="the alerts stored, published and recorded")
        for _ in range(3):
            live.tick()
        ids = sorted(read_alerts_since(store, T)["alert_id"])
        assert len(ids) == 2 and read_unpublished_alerts(store, T).height == 0
        wait_for(lambda: len(counts) == 2, 10, what="both alerts on MQTT")
        time.sleep(0.3)
        assert counts == {alert_id: 1 for alert_id in ids}
        assert sorted(streamed) == ids
        metrics = {reading.metric: value for reading, value in Collector(context)._values()}
        assert metrics["gridpatrol_alerts_unstored"] == metrics["gridpatrol_alerts_unacked"] == 0
        assert metrics["gridpatrol_alerts_published"] == 2
        store.close()
    finally:
        publisher.stop()
        watcher.disconnect()
        watcher.loop_stop()
