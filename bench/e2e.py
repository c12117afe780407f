"""End to end through Mosquitto: publish with mosquitto_pub, count what is committed.

The ceiling is a bare paho subscriber that only counts messages, fed the same way in the
same run. Latency is measured at a steady rate from a paced paho publisher: each ping's fix
time is its publish time, and the writer's commit hook records when it was committed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import IO

import numpy as np
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

from gridpatrol.broker import Mosquitto
from gridpatrol.compose import IngestProcess
from gridpatrol.roles import ServeOptions
from ingest.config import IngestSettings
from ingest.prepare import PreparedBatch

PUBLISHERS = 4


def payload_lines(publisher: int, count: int, per_message: int, start: float) -> list[bytes]:
    """One publisher's payloads (its own device), one JSON line each: per_message fixes 1 ms
    apart, a single object when per_message is 1."""
    lines = []
    for m in range(count):
        base = start + (m * per_message) * 0.001
        fixes = [
            {
                "ts": round(base + k * 0.001, 3),
                "lat": 39.06 + 1e-6 * (m % 100),
                "lon": 117.16 + 1e-4 * publisher,
                "acc": 5.0,
            }
            for k in range(per_message)
        ]
        lines.append(json.dumps(fixes[0] if per_message == 1 else fixes).encode() + b"\n")
    return lines


def _payload_files(folder: Path, messages: int, per_message: int, start: float) -> list[Path]:
    """One file per publisher, one JSON payload a line."""
    files = []
    for p in range(PUBLISHERS):
        path = folder / f"pub-{p}-{per_message}.txt"
        path.write_bytes(b"".join(payload_lines(p, messages // PUBLISHERS, per_message, start)))
        files.append(path)
    return files


def mosquitto_pub(broker: Mosquitto, topic: str, stdin: IO[bytes] | int) -> subprocess.Popen[bytes]:
    """Debian's C publisher, QoS 1, one payload per line of stdin."""
    binary = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
    return subprocess.Popen(
        [binary, "-p", str(broker.port), "-q", "1", "-M", "1000", "-l", "-t", topic], stdin=stdin
    )


def _publish(broker: Mosquitto, files: list[Path]) -> list[subprocess.Popen[bytes]]:
    procs = []
    for p, path in enumerate(files):
        with open(path, "rb") as stdin:
            procs.append(mosquitto_pub(broker, f"gridpatrol/v1/ping/bench-{p}", stdin))
    return procs


def bare_paho_rate(broker: Mosquitto, files: list[Path], expected: int) -> float:
    """Messages per second a subscriber that only counts can take (QoS 1, auto acks)."""
    count = [0]
    done = threading.Event()

    def on_message(client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        count[0] += 1
        if count[0] >= expected:
            done.set()

    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bare-{uuid.uuid4().hex[:6]}", protocol=paho.MQTTv5
    )
    client.on_message = on_message
    client.connect("127.0.0.1", broker.port)
    client.subscribe("gridpatrol/v1/ping/+", options=SubscribeOptions(qos=1))
    client.loop_start()
    time.sleep(0.5)
    started = time.perf_counter()
    procs = _publish(broker, files)
    done.wait(300)
    elapsed = time.perf_counter() - started
    for proc in procs:
        proc.wait()
    client.disconnect()
    client.loop_stop()
    return count[0] / elapsed


def start_service(
    broker: Mosquitto, db: Path, **overrides: object
) -> tuple[IngestProcess, threading.Thread]:
    settings = IngestSettings(
        broker=broker.url,
        client_id=f"bench-{uuid.uuid4().hex[:6]}",
        session_expiry_s=10,
        **overrides,  # type: ignore[arg-type]
    )
    service = IngestProcess(ServeOptions(db=db), settings)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    service.mqtt.connected.wait(10)
    time.sleep(0.3)
    return service, thread


def stop_service(service: IngestProcess, thread: threading.Thread) -> None:
    service.stop()
    thread.join(60)


class CommitCounter:
    """Counts the pings the writer commits, by its hook (polling the database would take a
    share of the machine being measured); ``done`` is set once ``expected`` are in."""

    def __init__(self, service: IngestProcess, expected: int) -> None:
        self.service = service
        self.expected = expected
        self.committed = 0
        self.finished = 0.0
        self.peak_backlog = 0
        self.done = threading.Event()
        self._inner = service.batcher.on_committed
        service.batcher.on_committed = self._count

    def _count(self, batch: PreparedBatch) -> None:
        if self._inner is not None:
            self._inner(batch)
        self.committed += batch.counters.get("received", 0)
        self.peak_backlog = max(self.peak_backlog, self.service.batcher.backlog().messages)
        if self.committed >= self.expected and not self.done.is_set():
            self.finished = time.perf_counter()
            self.done.set()

    def rate_since(self, started: float) -> tuple[float, float]:
        """Pings per second from ``started`` to the last commit; and those seconds."""
        elapsed = (self.finished or time.perf_counter()) - started
        return self.committed / elapsed, elapsed


def ingest_rate(
    broker: Mosquitto, db: Path, files: list[Path], expected_pings: int
) -> tuple[float, int]:
    """Pings per second from the first publish to the last commit; and pings stored.

    The writer's commit hook counts what is committed (polling the database would take
    a share of the machine being measured)."""
    service, thread = start_service(broker, db)
    counter = CommitCounter(service, expected_pings)
    started = time.perf_counter()
    procs = _publish(broker, files)
    counter.done.wait(600)
    rate, _ = counter.rate_since(started)
    for proc in procs:
        proc.wait()
    row = service.store.cursor().execute("SELECT count(*) FROM pings").fetchone()
    stop_service(service, thread)
    return rate, int(row[0]) if row else 0


def steady_latency(
    broker: Mosquitto, db: Path, rate: float, seconds: float
) -> tuple[np.ndarray, int, int]:
    """Publish-to-commit latency (s) of every ping at a steady rate; and sent, stored."""
    service, thread = start_service(broker, db)
    latencies: list[np.ndarray] = []
    inner = service.batcher.on_committed

    def record(batch: PreparedBatch) -> None:
        committed = time.time()
        ts = batch.pings["ts"].dt.epoch("us").to_numpy() / 1e6
        latencies.append(committed - ts)
        if inner is not None:
            inner(batch)

    service.batcher.on_committed = record
    pace = subprocess.run(
        [sys.executable, "-m", "bench.pace", str(broker.port), str(rate), str(seconds)],
        capture_output=True,
        text=True,
        check=True,
    )
    total = int(pace.stdout.strip())
    time.sleep(2.0)
    stop_service(service, thread)
    values = np.concatenate(latencies) if latencies else np.empty(0)
    return values, total, len(values)
