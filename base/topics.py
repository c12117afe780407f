"""The MQTT topics gridpatrol reads and writes, spelled once: a public contract (docs/mqtt.md)."""

from __future__ import annotations

import re

#: A device id: a topic level and an MQTT user name (no ``/ + #``, no spaces).
DEVICE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

#: A device's pings in gridpatrol's own payload: ``gridpatrol/v1/ping/{device_id}``.
NATIVE_PREFIX = "gridpatrol/v1/ping/"
#: A phone's OwnTracks messages: ``owntracks/{user}/{device}`` (device id ``user.device``).
OWNTRACKS_PREFIX = "owntracks/"
#: Alerts: ``gridpatrol/v1/alerts/{kind}/{grid_id or device_id}``.
ALERT_PREFIX = "gridpatrol/v1/alerts/"
#: Operators' acknowledgements: ``gridpatrol/v1/alerts/ack/{kind}/{grid_id or device_id}``
#: (one level more than an alert's topic: ``gridpatrol/v1/alerts/+/+`` takes no ack).
ACK_PREFIX = ALERT_PREFIX + "ack/"

#: What ingest subscribes to (and the service account may read).
PING_FILTERS = (NATIVE_PREFIX + "+", OWNTRACKS_PREFIX + "+/+")
#: Every alert topic.
ALERT_FILTER = ALERT_PREFIX + "#"


def native_topic(device_id: str) -> str:
    return NATIVE_PREFIX + device_id


def owntracks_topic(user: str, device: str) -> str:
    return f"{OWNTRACKS_PREFIX}{user}/{device}"


def alert_topic(kind: str, subject: str) -> str:
    return f"{ALERT_PREFIX}{kind}/{subject}"


def ack_topic(kind: str, subject: str) -> str:
    return f"{ACK_PREFIX}{kind}/{subject}"
