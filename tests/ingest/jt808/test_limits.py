"""The gateway's limits against a hostile client: per address, per frame, per connection and
in total (real TCP; no broker needed, nothing is published)."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

from gridpatrol.broker import free_port
from ingest.jt808 import messages as m
from ingest.jt808.frames import encode_frame
from ingest.jt808.header import MAX_BODY, Header, build_message
from ingest.jt808.reasons import Drop
from tests.ingest.jt808.helpers import gateway

PHONE = "013900000901"


def dropped(gw, reason: str) -> float:
    return gw.metrics.dropped.labels(reason)._value.get()


def no_broker() -> str:
    return f"mqtt://127.0.0.1:{free_port()}"


async def closed(reader: asyncio.StreamReader, within_s: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), within_s) == b""
    except ConnectionError:  # reset, or a broken pipe seen by a write after the close
        return True
    except TimeoutError:
        return False


def parts(serial: int, count: int, total: int, size: int = MAX_BODY) -> bytes:
    """The first ``count`` of ``total`` subpackages of one batch: never complete."""
    return b"".join(
        encode_frame(
            build_message(
                Header(m.BATCH, PHONE, serial + i, None, 0, total, i + 1), bytes([i % 251]) * size
            )
        )
        for i in range(count)
    )


def test_connections_are_capped_per_address_as_well_as_in_total():
    async def main():
        async with gateway(no_broker(), wait_connected=False, max_connections_per_address=2) as gw:
            first = [await asyncio.open_connection("127.0.0.1", gw.port) for _ in range(2)]
            reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
            assert await closed(reader, 2)  # a third from 127.0.0.1: refused at once
            writer.close()
            assert dropped(gw, "address_limit") == 1
            # another address is not held back by 127.0.0.1's connections
            other = await asyncio.open_connection("127.0.0.1", gw.port, local_addr=("127.0.0.2", 0))
            await asyncio.sleep(0.1)
            assert len(gw.sessions) == 3 and gw.per_address == {"127.0.0.1": 2, "127.0.0.2": 1}
            first[0][1].close()  # one closes: 127.0.0.1 may connect again
            await asyncio.sleep(0.1)
            again = await asyncio.open_connection("127.0.0.1", gw.port)
            await asyncio.sleep(0.1)
            assert len(gw.sessions) == 3 and dropped(gw, "address_limit") == 1
            for _, w in (first[1], other, again):
                w.close()
            await asyncio.sleep(0.1)
            assert gw.per_address == {}

    asyncio.run(main())


def test_a_byte_at_a_time_outlives_neither_the_frame_deadline_nor_the_idle_timeout():
    async def main():
        async with gateway(
            no_broker(), wait_connected=False, idle_timeout_s=0.8, frame_timeout_s=0.4
        ) as gw:
            # one frame, one byte every 0.1 s, never finished: closed at the frame deadline
            slow, slow_writer = await asyncio.open_connection("127.0.0.1", gw.port)
            # bytes that never start a frame, or end short ones, every 0.1 s: the idle timeout
            junk, junk_writer = await asyncio.open_connection("127.0.0.1", gw.port)
            slow_writer.write(b"\x7e")
            for _ in range(30):  # 3 s: well past both deadlines
                slow_writer.write(b"\x01")
                junk_writer.write(b"\x02\x7e")  # garbage, then short frames, never half a frame
                await asyncio.sleep(0.1)
            assert gw.sessions == set()  # closed while the bytes still came
            assert dropped(gw, "frame_timeout") == 1
            assert dropped(gw, "idle_timeout") == 1
            assert await closed(slow, 1) and await closed(junk, 1)
            slow_writer.close()
            junk_writer.close()

    asyncio.run(main())


def test_incomplete_subpackages_are_bounded_in_total_and_released_on_close():
    async def main():
        async with gateway(
            no_broker(),
            wait_connected=False,
            max_reassembly_bytes=8 * MAX_BODY,
            max_reassembly_total_bytes=12 * MAX_BODY,
        ) as gw:
            a = await asyncio.open_connection("127.0.0.1", gw.port)
            b = await asyncio.open_connection("127.0.0.1", gw.port)
            a[1].write(parts(100, 8, 10))  # a: 8 parts, its own limit
            await asyncio.sleep(0.2)
            assert gw.reassembly_budget.used == 8 * MAX_BODY
            b[1].write(parts(200, 8, 10))  # b: its 5th part is over the total, under its own
            await asyncio.sleep(0.2)
            # the message dropped whole at part 5; parts 6 to 8 start it again
            assert dropped(gw, "subpackage_limit") == 1
            assert gw.reassembly_budget.used == 11 * MAX_BODY
            a[1].close()
            await asyncio.sleep(0.2)
            assert gw.reassembly_budget.used == 3 * MAX_BODY  # a's parts left with it
            c = await asyncio.open_connection("127.0.0.1", gw.port)
            c[1].write(parts(300, 8, 10))  # the bytes a released are c's to use
            await asyncio.sleep(0.2)
            assert gw.reassembly_budget.used == 11 * MAX_BODY
            b[1].close()
            c[1].close()
            await asyncio.sleep(0.2)
            assert gw.reassembly_budget.used == 0

    asyncio.run(main())


def test_memory_per_connection_is_bounded_measured_with_tracemalloc():
    """200 connections, each holding what its limits allow: a frame just short of
    max_frame_bytes and four incomplete messages of 32 parts (128 KiB of parts). The Python
    heap the gateway grows by, per connection, is within those limits plus a fixed cost."""
    n = 200
    frame_bytes = 4096
    held = 4 * 32 * MAX_BODY  # 130,944 bytes: max_reassembly_bytes (131,072) allows it

    async def main() -> tuple[int, int]:
        async with gateway(no_broker(), wait_connected=False) as gw:
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            writers = []
            for k in range(n):
                _, writer = await asyncio.open_connection("127.0.0.1", gw.port)
                for j in range(4):
                    writer.write(parts(1000 * j, 32, 33))
                writer.write(b"\x7e" + b"\x11" * (frame_bytes - 8))  # a frame left open
                writers.append(writer)
                if k % 20 == 19:
                    await asyncio.sleep(0.05)
            for _ in range(100):
                await asyncio.sleep(0.05)
                if gw.reassembly_budget.used == n * held:
                    break
            assert gw.reassembly_budget.used == n * held
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
            tracemalloc.stop()
            for writer in writers:
                writer.close()
            return grown, n

    grown, count = asyncio.run(main())
    per_connection = grown / count
    # the test's own client side (its writers, buffers) is in the same heap: an upper bound
    assert per_connection < held + 4096 + 64 * 1024, per_connection
    print(f"heap per connection: {per_connection:,.0f} bytes (of which {held:,} held parts)")


def test_unacknowledged_publishes_are_bounded_in_bytes():
    async def main():
        async with gateway(no_broker(), wait_connected=False, max_pending_bytes=1000) as gw:
            publisher = gw.publisher
            publisher.connected.set()  # paho queues what it cannot send yet
            first = publisher.publish("d1", b"x" * 600)
            assert not isinstance(first, Drop) and publisher.pending_bytes == 600
            assert publisher.publish("d1", b"x" * 600) is Drop.BROKER_AWAY  # over 1000 bytes
            assert not isinstance(publisher.publish("d1", b"x" * 400), Drop)
            mids = list(publisher._pending)
            for mid in mids:  # the PUBACKs, as paho's thread hands them over
                publisher._acks.append((mid, False))
            publisher._drain()
            assert publisher.pending_bytes == 0 and await first is None
            publisher.connected.clear()

    asyncio.run(main())
