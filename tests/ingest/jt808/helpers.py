"""A gateway on a free port for one test, a subscriber that collects what it publishes."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import paho.mqtt.client as paho

from gridpatrol.broker import Mosquitto
from ingest.jt808.config import Jt808Settings
from ingest.jt808.gateway import Gateway
from tests.mqtt_helpers import connect

SECRET = b"a test secret of 32 bytes, fixed"


@asynccontextmanager
async def gateway(
    broker_url: str, wait_connected: bool = True, **overrides: Any
) -> AsyncIterator[Gateway]:
    settings = Jt808Settings(listen="127.0.0.1:0", broker=broker_url, **overrides)
    running = Gateway(settings, SECRET)
    await running.start()
    if wait_connected:
        assert await asyncio.to_thread(running.publisher.connected.wait, 10)
    try:
        yield running
    finally:
        await running.stop()


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
