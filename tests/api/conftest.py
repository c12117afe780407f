"""A real serve (broker, database, API) with two tokens and a little data."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api.tokens import add_token
from geofence.config import GeofenceSettings
from gridpatrol.broker import Mosquitto, free_port
from gridpatrol.compose import IngestProcess
from gridpatrol.roles import ServeOptions
from ingest.config import IngestSettings
from patrol.config import LiveSettings
from tests.geofence.town import lonlat, three_in_a_row
from tests.mqtt_helpers import publish_all, running, wait_for


@dataclass
class Served:
    service: IngestProcess
    url: str
    admin: str
    supervisor: str  # sees parent P? no: only grid C (and what is under it)
    tokens: Path
    start: str
    end: str
    last_fix: float  # d1's and d2's newest fix, epoch seconds

    def get(self, path: str, token: str | None = None, **params: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(self.url + path, headers=headers, params=params, timeout=30)


@pytest.fixture(scope="module")
def served(broker: Mosquitto, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("api")
    grids = three_in_a_row(folder / "grids.geojson", interval_min=1)
    devices = folder / "devices.csv"
    devices.write_text("device_id,kind,worker,grid_id\nd1,tracker,Li Wei,A\nd2,phone,Wang Fang,C\n")
    tokens = folder / "tokens.jsonl"
    _, admin = add_token(tokens, "admin", [], "ops")
    _, supervisor = add_token(tokens, "supervisor", ["C"], "Zhao")
    port = free_port()
    ingest = IngestSettings(
        broker=broker.url,
        client_id=f"api-{uuid.uuid4().hex[:6]}",
        session_expiry_s=5,
        batch_age_ms=50,
    )
    options = ServeOptions(
        db=folder / "gp.db", grids=grids, devices=devices, http=f"127.0.0.1:{port}", tokens=tokens
    )
    service = IngestProcess(options, ingest, GeofenceSettings(), live=LiveSettings(tick_s=0.2))
    with running(service):  # serve in a thread, stopped (flush, commit, ack) at the end
        assert service.http is not None
        wait_for(service.http.started, what="the API to listen")
        now = time.time()
        messages = []
        for device, x in (("d1", -100), ("d2", 100)):
            lon, lat = lonlat(x, 0)
            fixes = [
                {"ts": now - 600 + 10 * i, "lat": lat, "lon": lon + i * 1e-6} for i in range(50)
            ]
            messages.append((f"gridpatrol/v1/ping/{device}", json.dumps(fixes).encode()))
        publish_all(broker, messages)
        wait_for(
            lambda: (
                service.store.cursor().execute("SELECT count(*) FROM pings").fetchone()[0] == 100
            ),
            what="100 pings stored",
        )
        start = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now - 3600))
        end = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now + 60))
        yield Served(
            service,
            f"http://127.0.0.1:{port}",
            admin,
            supervisor,
            tokens,
            start,
            end,
            now - 600 + 10 * 49,
        )
