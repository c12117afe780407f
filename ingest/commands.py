"""Serve's side of commands to devices: sent on MQTT, the outcome awaited, each recorded.

A JT/T 808 terminal's command goes to the gateway on ``gridpatrol/v1/cmd/{device_id}``; the
gateway sends it to the terminal, retransmits, and replies on ``gridpatrol/v1/reply/{device_id}``
(:mod:`base.commands`). An OwnTracks phone's ``locate`` goes to the app itself,
``{"_type": "cmd", "action": "reportLocation"}`` on ``owntracks/{user}/{device}/cmd``: its
answer is the next location it publishes (a retained one is old news and does not count).

One paho client of its own (its network thread only hands messages over under a lock and
sets an event: it never blocks); callers wait on their command's event, at most the timeout
they give, and every command ends in one row of ``device_commands``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from base.commands import BadPayload, Command, Reply, Status, decode_reply, encode
from base.topics import (
    REPLY_FILTER,
    REPLY_PREFIX,
    command_topic,
    owntracks_command_topic,
)
from ingest.config import IngestSettings
from ingest.mqtt import parse_broker_url
from tracks.commands import record_commands
from tracks.errors import StoreError
from tracks.store import Store

log = logging.getLogger("gridpatrol.commands")

#: The OwnTracks app's command asking for its position now.
REPORT_LOCATION = {"_type": "cmd", "action": "reportLocation"}


@dataclass
class Pending:
    """One command on its way: ``reply`` is set when its outcome came."""

    device_id: str
    command: Command
    requested_by: str
    rollcall: str | None
    sent_at: float
    phone_topic: str | None = None  # an OwnTracks phone's location topic, subscribed
    reply: Reply | None = None
    ended_at: float | None = None
    done: threading.Event = field(default_factory=threading.Event)


class Commander:
    """Commands to devices for the API; started and stopped with serve."""

    def __init__(self, settings: IngestSettings, store: Store) -> None:
        self.host, self.port = parse_broker_url(settings.broker)
        self.store = store
        self.connected = threading.Event()
        self._lock = threading.Lock()
        self._pending: dict[str, Pending] = {}  # by command id
        self._phones: dict[str, list[Pending]] = {}  # location topic -> locates waiting
        v5 = settings.protocol == "5"
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{settings.client_id}-commands",
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
        )
        if settings.username:
            client.username_pw_set(settings.username, settings.password or None)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.reconnect_delay_set(1, 5)
        self.client = client

    def start(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.client._reset_sockets()  # as ingest/jt808/publisher.py: no warning at gc

    # --- sending ----------------------------------------------------------------------

    def send(
        self,
        device_id: str,
        command: Command,
        *,
        owntracks: bool,
        requested_by: str,
        rollcall: str | None = None,
    ) -> Pending:
        """Publish ``command`` (its ``command_id`` is replaced by a new one) to the gateway,
        or, with ``owntracks``, a locate to the phone; :meth:`wait` for its outcome."""
        command = Command(
            uuid.uuid4().hex,
            command.action,
            command.interval_s,
            command.duration_s,
            command.text,
        )
        pending = Pending(device_id, command, requested_by, rollcall, time.time())
        with self._lock:
            self._pending[command.command_id] = pending
        if owntracks:
            topic = owntracks_command_topic(device_id)
            assert topic is not None and command.action == "locate"
            pending.phone_topic = topic.removesuffix("/cmd")
            with self._lock:
                waiting = self._phones.setdefault(pending.phone_topic, [])
                waiting.append(pending)
                first = len(waiting) == 1
            if first:  # the phone's locations, until it answered
                self.client.subscribe(pending.phone_topic, qos=1)
            self.client.publish(topic, json.dumps(REPORT_LOCATION), qos=1)
        else:
            self.client.publish(command_topic(device_id), encode(command), qos=1)
        return pending

    def wait(self, pending: list[Pending], timeout_s: float) -> list[Pending]:
        """Wait until each has its outcome or ``timeout_s`` passed (then: ``timeout``);
        each is recorded in ``device_commands``."""
        deadline = time.monotonic() + timeout_s
        for one in pending:
            one.done.wait(max(0.0, deadline - time.monotonic()))
        for one in pending:
            self._end(one, Reply(one.command.command_id, Status.TIMEOUT, detail="no reply"))
        try:
            record_commands(self.store, [row(one) for one in pending])
        except StoreError as exc:  # the answer still goes to the caller
            log.error("commands not recorded: %s", exc)
        return pending

    # --- outcomes -----------------------------------------------------------------------

    def _end(self, pending: Pending, reply: Reply) -> None:
        """Its first outcome wins; a phone's location topic is left when none waits."""
        leave = None
        with self._lock:
            if pending.reply is not None:
                return
            pending.reply, pending.ended_at = reply, time.time()
            self._pending.pop(pending.command.command_id, None)
            if pending.phone_topic is not None:
                waiting = self._phones.get(pending.phone_topic, [])
                if pending in waiting:
                    waiting.remove(pending)
                if not waiting:
                    self._phones.pop(pending.phone_topic, None)
                    leave = pending.phone_topic
        pending.done.set()
        if leave is not None:
            self.client.unsubscribe(leave)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        if message.topic.startswith(REPLY_PREFIX):
            try:
                reply = decode_reply(message.payload)
            except BadPayload:
                log.warning("an unreadable reply on %s", message.topic)
                return
            with self._lock:
                pending = self._pending.get(reply.command_id)
            if pending is not None:
                self._end(pending, reply)
            return
        if message.retain:
            return  # the phone's last location, kept by the broker: no answer
        with self._lock:
            waiting = list(self._phones.get(message.topic, ()))
        if not waiting:
            return
        try:
            location = json.loads(message.payload)
        except (ValueError, UnicodeDecodeError):
            return
        if not isinstance(location, dict) or location.get("_type") != "location":
            return
        for pending in waiting:
            reply = Reply(
                pending.command.command_id,
                Status.ANSWERED,
                0,
                _number(location.get("tst")),
                _number(location.get("lat")),
                _number(location.get("lon")),
            )
            self._end(pending, reply)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.error("broker %s:%d refused the commands' client: %s", self.host, self.port, reason)
            return
        client.subscribe(REPLY_FILTER, qos=1)
        with self._lock:
            topics = list(self._phones)
        for topic in topics:
            client.subscribe(topic, qos=1)
        self.connected.set()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self.connected.clear()


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def row(pending: Pending) -> dict[str, object]:
    """The ``device_commands`` row of an ended command."""
    reply = pending.reply
    assert reply is not None and pending.ended_at is not None
    command = pending.command
    params = {
        k: v
        for k, v in (
            ("interval_s", command.interval_s),
            ("duration_s", command.duration_s),
            ("text", command.text),
        )
        if v is not None
    }

    def when(ts: float | None) -> dt.datetime | None:
        return None if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC)

    return {
        "command_id": command.command_id,
        "device_id": pending.device_id,
        "action": command.action,
        "params": json.dumps(params, ensure_ascii=False),
        "requested_by": pending.requested_by,
        "rollcall": pending.rollcall,
        "sent_at": when(pending.sent_at),
        "ended_at": when(pending.ended_at),
        "status": str(reply.status),
        "result": reply.result,
        "ts": when(reply.ts),
        "lat": reply.lat,
        "lon": reply.lon,
        "detail": reply.detail,
    }
