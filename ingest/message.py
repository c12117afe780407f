"""One MQTT message as ingest sees it: the unit the connection hands to the batcher."""

from __future__ import annotations

from typing import NamedTuple


class Message(NamedTuple):
    """An MQTT message as ingest sees it, converted from paho's at the callback (a tuple:
    the callback runs once per message and must stay cheap)."""

    topic: str
    payload: bytes
    received_at: float  # epoch seconds
    mid: int = 0
    qos: int = 0
    generation: int = 0  # connection generation: acks go only to the connection it came on
