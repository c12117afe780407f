"""PUBACKs handed from paho's thread to the loop in bunches; timeouts; the backlog bound."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

from ingest.jt808.config import Jt808Settings
from ingest.jt808.publisher import Publisher
from ingest.jt808.reasons import Drop


def make(loop: asyncio.AbstractEventLoop, **overrides: object) -> Publisher:
    publisher = Publisher(Jt808Settings(**overrides), loop)  # type: ignore[arg-type]
    mids = iter(range(1, 1000))
    publisher.client.publish = lambda *a, **k: SimpleNamespace(mid=next(mids))  # type: ignore[method-assign]
    publisher.connected.set()
    return publisher


def test_acks_from_another_thread_resolve_their_futures():
    async def main():
        publisher = make(asyncio.get_running_loop())
        futures = [publisher.publish("d1", b"{}") for _ in range(3)]
        acks = threading.Thread(
            target=lambda: [publisher._on_publish(None, None, mid, None, None) for mid in (3, 1, 2)]
        )
        acks.start()
        acks.join()
        assert await asyncio.gather(*futures) == [None, None, None]
        assert publisher.pending == 0

    asyncio.run(main())


def test_a_refused_publish_and_a_timeout():
    async def main():
        publisher = make(asyncio.get_running_loop(), puback_timeout_s=5.0)
        refused, late = publisher.publish("d1", b"{}"), publisher.publish("d1", b"{}")
        publisher._on_publish(None, None, 1, SimpleNamespace(is_failure=True), None)
        assert await refused is Drop.BROKER_REFUSED
        publisher.expire(asyncio.get_running_loop().time() + 6.0)
        assert await late is Drop.PUBACK_TIMEOUT
        assert publisher.pending == 1  # still counted until paho has its PUBACK

    asyncio.run(main())


def test_the_backlog_and_a_missing_broker_refuse_publishing():
    async def main():
        publisher = make(asyncio.get_running_loop(), max_pending_publishes=2)
        publisher.publish("d1", b"{}")
        publisher.publish("d1", b"{}")
        assert publisher.publish("d1", b"{}") is Drop.BROKER_AWAY
        publisher.connected.clear()
        publisher._on_publish(None, None, 1, None, None)
        await asyncio.sleep(0)
        assert publisher.publish("d1", b"{}") is Drop.BROKER_AWAY

    asyncio.run(main())
