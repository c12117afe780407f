"""The JT/T 808 message header, 2011/2013 and 2019, and the device id rule.

2013: message id WORD, body attributes WORD, phone BCD[6], serial WORD (12 bytes), then, with
the subpackage bit, total WORD and index WORD (16 bytes). 2019 sets the version bit (14) of
the attributes and inserts a protocol version BYTE before a phone of BCD[10] (17 or 21
bytes). Attributes: bits 0-9 body length, 10-12 encryption (bit 10: RSA), 13 subpackage.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ingest.jt808.reasons import Drop

LENGTH_MASK = 0x03FF
ENCRYPTION_MASK = 0x1C00
SUBPACKAGE_BIT = 0x2000
VERSION_BIT = 0x4000
MAX_BODY = LENGTH_MASK  # a longer message must be subpackaged


@dataclass(frozen=True, slots=True)
class Header:
    msg_id: int
    phone: str  # the BCD digits as sent: 12 (2013) or 20 (2019)
    serial: int
    version: int | None = None  # None: a 2011/2013 header; else 2019's protocol version byte
    encryption: int = 0  # attribute bits 10-12
    total: int = 0  # subpackages in all; 0 when not subpackaged
    index: int = 0  # this subpackage, from 1


def device_id(phone: str) -> str:
    """The phone number's digits without leading zeros: ``013912345678`` is ``13912345678``."""
    return phone.lstrip("0") or "0"


def read_bcd(data: bytes) -> str | None:
    """BCD digits, or None when a nibble is above 9."""
    digits = data.hex()
    return digits if digits.isdigit() else None


def write_bcd(digits: str, size: int) -> bytes:
    """Digits right-aligned in ``size`` bytes, zero-padded on the left."""
    if not digits.isdigit() or len(digits) > 2 * size:
        raise ValueError(f"{digits!r} is not at most {2 * size} decimal digits")
    return bytes.fromhex(digits.rjust(2 * size, "0"))


def parse_message(message: bytes) -> tuple[Header, bytes] | Drop:
    """Header and body of a checked, unescaped frame, or the reason it is unusable."""
    if len(message) < 12:
        return Drop.SHORT_FRAME
    msg_id, attributes = struct.unpack_from(">HH", message)
    if attributes & VERSION_BIT:
        if len(message) < 17:
            return Drop.SHORT_FRAME
        version: int | None = message[4]
        phone = read_bcd(message[5:15])
        (serial,) = struct.unpack_from(">H", message, 15)
        at = 17
    else:
        version = None
        phone = read_bcd(message[4:10])
        (serial,) = struct.unpack_from(">H", message, 10)
        at = 12
    if phone is None:
        return Drop.BAD_BCD
    total = index = 0
    if attributes & SUBPACKAGE_BIT:
        if len(message) < at + 4:
            return Drop.SHORT_FRAME
        total, index = struct.unpack_from(">HH", message, at)
        at += 4
        if total == 0 or not 1 <= index <= total:
            return Drop.BAD_SUBPACKAGE
    body = message[at:]
    if len(body) != attributes & LENGTH_MASK:
        return Drop.LENGTH_MISMATCH
    encryption = (attributes & ENCRYPTION_MASK) >> 10
    return Header(msg_id, phone, serial, version, encryption, total, index), body


def build_message(header: Header, body: bytes) -> bytes:
    """Header and body, unescaped and without the check code (see ``frames.encode_frame``)."""
    if len(body) > MAX_BODY:
        raise ValueError(f"a body of {len(body)} bytes must be subpackaged (at most {MAX_BODY})")
    attributes = len(body) | (header.encryption << 10)
    if header.total:
        attributes |= SUBPACKAGE_BIT
    if header.version is None:
        out = struct.pack(">HH", header.msg_id, attributes) + write_bcd(header.phone, 6)
    else:
        out = struct.pack(">HHB", header.msg_id, attributes | VERSION_BIT, header.version)
        out += write_bcd(header.phone, 10)
    out += struct.pack(">H", header.serial)
    if header.total:
        out += struct.pack(">HH", header.total, header.index)
    return out + body
