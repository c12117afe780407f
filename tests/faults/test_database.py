"""The database refuses writes: serve stops acknowledging, says why in its log, /health and
/metrics, and resumes without loss once the cause is gone.

"Disk full" is made real with RLIMIT_FSIZE on the serve process: its writes past the limit
fail with EFBIG, exactly as on a full disk, until the limit is lifted with prlimit.
"Read-only" is made real on the database file and its folder: the immutable attribute
(chattr +i, which stops root too) or, for a user that is not root, the write permission.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gridpatrol.broker import Mosquitto, free_port
from tests.mqtt_helpers import publish_all, wait_for
from tests.processes import Processes

pytestmark = pytest.mark.broker


def _ignore_sigxfsz() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, not kills


def _pings(first: int, count: int) -> list[tuple[str, bytes]]:
    now = time.time()
    return [
        (
            "gridpatrol/v1/ping/disk-1",
            json.dumps(
                [
                    {"ts": now - 3000 + (first + i) * 0.5 + k * 0.01, "lat": 39.06, "lon": 117.16}
                    for k in range(10)
                ]
            ).encode(),
        )
        for i in range(count)
    ]


@dataclass(frozen=True)
class Serve:
    process: subprocess.Popen[bytes]
    api: str
    log: Path

    def stored(self) -> int:
        try:
            return int(httpx.get(self.api + "/stats", timeout=5).json()["stored"])
        except httpx.HTTPError:
            return -1


@contextmanager
def serve_on(processes: Processes, broker: Mosquitto, db: Path, log: Path) -> Iterator[Serve]:
    """serve on ``db`` with its API on a free port; SIGTERM at the end must exit 0. On a
    failure inside, the test's ``processes`` end it."""
    port = free_port()
    with open(log, "wb") as sink:
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
                f"db-{uuid.uuid4().hex[:6]}",
                "--session-expiry-s",
                "300",
                "--batch-age-ms",
                "50",
                "--http",
                f"127.0.0.1:{port}",
            ],
            stderr=sink,
            preexec_fn=_ignore_sigxfsz,
        )
    serve = Serve(process, f"http://127.0.0.1:{port}/api/v1", log)
    wait_for(lambda: serve.stored() >= 0, timeout_s=60, what="serve up")  # a cold start
    yield serve
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0


def store_first(broker: Mosquitto, serve: Serve) -> None:
    publish_all(broker, _pings(0, 50))
    wait_for(lambda: serve.stored() == 500, timeout_s=30, what="first 500 pings")


def hold_and_resume(
    broker: Mosquitto,
    serve: Serve,
    refuse: Callable[[], None],
    allow: Callable[[], None],
    cause: str,
) -> None:
    """With 500 pings stored, writes refused: 500 more held unacknowledged until allowed."""
    refuse()
    try:
        publish_all(broker, _pings(50, 50))
        health = wait_for(
            lambda: (
                (r := httpx.get(serve.api + "/health", timeout=5)).status_code == 503 and r.json()
            ),
            timeout_s=30,
            what="/health to report the failing writes",
        )
        assert health["status"] == "degraded"
        assert cause in health["writes"]
        metrics = httpx.get(serve.api + "/metrics", timeout=5).text
        assert "gridpatrol_write_failing 1.0" in metrics
        assert serve.stored() == 500
    finally:
        allow()
    wait_for(lambda: serve.stored() == 1000, timeout_s=30, what="the held pings stored")
    assert httpx.get(serve.api + "/health", timeout=5).status_code == 200


def assert_logged(log: Path, cause: str) -> None:
    text = log.read_text()
    assert "not stored, not acknowledged" in text and cause in text
    assert "database writable again" in text


def test_disk_full_stops_acks_reports_and_resumes(
    broker: Mosquitto, processes: Processes, tmp_path: Path
):
    db = tmp_path / "gp.db"
    with serve_on(processes, broker, db, tmp_path / "serve.log") as serve:
        store_first(broker, serve)
        pid = serve.process.pid

        def fill_disk() -> None:
            limit = max(p.stat().st_size for p in tmp_path.iterdir() if p.name.startswith("gp.db"))
            # only the soft limit moves: raising it again needs no privilege
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

        def free_disk() -> None:
            resource.prlimit(
                pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
            )

        hold_and_resume(broker, serve, fill_disk, free_disk, "File too large")
    assert_logged(serve.log, "File too large")


#: The error a write to a read-only file gets: root is stopped by the immutable attribute,
#: another user by the missing write permission.
READ_ONLY_CAUSE = "Operation not permitted" if os.geteuid() == 0 else "Permission denied"


def _set_read_only(paths: list[Path], read_only: bool) -> None:
    """Make files read-only for this user, root included (see READ_ONLY_CAUSE)."""
    if os.geteuid() == 0:
        flag = "+i" if read_only else "-i"
        subprocess.run(["chattr", flag, *map(str, paths)], check=True)
        return
    for path in paths:
        mode = path.stat().st_mode
        path.chmod(mode & ~0o222 if read_only else mode | 0o200)


def test_read_only_database_stops_acks_reports_and_resumes(
    broker: Mosquitto, processes: Processes, tmp_path: Path
):
    folder = tmp_path / "data"
    folder.mkdir()
    db = folder / "gp.db"
    locked = [folder, db]
    cause = READ_ONLY_CAUSE
    with serve_on(processes, broker, db, tmp_path / "first.log") as serve:
        store_first(broker, serve)
    # a clean stop checkpointed the write-ahead log away: the next commit must create it
    try:
        with serve_on(processes, broker, db, tmp_path / "serve.log") as serve:
            hold_and_resume(
                broker,
                serve,
                lambda: _set_read_only(locked, True),
                lambda: _set_read_only(locked, False),
                cause,
            )
    finally:
        _set_read_only(locked, False)
    assert_logged(serve.log, cause)
    # started on a read-only file, serve says so in one line and exits non-zero
    _set_read_only(locked, True)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "gridpatrol", "serve", "--db", str(db), "--broker", broker.url],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        _set_read_only(locked, False)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == f"gridpatrol: error: cannot open {db}: IO Error: " + (
        f'Cannot open file "{db}": {cause}'
    )
