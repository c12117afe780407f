"""Decode MQTT messages (native JSON and OwnTracks) into ping columns and rejections.

A message is one JSON object or an array of objects. Decoding never raises on bad input:
every ping it cannot read becomes a :class:`Rejection` with a :class:`Reason`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated

import msgspec
import numpy as np

from base.topics import DEVICE_ID, NATIVE_PREFIX, OWNTRACKS_PREFIX
from ingest.reasons import Reason

_NAN = float("nan")
#: A horizontal accuracy is a radius: a negative one is impossible, rejected like a latitude
#: out of range (``acc_out_of_range``), not flagged as a poor one (docs/mqtt.md).
Accuracy = Annotated[float, msgspec.Meta(ge=0)]
#: GNSS satellites of the fix and the JT/T 808 alarm flags: whole numbers in their ranges
#: (a value outside is ``wrong_type``); the JT/T 808 gateway sends them (docs/jt808.md).
Satellites = Annotated[float, msgspec.Meta(ge=0, le=255, multiple_of=1)]
Alarm = Annotated[float, msgspec.Meta(ge=0, le=0xFFFFFFFF, multiple_of=1)]

_PART = re.compile(r"[A-Za-z0-9_-]{1,63}")
TOPIC_CACHE_SIZE = 65536


class NativePing(msgspec.Struct):
    """A ping in gridpatrol's own payload (topic ``gridpatrol/v1/ping/{device_id}``)."""

    ts: float | dt.datetime
    lat: float
    lon: float
    acc: Accuracy | None = None
    spd: float | None = None
    hdg: float | None = None
    alt: float | None = None
    bat: float | None = None
    sent: float | None = None
    id: str | None = None
    sat: Satellites | None = None
    alarm: Alarm | None = None


class OwnTracksMessage(msgspec.Struct):
    """Any OwnTracks message; only ``_type == "location"`` is a ping."""

    type: str = msgspec.field(name="_type")
    lat: float | None = None
    lon: float | None = None
    tst: float | None = None
    acc: Accuracy | None = None
    alt: float | None = None
    vel: float | None = None
    cog: float | None = None
    batt: float | None = None
    created_at: float | None = None


class EpochPing(msgspec.Struct):
    """The common native ping, read without a check per ping: ``ts`` a number, optional
    fields absent rather than null, no ``id``. A payload that is not all of this shape
    fails this decoder and is read again as :class:`NativePing`."""

    ts: float
    lat: float
    lon: float
    acc: Accuracy = _NAN
    spd: float = _NAN
    hdg: float = _NAN
    alt: float = _NAN
    bat: float = _NAN
    sent: float = _NAN
    id: None = None
    sat: Satellites = _NAN
    alarm: Alarm = _NAN


#: Fields of a ping in column order (``sent`` is the ``sent_at`` column).
FLOAT_FIELDS = ("ts", "lat", "lon", "acc", "spd", "hdg", "alt", "bat", "sent", "sat", "alarm")

#: What a typed decode raises on a payload it cannot read; the slow path finds out why.
UNREADABLE = (msgspec.MsgspecError, UnicodeDecodeError, RecursionError)

_epoch_pings = msgspec.json.Decoder(EpochPing | list[EpochPing])
_native = msgspec.json.Decoder(NativePing | list[NativePing])
_owntracks = msgspec.json.Decoder(OwnTracksMessage | list[OwnTracksMessage])
_any = msgspec.json.Decoder()


@dataclass(frozen=True)
class Rejection:
    message: int  # index of the message in the decoded list
    item: int  # index of the element in an array payload, 0 for an object
    reason: Reason
    detail: str
    count: int = 1  # pings it stands for: the items of an array over the limit, else 1


def _empty() -> np.ndarray:
    return np.empty(0, dtype=np.float64)


def _epoch_columns(pings: list[EpochPing]) -> list[np.ndarray]:
    """Columns of FLOAT_FIELDS (numbers or NaN by construction). Spelled out: a list
    comprehension reading an attribute by name is the fastest way there."""
    n, f8 = len(pings), np.float64
    return [
        np.fromiter([p.ts for p in pings], f8, n),
        np.fromiter([p.lat for p in pings], f8, n),
        np.fromiter([p.lon for p in pings], f8, n),
        np.fromiter([p.acc for p in pings], f8, n),
        np.fromiter([p.spd for p in pings], f8, n),
        np.fromiter([p.hdg for p in pings], f8, n),
        np.fromiter([p.alt for p in pings], f8, n),
        np.fromiter([p.bat for p in pings], f8, n),
        np.fromiter([p.sent for p in pings], f8, n),
        np.fromiter([p.sat for p in pings], f8, n),
        np.fromiter([p.alarm for p in pings], f8, n),
    ]


def _nullable_columns(items: Sequence[object], fields: tuple[str, ...]) -> list[np.ndarray]:
    """Columns of ``fields`` where absent values are None (numpy makes them NaN)."""
    return [np.array([getattr(i, f) for i in items], dtype=np.float64) for f in fields]


#: OwnTracks fields in the order of FLOAT_FIELDS (``vel`` in km/h becomes spd in m/s); an
#: OwnTracks location has no ``sat`` or ``alarm`` (NaN: NULL).
OWNTRACKS_FIELDS = ("tst", "lat", "lon", "acc", "vel", "cog", "alt", "batt", "created_at")


@dataclass
class Decoded:
    """Columns of the readable pings (NaN where an optional field is absent), plus
    rejections and non-ping OwnTracks messages."""

    device_code: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    device_names: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    ts: np.ndarray = field(default_factory=_empty)
    lat: np.ndarray = field(default_factory=_empty)
    lon: np.ndarray = field(default_factory=_empty)
    acc: np.ndarray = field(default_factory=_empty)
    spd: np.ndarray = field(default_factory=_empty)
    hdg: np.ndarray = field(default_factory=_empty)
    alt: np.ndarray = field(default_factory=_empty)
    bat: np.ndarray = field(default_factory=_empty)
    sent_at: np.ndarray = field(default_factory=_empty)
    sat: np.ndarray = field(default_factory=_empty)
    alarm: np.ndarray = field(default_factory=_empty)
    message: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    item: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    epoch: list[EpochPing] = field(default_factory=list)
    native: list[NativePing] = field(default_factory=list)
    owntracks: list[OwnTracksMessage] = field(default_factory=list)
    # runs of consecutive pings of one message: (device, message, first item, count)
    epoch_runs: list[tuple[str, int, int, int]] = field(default_factory=list)
    native_runs: list[tuple[str, int, int, int]] = field(default_factory=list)
    owntracks_runs: list[tuple[str, int, int, int]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    other: list[tuple[int, str, str]] = field(default_factory=list)  # (message, device, _type)

    def __len__(self) -> int:
        return len(self.ts)

    def finish(self) -> None:
        """Fill the columns from the decoded structs (epoch, native, then OwnTracks)."""
        runs = self.epoch_runs + self.native_runs + self.owntracks_runs
        if not runs:
            return
        counts = np.asarray([r[3] for r in runs], dtype=np.int64)
        codes: dict[str, int] = {}
        run_codes = [codes.setdefault(r[0], len(codes)) for r in runs]
        self.device_names = np.asarray(list(codes), dtype=object)
        self.device_code = np.repeat(np.asarray(run_codes, dtype=np.int64), counts)
        self.message = np.repeat(np.asarray([r[1] for r in runs], dtype=np.int64), counts)
        first = np.asarray([r[2] for r in runs], dtype=np.int64)
        shift = np.repeat(np.cumsum(counts) - counts - first, counts)
        self.item = np.arange(int(counts.sum()), dtype=np.int64) - shift
        parts = [_epoch_columns(self.epoch)]
        if self.native:
            parts.append(_nullable_columns(self.native, FLOAT_FIELDS))
        if self.owntracks:
            owntracks = _nullable_columns(self.owntracks, OWNTRACKS_FIELDS)
            owntracks[4] /= 3.6
            absent = np.full(len(self.owntracks), np.nan)
            parts.append(owntracks + [absent] * (len(FLOAT_FIELDS) - len(OWNTRACKS_FIELDS)))
        for name, columns in zip(COLUMN_NAMES, zip(*parts, strict=True), strict=True):
            setattr(self, name, columns[0] if len(columns) == 1 else np.concatenate(columns))


#: The attributes of :class:`Decoded` that FLOAT_FIELDS fill.
COLUMN_NAMES = ("ts", "lat", "lon", "acc", "spd", "hdg", "alt", "bat", "sent_at", "sat", "alarm")


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
    if ">= 0" in text and text.endswith(".acc`"):
        return Reason.ACC_OUT_OF_RANGE
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

    def device(self, topic: str) -> tuple[str, bool] | None:
        try:
            return self._topics[topic]
        except KeyError:
            if len(self._topics) >= TOPIC_CACHE_SIZE:
                self._topics.clear()
            found = self._topics[topic] = device_from_topic(topic)
            return found

    def _decode_one(self, out: Decoded, index: int, topic: str, payload: bytes) -> None:
        found = self.device(topic)
        if found is None:
            out.rejections.append(Rejection(index, 0, Reason.BAD_TOPIC, topic[:200]))
            return
        device, owntracks = found
        if len(payload) > self.max_payload_bytes:
            detail = f"{len(payload)} bytes > {self.max_payload_bytes}"
            out.rejections.append(Rejection(index, 0, Reason.PAYLOAD_TOO_LARGE, detail))
            return
        if not owntracks:
            try:
                value = _epoch_pings.decode(payload)
            except msgspec.ValidationError:
                pass  # an id, a null, a ts string, a wrong type...: read as NativePing below
            except UNREADABLE:
                self._decode_slow(out, index, device, owntracks, payload)
                return
            else:  # the common case, taken whole: a ping or an array of them
                if type(value) is EpochPing:
                    out.epoch.append(value)
                    out.epoch_runs.append((device, index, 0, 1))
                elif 0 < len(value) <= self.max_batch_items:
                    out.epoch += value
                    out.epoch_runs.append((device, index, 0, len(value)))
                else:
                    self._items(out, index, value)  # empty or too long: rejections only
                return
        decoder = _owntracks if owntracks else _native
        try:
            value = decoder.decode(payload)
        except UNREADABLE:
            self._decode_slow(out, index, device, owntracks, payload)
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
            # one rejection for the lot: a 256 KiB `[0,0,...]` is 131,000 items
            detail = f"{len(items)} items > {self.max_batch_items}"
            out.rejections.append(
                Rejection(index, 0, Reason.BATCH_TOO_LARGE, detail, count=len(items))
            )
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
