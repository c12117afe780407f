"""A gateway on a free port for one test, a subscriber that collects what it publishes."""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import polars as pl

from gridpatrol.broker import Mosquitto
from ingest.jt808 import messages as m
from ingest.jt808.config import Jt808Settings
from ingest.jt808.gateway import Gateway
from ingest.jt808.registry import Registry
from ingest.jt808.terminal import Terminal
from tests.mqtt_helpers import connect
from tracks.store import Store
from tracks.terminals import CSV_COLUMNS, store_terminals

#: The phone numbers (registry keys) the gateway tests' terminals use: 13900000101 to
#: 13900000999 are in the registry of :func:`gateway`, any other is unknown.
KNOWN = tuple(str(n) for n in range(13900000101, 13900001000))


def registry(path: Path, phones: Iterable[str] = KNOWN, **columns: str) -> Registry:
    """A registry in the DuckDB file ``path``: ``phones`` with the same terminal id and
    plate (``columns``, '' for any), each its own device."""
    frame = pl.DataFrame([{"phone": p, "device_id": p, **columns} for p in phones])
    frame = frame.with_columns(
        [pl.lit(columns.get(c, "")).alias(c) for c in ("terminal_id", "plate")]
    ).select(CSV_COLUMNS)
    store = Store(path)
    store_terminals(store, frame, "test")
    return Registry(store)


@asynccontextmanager
async def gateway(
    broker_url: str,
    wait_connected: bool = True,
    known: Iterable[str] = KNOWN,
    **overrides: Any,
) -> AsyncIterator[Gateway]:
    settings = Jt808Settings(listen="127.0.0.1:0", broker=broker_url, **overrides)
    with tempfile.TemporaryDirectory() as folder:
        held = registry(Path(folder) / "jt808.db", known)
        running = Gateway(settings, held)
        await running.start()
        if wait_connected:
            assert await asyncio.to_thread(running.publisher.connected.wait, 10)
        try:
            yield running
        finally:
            await running.stop()
            held.store.close()


async def sign_in(terminal: Terminal) -> str:
    """Register (first time) and authenticate, as a terminal does; returns the code."""
    code = await terminal.register()
    assert len(code) == 16, code
    assert await terminal.authenticate(code) == m.OK
    return code


class Collector:
    """Subscribes to every native ping topic; ``pings`` holds (device id, payload) pairs."""

    def __init__(self, broker: Mosquitto) -> None:
        self.pings: list[tuple[str, Any]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = connect(broker)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: self.subscribed.set()
        self.client.subscribe("gridpatrol/v1/ping/+", qos=1)
        assert self.subscribed.wait(10)

    def _on_message(self, client: Any, userdata: Any, message: paho.MQTTMessage) -> None:
        with self.lock:
            self.pings.append((message.topic.rsplit("/", 1)[1], json.loads(message.payload)))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def signed_in(
    port: int, phone: str, codes: dict[str, str], version: int | None = None, **options: Any
) -> Terminal:
    """A terminal connected and authenticated, registering only the first time (``codes``
    keeps each phone's code across connections, as a tracker keeps it)."""
    terminal = await Terminal(phone, version, **options).connect("127.0.0.1", port)
    if phone in codes:
        assert await terminal.authenticate(codes[phone]) == m.OK
    else:
        codes[phone] = await sign_in(terminal)
    return terminal
