"""A backlog after an outage, at a district's size: the broker holds days of patrols of 500
devices over 1,652 grids, published while serve was away; serve starts and drains it.

Measured: pings per second from serve's start to the last commit, with grids, devices and
the live updater, beside the same backlog drained by a serve without grids (no assignment,
no live updater) in the same run; the connections serve made (1: never disconnected), the
alerts it raised (only those true at the end), and its peak backlog.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import paho.mqtt.client as paho
import shapely
from paho.mqtt.enums import CallbackAPIVersion

from bench.data import CITY, town_grid_file
from bench.e2e import CommitCounter
from geofence.config import GeofenceSettings
from geofence.grids import load_grids
from gridpatrol.broker import Mosquitto
from gridpatrol.compose import IngestProcess
from gridpatrol.roles import ServeOptions
from ingest.config import IngestSettings

DEVICES = 500
PERIOD_S = 30.0
PER_MESSAGE = 60
CHUNK = 20_000  # messages published before waiting for their acknowledgements


@dataclass(frozen=True)
class Drain:
    rate: float  # pings per second, serve's start to the last commit
    seconds: float
    stored: int
    connects: int
    alerts: int
    peak_backlog: int


def backlog_payloads(grid_file: Path, pings: int, end: float) -> list[tuple[str, bytes]]:
    """Each device wanders near the centre of its grid, a fix every 30 s up to ``end``;
    messages of 60 fixes, device by device."""
    grid_set = load_grids(grid_file)
    rng = np.random.default_rng(5)
    per_device = max(PER_MESSAGE, pings // DEVICES)
    messages = []
    for d in range(DEVICES):
        geometry = grid_set.leaves[d % len(grid_set.leaves)].geometry
        assert geometry is not None
        cx, cy = shapely.get_coordinates(shapely.point_on_surface(geometry))[0]
        t = end - (per_device - np.arange(per_device)) * PERIOD_S
        lon = cx + np.cumsum(rng.normal(0, 2e-5, per_device)).clip(-4e-4, 4e-4)
        lat = cy + np.cumsum(rng.normal(0, 2e-5, per_device)).clip(-4e-4, 4e-4)
        topic = f"gridpatrol/v1/ping/w{d:04d}"
        for m in range(0, per_device, PER_MESSAGE):
            fixes = [
                {
                    "ts": round(float(t[i]), 3),
                    "lat": round(float(lat[i]), 7),
                    "lon": round(float(lon[i]), 7),
                    "acc": 5.0,
                }
                for i in range(m, min(m + PER_MESSAGE, per_device))
            ]
            messages.append((topic, json.dumps(fixes).encode()))
    return messages


def publish(broker: Mosquitto, messages: list[tuple[str, bytes]]) -> None:
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"backlog-pub-{uuid.uuid4().hex[:6]}",
        protocol=paho.MQTTv5,
    )
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    for lo in range(0, len(messages), CHUNK):  # packet ids wrap at 65,535: wait per chunk
        infos = [client.publish(t, p, qos=1) for t, p in messages[lo : lo + CHUNK]]
        for info in infos:
            info.wait_for_publish(600)
    client.disconnect()
    client.loop_stop()


def drain(
    broker: Mosquitto,
    folder: Path,
    messages: list[tuple[str, bytes]],
    expected: int,
    *,
    grids: Path | None,
    devices: Path | None,
) -> Drain:
    """Publish the backlog while serve is away, then time serve draining it."""
    ingest = IngestSettings(
        broker=broker.url,
        client_id=f"drain-{uuid.uuid4().hex[:6]}",
        session_expiry_s=3600,
        max_age_s=40 * 86400,
    )
    db = folder / f"backlog-{uuid.uuid4().hex[:6]}.db"
    first = IngestProcess(
        ServeOptions(db=db, grids=grids, devices=devices), ingest, GeofenceSettings()
    )
    thread = threading.Thread(target=first.run, daemon=True)
    thread.start()
    first.mqtt.connected.wait(30)
    first.stop()
    thread.join(60)  # the session stays with the broker: the backlog waits for serve there
    publish(broker, messages)
    service = IngestProcess(ServeOptions(db=db), ingest, GeofenceSettings())
    counter = CommitCounter(service, expected)
    thread = threading.Thread(target=service.run, daemon=True)
    started = time.perf_counter()
    thread.start()
    counter.done.wait(1800)
    rate, elapsed = counter.rate_since(started)
    time.sleep(3.0)  # the backlog drained: what is true now is raised
    stored = service.store.cursor().execute("SELECT count(*) FROM pings").fetchone()
    alerts = service.store.cursor().execute("SELECT count(*) FROM alerts").fetchone()
    service.stop()
    thread.join(120)
    return Drain(
        rate,
        elapsed,
        int(stored[0]) if stored else 0,
        service.mqtt.connects,
        int(alerts[0]) if alerts else 0,
        counter.peak_backlog,
    )


def district_backlog(folder: Path, pings: int) -> tuple[Drain, Drain, int]:
    """The drain with grids and devices, and without; and the pings published."""
    grids = town_grid_file(CITY, folder)
    grid_set = load_grids(grids)
    devices = folder / "backlog-devices.csv"
    devices.write_text(
        "device_id,kind,worker,grid_id\n"
        + "".join(
            f"w{d:04d},tracker,worker {d},{grid_set.ids[d % len(grid_set.ids)]}\n"
            for d in range(DEVICES)
        )
    )
    messages = backlog_payloads(grids, pings, time.time() - 60)
    expected = sum(payload.count(b"{") for _, payload in messages)
    broker = Mosquitto(persistence=False).start()
    try:
        with_grids = drain(broker, folder, messages, expected, grids=grids, devices=devices)
        plain = drain(broker, folder, messages, expected, grids=None, devices=None)
    finally:
        broker.cleanup()
    return with_grids, plain, expected
