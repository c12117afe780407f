"""Decode MQTT messages (native JSON and OwnTracks) into ping columns and rejections.

A message is one JSON object or an array of objects. Decoding never raises on bad input:
every ping it cannot read becomes a :class:`Rejection` with a :class:`Reason`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import msgspec

from ingest.reasons import Reason

NATIVE_PREFIX = "gridpatrol/v1/ping/"
OWNTRACKS_PREFIX = "owntracks/"
DEVICE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_PART = re.compile(r"[A-Za-z0-9_-]{1,63}")
_NAN = float("nan")


class NativePing(msgspec.Struct):
    """A ping in gridpatrol's own payload (topic ``gridpatrol/v1/ping/{device_id}``)."""

    ts: float | dt.datetime
    lat: float
    lon: float
    acc: float | None = None
    spd: float | None = None
    hdg: float | None = None
    alt: float | None = None
    bat: float | None = None
    sent: float | None = None
    id: str | None = None


class OwnTracksMessage(msgspec.Struct):
    """Any OwnTracks message; only ``_type == "location"`` is a ping."""

    type: str = msgspec.field(name="_type")
    lat: float | None = None
    lon: float | None = None
    tst: float | None = None
    acc: float | None = None
    alt: float | None = None
    vel: float | None = None
    cog: float | None = None
    batt: float | None = None
    created_at: float | None = None


_native = msgspec.json.Decoder(NativePing | list[NativePing])
_owntracks = msgspec.json.Decoder(OwnTracksMessage | list[OwnTracksMessage])
_any = msgspec.json.Decoder()


@dataclass(frozen=True)
class Rejection:
    message: int  # index of the message in the decoded list
    item: int  # index of the element in an array payload, 0 for an object
    reason: Reason
    detail: str


@dataclass
class Decoded:
    """Column lists of the readable pings, plus rejections and non-ping OwnTracks messages."""

    device_id: list[str] = field(default_factory=list)
    ts: list[float] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)
    lon: list[float] = field(default_factory=list)
    acc: list[float] = field(default_factory=list)
    spd: list[float] = field(default_factory=list)
    hdg: list[float] = field(default_factory=list)
    alt: list[float] = field(default_factory=list)
    bat: list[float] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)
    message: list[int] = field(default_factory=list)
    item: list[int] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    other: list[tuple[int, str, str]] = field(default_factory=list)  # (message, device, _type)

    def __len__(self) -> int:
        return len(self.ts)


def device_from_topic(topic: str) -> tuple[str, bool] | None:
    """(device id, is OwnTracks) for a ping topic, or None when the topic is not one."""
    if topic.startswith(NATIVE_PREFIX):
        device = topic[len(NATIVE_PREFIX) :]
        return (device, False) if DEVICE_ID.fullmatch(device) else None
    if topic.startswith(OWNTRACKS_PREFIX):
        parts = topic[len(OWNTRACKS_PREFIX) :].split("/")
        if len(parts) == 2 and all(_PART.fullmatch(p) for p in parts):
            device = f"{parts[0]}.{parts[1]}"
            return (device, True) if len(device) <= 64 else None
    return None


def _opt(value: float | None) -> float:
    return _NAN if value is None else value


def _epoch(ts: float | dt.datetime) -> float | None:
    if isinstance(ts, dt.datetime):
        return None if ts.tzinfo is None else ts.timestamp()
    return ts


def _classify(error: msgspec.MsgspecError) -> Reason:
    text = str(error)
    if "missing required field" in text:
        return Reason.MISSING_FIELD
    if "Number out of range" in text:
        return Reason.NON_FINITE
    if "RFC3339" in text:
        return Reason.BAD_TIMESTAMP
    return Reason.WRONG_TYPE


class Decoder:
    """Stateless per-batch decoder; limits come from the ingest settings."""

    def __init__(self, *, max_payload_bytes: int, max_batch_items: int) -> None:
        self.max_payload_bytes = max_payload_bytes
        self.max_batch_items = max_batch_items

    def decode(self, messages: list[tuple[str, bytes]]) -> Decoded:
        out = Decoded()
        for index, (topic, payload) in enumerate(messages):
            self._decode_one(out, index, topic, payload)
        return out

    def _decode_one(self, out: Decoded, index: int, topic: str, payload: bytes) -> None:
        found = device_from_topic(topic)
        if found is None:
            out.rejections.append(Rejection(index, 0, Reason.BAD_TOPIC, topic[:200]))
            return
        device, owntracks = found
        if len(payload) > self.max_payload_bytes:
            detail = f"{len(payload)} bytes > {self.max_payload_bytes}"
            out.rejections.append(Rejection(index, 0, Reason.PAYLOAD_TOO_LARGE, detail))
            return
        decoder = _owntracks if owntracks else _native
        try:
            value = decoder.decode(payload)
        except (msgspec.MsgspecError, UnicodeDecodeError):
            self._decode_slow(out, index, device, owntracks, payload)
            return
        items = value if isinstance(value, list) else [value]
        if len(items) > self.max_batch_items:
            self._reject_batch(out, index, len(items))
            return
        add = self._add_owntracks if owntracks else self._add_native
        for item, ping in enumerate(items):
            add(out, index, item, device, ping)

    def _reject_batch(self, out: Decoded, index: int, count: int) -> None:
        detail = f"{count} items > {self.max_batch_items}"
        for item in range(count):
            out.rejections.append(Rejection(index, item, Reason.BATCH_TOO_LARGE, detail))

    def _decode_slow(
        self, out: Decoded, index: int, device: str, owntracks: bool, payload: bytes
    ) -> None:
        """The fast typed decode failed: find which elements are bad and why."""
        try:
            value = _any.decode(payload)
        except UnicodeDecodeError as exc:
            out.rejections.append(Rejection(index, 0, Reason.NOT_UTF8, str(exc)[:200]))
            return
        except msgspec.DecodeError as exc:
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError as utf:
                out.rejections.append(Rejection(index, 0, Reason.NOT_UTF8, str(utf)[:200]))
                return
            reason = Reason.NON_FINITE if "out of range" in str(exc) else Reason.MALFORMED_JSON
            out.rejections.append(Rejection(index, 0, reason, str(exc)[:200]))
            return
        items = value if isinstance(value, list) else [value]
        if len(items) > self.max_batch_items:
            self._reject_batch(out, index, len(items))
            return
        kind = OwnTracksMessage if owntracks else NativePing
        add = self._add_owntracks if owntracks else self._add_native
        for item, raw in enumerate(items):
            try:
                ping = msgspec.convert(raw, kind)
            except msgspec.ValidationError as exc:
                reason = _classify(exc)
                out.rejections.append(Rejection(index, item, reason, str(exc)[:200]))
                continue
            add(out, index, item, device, ping)

    @staticmethod
    def _append(
        out: Decoded,
        index: int,
        item: int,
        device: str,
        ts: float,
        lat: float,
        lon: float,
        optional: tuple[float, float, float, float, float, float],
    ) -> None:
        out.device_id.append(device)
        out.ts.append(ts)
        out.lat.append(lat)
        out.lon.append(lon)
        out.acc.append(optional[0])
        out.spd.append(optional[1])
        out.hdg.append(optional[2])
        out.alt.append(optional[3])
        out.bat.append(optional[4])
        out.sent_at.append(optional[5])
        out.message.append(index)
        out.item.append(item)

    def _add_native(self, out: Decoded, index: int, item: int, device: str, p: NativePing) -> None:
        if p.id is not None and p.id != device:
            detail = f"payload id {p.id[:64]!r} != topic device {device!r}"
            out.rejections.append(Rejection(index, item, Reason.ID_MISMATCH, detail))
            return
        ts = _epoch(p.ts)
        if ts is None:
            detail = "ts string has no UTC offset"
            out.rejections.append(Rejection(index, item, Reason.BAD_TIMESTAMP, detail))
            return
        optional = (_opt(p.acc), _opt(p.spd), _opt(p.hdg), _opt(p.alt), _opt(p.bat), _opt(p.sent))
        self._append(out, index, item, device, ts, p.lat, p.lon, optional)

    def _add_owntracks(
        self, out: Decoded, index: int, item: int, device: str, m: OwnTracksMessage
    ) -> None:
        if m.type != "location":
            out.other.append((index, device, m.type[:32]))
            return
        if m.lat is None or m.lon is None or m.tst is None:
            missing = [n for n in ("lat", "lon", "tst") if getattr(m, n) is None]
            detail = f"OwnTracks location without {', '.join(missing)}"
            out.rejections.append(Rejection(index, item, Reason.MISSING_FIELD, detail))
            return
        speed = _NAN if m.vel is None else m.vel / 3.6
        optional = (_opt(m.acc), speed, _opt(m.cog), _opt(m.alt), _opt(m.batt), _opt(m.created_at))
        self._append(out, index, item, device, m.tst, m.lat, m.lon, optional)
