"""Broker restarts and repeated SIGKILLs under load: nothing lost, nothing stored twice,
live state restored. Clock trouble gets reasons and poisons nothing."""

from __future__ import annotations

import json
import signal
import time
import uuid
from pathlib import Path

import pytest

from geofence.config import GeofenceSettings
from gridpatrol.broker import Mosquitto
from gridpatrol.compose import IngestProcess
from gridpatrol.roles import ServeOptions
from ingest.config import IngestSettings
from patrol.config import LiveSettings
from tests.geofence.town import lonlat, three_in_a_row
from tests.integration.test_kill import start_serve
from tests.mqtt_helpers import connect, publish_all, running, wait_for
from tests.processes import Brokers, Processes
from tracks.queries import read_stats

pytestmark = pytest.mark.broker


def count(service: IngestProcess) -> int:
    row = service.store.cursor().execute("SELECT count(*) FROM pings").fetchone()
    return int(row[0]) if row else 0


def test_broker_restart_mid_stream_loses_nothing(brokers: Brokers, tmp_path: Path):
    broker = brokers(persistence=True)
    settings = IngestSettings(
        broker=broker.url,
        client_id=f"rst-{uuid.uuid4().hex[:6]}",
        session_expiry_s=300,
        batch_age_ms=50,
    )
    service = IngestProcess(ServeOptions(db=tmp_path / "gp.db"), settings)
    base = time.time() - 3600
    with running(service):
        publisher = connect(broker, client_id="rst-pub", max_inflight=200)

        def publish(first: int, last: int) -> None:
            infos = [
                publisher.publish(
                    f"gridpatrol/v1/ping/rst-{i % 10}",
                    json.dumps({"ts": base + i * 0.1, "lat": 39.06, "lon": 117.16}),
                    qos=1,
                )
                for i in range(first, last)
            ]
            for info in infos:
                info.wait_for_publish(60)

        publish(0, 3000)
        # the broker has acked all 3000; serve is still taking them when the broker stops
        broker.stop()
        time.sleep(1.0)
        broker.start()
        wait_for(publisher.is_connected, timeout_s=30, what="the publisher back")
        wait_for(service.mqtt.connected.is_set, timeout_s=30, what="serve back")
        publish(3000, 6000)
        publisher.disconnect()
        publisher.loop_stop()
        wait_for(lambda: count(service) >= 6000, timeout_s=60, what="6000 pings stored")
        time.sleep(0.5)
        rows = (
            service.store.cursor()
            .execute("SELECT count(*), count(DISTINCT (device_id, ts)) FROM pings")
            .fetchone()
        )
    assert rows == (6000, 6000)


def test_repeated_sigkill_restores_live_state(
    broker: Mosquitto, processes: Processes, tmp_path: Path
):
    grids = three_in_a_row(tmp_path / "grids.geojson")
    db = tmp_path / "gp.db"
    client_id = f"kill3-{uuid.uuid4().hex[:6]}"
    lon, lat = lonlat(-100, 0)
    publisher = connect(broker, client_id="kill3-pub", max_inflight=500)
    base = time.time() - 1800
    sent = 0
    for round_ in range(3):
        serve = (
            start_serve(processes, broker, db, client_id, "--grids", str(grids))
            if round_ == 0
            else start_serve(processes, broker, db, client_id)
        )
        infos = [
            publisher.publish(
                "gridpatrol/v1/ping/k3",
                json.dumps({"ts": base + (sent + i) * 0.05, "lat": lat, "lon": lon}),
                qos=1,
            )
            for i in range(3000)
        ]
        sent += 3000
        infos[1500].wait_for_publish(30)
        serve.send_signal(signal.SIGKILL)
        serve.wait()
        for info in infos:
            info.wait_for_publish(30)
    publisher.disconnect()
    publisher.loop_stop()
    settings = IngestSettings(
        broker=broker.url, client_id=client_id, session_expiry_s=5, batch_age_ms=50
    )
    service = IngestProcess(ServeOptions(db=db), settings, GeofenceSettings())
    with running(service):
        wait_for(lambda: count(service) >= sent, timeout_s=60, what="every ping stored")
        time.sleep(0.5)
        rows = (
            service.store.cursor()
            .execute("SELECT count(*), count(DISTINCT ts), max(epoch(ts)) FROM pings")
            .fetchone()
        )
        assert service.live is not None
        live = service.live.snapshot()
        a = live.grid_ids.index("A")
        assert rows is not None and rows[0] == rows[1] == sent
        assert live.last_visit[a] == pytest.approx(rows[2])
        assert live.last_seen["k3"] == pytest.approx(rows[2])


def test_clock_trouble_gets_reasons_and_poisons_nothing(broker: Mosquitto, tmp_path: Path):
    grids = three_in_a_row(tmp_path / "grids.geojson")
    settings = IngestSettings(
        broker=broker.url,
        client_id=f"clk-{uuid.uuid4().hex[:6]}",
        session_expiry_s=5,
        batch_age_ms=50,
    )
    service = IngestProcess(
        ServeOptions(db=tmp_path / "gp.db", grids=grids),
        settings,
        GeofenceSettings(),
        live=LiveSettings(live_clock="event"),
    )
    now = time.time()
    lon, lat = lonlat(-100, 0)
    far_lon, far_lat = lonlat(3000, 0)

    def ping(ts: object, x_lon: float = lon, x_lat: float = lat) -> tuple[str, bytes]:
        return "gridpatrol/v1/ping/clk", json.dumps({"ts": ts, "lat": x_lat, "lon": x_lon}).encode()

    with running(service):
        publish_all(
            broker,
            [
                ping(now - 60),
                ping(-2177452800, far_lon, far_lat),  # 1901
                ping(946684800, far_lon, far_lat),  # 2000
                ping(now + 3600, far_lon, far_lat),  # an hour ahead
                ping(now * 1000, far_lon, far_lat),  # milliseconds
                ping(now - 50),
            ],
        )
        wait_for(lambda: read_stats(service.store)["received"] == 6, what="6 pings counted")
        live = service.live
        assert live is not None  # the live updater applies the batch after the commit
        wait_for(lambda: live.snapshot().event_time >= now - 50 - 1e-3, what="the live updater")
        stats = read_stats(service.store)
        flags = service.store.cursor().execute("SELECT flags FROM pings ORDER BY ts").fetchall()
        watermark = live.snapshot().event_time
    assert stats["rejected"] == {"ts_too_old": 2, "ts_future": 1, "ts_milliseconds": 1}
    assert flags == [(0,), (0,)]  # the rejected far-away fixes did not make a speed outlier
    assert watermark == pytest.approx(now - 50, abs=1e-3)  # event time not pushed ahead
