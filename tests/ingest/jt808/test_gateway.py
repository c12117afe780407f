"""The gateway over real TCP, publishing to a real Mosquitto: answers, pings, every bad input."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

import pytest

from gridpatrol.broker import free_port
from ingest.jt808 import messages as m
from ingest.jt808.frames import encode_frame
from ingest.jt808.header import Header, build_message
from ingest.jt808.terminal import NoAnswer, Terminal
from tests.ingest.jt808.helpers import Collector, gateway, sign_in
from tests.mqtt_helpers import wait_for

pytestmark = pytest.mark.broker
TS = 1795134600.0  # 2026-11-20 08:30:00 GMT+8


def dropped(gw, reason: str) -> float:
    return gw.metrics.dropped.labels(reason)._value.get()


def test_register_authenticate_heartbeat_report_2013_and_2019(broker):
    collector = Collector(broker)

    async def main():
        async with gateway(broker.url) as gw:
            old = await Terminal("013900000101").connect("127.0.0.1", gw.port)
            new = await Terminal("00000000013900000102", version=1).connect("127.0.0.1", gw.port)
            for terminal in (old, new):
                await sign_in(terminal)
                assert await terminal.result(m.HEARTBEAT, b"") == m.OK
                body = m.build_location(39.0601, 117.1602, TS, speed=360, direction=90, alt_m=16)
                assert await terminal.result(m.LOCATION, body) == m.OK
                await terminal.close()
            assert gw.metrics.pings.labels("yes")._value.get() == 2

    asyncio.run(main())
    expected = {"ts": TS, "lat": 39.0601, "lon": 117.1602, "spd": 10.0, "hdg": 90, "alt": 16}
    expected["alarm"] = 0
    mine = lambda: [p for p in collector.pings if p[0].startswith("139000001")]  # noqa: E731
    wait_for(lambda: len(mine()) >= 2)
    time.sleep(0.2)  # a second copy would show by now
    collector.close()
    assert sorted(mine()) == [("13900000101", expected), ("13900000102", expected)]


def test_a_batch_in_three_subpackages_is_one_array(broker):
    collector = Collector(broker)

    async def main():
        async with gateway(broker.url) as gw:
            terminal = await Terminal("013900000201").connect("127.0.0.1", gw.port)
            await sign_in(terminal)
            items = [m.build_location(39.06, 117.16 + i / 1e4, TS + i) for i in range(5)]
            body = m.build_batch(items, m.BATCH_BLIND_AREA)
            assert await terminal.result(m.BATCH, body, part_size=60) == m.OK
            await terminal.close()

    asyncio.run(main())
    got = wait_for(lambda: [p for p in collector.pings if p[0] == "13900000201"] or None)
    collector.close()
    assert len(got) == 1
    assert [p["ts"] for p in got[0][1]] == [TS + i for i in range(5)]


def test_unsupported_unpositioned_and_wrong_codes_are_answered_and_counted(broker):
    async def main():
        async with gateway(broker.url) as gw:
            terminal = await Terminal("013900000301").connect("127.0.0.1", gw.port)
            assert await terminal.result(0x0900, b"\x01hello") == m.UNSUPPORTED
            assert await terminal.authenticate("not-the-code") == m.FAILURE
            assert await terminal.authenticate("\xe9t\xe9") == m.FAILURE  # non-ASCII: no crash
            # positioned bit clear and a latitude of 4,000 degrees: no place to store it at
            body = m.build_location(4000.0, 117.16, TS, status=0)
            assert await terminal.result(m.LOCATION, body) == m.OK
            assert await terminal.result(m.LOCATION, body[:20]) == m.MESSAGE_ERROR
            assert await terminal.result(m.DEREGISTER, b"") == m.OK
            await terminal.close()
            assert dropped(gw, "unsupported") == 1
            assert dropped(gw, "auth_failed") == 2
            assert dropped(gw, "not_positioned") == 1
            assert dropped(gw, "bad_body") == 1
            assert gw.metrics.pings.labels("no")._value.get() == 0

    asyncio.run(main())


def test_reports_before_authentication_are_refused_unless_allowed(broker):
    async def main():
        async with gateway(broker.url) as gw:
            terminal = await Terminal("013900000401").connect("127.0.0.1", gw.port)
            body = m.build_location(39.06, 117.16, TS)
            assert await terminal.result(m.LOCATION, body) == m.FAILURE
            await sign_in(terminal)
            assert await terminal.result(m.LOCATION, body) == m.OK
            await terminal.close()
            assert dropped(gw, "unauthenticated") == 1
            assert gw.metrics.pings.labels("yes")._value.get() == 1
        async with gateway(broker.url, allow_unauthenticated=True) as gw:
            known = await Terminal("013900000402").connect("127.0.0.1", gw.port)
            assert await known.result(m.LOCATION, body) == m.OK  # unsafe, but known
            unknown = await Terminal("013800000402").connect("127.0.0.1", gw.port)
            assert await unknown.result(m.LOCATION, body) == m.FAILURE  # never published
            await known.close()
            await unknown.close()
            assert gw.metrics.pings.labels("no")._value.get() == 1
            assert dropped(gw, "unknown_terminal") == 1

    asyncio.run(main())


def test_without_a_broker_reports_stay_unanswered():
    async def main():
        async with gateway(f"mqtt://127.0.0.1:{free_port()}", wait_connected=False) as gw:
            terminal = Terminal("013900000501", timeout_s=0.2, retries=1)
            await terminal.connect("127.0.0.1", gw.port)
            await sign_in(terminal)  # the registry needs no broker
            assert await terminal.result(m.HEARTBEAT, b"") == m.OK  # the link itself works
            with pytest.raises(NoAnswer):
                await terminal.result(m.LOCATION, m.build_location(39.06, 117.16, TS))
            await terminal.close()
            assert dropped(gw, "broker_away") == 2  # the report and its retransmission

    asyncio.run(main())


def test_bad_frames_idle_connections_floods_and_lost_subpackages(broker):
    async def main():
        async with gateway(
            broker.url,
            idle_timeout_s=0.4,
            max_connections=3,
            subpackage_timeout_s=0.4,
            max_frame_bytes=256,
        ) as gw:
            terminal = await Terminal("013900000601").connect("127.0.0.1", gw.port)
            raw = terminal._writer
            heartbeat = build_message(Header(m.HEARTBEAT, "013900000601", 99), b"")
            good = encode_frame(heartbeat)
            raw.write(b"garbage" + good[:-2] + b"\x00\x7e")  # garbage, then a wrong check code
            raw.write(good[:-2] + b"\x7d\x7e")  # an escape at the frame's end
            raw.write(b"\x7e" + b"\x11" * 600 + b"\x7e")  # over max_frame_bytes
            bad_length = build_message(Header(m.HEARTBEAT, "013900000601", 98), b"")
            raw.write(encode_frame(bad_length[:3] + b"\x05" + bad_length[4:]))
            part = build_message(Header(m.BATCH, "013900000601", 97, None, 0, 2, 1), b"\x00")
            raw.write(encode_frame(part))  # part 1 of 2; part 2 never comes
            assert await terminal.result(m.HEARTBEAT, b"") == m.OK  # the connection still works
            others = [await asyncio.open_connection("127.0.0.1", gw.port) for _ in range(4)]
            await asyncio.sleep(0.1)
            assert len(gw.sessions) == 3
            assert dropped(gw, "connection_limit") == 2
            await asyncio.sleep(1.5)  # silence: every connection closes, the part expires
            assert len(gw.sessions) == 0
            assert dropped(gw, "idle_timeout") == 3
            for reason in (
                "garbage",
                "bad_check",
                "bad_escape",
                "frame_too_large",
                "length_mismatch",
                "subpackage_expired",
            ):
                assert dropped(gw, reason) == 1, reason
            for _, writer in others:
                writer.close()
            await terminal.close()

    asyncio.run(main())


def test_metrics_and_health_over_http(broker):
    port = free_port()

    async def main():
        async with gateway(broker.url, http=f"127.0.0.1:{port}") as gw:
            terminal = await Terminal("013900000701").connect("127.0.0.1", gw.port)
            await terminal.result(0x0900, b"")
            url = f"http://127.0.0.1:{port}"
            health = await asyncio.to_thread(lambda: urllib.request.urlopen(url + "/health").read())
            text = await asyncio.to_thread(lambda: urllib.request.urlopen(url + "/metrics").read())
            await terminal.close()
            return json.loads(health), text.decode()

    health, text = asyncio.run(main())
    assert health == {"broker": True, "connections": 1, "pending_publishes": 0}
    assert 'gridpatrol_jt808_dropped_total{reason="unsupported"} 1.0' in text
    assert 'gridpatrol_jt808_messages_total{message="other"} 1.0' in text
    assert "gridpatrol_jt808_connections 1.0" in text


def test_a_refused_connection_is_closed_at_once(broker):
    async def main():
        async with gateway(broker.url, max_connections=0) as gw:
            reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
            assert await asyncio.wait_for(reader.read(), 2) == b""
            writer.close()
            assert dropped(gw, "connection_limit") == 1

    asyncio.run(main())
