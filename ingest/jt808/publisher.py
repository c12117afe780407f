"""Publishing from asyncio through paho, with each PUBACK handed back as a future.

paho's network loop runs in its own thread; ``on_publish`` fires there when the broker
acknowledges a QoS 1 message. It only appends the message id to a list and, when the list
was empty, wakes the asyncio loop (``call_soon_threadsafe``) to drain it: never blocks. A
publish and the registration of its future happen in one step on the asyncio thread, so an
acknowledgement is never drained before its future exists.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from base.topics import COMMAND_FILTER, native_topic, reply_topic
from ingest.jt808.config import Jt808Settings
from ingest.jt808.reasons import Drop
from ingest.mqtt import parse_broker_url

log = logging.getLogger("gridpatrol.jt808")

# paho's own window of QoS 1 messages on the wire; Mosquitto's is set to 10,000 too
# (gridpatrol/broker.py), and 1,000 reports/s with a PUBACK round trip of a few ms needs ~10.
MAX_INFLIGHT = 10000


class Publisher:
    """One paho client for the whole gateway; :meth:`publish` returns a future per message."""

    def __init__(self, settings: Jt808Settings, loop: asyncio.AbstractEventLoop) -> None:
        self.host, self.port = parse_broker_url(settings.broker)
        self.settings = settings
        self.loop = loop
        self.connected = threading.Event()
        self._pending: dict[int, tuple[asyncio.Future[Drop | None], float, int]] = {}
        self.pending_bytes = 0  # the payloads of _pending: paho holds each until its PUBACK
        self._acks: list[tuple[int, bool]] = []  # from paho's thread, drained on the loop
        self._lock = threading.Lock()  # held for an append or a swap, never across paho calls
        v5 = settings.protocol == "5"
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
        )
        client.max_inflight_messages_set(MAX_INFLIGHT)
        client.max_queued_messages_set(0)
        if settings.username:
            client.username_pw_set(settings.username, settings.password or None)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        #: serve's commands (topic, payload), handed to the loop: never run on paho's thread
        self.on_command: Callable[[str, bytes], None] | None = None
        client.reconnect_delay_set(1, 5)
        self.client = client

    def start(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self.connected.clear()  # a disconnect we asked for is no news
        self.client.disconnect()
        self.client.loop_stop()
        # paho keeps its wake-up socket pair open until the client is finalised, which a gc
        # pass may do after finalising the sockets (they then warn); close them now
        self.client._reset_sockets()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def publish(self, device_id: str, payload: bytes) -> asyncio.Future[Drop | None] | Drop:
        """A future that becomes None at the PUBACK (or the reason there was none in time, or
        the broker's refusal), or the reason nothing was published. Whenever it is not None
        the caller answers nothing, and the terminal retransmits."""
        if (
            not self.connected.is_set()
            or len(self._pending) >= self.settings.max_pending_publishes
            or self.pending_bytes + len(payload) > self.settings.max_pending_bytes
        ):
            return Drop.BROKER_AWAY
        info = self.client.publish(native_topic(device_id), payload, qos=1)
        future: asyncio.Future[Drop | None] = self.loop.create_future()
        self._pending[info.mid] = (future, self.loop.time(), len(payload))
        self.pending_bytes += len(payload)
        return future

    def reply(self, device_id: str, payload: bytes) -> None:
        """A command's outcome to serve, QoS 1 (paho queues it while the broker is away)."""
        self.client.publish(reply_topic(device_id), payload, qos=1)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        if self.on_command is not None:
            self.loop.call_soon_threadsafe(self.on_command, message.topic, message.payload)

    def expire(self, now: float) -> None:
        """Give up waiting for PUBACKs older than the timeout (called every few seconds).

        Their message ids stay pending until paho has the PUBACK (it resends after a
        reconnect), so the backlog stays bounded by max_pending_publishes and
        max_pending_bytes."""
        oldest = now - self.settings.puback_timeout_s
        for future, sent_at, _ in self._pending.values():  # in publish order
            if sent_at > oldest:
                break
            if not future.done():
                future.set_result(Drop.PUBACK_TIMEOUT)

    def _drain(self) -> None:
        with self._lock:
            acks, self._acks = self._acks, []
        for mid, refused in acks:
            entry = self._pending.pop(mid, None)
            if entry is None:
                continue
            self.pending_bytes -= entry[2]
            if not entry[0].done():
                entry[0].set_result(Drop.BROKER_REFUSED if refused else None)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        # PUBACKs are handed over in bunches: one loop wake-up for all that came meanwhile
        with self._lock:
            self._acks.append((mid, bool(getattr(reason, "is_failure", False))))
            if len(self._acks) > 1:
                return  # a drain is already on its way
        self.loop.call_soon_threadsafe(self._drain)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.error("broker %s:%d refused the gateway: %s", self.host, self.port, reason)
            return
        log.info("connected to the broker %s:%d", self.host, self.port)
        client.subscribe(COMMAND_FILTER, qos=1)
        self.connected.set()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if self.connected.is_set():
            log.warning(
                "lost the broker %s:%d (%s); reports stay unanswered", self.host, self.port, reason
            )
        self.connected.clear()
