"""The restore drill against a running serve: while it stores pings from MQTT, a backup
through ``gridpatrol backup --from-serve`` (another process cannot open the file serve
holds, not even read-only), restored with ``gridpatrol restore`` into a new path, answers
every report of the backed-up month as the original does."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from gridpatrol.broker import Mosquitto, free_port
from gridpatrol.cli import main
from patrol.derive import ReportGrids
from patrol.reports import run_reports
from tests.integration.test_kill import start_serve
from tests.mqtt_helpers import connect, wait_for
from tests.patrol.test_retention import SETTINGS, WINDOW, build_month
from tests.processes import Processes
from tracks.store import Store

pytestmark = pytest.mark.broker


def reports(db: Path) -> dict[str, list[dict[str, object]]]:
    with Store(db, read_only=True) as store:
        return run_reports("all", ReportGrids(store), store, *WINDOW, SETTINGS)


def test_backup_of_a_running_serve_restores_every_report(
    processes: Processes, broker: Mosquitto, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    db = build_month(tmp_path)
    port = free_port()
    serve = start_serve(
        processes, broker, db, f"bk-{uuid.uuid4().hex[:6]}", "--http", f"127.0.0.1:{port}"
    )
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(url), timeout_s=60, what="the API")
    stop = threading.Event()
    sent: list[int] = []

    def publish() -> None:  # pings of now, flowing through serve into the file
        client = connect(broker)
        try:
            while not stop.is_set():
                body = {"ts": time.time(), "lat": 39.06, "lon": 117.16, "acc": 5}
                client.publish(
                    "gridpatrol/v1/ping/live-1", json.dumps(body), qos=1
                ).wait_for_publish(10)
                sent.append(1)
                time.sleep(0.005)
        finally:
            client.disconnect()
            client.loop_stop()

    publisher = threading.Thread(target=publish)
    publisher.start()
    try:
        wait_for(lambda: len(sent) > 50, timeout_s=30, what="pings to flow")
        # the file is serve's: another process cannot read it, and is told what to do
        assert main(["backup", "--db", str(db), "--out", str(tmp_path / "no")]) == 2
        assert "--from-serve" in capsys.readouterr().err
        assert main(["backup", "--from-serve", url, "--out", str(tmp_path / "backup")]) == 0
        during = len(sent)
        wait_for(lambda: len(sent) > during + 50, timeout_s=30, what="pings after the backup")
    finally:
        stop.set()
        publisher.join()
    restored = tmp_path / "elsewhere" / "restored.db"
    restored.parent.mkdir()
    assert main(["restore", "--from", str(tmp_path / "backup"), "--db", str(restored)]) == 0
    serve.terminate()
    assert serve.wait(60) == 0
    assert reports(restored) == reports(db)
    with Store(restored, read_only=True) as store:
        live = store.read_one("SELECT count(*) FROM pings WHERE device_id = 'live-1'")
    assert live is not None and 0 < live[0] <= during


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/health", timeout=2).status_code in (200, 503)
    except httpx.HTTPError:
        return False
