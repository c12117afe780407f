"""Readers hammer GET /grids, /alerts and /devices while batches flow through the broker and
the live state changes under them: no 5xx, and the batches really were committed."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import httpx
import pytest

from tests.api.conftest import Served
from tests.geofence.town import lonlat
from tests.mqtt_helpers import connect, wait_for
from tracks.queries import count_pings

pytestmark = pytest.mark.broker

READERS = 4
REQUESTS_PER_READER = 75  # 300 requests in all
PATHS = ("/api/v1/grids", "/api/v1/alerts", "/api/v1/devices")


def test_reads_during_ingest_and_live_changes_never_fail(served: Served, broker):
    before = count_pings(served.service.store)
    live = served.service.live
    assert live is not None
    first = live.snapshot()
    stop = threading.Event()
    published = [0]

    def publish() -> None:
        # hammer-device walks from grid A through B to C and back: visits (and cleared alerts)
        client = connect(broker)
        try:
            step = 0
            while not stop.is_set():
                x = -150 + (step % 30) * 10
                lon, lat = lonlat(x, 0)
                fix = {"ts": time.time() - 30 + step * 1e-3, "lat": lat, "lon": lon}
                client.publish(
                    "gridpatrol/v1/ping/hammer", json.dumps(fix), qos=1
                ).wait_for_publish(5)
                published[0] += 1
                step += 1
        finally:
            client.disconnect()
            client.loop_stop()

    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def read(n: int) -> None:
        with httpx.Client(
            base_url=served.url, timeout=30, headers={"Authorization": f"Bearer {served.admin}"}
        ) as client:
            for i in range(REQUESTS_PER_READER):
                status = client.get(PATHS[(n + i) % len(PATHS)]).status_code
                with lock:
                    statuses[status] += 1

    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()
    wait_for(lambda: count_pings(served.service.store) > before, what="the first batch")
    readers = [threading.Thread(target=read, args=(n,)) for n in range(READERS)]
    for t in readers:
        t.start()
    for t in readers:
        t.join(120)
    stop.set()
    publisher.join(30)
    assert sum(statuses.values()) == READERS * REQUESTS_PER_READER
    assert statuses == Counter({200: READERS * REQUESTS_PER_READER})
    stored = wait_for(
        lambda: count_pings(served.service.store) - before >= published[0] or None,
        what="every published ping stored",
    )
    assert stored and published[0] > 10
    # the live state moved on while the readers read: newer visits, new snapshots
    wait_for(
        lambda: live.snapshot().last_visit.max() > first.last_visit.max(),
        what="the live state to take the new visits",
    )
