"""Only known terminals (issue 23): the forged-registration probe over real TCP, to a real
Mosquitto, with the registry in a real DuckDB file."""

from __future__ import annotations

import asyncio
import time

import pytest

from ingest.jt808 import messages as m
from ingest.jt808.registry import Known
from ingest.jt808.terminal import Terminal
from tests.ingest.jt808.helpers import Collector, gateway, sign_in
from tests.mqtt_helpers import wait_for
from tracks.terminals import read_terminal_events, read_terminals, reset_terminal

pytestmark = pytest.mark.broker
TS = 1795134600.0  # 2026-11-20 08:30:00 GMT+8
VICTIM = "013900000811"  # a tracker of the registry
STRANGER = "013700000811"  # a number in no registry


def dropped(gw, reason: str) -> float:
    return gw.metrics.dropped.labels(reason)._value.get()


def test_the_forged_registration_probe(broker):
    collector = Collector(broker)
    body = m.build_location(39.0601, 117.1602, TS)

    async def main():
        async with gateway(broker.url) as gw:
            port = gw.port
            # an unknown number: refused 4 (no such terminal), its reports refused
            stranger = await Terminal(STRANGER).connect("127.0.0.1", port)
            assert await stranger.registration() == (m.NO_SUCH_TERMINAL, "")
            assert await stranger.authenticate("0123456789abcdef") == m.FAILURE
            assert await stranger.result(m.LOCATION, body) == m.FAILURE
            # the real tracker registers first and keeps its code
            tracker = await Terminal(VICTIM).connect("127.0.0.1", port)
            code = await sign_in(tracker)
            # the forger, on a connection of its own, asks for the same number's code
            forger = await Terminal(VICTIM).connect("127.0.0.1", port)
            assert await forger.registration() == (m.TERMINAL_REGISTERED, "")
            assert await forger.authenticate("0123456789abcdef") == m.FAILURE
            assert await forger.result(m.LOCATION, body) == m.FAILURE
            assert await forger.result(m.DEREGISTER, b"") == m.OK  # frees nothing
            assert await forger.registration() == (m.TERMINAL_REGISTERED, "")
            # the tracker's own reports go through
            assert await tracker.result(m.LOCATION, body) == m.OK
            for terminal in (stranger, tracker, forger):
                await terminal.close()
            assert dropped(gw, "unknown_terminal") == 2  # the registration and the report
            assert dropped(gw, "already_registered") == 2
            assert dropped(gw, "unauthenticated") == 1
            assert dropped(gw, "auth_failed") == 2
            assert gw.metrics.pings.labels("yes")._value.get() == 1
            assert gw.metrics.pings.labels("no")._value.get() == 0
            stored = read_terminals(gw.registry.store).filter(phone=VICTIM.lstrip("0"))
            assert stored["auth_code"].to_list() == [code]
            return code

    asyncio.run(main())
    wait_for(lambda: [p for p in collector.pings if p[0] == VICTIM.lstrip("0")] or None)
    time.sleep(0.3)  # anything else published would show by now
    collector.close()
    mine = [p for p in collector.pings if p[0] in (VICTIM.lstrip("0"), STRANGER.lstrip("0"))]
    fix = {"ts": TS, "lat": 39.0601, "lon": 117.1602, "spd": 0.0, "hdg": 0, "alt": 0, "alarm": 0}
    assert mine == [(VICTIM.lstrip("0"), fix)]


def test_terminal_id_and_plate_are_checked_against_the_registry(broker):
    async def main():
        async with gateway(broker.url, known=["13900000821", "13900000822"]) as gw:
            gw.registry.swap(
                {
                    phone: Known("SIM0821", f"津A0{phone[-2:]}", phone, None)
                    for phone in gw.registry.terminals
                }
            )
            one = await Terminal("013900000821").connect("127.0.0.1", gw.port)
            assert (await one.registration("OTHER"))[0] == m.NO_SUCH_TERMINAL
            assert (await one.registration("SIM0821", "津B99999"))[0] == m.NO_SUCH_VEHICLE
            assert (await one.registration("SIM0821", "津A021"))[0] == m.OK
            two = await Terminal("013900000822").connect("127.0.0.1", gw.port)
            assert (await two.registration("SIM0821", "津A021"))[0] == m.VEHICLE_REGISTERED
            assert (await two.registration("SIM0821", ""))[0] == m.OK  # no plate sent: any
            await one.close()
            await two.close()

    asyncio.run(main())


def test_an_operators_reset_lets_the_terminal_register_again(broker):
    async def main():
        async with gateway(broker.url, registry_reload_s=0.1) as gw:
            tracker = await Terminal("013900000831").connect("127.0.0.1", gw.port)
            old = await sign_in(tracker)
            assert (await tracker.registration())[0] == m.TERMINAL_REGISTERED
            # what `gridpatrol terminals reset` does (on a lake, beside the gateway)
            assert reset_terminal(gw.registry.store, "013900000831", "by test: new tracker")
            await asyncio.sleep(0.5)  # the gateway reads the registry again
            assert await tracker.authenticate(old) == m.FAILURE
            new = await sign_in(tracker)
            assert new != old
            assert (await tracker.registration())[0] == m.TERMINAL_REGISTERED
            await tracker.close()
            events = read_terminal_events(gw.registry.store, "13900000831")
            assert events["event"].to_list() == ["imported", "registered", "reset", "registered"]
            assert events["detail"][2] == "by test: new tracker"

    asyncio.run(main())
