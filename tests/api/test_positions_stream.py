"""GET /devices/stream through a real serve (tests/api/conftest.py): a fix reaches the open
streams as an event of the devices that changed, as GET /devices shows them; a stream sees
its token's grids' devices only (the supervisor's: grid C, so d2 and never d1)."""

from __future__ import annotations

import json
import threading
import time

import httpx

from tests.api.conftest import Served
from tests.geofence.town import lonlat
from tests.mqtt_helpers import publish_all, wait_for


class Stream:
    """A stream read in a thread: its events' devices, in arrival order."""

    def __init__(self, served: Served, token: str) -> None:
        self.devices: list[dict[str, object]] = []
        self.opened = threading.Event()
        self.stop = False
        self.url = served.url + "/api/v1/devices/stream"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with httpx.stream("GET", self.url, headers=self.headers, timeout=30) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                self.opened.set()
                if line.startswith("data: "):
                    self.devices += json.loads(line[6:])
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
    admin.stop = supervisor.stop = True
