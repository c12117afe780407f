"""Headers and bodies from bytes written out by hand, and round trips through our encoder."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from ingest.jt808 import messages as m
from ingest.jt808.header import Header, build_message, device_id, parse_message
from ingest.jt808.reasons import Drop

# 0x0200 from 013912345678, serial 7, body 37 bytes: alarm 0, status 3 (ACC on, positioned),
# lat 0x02540284 = 39060100 (39.0601 N), lon 0x06FBB908 = 117160200 (117.1602 E),
# altitude 0x0010 = 16 m, speed 0x0168 = 360 = 36.0 km/h = 10 m/s, direction 0x005A = 90,
# time 26-11-20 08:30:00 GMT+8 = 2026-11-20T00:30:00Z = 1795134600; then the additional
# items 0x01 (mileage, 4 bytes: 10.0 km) and 0x30 (signal strength, 1 byte).
LOCATION = bytes.fromhex(
    "0200 0025 013912345678 0007"
    "00000000 00000003 02540284 06FBB908 0010 0168 005A 261120083000"
    "01 04 00000064 30 01 1F"
)


def test_a_2013_location_report_byte_by_byte():
    header, body = parse_message(LOCATION)
    assert header == Header(0x0200, "013912345678", 7)
    loc = m.parse_location(body)
    assert loc == m.Location(
        0,
        3,
        39.0601,
        117.1602,
        16,
        360,
        90,
        1795134600.0,
        ((0x01, bytes.fromhex("00000064")), (0x30, b"\x1f")),
    )
    assert loc.positioned
    assert loc.to_ping() == {
        "ts": 1795134600.0,
        "lat": 39.0601,
        "lon": 117.1602,
        "spd": 10.0,
        "hdg": 90,
        "alt": 16,
        "alarm": 0,
    }


# 0x0200 body, 34 bytes: alarm 0x00000181 (bits 0 SOS, 7 under-voltage, 8 power cut), status
# 2 (positioned), the same place, time and motion as LOCATION; then the additional items
# 0x31 (GNSS satellites, 1 byte: 3) and 0x30 (signal strength, 1 byte).
ALARMED = bytes.fromhex(
    "00000181 00000002 02540284 06FBB908 0010 0168 005A 261120083000 31 01 03 30 01 1F"
)


def test_alarm_flags_and_satellites_travel_in_the_ping():
    loc = m.parse_location(ALARMED)
    assert isinstance(loc, m.Location)
    assert (loc.alarm, loc.satellites, loc.positioned) == (0x181, 3, True)
    assert loc.to_ping() == {
        "ts": 1795134600.0,
        "lat": 39.0601,
        "lon": 117.1602,
        "spd": 10.0,
        "hdg": 90,
        "alt": 16,
        "alarm": 0x181,
        "sat": 3,
    }
    # the positioned bit (status bit 1) cleared: 0 satellites in the fix, whatever 0x31 says
    unpositioned = m.parse_location(ALARMED[:4] + bytes(4) + ALARMED[8:])
    assert isinstance(unpositioned, m.Location)
    assert unpositioned.to_ping()["sat"] == 0
    # a 0x31 item of two bytes is no satellite count
    odd = m.parse_location(ALARMED[:28] + bytes.fromhex("31 02 0003"))
    assert isinstance(odd, m.Location) and odd.satellites is None
    assert "sat" not in odd.to_ping()


def test_south_and_west_bits_and_an_unpositioned_fix():
    # status 0x0C: south (bit 2) and west (bit 3), positioned bit (1) clear
    body = bytes.fromhex("00000000 0000000C 02540284 06FBB908 0000 0000 0000 260101000000")
    loc = m.parse_location(body)
    assert isinstance(loc, m.Location)
    assert (loc.lat, loc.lon, loc.positioned) == (-39.0601, -117.1602, False)
    assert loc.ts == 1767196800.0  # 2026-01-01 00:00 GMT+8 is 2025-12-31T16:00:00Z


def test_unknown_and_truncated_additional_items_are_skipped():
    base = LOCATION[12 : 12 + 28]
    loc = m.parse_location(base + bytes.fromhex("EE 02 AABB 01 04 0000"))  # last one cut short
    assert isinstance(loc, m.Location) and loc.extras == ((0xEE, b"\xaa\xbb"),)


def test_bad_time_and_bcd_and_short_bodies():
    base = bytearray(LOCATION[12 : 12 + 28])
    base[22:28] = bytes.fromhex("261320083000")  # month 13
    assert m.parse_location(bytes(base)) is Drop.BAD_TIME
    base[22:28] = bytes.fromhex("2611200830A0")  # a nibble above 9
    assert m.parse_location(bytes(base)) is Drop.BAD_BCD
    assert m.parse_location(bytes(base[:27])) is Drop.BAD_BODY


def test_a_2019_header_with_a_subpackage():
    # 0x0704, attributes 0x6005: version bit, subpackage bit, 5 body bytes; protocol version 1,
    # phone BCD[10] 00000000013912345678, serial 0x0102, part 2 of 3
    raw = bytes.fromhex("0704 6005 01 00000000013912345678 0102 0003 0002 0102030405")
    header, body = parse_message(raw)
    assert header == Header(0x0704, "00000000013912345678", 0x0102, 1, 0, 3, 2)
    assert body == bytes.fromhex("0102030405")
    assert build_message(header, body) == raw


def test_header_errors():
    assert parse_message(bytes.fromhex("0002 0000 0139123456 78")) is Drop.SHORT_FRAME
    assert parse_message(bytes.fromhex("0002 0001 013912345678 0001")) is Drop.LENGTH_MISMATCH
    assert parse_message(bytes.fromhex("0002 0000 0139123456F8 0001")) is Drop.BAD_BCD
    assert parse_message(bytes.fromhex("0002 2000 013912345678 0001 0002 0003")) is (
        Drop.BAD_SUBPACKAGE
    )
    assert parse_message(bytes.fromhex("0002 2000 013912345678 0001 0000 0000")) is (
        Drop.BAD_SUBPACKAGE
    )


def test_device_id_drops_leading_zeros():
    assert device_id("013912345678") == "13912345678"
    assert device_id("00000000013912345678") == "13912345678"
    assert device_id("000000000000") == "0"


def test_a_batch_of_two_blind_area_reports():
    item = LOCATION[12 : 12 + 28]
    # count 2, type 1 (blind-area supplement), then each item as length WORD + body
    body = bytes.fromhex("0002 01 001C") + item + bytes.fromhex("001C") + item
    assert m.parse_batch(body) == (1, [m.parse_location(item)] * 2)
    assert m.parse_batch(body[:-1]) is Drop.BAD_BODY  # the second item cut short
    assert m.parse_batch(body + b"\x00") is Drop.BAD_BODY  # bytes after the last item


def test_auth_2013_and_2019():
    assert m.parse_auth(b"abcd", None) == "abcd"
    # 2019: code length 4, the code, IMEI BYTE[15], software version BYTE[20]
    body = b"\x04abcd" + b"860000000000001" + b"V1.0".ljust(20, b"\x00")
    assert m.parse_auth(body, 1) == "abcd"
    assert m.parse_auth(b"\x09abc", 1) is Drop.BAD_BODY


def test_answers():
    # 0x8001: answered serial 7, answered id 0x0200, result 0
    assert m.build_general_response(7, 0x0200, m.OK) == bytes.fromhex("0007 0200 00")
    assert m.parse_general_response(bytes.fromhex("0007 0200 03")) == (7, 0x0200, 3)
    # 0x8100: answered serial 1, result 0, the code
    assert m.build_register_response(1, m.OK, "c0de") == bytes.fromhex("0001 00") + b"c0de"
    assert m.parse_register_response(bytes.fromhex("0001 00") + b"c0de") == (1, 0, "c0de")


def test_register_bodies_have_the_standards_lengths():
    # province, city WORDs; manufacturer, model, terminal id; plate colour BYTE; plate
    assert len(m.build_register(None, terminal_id="T1")) == 2 + 2 + 5 + 20 + 7 + 1
    assert len(m.build_register(1, terminal_id="T1", plate="A1")) == 2 + 2 + 11 + 30 + 30 + 1 + 2


lats = st.floats(-90, 90).map(lambda v: round(v, 6))
lons = st.floats(-180, 180).map(lambda v: round(v, 6))
times = st.integers(946684800, 4102444799 - 8 * 3600)  # 2000 to 2099 in GMT+8


@given(
    lats,
    lons,
    times,
    st.integers(0, 65535),
    st.integers(0, 359),
    st.integers(0, 65535),
    st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=10)), max_size=3),
)
def test_location_round_trip(lat, lon, ts, speed, direction, alt, extras):
    body = m.build_location(
        lat, lon, ts, speed=speed, direction=direction, alt_m=alt, extras=tuple(extras)
    )
    loc = m.parse_location(body)
    assert isinstance(loc, m.Location)
    assert math.isclose(loc.lat, lat, abs_tol=1e-9) and math.isclose(loc.lon, lon, abs_tol=1e-9)
    assert (loc.ts, loc.speed, loc.direction, loc.alt_m) == (ts, speed, direction, alt)
    assert loc.extras == tuple(extras) and loc.positioned


@given(
    st.integers(0, 0xFFFF),
    st.text("0123456789", min_size=1, max_size=12),
    st.integers(0, 0xFFFF),
    st.sampled_from([None, 1]),
    st.binary(max_size=300),
    st.integers(0, 3),
)
def test_header_round_trip(msg_id, phone, serial, version, body, parts):
    total, index = (parts, max(1, parts - 1)) if parts else (0, 0)
    width = 12 if version is None else 20
    header = Header(msg_id, phone.rjust(width, "0"), serial, version, 0, total, index)
    assert parse_message(build_message(header, body)) == (header, body)


def test_command_bodies_byte_by_byte():
    # 0x8202: interval WORD 5 s, validity DWORD 3600 s
    assert m.build_track(5, 3600) == bytes.fromhex("0005 00000E10")
    assert m.parse_track(bytes.fromhex("0005 00000E10")) == (5, 3600)
    # 0x8103: 2 parameters, each id DWORD, length BYTE 4, value DWORD: 0x0029 and 0x0027, 30 s
    params = bytes.fromhex("02 00000029 04 0000001E 00000027 04 0000001E")
    assert m.build_params({0x0029: 30, 0x0027: 30}) == params
    assert m.parse_params(params) == {
        0x29: bytes.fromhex("0000001E"),
        0x27: bytes.fromhex("0000001E"),
    }
    assert m.parse_params(params[:-1]) == Drop.BAD_BODY
    # 0x8300: flag 0x0C (bit 2 display, bit 3 TTS); 2019 also bits 0-1 3 (notice) and the
    # type byte 1 (notice); the text in GBK
    assert m.build_text("巡查", None) == bytes.fromhex("0C D1B2 B2E9")
    assert m.build_text("巡查", 1) == bytes.fromhex("0F 01 D1B2 B2E9")
    assert m.parse_text(bytes.fromhex("0F 01 D1B2 B2E9"), 1) == "巡查"
    # 0x0201: answered serial WORD 0x0102, then the location of ALARMED
    answer = m.parse_location_answer(bytes.fromhex("0102") + ALARMED)
    assert answer == (0x0102, m.parse_location(ALARMED))
    assert m.parse_location_answer(b"\x01") == Drop.BAD_BODY
