"""JT/T 808 framing from bytes written out by hand: escapes, check code, the streaming reader."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ingest.jt808.frames import FrameReader, check_code, encode_frame, escape, unescape
from ingest.jt808.reasons import Drop

# A 2013 heartbeat (0x0002, empty body) from phone 013912345678 with serial 0x007E: the
# serial's 7E goes out as 7D 02. Check code: XOR of 00 02 00 00 01 39 12 34 56 78 00 7E = 4C.
HEARTBEAT = bytes.fromhex("7E 0002 0000 013912345678 007D02 4C 7E")
HEARTBEAT_MESSAGE = bytes.fromhex("0002 0000 013912345678 007E")


def test_the_standards_escape_example():
    # JT/T 808 section 2.4.2's example: 30 7E 08 7D 55 is sent as 7E 30 7D 02 08 7D 01 55 7E
    assert escape(bytes.fromhex("307E087D55")) == bytes.fromhex("307D02087D0155")
    assert unescape(bytes.fromhex("307D02087D0155")) == bytes.fromhex("307E087D55")


def test_escape_errors_are_none():
    assert unescape(bytes.fromhex("307D03")) is None  # 7D 03 is no escape
    assert unescape(bytes.fromhex("307D")) is None  # an escape at the frame's end
    assert unescape(bytes.fromhex("7D7D01")) is None


def test_check_code_is_xor():
    assert check_code(HEARTBEAT_MESSAGE) == 0x4C
    assert check_code(b"") == 0


def test_a_heartbeat_frame_byte_by_byte():
    assert encode_frame(HEARTBEAT_MESSAGE) == HEARTBEAT
    frames, drops = FrameReader(4096).feed(HEARTBEAT)
    assert frames == [HEARTBEAT_MESSAGE] and drops == []


def test_frames_split_anywhere_and_back_to_back():
    stream = HEARTBEAT + HEARTBEAT + HEARTBEAT
    reader = FrameReader(4096)
    got = []
    for i in range(len(stream)):  # one byte at a time
        frames, drops = reader.feed(stream[i : i + 1])
        assert drops == []
        got += frames
    assert got == [HEARTBEAT_MESSAGE] * 3


def test_garbage_resynchronises_on_the_next_flag():
    reader = FrameReader(4096)
    frames, drops = reader.feed(b"GET / HTTP/1.1\r\n" + HEARTBEAT + b"\x01\x02\x03" + HEARTBEAT)
    # the bytes before the first 7E are garbage; the three between frames fail the check code
    assert frames == [HEARTBEAT_MESSAGE, HEARTBEAT_MESSAGE]
    assert drops == [Drop.GARBAGE, Drop.SHORT_FRAME]


def test_a_wrong_check_code_drops_the_frame():
    bad = HEARTBEAT[:-2] + b"\x4d\x7e"
    frames, drops = FrameReader(4096).feed(bad + HEARTBEAT)
    assert frames == [HEARTBEAT_MESSAGE] and drops == [Drop.BAD_CHECK]


def test_an_escape_at_the_frames_end():
    frames, drops = FrameReader(4096).feed(HEARTBEAT[:-2] + b"\x7d\x7e")
    assert frames == [] and drops == [Drop.BAD_ESCAPE]


def test_an_oversized_frame_is_dropped_and_memory_stays_bounded():
    reader = FrameReader(64)
    drops = reader.feed(b"\x7e")[1]
    for _ in range(1000):  # 1 MB of frame that never ends
        drops += reader.feed(b"\x11" * 1000)[1]
    assert drops == [Drop.FRAME_TOO_LARGE]
    assert len(reader._buffer) <= 64
    frames, more = reader.feed(b"\x7e" + HEARTBEAT)  # the end of it, then a good frame
    assert frames == [HEARTBEAT_MESSAGE] and more == []


@given(st.binary(max_size=200))
def test_escape_round_trip(data):
    escaped = escape(data)
    assert b"\x7e" not in escaped
    assert unescape(escaped) == data


@given(st.lists(st.binary(min_size=13, max_size=100), max_size=5), st.integers(1, 50))
def test_reader_round_trip_in_any_chunks(messages, chunk):
    stream = b"".join(encode_frame(msg) for msg in messages)
    reader = FrameReader(1024)
    got = []
    for i in range(0, len(stream), chunk):
        frames, drops = reader.feed(stream[i : i + chunk])
        assert drops == []
        got += frames
    assert got == messages
