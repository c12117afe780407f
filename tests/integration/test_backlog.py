"""A backlog far larger than the queue bound and the receive window drains, through the real
broker: every ping stored once, no reconnect, duplicates counted as published, and the live
alerts raised are the few that are true at the end, none about the past.

Also: a writer held for longer than three keep-alive intervals keeps the connection, and
acknowledges nothing before it commits.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import pytest

from geofence.config import GeofenceSettings
from geofence.generate import square_grids
from gridpatrol.broker import Mosquitto, free_port
from gridpatrol.compose import IngestProcess
from gridpatrol.roles import ServeOptions
from ingest.config import IngestSettings
from patrol.config import LiveSettings
from tests.mqtt_helpers import publish_all, running, wait_for
from tests.stores import HeldWrites
from tracks.queries import read_stats

pytestmark = pytest.mark.broker

BBOX = (117.15, 39.05, 117.26, 39.135)  # 9.5 cells of 1 km each way: 10 x 10 cells
DEVICES = 200
DAYS = 5
PERIOD_S = 60
PER_MESSAGE = 50
REPEATED_EVERY = 97  # every 97th message is published twice


def centre(grid: dict) -> tuple[float, float]:
    (x0, y0), _, (x1, y1) = grid["geometry"]["coordinates"][0][:3]
    return (x0 + x1) / 2, (y0 + y1) / 2


def backlog_messages(grids: list[dict], now: float) -> tuple[list[tuple[str, bytes]], int, int]:
    """Device k stands in grid k % 100, a fix a minute for DAYS days up to a minute ago;
    devices 0, 100 (both of grid R0C0) and 1 went silent two hours ago. Returns the
    messages (device by device, so a device's fixes come in order), the distinct pings
    and the repeated ones."""
    messages: list[tuple[str, bytes]] = []
    start = now - DAYS * 86400
    distinct = repeated = 0
    for k in range(DEVICES):
        lon, lat = centre(grids[k % 100])
        end = now - 7200 if k in (0, 1, 100) else now - 60
        times = [start + i * PERIOD_S + k * 0.01 for i in range(int((end - start) // PERIOD_S))]
        distinct += len(times)
        topic = f"gridpatrol/v1/ping/w{k:03d}"
        for m in range(0, len(times), PER_MESSAGE):
            fixes = [
                {"ts": round(t, 3), "lat": lat, "lon": lon, "acc": 5.0}
                for t in times[m : m + PER_MESSAGE]
            ]
            payload = json.dumps(fixes).encode()
            messages.append((topic, payload))
            if len(messages) % REPEATED_EVERY == 0:
                messages.append((topic, payload))
                repeated += len(fixes)
    return messages, distinct, repeated


def test_a_backlog_of_days_drains_without_reconnects_or_alerts_about_the_past(
    broker: Mosquitto, tmp_path: Path
):
    grid_file = tmp_path / "grids.geojson"
    collection = square_grids(BBOX, 1000.0)
    grids = collection["features"]
    assert len(grids) == 100
    grid_file.write_text(json.dumps(collection))
    devices = tmp_path / "devices.csv"
    devices.write_text(
        "device_id,kind,worker,grid_id\n"
        + "".join(
            f"w{k:03d},tracker,worker {k},{grids[k % 100]['properties']['id']}\n"
            for k in range(DEVICES)
        )
    )
    ingest = IngestSettings(
        broker=broker.url,
        client_id=f"backlog-{uuid.uuid4().hex[:6]}",
        session_expiry_s=600,
        keepalive_s=5,
        max_age_s=(DAYS + 1) * 86400,
    )
    live = LiveSettings(tick_s=0.2)  # intervals of 30 min, offline after 10 min
    options = ServeOptions(db=tmp_path / "gp.db", grids=grid_file, devices=devices)
    with running(IngestProcess(options, ingest, GeofenceSettings(), live=live)):
        pass  # the persistent session now exists: the broker keeps what comes next
    now = time.time()
    messages, distinct, repeated = backlog_messages(grids, now)
    assert len(messages) > 2 * ingest.receive_maximum and distinct > 1_000_000
    publish_all(broker, messages, max_inflight=1000)

    service = IngestProcess(
        ServeOptions(db=tmp_path / "gp.db"), ingest, GeofenceSettings(), live=live
    )
    assert service.live is not None
    with running(service):
        wait_for(
            lambda: read_stats(service.store)["received"] == distinct + repeated,
            timeout_s=240,
            what="the whole backlog received",
        )
        wait_for(lambda: len(service.live.snapshot().overdue) == 1, what="R0C0 overdue")  # type: ignore[union-attr]
        wait_for(lambda: len(service.live.snapshot().offline) == 3, what="3 devices offline")  # type: ignore[union-attr]
        # ticks go on (five more, 1 s at tick_s 0.2): nothing more may be raised
        ticks = service.live.health.ticks  # type: ignore[union-attr]
        wait_for(lambda: service.live.health.ticks >= ticks + 5, what="5 more ticks")  # type: ignore[union-attr]
        stats = read_stats(service.store)
        alerts = (
            service.store.cursor()
            .execute("SELECT kind, coalesce(grid_id, device_id) FROM alerts ORDER BY 1, 2")
            .fetchall()
        )
        rows = (
            service.store.cursor()
            .execute("SELECT count(*), count(DISTINCT (device_id, ts)) FROM pings")
            .fetchone()
        )
        connects, losses = service.mqtt.connects, dict(service.mqtt.connection_losses)
    assert stats["stored"] == distinct and stats["duplicates"] == repeated
    assert stats["rejected"] == {}
    assert rows == (distinct, distinct)
    assert connects == 1 and losses == {}, (connects, losses)
    first_grid = grids[0]["properties"]["id"]
    assert alerts == [
        ("device_offline", "w000"),
        ("device_offline", "w001"),
        ("device_offline", "w100"),
        ("overdue", first_grid),
    ]


def test_a_held_writer_keeps_the_connection_and_acknowledges_nothing_early(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Keep-alive 2 s; the writer held for 8 s (four intervals) with the queue full."""
    HeldWrites.install(monkeypatch)
    HeldWrites.reset()
    ingest = IngestSettings(
        broker=broker.url,
        client_id=f"held-{uuid.uuid4().hex[:6]}",
        session_expiry_s=60,
        keepalive_s=2,
        batch_rows=100,
    )
    port = free_port()
    service = IngestProcess(ServeOptions(db=tmp_path / "gp.db", http=f"127.0.0.1:{port}"), ingest)
    acked: list[int] = []

    def ack(messages: list) -> None:  # what the writer acknowledges, then the real ack
        acked.append(len(messages))
        service.mqtt.ack(messages)

    service.batcher.ack = ack
    now = time.time()
    messages = [
        (
            f"gridpatrol/v1/ping/h{k % 10}",
            json.dumps(
                [
                    {"ts": now - 3600 + k * 0.5 + i * 0.01, "lat": 39.06, "lon": 117.16}
                    for i in range(10)
                ]
            ).encode(),
        )
        for k in range(300)
    ]
    with running(service):
        publish_all(broker, messages, max_inflight=1000)
        assert HeldWrites.writing.wait(10)
        # the queue fills; after keepalive_s / 2 reading goes on so paho can read PINGRESPs
        wait_for(lambda: service.batcher.state.read_throughs, what="the queue full for 1 s")
        time.sleep(8.0)
        assert acked == [] and service.batcher.state.batches == 0
        assert service.mqtt.connected.is_set()
        health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=10).json()
        assert health["backlog"]["messages"] == 300 and health["backlog"]["stalled_s"] >= 8
        metrics = httpx.get(f"http://127.0.0.1:{port}/api/v1/metrics", timeout=10).text
        assert "gridpatrol_backlog_messages 300.0" in metrics
        assert "gridpatrol_mqtt_connects_total 1.0" in metrics
        HeldWrites.hold.clear()
        wait_for(
            lambda: read_stats(service.store)["received"] == 3000,
            timeout_s=30,
            what="everything stored",
        )
        stats = read_stats(service.store)
        connects, losses = service.mqtt.connects, dict(service.mqtt.connection_losses)
    assert stats["stored"] == 3000 and stats["duplicates"] == 0
    assert connects == 1 and losses == {}, (connects, losses)
    assert sum(acked) == 300
