"""GET /devices/stream through a real serve (tests/api/conftest.py): a fix reaches the open
streams as an event of the devices that changed, as GET /devices shows them, and an event
of the grids whose state changed, as GET /grids shows them; a stream sees its token's
grids' devices and grids only (the supervisor's: grid C, so d2 and never d1, C and never
A or P)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time

import httpx

from api.tokens import add_token, revoke_token
from tests.api.conftest import Served
from tests.geofence.town import lonlat
from tests.mqtt_helpers import publish_all, wait_for


class Stream:
    """A stream read in a thread: its events' devices and grids, in arrival order."""

    def __init__(self, served: Served, token: str) -> None:
        self.devices: list[dict[str, object]] = []
        self.grids: list[dict[str, object]] = []
        self.opened = threading.Event()
        self.stop = False
        self.url = served.url + "/api/v1/devices/stream"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with httpx.stream("GET", self.url, headers=self.headers, timeout=30) as response:
            assert response.status_code == 200
            event = ""
            for line in response.iter_lines():
                self.opened.set()
                if line.startswith("event: "):
                    event = line[7:]
                if line.startswith("data: "):
                    {"positions": self.devices, "grids": self.grids}[event].extend(
                        json.loads(line[6:])
                    )
                if self.stop:
                    return


def test_a_fix_reaches_each_stream_of_its_scope(served: Served, broker):
    admin, supervisor = Stream(served, served.admin), Stream(served, served.supervisor)
    assert admin.opened.wait(10) and supervisor.opened.wait(10)
    time.sleep(0.3)  # the feed has taken the state as it is now (a poll or two)
    now = time.time()
    messages = []
    for device, x in (("d1", -90), ("d2", 110)):
        lon, lat = lonlat(x, 0)
        body = json.dumps({"ts": now, "lat": lat, "lon": lon}).encode()
        messages.append((f"gridpatrol/v1/ping/{device}", body))
    publish_all(broker, messages)
    wait_for(lambda: {"d1", "d2"} <= {d["device_id"] for d in admin.devices}, what="both")
    wait_for(lambda: supervisor.devices, what="the supervisor's event")
    time.sleep(0.5)
    assert {d["device_id"] for d in supervisor.devices} == {"d2"}
    listed = {d["device_id"]: d for d in served.get("/api/v1/devices", served.admin).json()}
    newest = {d["device_id"]: d for d in admin.devices}  # the last event of each device
    assert newest["d1"] == listed["d1"] and newest["d2"] == listed["d2"]
    assert newest["d2"]["lon"] == lonlat(110, 0)[0]
    # the grids visited (A by d1, C by d2) and their parent P: as GET /grids shows them now
    wait_for(lambda: {"A", "C", "P"} <= {g["id"] for g in admin.grids}, what="A, C and P")
    assert {g["id"] for g in supervisor.grids} == {"C"}
    fc = served.get("/api/v1/grids", served.admin, geometry="false").json()
    shown = {f["id"]: f["properties"] for f in fc["features"]}
    latest = {g["id"]: g for g in admin.grids}
    for grid_id in ("A", "C", "P"):
        expected = {k: shown[grid_id][k] for k in ("status", "last_visit", "overdue_since")}
        assert latest[grid_id] == {"id": grid_id, **expected}
    assert latest["C"]["status"] == "ok" and latest["C"]["last_visit"] is not None
    admin.stop = supervisor.stop = True


def test_the_position_streams_follow_the_alert_streams_token_rules(served: Served, monkeypatch):
    """At most --sse-max-streams-per-token per token (429 past it); a revoked token's stream
    ends within the tokens file's reload period."""
    assert served.service.http is not None
    context = served.service.http.context
    monkeypatch.setattr(
        context, "settings", dataclasses.replace(context.settings, sse_max_streams_per_token=2)
    )
    entry, token = add_token(served.tokens, "supervisor", ["C"], "wall")
    wait_for(lambda: served.get("/api/v1/devices", token).status_code == 200, what="the token")
    url, headers = served.url + "/api/v1/devices/stream", {"Authorization": f"Bearer {token}"}
    with contextlib.ExitStack() as stack:
        kept = []
        for _ in range(2):
            opened = stack.enter_context(httpx.stream("GET", url, headers=headers, timeout=30))
            lines = opened.iter_lines()
            kept.append(lines)
            assert opened.status_code == 200 and next(lines).startswith(":")
        with httpx.stream("GET", url, headers=headers, timeout=30) as refused:
            assert refused.status_code == 429
        revoke_token(served.tokens, entry.id)
        revoked_at = time.monotonic()
        for lines in kept:
            assert ": token revoked" in list(lines)  # the server ends the stream
        took = time.monotonic() - revoked_at
    assert took < 2 * context.settings.tokens_reload_s + 1.0, took
