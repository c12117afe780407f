"""The database's disk refuses writes: serve stops acknowledging, says why in /health and
/metrics, and resumes without loss once the cause is gone.

"Disk full" is made real with RLIMIT_FSIZE on the serve process: its writes past the limit
fail with EFBIG, exactly as on a full disk, until the limit is lifted with prlimit.
"""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from gridpatrol.broker import Mosquitto, free_port
from tests.mqtt_helpers import publish_all, wait_for

pytestmark = pytest.mark.broker


def _ignore_sigxfsz() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, not kills


def _pings(first: int, count: int) -> list[tuple[str, bytes]]:
    now = time.time()
    return [
        ("gridpatrol/v1/ping/disk-1",
         json.dumps([{"ts": now - 3000 + (first + i) * 0.5 + k * 0.01, "lat": 39.06,
                      "lon": 117.16} for k in range(10)]).encode())
        for i in range(count)
    ]  # fmt: skip


def test_disk_full_stops_acks_reports_and_resumes(broker: Mosquitto, tmp_path: Path):
    port = free_port()
    db = tmp_path / "gp.db"
    log = tmp_path / "serve.log"
    with open(log, "wb") as sink:
        serve = subprocess.Popen(
            [sys.executable, "-m", "gridpatrol", "serve", "--db", str(db), "--broker", broker.url,
             "--client-id", f"disk-{uuid.uuid4().hex[:6]}", "--session-expiry-s", "300",
             "--batch-age-ms", "50", "--http", f"127.0.0.1:{port}"],
            stderr=sink, preexec_fn=_ignore_sigxfsz,
        )  # fmt: skip
    api = f"http://127.0.0.1:{port}/api/v1"

    def stored() -> int:
        try:
            return int(httpx.get(api + "/stats", timeout=5).json()["stored"])
        except httpx.HTTPError:
            return -1

    try:
        wait_for(lambda: stored() == 0, timeout_s=30, what="serve up")
        publish_all(broker, _pings(0, 50))
        wait_for(lambda: stored() == 500, what="first 500 pings")
        limit = max(p.stat().st_size for p in tmp_path.iterdir() if p.name.startswith("gp.db"))
        hard = resource.RLIM_INFINITY  # only the soft limit moves: raising it needs no privilege
        resource.prlimit(serve.pid, resource.RLIMIT_FSIZE, (limit, hard))
        publish_all(broker, _pings(50, 50))
        health = wait_for(
            lambda: (r := httpx.get(api + "/health", timeout=5)).status_code == 503 and r.json(),
            what="/health to report the failing writes",
        )
        assert health["status"] == "degraded"
        assert "File too large" in health["writes"]
        metrics = httpx.get(api + "/metrics", timeout=5).text
        assert "gridpatrol_write_failing 1.0" in metrics
        assert stored() == 500
        resource.prlimit(serve.pid, resource.RLIMIT_FSIZE,
                         (resource.RLIM_INFINITY, resource.RLIM_INFINITY))  # fmt: skip
        wait_for(lambda: stored() == 1000, timeout_s=30, what="the held pings stored")
        assert httpx.get(api + "/health", timeout=5).status_code == 200
    finally:
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(30) == 0
    text = log.read_text()
    assert "not stored, not acknowledged" in text and "File too large" in text
    assert "database writable again" in text
