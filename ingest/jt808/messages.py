"""JT/T 808 message bodies: the ones the gateway reads, the answers it writes, and an encoder
for the terminal side (simulator, tests, benchmark).

Location basic information (0x0200, and each item of 0x0704), 28 bytes: alarm flag DWORD,
status DWORD, latitude DWORD and longitude DWORD in 1e-6 degrees, altitude WORD (m), speed
WORD (0.1 km/h), direction WORD (degrees), time BCD[6] YYMMDDhhmmss in GMT+8; then
additional items, each id BYTE, length BYTE, value (0x31: GNSS satellites, BYTE).
"""

from __future__ import annotations

import calendar
import datetime as dt
import struct
from dataclasses import dataclass

from ingest.jt808.header import read_bcd
from ingest.jt808.reasons import Drop

TERMINAL_RESPONSE = 0x0001
HEARTBEAT = 0x0002
DEREGISTER = 0x0003
REGISTER = 0x0100
AUTHENTICATE = 0x0102
LOCATION = 0x0200
BATCH = 0x0704
PLATFORM_RESPONSE = 0x8001
REGISTER_RESPONSE = 0x8100
# commands down and the terminal's answers (docs/jt808.md, "Commands")
LOCATION_ANSWER = 0x0201  # answer to 0x8201: answered serial WORD, then a location
QUERY_LOCATION = 0x8201  # empty body
TRACK = 0x8202  # interval WORD (s, 0 stops), validity DWORD (s)
SET_PARAMS = 0x8103  # count BYTE, then each: id DWORD, length BYTE, value
TEXT = 0x8300  # flag BYTE, (2019: type BYTE), text GBK

#: Terminal parameters (0x8103, DWORD values, s): the reporting interval while asleep, and
#: the default one.
PARAM_SLEEP_INTERVAL = 0x0027
PARAM_DEFAULT_INTERVAL = 0x0029
#: 0x8300 flag bits 2 (show on the terminal's display) and 3 (read out, TTS); 2019 gave bits
#: 0-1 a new meaning (1 service, 2 emergency, 3 notice: where 2013's bit 0 was emergency)
#: and added a text type byte (1 notice, 2 service): a notice both ways.
TEXT_DISPLAY_TTS = 0x0C
TEXT_NOTICE_2019 = 0x03
TEXT_TYPE_NOTICE = 1

# results of the platform general response 0x8001
OK, FAILURE, MESSAGE_ERROR, UNSUPPORTED = 0, 1, 2, 3
# results of the terminal registration response 0x8100 (0 is OK: registered, a code follows)
VEHICLE_REGISTERED, NO_SUCH_VEHICLE, TERMINAL_REGISTERED, NO_SUCH_TERMINAL = 1, 2, 3, 4

ITEM_SATELLITES = 0x31  # additional item: GNSS satellites of the fix, one BYTE
STATUS_POSITIONED = 1 << 1
STATUS_SOUTH = 1 << 2
STATUS_WEST = 1 << 3
BATCH_NORMAL, BATCH_BLIND_AREA = 0, 1
GMT8_S = 8 * 3600
_BASIC = struct.Struct(">IIIIHHH6s")


@dataclass(frozen=True, slots=True)
class Location:
    alarm: int
    status: int
    lat: float  # degrees, negative in the south
    lon: float  # degrees, negative in the west
    alt_m: int
    speed: int  # 0.1 km/h
    direction: int  # degrees
    ts: float  # epoch seconds
    extras: tuple[tuple[int, bytes], ...] = ()  # additional items (id, value)

    @property
    def positioned(self) -> bool:
        return bool(self.status & STATUS_POSITIONED)

    @property
    def on_earth(self) -> bool:
        """Whether the coordinates are a place (a fix without the positioned bit may hold
        anything there)."""
        return abs(self.lat) <= 90 and abs(self.lon) <= 180

    @property
    def satellites(self) -> int | None:
        """Item 0x31, or None when the terminal did not send it (or sent it malformed)."""
        for item, value in self.extras:
            if item == ITEM_SATELLITES and len(value) == 1:
                return value[0]
        return None

    def to_ping(self) -> dict[str, float]:
        """The native payload object of docs/mqtt.md: ``alarm`` always (0 ends an alarm),
        ``sat`` 0 for a fix without the positioned bit (flagged poor downstream), else
        item 0x31 when sent."""
        ping = {
            "ts": self.ts,
            "lat": self.lat,
            "lon": self.lon,
            "spd": round(self.speed / 36, 3),
            "hdg": self.direction,
            "alt": self.alt_m,
            "alarm": self.alarm,
        }
        satellites = self.satellites if self.positioned else 0
        if satellites is not None:
            ping["sat"] = satellites
        return ping


def read_time(data: bytes) -> float | Drop:
    """BCD[6] YYMMDDhhmmss in GMT+8 (years 2000 to 2099) to epoch seconds."""
    digits = read_bcd(data)
    if digits is None:
        return Drop.BAD_BCD
    yy, mo, dd, hh, mi, ss = (int(digits[i : i + 2]) for i in range(0, 12, 2))
    try:
        dt.datetime(2000 + yy, mo, dd, hh, mi, ss)
    except ValueError:
        return Drop.BAD_TIME
    return float(calendar.timegm((2000 + yy, mo, dd, hh, mi, ss)) - GMT8_S)


def write_time(ts: float) -> bytes:
    return bytes.fromhex(
        dt.datetime.fromtimestamp(int(ts) + GMT8_S, dt.UTC).strftime("%y%m%d%H%M%S")
    )


def parse_location(body: bytes) -> Location | Drop:
    if len(body) < _BASIC.size:
        return Drop.BAD_BODY
    alarm, status, lat, lon, alt, speed, direction, when = _BASIC.unpack_from(body)
    ts = read_time(when)
    if isinstance(ts, Drop):
        return ts
    extras = []
    at = _BASIC.size
    while at + 2 <= len(body):  # a truncated last item is ignored, like an unknown one
        item, size = body[at], body[at + 1]
        if at + 2 + size > len(body):
            break
        extras.append((item, body[at + 2 : at + 2 + size]))
        at += 2 + size
    return Location(
        alarm,
        status,
        -lat / 1e6 if status & STATUS_SOUTH else lat / 1e6,
        -lon / 1e6 if status & STATUS_WEST else lon / 1e6,
        alt,
        speed,
        direction,
        ts,
        tuple(extras),
    )


def build_location(
    lat: float,
    lon: float,
    ts: float,
    *,
    speed: int = 0,
    direction: int = 0,
    alt_m: int = 0,
    alarm: int = 0,
    status: int = STATUS_POSITIONED,
    extras: tuple[tuple[int, bytes], ...] = (),
) -> bytes:
    if lat < 0:
        status |= STATUS_SOUTH
    if lon < 0:
        status |= STATUS_WEST
    body = _BASIC.pack(
        alarm,
        status,
        round(abs(lat) * 1e6),
        round(abs(lon) * 1e6),
        alt_m,
        speed,
        direction,
        write_time(ts),
    )
    return body + b"".join(bytes((item, len(value))) + value for item, value in extras)


def parse_batch(body: bytes) -> tuple[int, list[Location | Drop]] | Drop:
    """Data type (0 normal, 1 blind-area supplement) and its items, or why it is unusable."""
    if len(body) < 3:
        return Drop.BAD_BODY
    count, kind = struct.unpack_from(">HB", body)
    items: list[Location | Drop] = []
    at = 3
    for _ in range(count):
        if at + 2 > len(body):
            return Drop.BAD_BODY
        (size,) = struct.unpack_from(">H", body, at)
        if at + 2 + size > len(body):
            return Drop.BAD_BODY
        items.append(parse_location(body[at + 2 : at + 2 + size]))
        at += 2 + size
    if at != len(body):
        return Drop.BAD_BODY
    return kind, items


def build_batch(locations: list[bytes], kind: int = BATCH_NORMAL) -> bytes:
    return struct.pack(">HB", len(locations), kind) + b"".join(
        struct.pack(">H", len(item)) + item for item in locations
    )


def parse_auth(body: bytes, version: int | None) -> str | Drop:
    """The authentication code: the whole body (2013), or length-prefixed (2019)."""
    if version is None:
        return body.rstrip(b"\x00").decode("latin-1")
    if not body or body[0] + 1 > len(body):
        return Drop.BAD_BODY
    return body[1 : 1 + body[0]].decode("latin-1")


def build_auth(code: str, version: int | None, imei: str = "", software: str = "") -> bytes:
    raw = code.encode("latin-1")
    if version is None:
        return raw
    return (
        bytes((len(raw),))
        + raw
        + imei.encode().ljust(15, b"\x00")[:15]
        + software.encode().ljust(20, b"\x00")[:20]
    )


def _register_sizes(version: int | None) -> tuple[int, int, int]:
    """Manufacturer, model and terminal id field sizes: 2013 5, 20, 7; 2019 11, 30, 30."""
    return (5, 20, 7) if version is None else (11, 30, 30)


@dataclass(frozen=True, slots=True)
class Registration:
    """What a 0x0100 body says the registry checks: the maker's terminal id and the plate."""

    terminal_id: str
    plate: str


def parse_register(body: bytes, version: int | None) -> Registration | Drop:
    """Province WORD, city WORD, manufacturer, model, terminal id (NUL-padded), plate colour
    BYTE, plate STRING (GBK; empty when colour 0, no plate)."""
    maker, model, terminal = _register_sizes(version)
    at = 4 + maker + model
    if len(body) < at + terminal + 1:
        return Drop.BAD_BODY
    terminal_id = body[at : at + terminal].rstrip(b"\x00 ").decode("latin-1")
    plate = body[at + terminal + 1 :].rstrip(b"\x00").decode("gbk", errors="replace")
    return Registration(terminal_id, plate.strip())


def build_register(version: int | None, *, terminal_id: str, plate: str = "") -> bytes:
    """Province, city, manufacturer, model and terminal id (2013: 5, 20, 7 bytes; 2019: 11,
    30, 30), plate colour (0: no plate) and the plate."""
    sizes = _register_sizes(version)
    fields = [b"GRIDP", b"SIM-TRACKER", terminal_id.encode()]
    padded = b"".join(f.ljust(n, b"\x00")[:n] for f, n in zip(fields, sizes, strict=True))
    colour = b"\x02" if plate else b"\x00"  # 2: yellow
    return struct.pack(">HH", 12, 100) + padded + colour + plate.encode("gbk")


def build_general_response(serial: int, msg_id: int, result: int) -> bytes:
    return struct.pack(">HHB", serial, msg_id, result)


def parse_general_response(body: bytes) -> tuple[int, int, int] | Drop:
    """(answered serial, answered message id, result)."""
    if len(body) < 5:
        return Drop.BAD_BODY
    serial, msg_id, result = struct.unpack_from(">HHB", body)
    return serial, msg_id, result


def build_register_response(serial: int, result: int, code: str) -> bytes:
    return struct.pack(">HB", serial, result) + (code.encode("latin-1") if result == OK else b"")


def parse_register_response(body: bytes) -> tuple[int, int, str] | Drop:
    """(answered serial, result, authentication code)."""
    if len(body) < 3:
        return Drop.BAD_BODY
    serial, result = struct.unpack_from(">HB", body)
    return serial, result, body[3:].decode("latin-1")


def build_track(interval_s: int, duration_s: int) -> bytes:
    return struct.pack(">HI", interval_s, duration_s)


def parse_track(body: bytes) -> tuple[int, int] | Drop:
    """(interval s, validity s) of a 0x8202."""
    if len(body) < 6:
        return Drop.BAD_BODY
    interval, duration = struct.unpack_from(">HI", body)
    return interval, duration


def build_params(params: dict[int, int]) -> bytes:
    """0x8103 of DWORD parameters."""
    return bytes((len(params),)) + b"".join(
        struct.pack(">IBI", key, 4, value) for key, value in params.items()
    )


def parse_params(body: bytes) -> dict[int, bytes] | Drop:
    """Each parameter's id and value bytes of a 0x8103."""
    if not body:
        return Drop.BAD_BODY
    params: dict[int, bytes] = {}
    at = 1
    for _ in range(body[0]):
        if at + 5 > len(body):
            return Drop.BAD_BODY
        key, size = struct.unpack_from(">IB", body, at)
        if at + 5 + size > len(body):
            return Drop.BAD_BODY
        params[key] = body[at + 5 : at + 5 + size]
        at += 5 + size
    return params


def build_text(text: str, version: int | None) -> bytes:
    """0x8300: shown and read out; 2019 adds the text type. GBK (the caller checks it
    encodes)."""
    if version is None:
        head = bytes((TEXT_DISPLAY_TTS,))
    else:
        head = bytes((TEXT_DISPLAY_TTS | TEXT_NOTICE_2019, TEXT_TYPE_NOTICE))
    return head + text.encode("gbk")


def parse_text(body: bytes, version: int | None) -> str | Drop:
    at = 1 if version is None else 2
    if len(body) < at:
        return Drop.BAD_BODY
    return body[at:].decode("gbk", errors="replace")


def build_location_answer(serial: int, location: bytes) -> bytes:
    return struct.pack(">H", serial) + location


def parse_location_answer(body: bytes) -> tuple[int, Location] | Drop:
    """(answered serial, the location) of a 0x0201."""
    if len(body) < 2:
        return Drop.BAD_BODY
    (serial,) = struct.unpack_from(">H", body)
    location = parse_location(body[2:])
    return location if isinstance(location, Drop) else (serial, location)
