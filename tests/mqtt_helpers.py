"""Test helpers: publish through the real broker, run serve in a thread, wait for rows."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from gridpatrol.broker import Mosquitto

_ids = itertools.count()


def connect(broker: Mosquitto, client_id: str | None = None, max_inflight: int = 20) -> paho.Client:
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id or f"test-pub-{next(_ids)}",
        protocol=paho.MQTTv5,
    )
    client.max_inflight_messages_set(max_inflight)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client


def subscribe(client: paho.Client, topic: str, qos: int = 1, timeout_s: float = 30.0) -> None:
    """Subscribe and wait for the broker's SUBACK: from then on every message published to
    ``topic`` reaches ``client`` (a fixed sleep only hopes so, on a busy machine)."""
    acked: set[int] = set()
    client.on_subscribe = lambda c, userdata, mid, reasons, properties: acked.add(mid)
    result, mid = client.subscribe(topic, qos=qos)
    assert result == paho.MQTT_ERR_SUCCESS, result
    wait_for(lambda: mid in acked, timeout_s, what=f"the SUBACK of {topic}")


def publish_all(
    broker: Mosquitto, messages: list[tuple[str, bytes]], qos: int = 1, *, max_inflight: int = 20
) -> None:
    """Publish and wait for every PUBACK (by chunks: paho's packet ids wrap at 65,535)."""
    client = connect(broker, max_inflight=max_inflight)
    try:
        for lo in range(0, len(messages), 20_000):
            infos = [client.publish(t, p, qos=qos) for t, p in messages[lo : lo + 20_000]]
            for info in infos:
                info.wait_for_publish(120)
                assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def wait_for(predicate: Callable[[], Any], timeout_s: float = 15.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what or predicate}")


@contextmanager
def running(service: Any) -> Iterator[Any]:
    """Run an IngestProcess's loop in a thread; stop it (flush, commit, ack) on exit."""
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        assert service.mqtt.connected.wait(30), "serve did not connect to the broker"
        yield service
    finally:
        service.stop()
        thread.join(30)
        assert not thread.is_alive(), "serve did not stop"
