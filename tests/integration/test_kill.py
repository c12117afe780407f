"""serve killed with SIGKILL mid-stream: every acknowledged ping is stored exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from gridpatrol.broker import Mosquitto, free_port
from gridpatrol.compose import IngestProcess
from gridpatrol.roles import ServeOptions
from ingest.config import IngestSettings
from tests.mqtt_helpers import connect, publish_all, running, wait_for
from tests.processes import Processes

pytestmark = pytest.mark.broker

TOTAL = 20_000
#: How long serve may take to start and subscribe (cold imports on 2 busy cores).
SERVE_START_S = 90.0


def start_serve(
    processes: Processes, broker: Mosquitto, db: Path, client_id: str, *extra: str
) -> subprocess.Popen[bytes]:
    return start_serve_drained(processes, broker, db, client_id, *extra)[0]


def start_serve_drained(
    processes: Processes, broker: Mosquitto, db: Path, client_id: str, *extra: str
) -> tuple[subprocess.Popen[bytes], threading.Thread]:
    """serve in a process (ended at the test's teardown), once subscribed; the thread
    drains its stderr to the end."""
    process = processes.popen(
        [
            sys.executable,
            "-m",
            "gridpatrol",
            "serve",
            "--db",
            str(db),
            "--broker",
            broker.url,
            "--client-id",
            client_id,
            "--session-expiry-s",
            "300",
            "--batch-age-ms",
            "50",
            *extra,
        ],
        stderr=subprocess.PIPE,
    )
    stderr = process.stderr
    assert stderr is not None
    lines: list[bytes] = []
    subscribed = threading.Event()

    def drain() -> None:
        with stderr:
            for line in stderr:
                lines.append(line)
                if b"subscribed to" in line:
                    subscribed.set()

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    # a cold start (imports, Numba's cache) on a loaded machine: a generous deadline
    wait_for(
        lambda: subscribed.is_set() or process.poll() is not None,
        timeout_s=SERVE_START_S,
        what="serve to subscribe",
    )
    if not subscribed.is_set():
        log = b"".join(lines).decode(errors="replace")
        raise AssertionError(f"serve exited with {process.wait()} before subscribing:\n{log}")
    return process, drainer


def test_sigkill_mid_stream_loses_nothing_and_stores_nothing_twice(
    broker: Mosquitto, processes: Processes, tmp_path: Path
):
    db = tmp_path / "gp.db"
    client_id = f"kill-{uuid.uuid4().hex[:6]}"
    serve, drainer = start_serve_drained(processes, broker, db, client_id)
    base = time.time() - 3 * 86400  # inside the 7-day window, one fix per 10 ms
    publisher = connect(broker, max_inflight=500)
    infos = []
    killed = False
    for i in range(TOTAL):
        payload = json.dumps({"ts": base + i * 0.01, "lat": 39.06, "lon": 117.16}).encode()
        infos.append(publisher.publish(f"gridpatrol/v1/ping/kill-{i % 20}", payload, qos=1))
        if i == TOTAL // 2:
            wait_for(
                lambda: infos[TOTAL // 4].is_published(), timeout_s=60, what="first quarter acked"
            )
            serve.send_signal(signal.SIGKILL)
            serve.wait()
            drainer.join(10)  # the pipe is closed
            killed = True
    assert killed
    for info in infos:
        info.wait_for_publish(30)
    acked = [i for i, info in enumerate(infos) if info.is_published()]
    publisher.disconnect()
    publisher.loop_stop()
    assert len(acked) == TOTAL  # the broker acks the publisher; it holds them for serve

    settings = IngestSettings(
        broker=broker.url, client_id=client_id, session_expiry_s=5, batch_age_ms=50
    )
    service = IngestProcess(ServeOptions(db=db), settings)
    cur = service.store.cursor()

    def stored() -> int:
        row = cur.execute("SELECT count(*) FROM pings").fetchone()
        return int(row[0]) if row else 0

    with running(service):
        wait_for(lambda: stored() >= TOTAL, timeout_s=60, what="every ping stored")
        # a marker published now comes after anything the broker still had to redeliver:
        # once it is stored, a late redelivery would already show as an extra row
        marker = json.dumps({"ts": time.time(), "lat": 39.06, "lon": 117.16}).encode()
        publish_all(broker, [("gridpatrol/v1/ping/kill-marker", marker)])
        wait_for(lambda: stored() >= TOTAL + 1, timeout_s=30, what="the marker stored")
        rows = cur.execute(
            "SELECT count(*), count(DISTINCT (device_id, ts)), min(epoch(ts)), max(epoch(ts)) "
            "FROM pings WHERE device_id <> 'kill-marker'"
        ).fetchone()
    assert rows is not None
    assert rows[0] == rows[1] == TOTAL
    assert rows[2] == pytest.approx(base)
    assert rows[3] == pytest.approx(base + (TOTAL - 1) * 0.01)


def test_sigterm_flushes_commits_and_exits_zero(
    broker: Mosquitto, processes: Processes, tmp_path: Path
):
    db = tmp_path / "gp.db"
    port = free_port()
    # batches wait for 10 minutes: everything received is still held when SIGTERM comes
    serve = start_serve(
        processes,
        broker,
        db,
        f"term-{uuid.uuid4().hex[:6]}",
        "--http",
        f"127.0.0.1:{port}",
        "--batch-age-ms",
        "600000",
    )
    publisher = connect(broker)
    now = time.time()
    infos = [
        publisher.publish(
            "gridpatrol/v1/ping/term-1",
            json.dumps([{"ts": now - i - j / 100, "lat": 39.06, "lon": 117.16} for j in range(50)]),
            qos=1,
        )
        for i in range(100)
    ]
    for info in infos:
        info.wait_for_publish(10)
    publisher.disconnect()
    publisher.loop_stop()
    # SIGTERM once serve holds all 100 messages, none of them committed yet

    def held() -> bool:
        try:
            health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=5).json()
        except httpx.ConnectError:  # uvicorn binds after the subscription: slower under load
            return False
        return bool(health["queue_depth"] == 100)

    wait_for(held, timeout_s=60, what="serve to hold every message")
    assert httpx.get(f"http://127.0.0.1:{port}/api/v1/stats", timeout=5).json()["stored"] == 0
    serve.send_signal(signal.SIGTERM)
    assert serve.wait(60) == 0  # flushed and committed 5,000 pings first
    out = subprocess.run(
        [sys.executable, "-m", "gridpatrol", "stats", "--db", str(db), "--format", "json"],
        capture_output=True,
        check=True,
        env={**os.environ},
    )
    assert json.loads(out.stdout) == {
        "received": 5000,
        "stored": 5000,
        "duplicates": 0,
        "rejected": {},
    }
