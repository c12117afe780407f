"""Commands down, through serve's API, a real Mosquitto, the gateway and simulated terminals
(gridpatrol/fleet808.py) over TCP: a locate answered within a second with the terminal's
fix, track / interval / text acted on, a silent terminal's timeout after the standard's
retransmission, an OwnTracks phone's reportLocation, a supervisor's 403 outside their
grids, and a roll call of a grid of 20 terminals."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from api.config import ApiSettings
from api.tokens import add_token
from geofence.config import GeofenceSettings
from gridpatrol.broker import Mosquitto, free_port
from gridpatrol.compose import IngestProcess
from gridpatrol.fleet808 import Fleet808
from gridpatrol.roles import ServeOptions
from ingest.config import IngestSettings
from ingest.jt808 import messages as m
from ingest.jt808.config import Jt808Settings
from ingest.jt808.gateway import GatewayThread
from tests.api.browser import chromium_page
from tests.geofence.town import lonlat, three_in_a_row
from tests.ingest.jt808.helpers import registry, signed_in
from tests.mqtt_helpers import connect, running, wait_for

pytestmark = pytest.mark.broker

ROLL = [str(13900005001 + k) for k in range(20)]  # simulated trackers in grid A
SILENT = "13900005099"  # a terminal that answers no command (grid B)
AWAY = "13900005098"  # a registered terminal never connected (grid B)
PHONE = "wang.phone"  # an OwnTracks phone (grid C)


@dataclass
class Served:
    url: str
    admin: str
    supervisor: str  # grid C only
    fleet: Fleet808
    fixes: dict[str, tuple[float, float, float]]  # device -> (ts, lat, lon) it measured
    gateway: GatewayThread
    broker: Mosquitto

    def post(self, path: str, token: str, body: object | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.post(self.url + path, json=body, headers=headers, timeout=30)

    def get(self, path: str, token: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.get(self.url + path, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def served(broker: Mosquitto, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("commands")
    grids = three_in_a_row(folder / "grids.geojson")
    devices = folder / "devices.csv"
    rows = [f"{d},tracker,Worker {d[-2:]},A" for d in ROLL]
    rows += [f"{SILENT},tracker,Silent,B", f"{AWAY},tracker,Away,B", f"{PHONE},phone,Wang,C"]
    devices.write_text("device_id,kind,worker,grid_id\n" + "\n".join(rows) + "\n")
    tokens = folder / "tokens.jsonl"
    _, admin = add_token(tokens, "admin", [], "ops")
    _, supervisor = add_token(tokens, "supervisor", ["C"], "Zhao")
    port = free_port()
    ingest = IngestSettings(
        broker=broker.url, client_id=f"cmd-{uuid.uuid4().hex[:6]}", batch_age_ms=50
    )
    options = ServeOptions(
        db=folder / "gp.db", grids=grids, devices=devices, http=f"127.0.0.1:{port}", tokens=tokens
    )
    service = IngestProcess(options, ingest, GeofenceSettings(), ApiSettings(command_timeout_s=5.0))
    # a silent terminal is sent a command 2 times: awaited 0.2 s, then 0.4 s
    settings = Jt808Settings(
        listen="127.0.0.1:0",
        broker=broker.url,
        client_id=f"gw-{uuid.uuid4().hex[:6]}",
        command_timeout_s=0.2,
        command_retries=1,
    )
    gateway = GatewayThread(settings, registry(folder / "jt808.db", [*ROLL, SILENT, AWAY]))
    gateway.start()
    assert gateway.gateway is not None and gateway.gateway.publisher.connected.wait(30)
    now = float(int(time.time()) - 60)
    fleet = Fleet808("127.0.0.1", gateway.gateway.port, sim_start=now - 5 * 600)
    fixes = {}
    for k, device in enumerate(ROLL):
        lon, lat = lonlat(-100 + k, 0)
        fixes[device] = (now, round(lat, 6), round(lon, 6))
        fleet.send(device, json.dumps({"ts": now, "lat": lat, "lon": lon}).encode())
    try:
        with running(service):
            assert service.http is not None and service.commands is not None
            wait_for(service.http.started, what="the API to listen")
            wait_for(service.commands.connected.is_set, what="the commands' client")
            wait_for(lambda: fleet.reported == len(ROLL), what="every tracker signed in")
            yield Served(
                f"http://127.0.0.1:{port}", admin, supervisor, fleet, fixes, gateway, broker
            )
    finally:
        fleet.stop()
        gateway.stop()
        gateway.registry.store.close()


def test_a_terminal_answers_a_locate_within_a_second_with_its_fix(served: Served):
    device = ROLL[3]
    got = served.post(f"/api/v1/devices/{device}/commands", served.admin, {"action": "locate"})
    assert got.status_code == 200, got.text
    answer = got.json()
    # from serve's publish to the terminal's answer back at serve (the HTTP round trip adds
    # the request's own work: the token, the registry, recording the command)
    sent, ended = (dt.datetime.fromisoformat(answer[k]) for k in ("sent_at", "ended_at"))
    assert (ended - sent).total_seconds() < 1.0
    ts, lat, lon = served.fixes[device]
    assert (answer["status"], answer["result"], answer["lat"], answer["lon"]) == (
        "answered",
        0,
        lat,
        lon,
    )
    assert dt.datetime.fromisoformat(answer["ts"]).timestamp() == ts
    assert answer["worker"] == "Worker 04" and answer["action"] == "locate"
    listed = served.get(f"/api/v1/devices/{device}/command-log", served.admin).json()
    assert [(c["command_id"], c["status"]) for c in listed] == [(answer["command_id"], "answered")]


def test_track_interval_and_text_reach_the_terminal(served: Served):
    device = ROLL[5]
    path = f"/api/v1/devices/{device}/commands"
    bodies = [
        {"action": "track", "interval_s": 5, "duration_s": 3600},
        {"action": "interval", "interval_s": 30},
        {"action": "text", "text": "请立即前往A网格 (go to grid A)"},
    ]
    for body in bodies:
        got = served.post(path, served.admin, body)
        assert got.status_code == 200, got.text
        assert (got.json()["status"], got.json()["result"]) == ("answered", 0)
    assert served.fleet.tracking[device] == (5, 3600)
    assert served.fleet.params[device] == {m.PARAM_DEFAULT_INTERVAL: 30, m.PARAM_SLEEP_INTERVAL: 30}
    assert served.fleet.texts[device] == ["请立即前往A网格 (go to grid A)"]
    bad = served.post(path, served.admin, {"action": "track", "interval_s": 5})
    assert bad.status_code == 422


def test_a_terminal_that_never_answers_gives_a_timeout_and_one_away_offline(served: Served):
    assert served.gateway.gateway is not None
    port = served.gateway.gateway.port
    loop = asyncio.new_event_loop()
    terminal = loop.run_until_complete(signed_in(port, "0" + SILENT, {}))
    keep = threading.Thread(target=loop.run_forever, daemon=True)  # it reads, never answers
    keep.start()
    try:
        path = f"/api/v1/devices/{SILENT}/commands"
        got = served.post(path, served.admin, {"action": "locate"}).json()
        away = served.post(f"/api/v1/devices/{AWAY}/commands", served.admin, {"action": "locate"})
    finally:
        asyncio.run_coroutine_threadsafe(terminal.close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        keep.join(5)
        loop.close()
    assert (got["status"], got["result"], got["detail"]) == (
        "timeout",
        None,
        "no answer to 2 sends",
    )
    assert (away.json()["status"], away.json()["lat"]) == ("offline", None)


def test_an_owntracks_phone_is_asked_for_its_location(served: Served):
    """The phone's app: on reportLocation, it publishes its location (not retained)."""
    phone = connect(served.broker)
    lon, lat = lonlat(100, 0)

    def on_message(client, userdata, message):
        assert json.loads(message.payload) == {"_type": "cmd", "action": "reportLocation"}
        now = int(time.time())
        body = {"_type": "location", "lat": lat, "lon": lon, "tst": now, "t": "r"}
        client.publish("owntracks/wang/phone", json.dumps(body), qos=1)

    phone.on_message = on_message
    phone.subscribe("owntracks/wang/phone/cmd", qos=1)
    time.sleep(0.3)  # subscribed
    try:
        got = served.post(
            f"/api/v1/devices/{PHONE}/commands", served.supervisor, {"action": "locate"}
        )
        text = served.post(
            f"/api/v1/devices/{PHONE}/commands", served.admin, {"action": "text", "text": "hi"}
        )
    finally:
        phone.loop_stop()
        phone.disconnect()
    assert got.status_code == 200, got.text
    assert (got.json()["status"], got.json()["lat"], got.json()["lon"]) == ("answered", lat, lon)
    assert text.status_code == 409


def test_a_supervisor_cannot_command_a_device_or_call_a_grid_outside_their_grids(served: Served):
    got = served.post(
        f"/api/v1/devices/{ROLL[0]}/commands", served.supervisor, {"action": "locate"}
    )
    assert got.status_code == 403
    assert got.json()["error"]["code"] == "forbidden"
    assert served.post("/api/v1/grids/A/rollcall", served.supervisor).status_code == 403
    assert served.post("/api/v1/grids/nope/rollcall", served.admin).status_code == 404


def test_a_roll_call_of_a_grid_of_20_terminals_lists_each_answer(served: Served):
    got = served.post("/api/v1/grids/A/rollcall", served.admin)
    assert got.status_code == 200, got.text
    call = got.json()
    assert (call["grid_id"], call["answered"]) == ("A", 20)
    assert [d["device_id"] for d in call["devices"]] == sorted(ROLL)
    for answer in call["devices"]:
        _, lat, lon = served.fixes[answer["device_id"]]
        assert (answer["status"], answer["lat"], answer["lon"]) == ("answered", lat, lon)


def test_a_roll_call_from_the_map_lists_each_answer(served: Served):
    """The grid panel's roll call button (点名) in a real headless Chromium: the 20 terminals
    of A answer, each listed with where it is."""
    with chromium_page() as (page, errors):
        page.add_init_script(f"sessionStorage.setItem('gridpatrol-token', '{served.admin}')")
        page.add_init_script("localStorage.setItem('gridpatrol-lang', 'en')")
        page.goto(served.url + "/")
        page.wait_for_function("() => grids.A && grids.B && grids.C")
        page.evaluate("() => pickGrid('A')")
        page.wait_for_selector("#rollcall")
        page.click("#rollcall")
        page.wait_for_function(
            "() => document.querySelectorAll('#rollcall-result li.answered').length === 20",
            timeout=15000,
        )
        assert page.inner_text("#rollcall-result .count") == "20 of 20 answered"
        first = page.inner_text(f"#rollcall-result li[data-device='{sorted(ROLL)[0]}']")
        _, lat, lon = served.fixes[sorted(ROLL)[0]]
        assert f"{lat:.5f}, {lon:.5f}" in first, first
    assert not errors, errors
