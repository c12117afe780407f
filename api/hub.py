"""The alert stream's fan-out: stored alerts, and operators' acknowledgements of them, to
every open ``/alerts/stream``, within limits.

Each event is serialised once, when it is published, and its subject (the alert's grid, or
its device's assigned grid) resolved once; both are handed to every stream, which sends the
bytes if its token sees the subject: a stream holds no copy of the registry, only its queue
(at most :data:`QUEUE_ALERTS` events; a client that stops reading loses events, not our
memory). Streams are limited in all and per token (``--sse-max-streams``,
``--sse-max-streams-per-token``): past either, :meth:`AlertHub.subscribe` raises
:class:`StreamLimit` and the route answers 429.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import msgspec

from base.health import Reading, measure
from geofence.alerts import Alert
from tracks.errors import StoreError

log = logging.getLogger("gridpatrol.api")

#: Alerts waiting for one stream's client to read them.
QUEUE_ALERTS = 1000

ALERT_STREAMS = Reading("gauge", "alert streams open now", "gridpatrol_alert_streams")
STREAMS_REFUSED = Reading(
    "counter",
    "alert streams refused with 429 (the token's or the process's limit reached)",
    "gridpatrol_alert_streams_refused",
)

#: An event's bytes and the grid that decides who sees it (None: no grid, admins only).
Item = tuple[bytes, str | None]

_encode = msgspec.json.Encoder().encode


class StreamLimit(Exception):
    """The token's or the process's streams are at their limit."""


@dataclass(eq=False)
class Subscription:
    """One open stream: its queue, on the event loop that reads it, and whose it is."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Item]
    key: str | None  # the token's id; None: no per-token limit (no --tokens)


class AlertHub:
    """Fans alerts out to the SSE clients; ``publish`` is called from the live updater's
    thread (or the api process's reload), ``publish_ack`` from a route. ``grid_of``: a
    device's assigned grid, read when a device alert is published (None until the API's
    context sets it); ``tz``: the zone of the times in the events (the context sets it)."""

    def __init__(self, max_streams: int = 200, max_per_token: int = 8) -> None:
        self.max_streams = max_streams
        self.max_per_token = max_per_token
        self.grid_of: Callable[[str], str | None] = lambda device_id: None
        self.tz = ZoneInfo("UTC")
        self._lock = threading.Lock()
        self._clients: list[Subscription] = []
        self._refused = 0

    def subscribe(self, key: str | None) -> Subscription:
        """A new stream's subscription, or :class:`StreamLimit`."""
        sub = Subscription(asyncio.get_running_loop(), asyncio.Queue(QUEUE_ALERTS), key)
        with self._lock:
            if len(self._clients) >= self.max_streams:
                self._refused += 1
                raise StreamLimit(f"{self.max_streams} alert streams are open, the most allowed")
            if key is not None:
                mine = sum(1 for c in self._clients if c.key == key)
                if mine >= self.max_per_token:
                    self._refused += 1
                    raise StreamLimit(f"this token has {mine} alert streams open, the most allowed")
            self._clients.append(sub)
        return sub

    @measure(ALERT_STREAMS)
    def clients(self) -> int:
        """How many streams are connected now."""
        with self._lock:
            return len(self._clients)

    @measure(STREAMS_REFUSED)
    def refused(self) -> int:
        return self._refused

    def unsubscribe(self, sub: Subscription) -> None:
        """Close a stream's subscription (again: nothing happens)."""
        with self._lock:
            self._clients = [c for c in self._clients if c is not sub]

    def publish(self, alert: Alert) -> None:
        """An alert, to every stream (``event: alert``)."""
        subject = alert.grid_id
        if subject is None and alert.device_id is not None:
            try:
                subject = self.grid_of(alert.device_id)
            except StoreError as exc:  # the store away: the alert goes to admins only
                log.warning("alert %s: the device's grid not read: %s", alert.alert_id, exc)
        self._send(b"event: alert\ndata: " + _encode(alert.to_json(self.tz)) + b"\n\n", subject)

    def publish_ack(self, ack: dict[str, object], subject: str | None) -> None:
        """An acknowledgement (the ``AlertAckEvent`` model), to every stream (``event: ack``)."""
        self._send(b"event: ack\ndata: " + _encode(ack) + b"\n\n", subject)

    def _send(self, event: bytes, subject: str | None) -> None:
        with self._lock:
            clients = list(self._clients)
        for sub in clients:
            sub.loop.call_soon_threadsafe(_offer, sub.queue, (event, subject))


def _offer(q: asyncio.Queue[Item], item: Item) -> None:
    if not q.full():  # a client that stopped reading loses events, not our memory
        q.put_nowait(item)
