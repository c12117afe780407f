"""JT/T 808 framing: 0x7E delimiters, the 0x7D escapes, the XOR check code, a streaming reader.

On the wire a message is ``7E escaped(header + body + check) 7E``: 0x7E inside becomes
``7D 02`` and 0x7D becomes ``7D 01``; the check code is the XOR of every header and body
byte. The reader treats whatever lies between two 0x7E as one frame, so garbage between
frames resynchronises on the next 0x7E, and it never holds more than ``max_frame_bytes``.
"""

from __future__ import annotations

from ingest.jt808.reasons import Drop

_FLAG_B = b"\x7e"
_ESCAPE_B = b"\x7d"
MIN_FRAME = 13  # the shortest 2013 header (12 bytes) and a check code


def check_code(data: bytes) -> int:
    """XOR of every byte."""
    code = 0
    for byte in data:
        code ^= byte
    return code


def escape(data: bytes) -> bytes:
    return data.replace(_ESCAPE_B, b"\x7d\x01").replace(_FLAG_B, b"\x7d\x02")


def unescape(data: bytes) -> bytes | None:
    """The original bytes, or None when a 0x7D is not followed by 0x01 or 0x02."""
    if _ESCAPE_B not in data:
        return data
    # A 0x7D in a well-formed frame always starts an escape (the second byte is 01 or 02,
    # never 7D), so every 7D must be counted by exactly one of the two pairs.
    if data.count(_ESCAPE_B) != data.count(b"\x7d\x01") + data.count(b"\x7d\x02"):
        return None
    return data.replace(b"\x7d\x02", _FLAG_B).replace(b"\x7d\x01", _ESCAPE_B)


def encode_frame(message: bytes) -> bytes:
    """Header and body to wire bytes: check code appended, escaped, delimited."""
    return _FLAG_B + escape(message + bytes((check_code(message),))) + _FLAG_B


def decode_frame(escaped: bytes) -> bytes | Drop:
    """The bytes between two 0x7E to header and body, or the reason they are unusable."""
    data = unescape(escaped)
    if data is None:
        return Drop.BAD_ESCAPE
    if len(data) < MIN_FRAME:
        return Drop.SHORT_FRAME
    message = data[:-1]
    if check_code(message) != data[-1]:
        return Drop.BAD_CHECK
    return message


class FrameReader:
    """Feed it bytes as they arrive; it returns whole frames (header and body, checked)."""

    def __init__(self, max_frame_bytes: int) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()
        self._synced = False  # a 0x7E has been seen: bytes now belong to a frame
        self._skipping = False  # the current frame went over the limit: drop until 0x7E
        self._garbage = False  # bytes came before the first 0x7E

    def feed(self, data: bytes) -> tuple[list[bytes], list[Drop]]:
        frames: list[bytes] = []
        drops: list[Drop] = []
        start = 0
        while True:
            at = data.find(_FLAG_B, start)
            if at < 0:
                self._keep(data[start:], drops)
                return frames, drops
            if not self._synced:
                if at > start or self._garbage:
                    drops.append(Drop.GARBAGE)
                self._synced = True
            elif self._skipping:
                self._skipping = False
            else:
                piece = bytes(self._buffer) + data[start:at] if self._buffer else data[start:at]
                self._buffer.clear()
                if len(piece) > self.max_frame_bytes:
                    drops.append(Drop.FRAME_TOO_LARGE)
                elif piece:  # two 0x7E in a row: one frame's end and the next one's start
                    frame = decode_frame(piece)
                    if isinstance(frame, Drop):
                        drops.append(frame)
                    else:
                        frames.append(frame)
            self._buffer.clear()
            start = at + 1

    @property
    def partial(self) -> bool:
        """Whether a frame has begun and not ended (its bytes held, or skipped as too long)."""
        return self._skipping or bool(self._buffer)

    def _keep(self, tail: bytes, drops: list[Drop]) -> None:
        if self._skipping or not tail:
            return
        if not self._synced:
            self._garbage = True  # counted once, when the first 0x7E comes
            return
        if len(self._buffer) + len(tail) > self.max_frame_bytes:
            drops.append(Drop.FRAME_TOO_LARGE)
            self._buffer.clear()
            self._skipping = True
            return
        self._buffer += tail
