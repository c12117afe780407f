"""The simulated trackers over JT/T 808: ids, the plan routed through a real gateway, and the
blind-area upload after a dead zone."""

from __future__ import annotations

import contextlib
import json
import time

import pytest

from gridpatrol.fleet808 import (
    DEAD_ZONE_S,
    Fleet808,
    Router,
    jt808_devices,
    location_body,
    terminal_rows,
)
from gridpatrol.simulate import SimDevice
from ingest.jt808 import messages as m
from ingest.jt808.config import Jt808Settings
from ingest.jt808.gateway import GatewayThread
from tests.ingest.jt808.helpers import Collector, registry
from tests.mqtt_helpers import wait_for


def test_trackers_get_phone_ids_and_phones_keep_theirs():
    devices = [
        SimDevice("bike-01", "tracker", "G1"),
        SimDevice("wang.phone", "phone", "G2"),
        SimDevice("bike-03", "tracker", "G3"),
    ]
    assert jt808_devices(devices) == [
        SimDevice("13900000001", "tracker", "G1"),
        devices[1],
        SimDevice("13900000003", "tracker", "G3"),
    ]


def test_the_registry_rows_of_the_trackers():
    devices = jt808_devices(
        [SimDevice("bike-01", "tracker", "G1"), SimDevice("wang.phone", "phone", "G2")]
    )
    assert terminal_rows(devices) == [
        {"phone": "013900000001", "terminal_id": "SIM0001", "plate": "", "device_id": "13900000001"}
    ]


def test_a_fix_becomes_a_location_body():
    fix = {"ts": 1795134600.4, "lat": 39.06, "lon": 117.16, "spd": 2.5, "hdg": 359.6, "acc": 5}
    loc = m.parse_location(location_body(fix))
    assert isinstance(loc, m.Location)
    # 2.5 m/s is 90 km/h / 10 = 9.0 km/h: 90 in 0.1 km/h; heading rounds to 360, that is 0
    assert (loc.ts, loc.lat, loc.lon, loc.speed, loc.direction) == (
        1795134600,
        39.06,
        117.16,
        90,
        0,
    )


class Sink:
    """The MQTT side of the router: only phones would go here."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        self.sent.append(topic)


@pytest.mark.broker
def test_fixes_in_a_dead_zone_arrive_as_one_blind_area_batch(broker, tmp_path):
    sim_start = float(int(time.time()) - 86400)
    # tracker 2's dead zone is the third ten minutes of every four hours
    times = [
        sim_start + DEAD_ZONE_S * 2 - 10,
        sim_start + DEAD_ZONE_S * 2 + 5,
        sim_start + DEAD_ZONE_S * 2 + 10,
        sim_start + DEAD_ZONE_S * 3 + 1,
    ]
    with contextlib.ExitStack() as stop:  # each stopped in reverse, also on a failure
        collector = Collector(broker)
        stop.callback(collector.close)
        known = registry(tmp_path / "jt808.db", ["13900000002"], terminal_id="SIM0002")
        stop.callback(known.store.close)
        gateway = GatewayThread(
            Jt808Settings(listen="127.0.0.1:0", broker=broker.url, client_id="fleet-test"),
            known,
        )
        stop.callback(gateway.stop)
        port = gateway.start().port
        assert gateway.gateway is not None and gateway.gateway.publisher.connected.wait(30)
        fleet = Fleet808("127.0.0.1", port, sim_start)
        stop.callback(fleet.stop)
        router = Router(Sink(), fleet, {"13900000002"})
        for ts in times:
            router.publish(
                "gridpatrol/v1/ping/13900000002",
                json.dumps({"ts": ts, "lat": 39.06, "lon": 117.16}).encode(),
            )
        router.publish("owntracks/wang/phone", b"{}")
        mine = lambda: [p for d, p in collector.pings if d == "13900000002"]  # noqa: E731
        wait_for(lambda: len(mine()) == 3, timeout_s=30)
    single, batch, last = mine()
    assert single["ts"] == times[0] and last["ts"] == times[3]
    assert [p["ts"] for p in batch] == times[1:3]  # held in the dead zone, sent as one array
    assert router.mqtt.sent == ["owntracks/wang/phone"]  # type: ignore[attr-defined]
    assert fleet.reported == 4
