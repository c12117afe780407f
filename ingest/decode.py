"""Decode MQTT messages (native JSON and OwnTracks) into ping columns and rejections.

A message is one JSON object or an array of objects. Decoding never raises on bad input:
every ping it cannot read becomes a :class:`Rejection` with a :class:`Reason`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import msgspec
import numpy as np

from ingest.reasons import Reason

_NAN = float("nan")

NATIVE_PREFIX = "gridpatrol/v1/ping/"
OWNTRACKS_PREFIX = "owntracks/"
DEVICE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_PART = re.compile(r"[A-Za-z0-9_-]{1,63}")
TOPIC_CACHE_SIZE = 65536


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
    """Column lists of the readable pings (NaN where an optional field is absent), plus
    rejections and non-ping OwnTracks messages."""

    device_id: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    ts: list[float] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)
    lon: list[float] = field(default_factory=list)
    acc: list[float] = field(default_factory=list)
    spd: list[float] = field(default_factory=list)
    hdg: list[float] = field(default_factory=list)
    alt: list[float] = field(default_factory=list)
    bat: list[float] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)
    message: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    item: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    native: list[NativePing] = field(default_factory=list)
    owntracks: list[OwnTracksMessage] = field(default_factory=list)
    # runs of consecutive pings of one message: (device, message, first item, count)
    native_runs: list[tuple[str, int, int, int]] = field(default_factory=list)
    owntracks_runs: list[tuple[str, int, int, int]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    other: list[tuple[int, str, str]] = field(default_factory=list)  # (message, device, _type)

    def __len__(self) -> int:
        return len(self.ts)

    def finish(self) -> None:
        """Fill the column lists from the decoded structs (native first, then OwnTracks)."""
        runs = self.native_runs + self.owntracks_runs
        if runs:
            counts = np.asarray([r[3] for r in runs], dtype=np.int64)
            self.device_id = np.repeat(np.asarray([r[0] for r in runs], dtype=object), counts)
            self.message = np.repeat(np.asarray([r[1] for r in runs], dtype=np.int64), counts)
            first = np.asarray([r[2] for r in runs], dtype=np.int64)
            shift = np.repeat(np.cumsum(counts) - counts - first, counts)
            self.item = np.arange(int(counts.sum()), dtype=np.int64) - shift
        n, o = self.native, self.owntracks
        self.ts = [p.ts for p in n] + [m.tst for m in o]  # type: ignore[misc, assignment]
        self.lat = [p.lat for p in n] + [m.lat for m in o]  # type: ignore[misc]
        self.lon = [p.lon for p in n] + [m.lon for m in o]  # type: ignore[misc]
        # NaN, not None, for absent values: numpy converts a list of floats five times faster
        nan = _NAN
        self.acc = [nan if p.acc is None else p.acc for p in n] + [
            nan if m.acc is None else m.acc for m in o
        ]
        self.spd = [nan if p.spd is None else p.spd for p in n] + [
            nan if m.vel is None else m.vel / 3.6 for m in o
        ]
        self.hdg = [nan if p.hdg is None else p.hdg for p in n] + [
            nan if m.cog is None else m.cog for m in o
        ]
        self.alt = [nan if p.alt is None else p.alt for p in n] + [
            nan if m.alt is None else m.alt for m in o
        ]
        self.bat = [nan if p.bat is None else p.bat for p in n] + [
            nan if m.batt is None else m.batt for m in o
        ]
        self.sent_at = [nan if p.sent is None else p.sent for p in n] + [
            nan if m.created_at is None else m.created_at for m in o
        ]


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
        self._topics: dict[str, tuple[str, bool] | None] = {}

    def decode(self, messages: list[tuple[str, bytes]]) -> Decoded:
        out = Decoded()
        for index, (topic, payload) in enumerate(messages):
            self._decode_one(out, index, topic, payload)
        out.finish()
        return out

    def _device(self, topic: str) -> tuple[str, bool] | None:
        try:
            return self._topics[topic]
        except KeyError:
            if len(self._topics) >= TOPIC_CACHE_SIZE:
                self._topics.clear()
            found = self._topics[topic] = device_from_topic(topic)
            return found

    def _decode_one(self, out: Decoded, index: int, topic: str, payload: bytes) -> None:
        found = self._device(topic)
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
        except (msgspec.MsgspecError, UnicodeDecodeError, RecursionError):
            self._decode_slow(out, index, device, owntracks, payload)
            return
        # the common cases, a well-formed ping or array of them: taken whole
        if type(value) is NativePing:
            if value.id is None and type(value.ts) is float:
                out.native.append(value)
                out.native_runs.append((device, index, 0, 1))
                return
        elif (
            type(value) is list
            and 0 < len(value) <= self.max_batch_items
            and not owntracks
            and all(p.id is None and type(p.ts) is float for p in value)
        ):
            out.native += value
            out.native_runs.append((device, index, 0, len(value)))
            return
        items = self._items(out, index, value)
        add = self._add_owntracks if owntracks else self._add_native
        for item, ping in enumerate(items):
            add(out, index, item, device, ping)  # type: ignore[arg-type]

    def _items(self, out: Decoded, index: int, value: object) -> list[object]:
        """The pings of a payload; none (and rejections) when the array is empty or too long."""
        items = value if isinstance(value, list) else [value]
        if not items:
            out.rejections.append(Rejection(index, 0, Reason.EMPTY_BATCH, "[]"))
        elif len(items) > self.max_batch_items:
            detail = f"{len(items)} items > {self.max_batch_items}"
            out.rejections += [
                Rejection(index, item, Reason.BATCH_TOO_LARGE, detail) for item in range(len(items))
            ]
            return []
        return items

    def _decode_slow(
        self, out: Decoded, index: int, device: str, owntracks: bool, payload: bytes
    ) -> None:
        """The fast typed decode failed: find which elements are bad and why."""
        try:
            value = _any.decode(payload)
        except UnicodeDecodeError as exc:
            out.rejections.append(Rejection(index, 0, Reason.NOT_UTF8, str(exc)[:200]))
            return
        except RecursionError:
            detail = "JSON nested too deeply"
            out.rejections.append(Rejection(index, 0, Reason.MALFORMED_JSON, detail))
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
        items = self._items(out, index, value)
        kind = OwnTracksMessage if owntracks else NativePing
        add = self._add_owntracks if owntracks else self._add_native
        for item, raw in enumerate(items):
            try:
                ping = msgspec.convert(raw, kind)
            except RecursionError:
                out.rejections.append(
                    Rejection(index, item, Reason.WRONG_TYPE, "nested too deeply")
                )
                continue
            except msgspec.ValidationError as exc:
                reason = _classify(exc)
                out.rejections.append(Rejection(index, item, reason, str(exc)[:200]))
                continue
            add(out, index, item, device, ping)  # type: ignore[arg-type]

    def _add_native(self, out: Decoded, index: int, item: int, device: str, p: NativePing) -> None:
        if p.id is not None and p.id != device:
            detail = f"payload id {p.id[:64]!r} != topic device {device!r}"
            out.rejections.append(Rejection(index, item, Reason.ID_MISMATCH, detail))
            return
        if not isinstance(p.ts, float):
            ts = _epoch(p.ts)
            if ts is None:
                detail = "ts string has no UTC offset"
                out.rejections.append(Rejection(index, item, Reason.BAD_TIMESTAMP, detail))
                return
            p.ts = ts
        out.native.append(p)
        out.native_runs.append((device, index, item, 1))

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
        out.owntracks.append(m)
        out.owntracks_runs.append((device, index, item, 1))
