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
#: Commands to a JT/T 808 terminal, serve to the gateway: ``gridpatrol/v1/cmd/{device_id}``.
COMMAND_PREFIX = "gridpatrol/v1/cmd/"
#: The gateway's reply to a command, to serve: ``gridpatrol/v1/reply/{device_id}``.
REPLY_PREFIX = "gridpatrol/v1/reply/"
#: Commands to an OwnTracks phone: ``owntracks/{user}/{device}/cmd`` (the app's own topic).
OWNTRACKS_COMMAND_SUFFIX = "/cmd"

#: What ingest subscribes to (and the service account may read).
PING_FILTERS = (NATIVE_PREFIX + "+", OWNTRACKS_PREFIX + "+/+")
#: Every alert topic.
ALERT_FILTER = ALERT_PREFIX + "#"
#: What the gateway subscribes to, and serve: every command, every reply.
COMMAND_FILTER = COMMAND_PREFIX + "+"
REPLY_FILTER = REPLY_PREFIX + "+"
#: Every OwnTracks command topic (what serve may publish).
OWNTRACKS_COMMAND_FILTER = OWNTRACKS_PREFIX + "+/+" + OWNTRACKS_COMMAND_SUFFIX


def native_topic(device_id: str) -> str:
    return NATIVE_PREFIX + device_id


def owntracks_topic(user: str, device: str) -> str:
    return f"{OWNTRACKS_PREFIX}{user}/{device}"


def alert_topic(kind: str, subject: str) -> str:
    return f"{ALERT_PREFIX}{kind}/{subject}"


def ack_topic(kind: str, subject: str) -> str:
    return f"{ACK_PREFIX}{kind}/{subject}"


def command_topic(device_id: str) -> str:
    return COMMAND_PREFIX + device_id


def reply_topic(device_id: str) -> str:
    return REPLY_PREFIX + device_id


def owntracks_command_topic(device_id: str) -> str | None:
    """``owntracks/{user}/{device}/cmd`` of the OwnTracks device id ``user.device``; None
    for an id that is no OwnTracks device's."""
    user, dot, device = device_id.partition(".")
    if not dot or not user or not device or "." in device:
        return None
    return owntracks_topic(user, device) + OWNTRACKS_COMMAND_SUFFIX
