"""Commands down to terminals: serve's command (``gridpatrol/v1/cmd/{device_id}``) becomes a
JT/T 808 message to the terminal's authenticated connection, retransmitted until the
terminal answers (0x0001, or 0x0201 to a 0x8201), and the outcome goes back to serve
(``gridpatrol/v1/reply/{device_id}``). Everything here runs on the gateway's event loop.

Retransmission as the terminals do it (:mod:`ingest.jt808.terminal`): the answer is awaited
``command_timeout_s`` after the first send, twice that after the first retransmission, and
so on (T, 2T, 3T ...), ``command_retries`` times, with the same serial number; then the reply
is ``timeout``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from base.commands import BadPayload, Command, Reply, Status, decode_command, encode
from base.topics import COMMAND_PREFIX, DEVICE_ID
from ingest.jt808 import messages as m
from ingest.jt808.config import Jt808Settings
from ingest.jt808.header import MAX_BODY
from ingest.jt808.metrics import Metrics
from ingest.jt808.reasons import Drop


class Session(Protocol):
    """A terminal's authenticated connection, as commands use it (``gateway.Session``)."""

    version: int | None

    def command(self, msg_id: int, body: bytes) -> tuple[int, bytes]: ...

    def write(self, frame: bytes) -> bool: ...


log = logging.getLogger("gridpatrol.jt808")


def command_body(command: Command, version: int | None) -> tuple[int, bytes] | str:
    """The message id and body of a command, or why it cannot be sent."""
    if command.action == "locate":
        return m.QUERY_LOCATION, b""
    if command.action == "track" and command.interval_s is not None:
        return m.TRACK, m.build_track(command.interval_s, command.duration_s or 0)
    if command.action == "interval" and command.interval_s is not None:
        seconds = command.interval_s
        params = {m.PARAM_DEFAULT_INTERVAL: seconds, m.PARAM_SLEEP_INTERVAL: seconds}
        return m.SET_PARAMS, m.build_params(params)
    if command.action == "text" and command.text:
        try:
            body = m.build_text(command.text, version)
        except UnicodeEncodeError:
            return "text not encodable in GBK"
        return (m.TEXT, body) if len(body) <= MAX_BODY else "text too long"
    return f"{command.action} without its parameters"


@dataclass
class Outstanding:
    """A command sent to a terminal and not answered yet."""

    device_id: str
    command: Command
    msg_id: int
    frame: bytes  # as sent: a retransmission sends it again
    attempt: int = 0
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


class Downlink:
    """The gateway's commands in flight, by (connection, serial)."""

    def __init__(
        self,
        settings: Jt808Settings,
        metrics: Metrics,
        loop: asyncio.AbstractEventLoop,
        sessions: Mapping[str, Session],
        publish: Callable[[str, bytes], None],
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.loop = loop
        self.sessions = sessions  # the authenticated connection of each device
        self.publish = publish  # (device id, reply payload): QoS 1 to its reply topic
        self.outstanding: dict[tuple[int, int], Outstanding] = {}

    def receive(self, topic: str, payload: bytes) -> None:
        """A command from serve (on the loop, handed over by paho's thread)."""
        device_id = topic[len(COMMAND_PREFIX) :]
        if not DEVICE_ID.fullmatch(device_id):
            self.metrics.drop(Drop.BAD_COMMAND, topic[:80])
            return
        try:
            command = decode_command(payload)
        except BadPayload as exc:
            self.metrics.drop(Drop.BAD_COMMAND, device_id)
            log.debug("jt808: bad command for %s: %s", device_id, exc)
            return
        session = self.sessions.get(device_id)
        if session is None:
            self.reply(device_id, Reply(command.command_id, Status.OFFLINE))
            return
        made = command_body(command, session.version)
        if isinstance(made, str):
            self.metrics.drop(Drop.BAD_COMMAND, device_id)
            self.reply(device_id, Reply(command.command_id, Status.UNSUPPORTED, detail=made))
            return
        msg_id, body = made
        serial, frame = session.command(msg_id, body)
        sent = Outstanding(device_id, command, msg_id, frame)
        self.outstanding[(id(session), serial)] = sent
        self._arm(session, serial, sent)
        self.metrics.commands.labels(command.action).inc()

    def _arm(self, session: Session, serial: int, sent: Outstanding) -> None:
        wait = self.settings.command_timeout_s * (sent.attempt + 1)
        sent.timer = self.loop.call_later(wait, self._expire, session, serial)

    def _expire(self, session: Session, serial: int) -> None:
        sent = self.outstanding.get((id(session), serial))
        if sent is None:
            return
        if sent.attempt >= self.settings.command_retries or not session.write(sent.frame):
            del self.outstanding[(id(session), serial)]
            tries = sent.attempt + 1
            detail = f"no answer to {tries} sends"
            self.reply(
                sent.device_id, Reply(sent.command.command_id, Status.TIMEOUT, detail=detail)
            )
            return
        sent.attempt += 1
        self._arm(session, serial, sent)

    def answered(
        self, session: Session, serial: int, result: int, location: m.Location | None = None
    ) -> bool:
        """The terminal's answer to ``serial``; False when no command of ours awaits it."""
        sent = self.outstanding.pop((id(session), serial), None)
        if sent is None:
            return False
        if sent.timer is not None:
            sent.timer.cancel()
        reply = Reply(sent.command.command_id, Status.ANSWERED, result)
        if location is not None:
            reply = Reply(
                sent.command.command_id,
                Status.ANSWERED,
                result,
                location.ts,
                location.lat,
                location.lon,
            )
        self.reply(sent.device_id, reply)
        return True

    def closed(self, session: Session) -> None:
        """A connection ended: its commands wait no longer (their replies say offline)."""
        for key in [k for k in self.outstanding if k[0] == id(session)]:
            sent = self.outstanding.pop(key)
            if sent.timer is not None:
                sent.timer.cancel()
            detail = "the connection closed before the answer"
            self.reply(
                sent.device_id, Reply(sent.command.command_id, Status.OFFLINE, detail=detail)
            )

    def reply(self, device_id: str, reply: Reply) -> None:
        self.publish(device_id, encode(reply))
