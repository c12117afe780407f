"""GET /devices from live state through a real serve (Mosquitto, a DuckDB file): the positions
equal a scan of ``pings`` (the answer without live state), also after a restart; and on the
event clock, "today" in GET /grids is the event clock's day.

three_in_a_row (P over A | B | C, x in metres: A below -40, C above 40)."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from api.deps import Principal
from api.positions import device_rows
from geofence.config import GeofenceSettings
from gridpatrol.broker import Mosquitto, free_port
from gridpatrol.compose import IngestProcess
from gridpatrol.roles import ServeOptions
from ingest.config import IngestSettings
from patrol.config import LiveSettings
from patrol.positions import stored_positions
from tests.geofence.town import lonlat, three_in_a_row
from tests.mqtt_helpers import publish_all, running, wait_for
from tracks.queries import count_pings
from tracks.store import Store

pytestmark = pytest.mark.broker

TZ = ZoneInfo("Asia/Shanghai")
ADMIN = Principal("local", "admin", None)


def fix(device: str, ts: float, x: float, **extra: object) -> tuple[str, bytes]:
    lon, lat = lonlat(x, 0)
    body = {"ts": ts, "lat": lat, "lon": lon, **extra}
    return f"gridpatrol/v1/ping/{device}", json.dumps(body).encode()


def serve(
    broker: Mosquitto, folder: Path, live: LiveSettings | None = None
) -> tuple[IngestProcess, str]:
    port = free_port()
    grids = three_in_a_row(folder / "grids.geojson", interval_min=10)
    devices = folder / "devices.csv"
    devices.write_text(
        "device_id,kind,worker,grid_id\nd1,tracker,Li,A\nd2,phone,Wang,C\nidle,phone,Zhao,B\n"
    )
    options = ServeOptions(
        db=folder / "gp.db", grids=grids, devices=devices, http=f"127.0.0.1:{port}"
    )
    ingest = IngestSettings(
        broker=broker.url,
        client_id=f"pos-{uuid.uuid4().hex[:6]}",
        session_expiry_s=5,
        batch_age_ms=50,
    )
    return IngestProcess(options, ingest, GeofenceSettings(), live=live), f"http://127.0.0.1:{port}"


def scanned(store: Store) -> list[object]:
    """GET /devices' rows as a scan of ``pings`` gives them (online aside)."""
    return [_without_online(r) for r in device_rows(stored_positions(store), ADMIN, TZ)]


def _without_online(row: object) -> object:
    assert isinstance(row, dict)
    return {k: v for k, v in row.items() if k != "online"}


def served(url: str) -> list[object]:
    return httpx.get(url + "/api/v1/devices", timeout=10).json()


def test_positions_from_live_state_equal_a_scan_of_pings_also_after_a_restart(
    broker: Mosquitto, tmp_path: Path
):
    now = time.time()
    messages = [fix("d1", now - 900 + 10 * i, -150 + 5 * i) for i in range(30)]  # A into B
    messages.append(fix("d1", now - 590, -60, acc=80))  # newest, flagged (poor accuracy)
    messages += [fix("d2", now - 300 + 10 * i, 100) for i in range(10, 20)]
    late = [fix("d2", now - 300 + 10 * i, 60) for i in range(10)]  # older, published after
    messages += [fix("d3", now - 200, 0), fix("d4", now - 100, 400)]  # unregistered: B, none
    service, url = serve(broker, tmp_path)
    with running(service):
        assert service.http is not None
        wait_for(service.http.started, what="the API to listen")
        publish_all(broker, messages)
        publish_all(broker, late)
        total = len(messages) + len(late)
        wait_for(lambda: count_pings(service.store) == total, what="every ping stored")
        scan = scanned(service.store)
        wait_for(lambda: [_without_online(r) for r in served(url)] == scan, what="live = scan")
        before = served(url)
    by_id = {r["device_id"]: r for r in before}  # type: ignore[index]
    assert sorted(by_id) == ["d1", "d2", "d3", "d4", "idle"]
    assert by_id["d1"]["lon"] == lonlat(-150 + 5 * 29, 0)[0]  # not the flagged newest
    assert by_id["d1"]["current_grid"] == "B" and by_id["d2"]["current_grid"] == "C"
    assert by_id["d4"]["current_grid"] is None and by_id["idle"]["last_seen"] is None
    assert by_id["d2"]["online"] and not by_id["idle"]["online"]
    service, url = serve(broker, tmp_path)  # again, on the same file: loaded from storage
    with running(service):
        assert service.http is not None
        wait_for(service.http.started, what="the API to listen")
        assert served(url) == before
        assert [_without_online(r) for r in before] == scanned(service.store)


def test_on_the_event_clock_today_is_the_event_clocks_day(broker: Mosquitto, tmp_path: Path):
    """Fixes of three days ago: serve's event clock is then, far from the wall clock; the
    service day of GET /grids is that day, and the grid's figures for it are there."""
    day = dt.datetime.now(TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    day -= dt.timedelta(days=3)
    ten = (day + dt.timedelta(hours=10)).timestamp()
    messages = [fix("d1", ten + 30 * i, -100) for i in range(20)]
    service, url = serve(broker, tmp_path, LiveSettings(live_clock="event"))
    with running(service):
        assert service.http is not None
        wait_for(service.http.started, what="the API to listen")
        publish_all(broker, messages)
        newest = dt.datetime.fromtimestamp(ten + 30 * 19, TZ)

        def grids() -> dict[str, object] | None:
            body = httpx.get(url + "/api/v1/grids?geometry=false", timeout=10).json()
            return body if body["event_time"] == newest.isoformat() else None

        body = wait_for(grids, what="the event clock at the newest fix")
        assert body["live_clock"] == "event"
        assert body["service_day_start"] == day.isoformat()
        end = (newest + dt.timedelta(seconds=1)).isoformat()  # the map's today(): to now
        report = httpx.get(
            url + "/api/v1/compliance",
            params={"start": body["service_day_start"], "end": end, "grid_id": "A"},
            timeout=30,
        ).json()
        assert report[0]["visits"] >= 1, report
