"""Commands to devices and their replies as they travel on MQTT between serve and the JT/T 808
gateway (``gridpatrol/v1/cmd/{device_id}``, ``gridpatrol/v1/reply/{device_id}``): a public
contract, spelled once (docs/mqtt.md, "Commands").
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

import msgspec

#: What a device can be asked: where it is now; to report every ``interval_s`` for
#: ``duration_s`` (0 stops it); to report every ``interval_s`` from now on; to show or speak
#: ``text``.
Action = Literal["locate", "track", "interval", "text"]

#: The longest text sent to a terminal (GBK bytes): a frame's body is at most 1,023 bytes.
MAX_TEXT_BYTES = 1000

Seconds = Annotated[int, msgspec.Meta(ge=0, le=0xFFFF)]  # a WORD, as 0x8202 carries it
Duration = Annotated[int, msgspec.Meta(ge=0, le=0xFFFFFFFF)]  # a DWORD


class Status(StrEnum):
    """How a command ended."""

    ANSWERED = "answered"  # the device answered (``result`` says what, 0: done)
    TIMEOUT = "timeout"  # no answer after every retransmission, or in serve's time
    OFFLINE = "offline"  # no authenticated connection of the terminal at the gateway
    UNSUPPORTED = "unsupported"  # the device cannot take this command (a phone: locate only)


class Command(msgspec.Struct, forbid_unknown_fields=True):
    """Serve to the gateway: one command for the topic's device."""

    command_id: str
    action: Action
    interval_s: Seconds | None = None  # track, interval
    duration_s: Duration | None = None  # track
    text: str | None = None  # text


class Reply(msgspec.Struct):
    """The gateway to serve: how the command of ``command_id`` ended. ``result`` is the
    terminal's (0x0001's result byte: 0 done, 1 failed, 2 bad message, 3 unsupported; 0
    for a 0x0201); ``ts``, ``lat``, ``lon`` the position a locate answered with."""

    command_id: str
    status: Status
    result: int | None = None
    ts: float | None = None
    lat: float | None = None
    lon: float | None = None
    detail: str = ""


encode = msgspec.json.Encoder().encode
decode_command = msgspec.json.Decoder(Command).decode
decode_reply = msgspec.json.Decoder(Reply).decode
#: What a bad payload raises in the decoders above.
BadPayload = (msgspec.MsgspecError, UnicodeDecodeError)
