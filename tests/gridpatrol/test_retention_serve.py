"""serve --retain-days: the single process purges at start (a thread of its own), and the
month's reports answer as before."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from gridpatrol.broker import Mosquitto
from gridpatrol.compose import IngestProcess, ServeSettings, compose
from gridpatrol.roles import ServeOptions
from ingest.config import IngestSettings
from patrol.config import RetentionSettings
from patrol.derive import ReportGrids
from patrol.reports import run_reports
from tests.mqtt_helpers import running, wait_for
from tests.patrol.test_retention import SETTINGS, WINDOW, build_month
from tracks.store import Store

pytestmark = pytest.mark.broker


def test_serve_purges_what_is_older_than_retain_days(broker: Mosquitto, tmp_path: Path):
    db = build_month(tmp_path)  # fixes of 2026-11-16 to 21, days before today less 10
    with Store(db) as store:
        before = run_reports("all", ReportGrids(store), store, *WINDOW, SETTINGS)
    settings = ServeSettings(
        ingest=IngestSettings(broker=broker.url, client_id=f"rt-{uuid.uuid4().hex[:6]}"),
        geofence=SETTINGS,
        retention=RetentionSettings(retain_days=10),
    )
    service = compose(ServeOptions(db=db), settings)
    assert isinstance(service, IngestProcess)
    with running(service):
        store = service.store
        wait_for(
            lambda: store.read_one("SELECT count(*) FROM pings") == (0,),
            timeout_s=60,
            what="the purge at start",
        )
        assert store.read_one("SELECT count(*) FROM purges") == (1,)
        assert run_reports("all", ReportGrids(store), store, *WINDOW, SETTINGS) == before
