"""A publish-only MQTT client: the stage role's alerts (it subscribes to nothing)."""

from __future__ import annotations

import logging

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from base.health import measure
from ingest.config import IngestSettings
from ingest.mqtt import BROKER_CONNECTED, NOT_CONNECTED, parse_broker_url

log = logging.getLogger("gridpatrol.mqtt")


class Publisher:
    """Connects in the background (and reconnects); ``publish`` queues in paho meanwhile."""

    def __init__(self, settings: IngestSettings) -> None:
        self.host, self.port = parse_broker_url(settings.broker)
        self.keepalive_s = settings.keepalive_s
        v5 = settings.protocol == "5"
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
        )
        if settings.username:
            self.client.username_pw_set(settings.username, settings.password or None)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)

    @measure(BROKER_CONNECTED)
    def broker_connected(self) -> bool:
        return self.client.is_connected()

    def problems(self) -> list[str]:
        return [] if self.client.is_connected() else [NOT_CONNECTED]

    def start(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=self.keepalive_s)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes) -> paho.MQTTMessageInfo:
        """Queue a message; the info tells when the broker has acknowledged it (PUBACK)."""
        return self.client.publish(topic, payload, qos=1)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.client._reset_sockets()  # as ingest.mqtt does: no socket left to the gc
