"""JT/T 808 terminals over real TCP, the gateway, a real Mosquitto and serve: every report
of an authenticated terminal of the registry stored with its time, position, speed and
heading, no report of an unauthenticated or unknown one; a broker restart loses nothing;
blind-area batches arrive late and turn a violation into compliance."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from geofence.config import GeofenceSettings
from gridpatrol.broker import Mosquitto
from gridpatrol.compose import IngestProcess
from gridpatrol.roles import ServeOptions
from ingest.config import IngestSettings
from ingest.jt808 import messages as m
from ingest.jt808.config import Jt808Settings
from ingest.jt808.gateway import GatewayThread
from ingest.jt808.terminal import Terminal
from patrol.derive import ReportGrids
from patrol.reports import run_report
from tests.geofence.town import lonlat, three_in_a_row
from tests.ingest.jt808.helpers import registry, signed_in
from tests.mqtt_helpers import running, wait_for
from tests.processes import Brokers

pytestmark = pytest.mark.broker
TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., IngestProcess]]:
    def make(broker: Mosquitto, **options: object) -> IngestProcess:
        settings = IngestSettings(
            broker=broker.url,
            client_id=f"jt-{uuid.uuid4().hex[:6]}",
            session_expiry_s=300,
            batch_age_ms=50,
        )
        return IngestProcess(ServeOptions(db=tmp_path / "gp.db", **options), settings)  # type: ignore[arg-type]

    yield make


@pytest.fixture
def gateways(brokers: Brokers, tmp_path: Path) -> Iterator[Callable[[Mosquitto], GatewayThread]]:
    """Starts a gateway in a thread, once connected to ``broker``, with a registry of the
    phones 13900001000 to 13900003999 in a DuckDB file of its own; each is stopped at
    teardown (before the test's own brokers: it depends on them)."""
    started: list[GatewayThread] = []

    def start(broker: Mosquitto) -> GatewayThread:
        phones = [str(n) for n in range(13900001000, 13900004000)]
        thread = GatewayThread(
            Jt808Settings(
                listen="127.0.0.1:0", broker=broker.url, client_id=f"gw-{uuid.uuid4().hex[:6]}"
            ),
            registry(tmp_path / f"jt808-{len(started)}.db", phones),
        )
        started.append(thread)
        thread.start()
        assert thread.gateway is not None and thread.gateway.publisher.connected.wait(30)
        return thread

    try:
        yield start
    finally:
        for thread in started:
            thread.stop()
            thread.registry.store.close()


def rows(service: IngestProcess, sql: str) -> list[tuple]:
    return service.store.cursor().execute(sql).fetchall()


def test_an_authenticated_terminals_reports_are_stored_and_no_other(broker, serve, gateways):
    service = serve(broker)
    gateway = gateways(broker)
    base = float(int(time.time()) - 600)
    with running(service):

        async def main(port: int) -> list[int]:
            codes: dict[str, str] = {}
            t2013 = await signed_in(port, "013900001001", codes)
            t2019 = await signed_in(port, "00000000013900001002", codes, 1)
            results = [
                await t2013.result(
                    m.LOCATION,
                    m.build_location(39.0601, 117.1602, base, speed=360, direction=90, alt_m=16),
                )
            ]
            batch = [
                m.build_location(-33.8688, 151.2093, base + i, speed=18, direction=359)
                for i in range(3)
            ]
            results.append(await t2019.result(m.BATCH, m.build_batch(batch)))
            # a known terminal that never authenticated, and a number in no registry
            anonymous = await Terminal("013900001003").connect("127.0.0.1", port)
            stranger = await Terminal("013700001003").connect("127.0.0.1", port)
            fix = m.build_location(39.0601, 117.1602, base + 5)
            results.append(await anonymous.result(m.LOCATION, fix))
            results.append((await stranger.registration())[0])
            results.append(await stranger.result(m.LOCATION, fix))
            for terminal in (t2013, t2019, anonymous, stranger):
                await terminal.close()
            return results

        assert gateway.gateway is not None
        assert asyncio.run(main(gateway.gateway.port)) == [
            m.OK,
            m.OK,
            m.FAILURE,
            m.NO_SUCH_TERMINAL,
            m.FAILURE,
        ]
        sql = (
            "SELECT device_id, epoch(ts), lat, lon, round(spd, 3), hdg, alt FROM pings "
            "WHERE device_id LIKE '1390000100%' OR device_id LIKE '137%' ORDER BY device_id, ts"
        )
        got = wait_for(lambda: len(rows(service, sql)) == 4 and rows(service, sql))
        time.sleep(0.5)  # a report published by mistake would be stored by now
        got = rows(service, sql)
        dropped = gateway.gateway.metrics.dropped
        assert dropped.labels("unauthenticated")._value.get() == 1
        assert dropped.labels("unknown_terminal")._value.get() == 2
    assert got == [
        ("13900001001", base, 39.0601, 117.1602, 10.0, 90.0, 16.0),
        ("13900001002", base, -33.8688, 151.2093, 0.5, 359.0, 0.0),
        ("13900001002", base + 1, -33.8688, 151.2093, 0.5, 359.0, 0.0),
        ("13900001002", base + 2, -33.8688, 151.2093, 0.5, 359.0, 0.0),
    ]


def test_a_broker_restart_in_the_middle_loses_nothing(serve, brokers, gateways):
    broker = brokers(persistence=True)
    service = serve(broker)
    gateway = gateways(broker)
    terminals, reports = 20, 60
    base = float(int(time.time()) - 3600)
    restarted = threading.Event()

    def restart() -> None:
        broker.stop()
        time.sleep(1.0)
        broker.start()
        restarted.set()

    async def terminal(port: int, k: int, sent: list[int]) -> None:
        phone = f"{13900002000 + k:012d}" if k % 2 else f"{13900002000 + k:020d}"
        t = await signed_in(port, phone, {}, None if k % 2 else 1, timeout_s=0.5, retries=12)
        for i in range(reports):
            body = m.build_location(39.06, 117.16 + k / 1e4, base + i, speed=50)
            assert await t.result(m.LOCATION, body) == m.OK
            sent[0] += 1
            await asyncio.sleep(0.02)
        await t.close()

    async def main(port: int) -> None:
        sent = [0]
        tasks = [asyncio.create_task(terminal(port, k, sent)) for k in range(terminals)]
        while sent[0] < terminals * reports // 3:
            await asyncio.sleep(0.01)
        restarting = asyncio.create_task(asyncio.to_thread(restart))
        await asyncio.gather(*tasks, restarting)

    with running(service):
        assert gateway.gateway is not None
        asyncio.run(main(gateway.gateway.port))
        assert restarted.is_set()
        sql = (
            "SELECT count(*), count(DISTINCT (device_id, ts)) FROM pings "
            "WHERE device_id LIKE '139000020%'"
        )
        total = terminals * reports
        wait_for(lambda: rows(service, sql)[0][0] >= total, timeout_s=60, what="every report")
        time.sleep(0.5)
        got = rows(service, sql)[0]
        dropped = gateway.gateway.metrics.dropped
        unanswered = sum(dropped.labels(r)._value.get() for r in ("broker_away", "puback_timeout"))
    assert got == (total, total)
    assert unanswered > 0  # the restart really left reports unanswered, and they came again


def window() -> dt.datetime:
    """08:00 in Shanghai on the latest day on which 09:00 has passed."""
    now = dt.datetime.now(TZ)
    day = now.date() if now.hour >= 9 else now.date() - dt.timedelta(days=1)
    return dt.datetime(day.year, day.month, day.day, 8, tzinfo=TZ)


def test_blind_area_batches_arrive_late_and_turn_a_violation_into_compliance(
    broker, serve, gateways, tmp_path
):
    """Grid A (interval 30 min), 08:00-09:00. Live reports in A at 08:00 and 08:55: one gap of
    55 min, overdue from 08:30 to 08:55 (1500 s). The blind-area batch, sent after them, holds
    08:20 and 08:40: gaps 20, 20, 15 and 5 min, no violation."""
    grids = three_in_a_row(tmp_path / "grids.geojson")
    service = serve(broker, grids=grids)
    gateway = gateways(broker)
    start = window()
    lon, lat = lonlat(-100, 0)

    def fix(minute: int) -> bytes:
        return m.build_location(lat, lon, start.timestamp() + minute * 60)

    def report() -> dict[str, object]:
        assert service.grid_set is not None
        rows_ = run_report(
            "compliance",
            ReportGrids(service.store, service.grid_set),
            service.store,
            start,
            start + dt.timedelta(hours=1),
            GeofenceSettings(),
            grid_id="A",
        )
        return rows_[0]

    codes: dict[str, str] = {}

    async def send(port: int, msg_id: int, bodies: list[bytes]) -> list[int]:
        t = await signed_in(port, "013900003001", codes)
        results = [await t.result(msg_id, body) for body in bodies]
        await t.close()
        return results

    count = "SELECT count(*) FROM pings WHERE device_id = '13900003001'"
    with running(service):
        assert gateway.gateway is not None
        port = gateway.gateway.port
        assert asyncio.run(send(port, m.LOCATION, [fix(0), fix(55)])) == [m.OK, m.OK]
        wait_for(lambda: rows(service, count)[0][0] == 2)
        before = report()
        blind = m.build_batch([fix(20), fix(40)], m.BATCH_BLIND_AREA)
        assert asyncio.run(send(port, m.BATCH, [blind])) == [m.OK]
        wait_for(lambda: rows(service, count)[0][0] == 4)
        after = report()
    iso = lambda minute: (start + dt.timedelta(minutes=minute)).isoformat()  # noqa: E731
    assert before == {
        "grid_id": "A",
        "visits": 2,
        "max_gap_s": 3300.0,
        "overdue_s": 1500.0,
        "compliance": round(1 - 1500 / 3600, 6),
        "violations": [[iso(30), iso(55)]],
    }
    assert after == {
        "grid_id": "A",
        "visits": 4,
        "max_gap_s": 1200.0,
        "overdue_s": 0.0,
        "compliance": 1.0,
        "violations": [],
    }


def test_each_alarm_bit_raises_its_alert_and_ends_it_once(broker, serve, gateways, tmp_path):
    """Terminal 13900003101 reports, a second apart, each mapped alarm bit set and then
    cleared: 0x0200 bodies written out byte by byte (alarm DWORD, status 2: positioned,
    39.0601 N 117.1602 E, no motion, the time, then item 0x31: satellites). Through the
    gateway, the broker and serve: one alert raised and one ended per bit, in that order, at
    the fix times; a repeated clear and a repeated set raise nothing. The fixes are stored
    with their alarm flags and satellites, a fix of 3 satellites flagged poor."""
    service = serve(broker, grids=three_in_a_row(tmp_path / "grids.geojson"))
    gateway = gateways(broker)
    base = float(int(time.time()) - 120)
    bits = [0, 1, 4, 5, 6, 7, 8, 28]
    reports = []  # (alarm DWORD, satellites) a second apart
    for bit in bits:
        reports += [(1 << bit, 9), (1 << bit, 9), (0, 9), (0, 3)]

    def body(alarm: int, satellites: int, ts: float) -> bytes:
        when = m.write_time(ts).hex()
        return bytes.fromhex(
            f"{alarm:08X} 00000002 02540284 06FBB908 0000 0000 0000 {when} 31 01 {satellites:02X}"
        )

    async def send(port: int) -> list[int]:
        t = await signed_in(port, "013900003101", {})
        results = [
            await t.result(m.LOCATION, body(alarm, sats, base + i))
            for i, (alarm, sats) in enumerate(reports)
        ]
        await t.close()
        return results

    sql = (
        f"SELECT kind, epoch(ts) - {base}, detail FROM alerts WHERE device_id = '13900003101' "
        "ORDER BY ts, kind"
    )
    with running(service):
        assert gateway.gateway is not None
        assert asyncio.run(send(gateway.gateway.port)) == [m.OK] * len(reports)
        wait_for(lambda: len(rows(service, sql)) >= 2 * len(bits), what="every alarm alert")
        time.sleep(0.5)  # an alert raised twice would be stored by now
        got = rows(service, sql)
        stored = rows(
            service,
            f"SELECT epoch(ts) - {base}, alarm, sat, flags FROM pings "
            "WHERE device_id = '13900003101' ORDER BY ts",
        )
    names = ["sos", "overspeed", "gnss_fault", "antenna_cut", "antenna_short"]
    names += ["power_low", "power_cut", "moved"]
    expected = []
    for k, (bit, name) in enumerate(zip(bits, names, strict=True)):
        expected += [
            (f"alarm_{name}", 4 * k, f"bit {bit}"),
            (f"alarm_{name}_ended", 4 * k + 2, f"bit {bit}"),
        ]
    assert got == expected
    assert stored == [(float(i), a, s, 1 if s < 4 else 0) for i, (a, s) in enumerate(reports)]
