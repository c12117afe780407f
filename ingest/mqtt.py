"""The MQTT side of ingest: a paho v5 client with a persistent session and manual acks."""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from base.errors import ConfigError
from base.health import Reading, measure
from base.topics import PING_FILTERS
from ingest.config import IngestSettings, max_packet_bytes
from ingest.connection import BufferedClient
from ingest.message import Message

log = logging.getLogger("gridpatrol.mqtt")


#: Shown in /health, and a problem there, while a client is not connected.
BROKER_CONNECTED = Reading("detail", "connected to the broker now", key="broker_connected")
NOT_CONNECTED = "not connected to the broker"
MQTT_CONNECTS = Reading(
    "counter", "connections to the broker (1 while never reconnected)", "gridpatrol_mqtt_connects"
)


def parse_broker_url(url: str) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "mqtt" or not parsed.hostname:
        raise ConfigError(f"broker URL must look like mqtt://HOST:PORT, got {url!r}")
    try:
        port = parsed.port or 1883
    except ValueError as exc:
        raise ConfigError(f"broker URL {url!r}: bad port") from exc
    return parsed.hostname, port


def subscription_topics(settings: IngestSettings) -> list[str]:
    if settings.share_group:
        return [f"$share/{settings.share_group}/{t}" for t in PING_FILTERS]
    return list(PING_FILTERS)


class MqttIngest:
    """Receives pings and hands each message to ``deliver``; acks only when told to."""

    def __init__(
        self,
        settings: IngestSettings,
        deliver: Callable[[Message], None],
        may_read: Callable[[], bool] | None = None,
    ) -> None:
        self.settings = settings
        self.host, self.port = parse_broker_url(settings.broker)
        self._deliver = deliver
        self.generation = 0  # +1 at every connect and every disconnect
        self._generation_lock = threading.Lock()
        self.connected = threading.Event()
        self.subscribed_at = 0.0  # monotonic time of the last SUBACK
        self.connects = 0  # successful connections, the first one included
        self.connection_losses: dict[str, int] = {}  # reason -> count
        self.last_connect_error = ""
        if settings.protocol not in ("5", "3.1.1"):
            raise ConfigError(f"MQTT protocol must be 5 or 3.1.1, got {settings.protocol!r}")
        self.v5 = settings.protocol == "5"
        client = BufferedClient(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=paho.MQTTv5 if self.v5 else paho.MQTTv311,
            clean_session=None if self.v5 else False,
            manual_ack=True,
        )
        client.may_read = may_read
        if settings.username:
            client.username_pw_set(settings.username, settings.password or None)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self.client = client

    @measure(MQTT_CONNECTS)
    def connections(self) -> int:
        return self.connects

    @measure(BROKER_CONNECTED)
    def broker_connected(self) -> bool:
        return self.connected.is_set()

    def problems(self) -> list[str]:
        return [] if self.connected.is_set() else [NOT_CONNECTED]

    def start(self) -> None:
        if self.v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.settings.session_expiry_s
            props.ReceiveMaximum = self.settings.receive_maximum
            # the broker drops a larger message rather than send it (ingest/config.py)
            props.MaximumPacketSize = max_packet_bytes(self.settings.max_payload_bytes)
            self.client.connect_async(
                self.host,
                self.port,
                keepalive=self.settings.keepalive_s,
                clean_start=False,
                properties=props,
            )
        else:  # MQTT 3.1.1: a persistent session, no negotiated receive window
            self.client.connect_async(self.host, self.port, keepalive=self.settings.keepalive_s)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        # paho keeps its wake-up socket pair open until the client is finalised, which a gc
        # pass may do after finalising the sockets (they then warn): close them now
        self.client._reset_sockets()

    def ack(self, messages: list[Message]) -> None:
        """Acknowledge committed messages that came on the current connection.

        Messages from an earlier connection are redelivered by the broker and then stored
        as duplicates; acking them by packet id could ack another message. The generation
        moves on at the disconnect, before paho reconnects (and clears its queue of
        packets to send), and the lock keeps an ack from slipping in between.
        """
        with self._generation_lock:
            generation = self.generation
            for m in messages:
                if m.qos and m.generation == generation:
                    self.client.ack(m.mid, m.qos)

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> paho.MQTTMessageInfo:
        """Queue a message; the info tells when the broker has acknowledged it."""
        return self.client.publish(topic, payload, qos=qos)

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            self.last_connect_error = str(reason)
            log.error("broker %s:%d refused the connection: %s", self.host, self.port, reason)
            return
        with self._generation_lock:
            self.generation += 1
        self.connects += 1
        self.last_connect_error = ""
        log.info(
            "connected to %s:%d (MQTT %s, session present: %s)",
            self.host,
            self.port,
            self.settings.protocol,
            flags.session_present,
        )
        topics = subscription_topics(self.settings)
        if self.v5:
            client.subscribe([(t, SubscribeOptions(qos=1)) for t in topics])
        else:
            client.subscribe([(t, 1) for t in topics])

    def _on_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, reasons: list[Any], props: Any
    ) -> None:
        """Ready only now: a message published before the broker holds the subscription
        of a new session is not delivered to it."""
        answers = list(zip(subscription_topics(self.settings), reasons, strict=False))
        refused = [f"{t} ({r})" for t, r in answers if r.is_failure]
        if refused:
            log.error("broker refused the subscription to %s", ", ".join(refused))
        accepted = [t for t, r in answers if not r.is_failure]
        if accepted:
            log.info("subscribed to %s", ", ".join(accepted))
        self.subscribed_at = time.monotonic()
        self.connected.set()

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self.connected.clear()
        with self._generation_lock:
            self.generation += 1  # acks of this connection's messages are void from now
        if reason.is_failure:
            key = str(reason)
            self.connection_losses[key] = self.connection_losses.get(key, 0) + 1
            log.warning("disconnected from broker (%s); reconnecting with backoff", reason)

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        self._deliver(
            Message(msg.topic, bytes(msg.payload), time.time(), msg.mid, msg.qos, self.generation)
        )
