"""The decoder's two readings of a native payload give the same columns, in message order."""

from __future__ import annotations

import json
import math

import numpy as np

from ingest.decode import Decoder
from ingest.reasons import Reason

NATIVE = "gridpatrol/v1/ping/"


def decoder() -> Decoder:
    return Decoder(max_payload_bytes=262144, max_batch_items=1000)


def test_every_spelling_of_one_fix_gives_the_same_columns():
    spellings = [
        {"ts": 1700000000, "lat": 39.06, "lon": 117.16, "acc": 5},  # the common shape
        {"ts": 1700000000, "lat": 39.06, "lon": 117.16, "acc": 5, "spd": None},  # a null
        {"ts": 1700000000, "lat": 39.06, "lon": 117.16, "acc": 5, "id": "bike-1"},  # an id
        {"ts": "2023-11-14T22:13:20Z", "lat": 39.06, "lon": 117.16, "acc": 5},  # RFC 3339
        {"ts": 1700000000, "lat": 39.06, "lon": 117.16, "acc": 5, "extra": {"a": [1]}},
    ]
    out = decoder().decode([(NATIVE + "bike-1", json.dumps(p).encode()) for p in spellings])
    assert out.rejections == []
    assert list(out.ts) == [1700000000.0] * 5
    assert list(out.acc) == [5.0] * 5
    assert all(math.isnan(v) for v in out.spd)
    assert sorted(out.message.tolist()) == [0, 1, 2, 3, 4]


def test_columns_line_up_with_their_messages_and_items():
    messages = [
        (NATIVE + "a", b'[{"ts": 10, "lat": 1, "lon": 2}, {"ts": 11, "lat": 1, "lon": 3}]'),
        (NATIVE + "b", b'{"ts": 20, "lat": 1, "lon": 4, "id": "b", "bat": 50}'),
        ("owntracks/li/phone", b'{"_type": "location", "tst": 30, "lat": 1, "lon": 5, "vel": 36}'),
        (
            NATIVE + "c",
            b'[{"ts": 40, "lat": 1, "lon": 6}, {"ts": 41, "lat": 1, "lon": 7, "id": "x"}]',
        ),
        (NATIVE + "d", b'{"ts": 50, "lat": 1, "lon": 8, "sent": 51}'),
    ]
    out = decoder().decode(messages)
    rows = sorted(
        zip(
            out.message.tolist(),
            out.item.tolist(),
            out.device_names[out.device_code].tolist(),
            out.lon.tolist(),
            strict=True,
        )
    )
    assert rows == [
        (0, 0, "a", 2.0),
        (0, 1, "a", 3.0),
        (1, 0, "b", 4.0),
        (2, 0, "li.phone", 5.0),
        (3, 0, "c", 6.0),
        (4, 0, "d", 8.0),
    ]
    by_lon = {lon: k for k, lon in enumerate(out.lon.tolist())}
    assert out.bat[by_lon[4.0]] == 50.0
    assert out.spd[by_lon[5.0]] == 10.0  # 36 km/h
    assert out.sent_at[by_lon[8.0]] == 51.0
    assert np.isnan(out.sent_at[by_lon[2.0]])
    assert [(r.message, r.item, r.reason) for r in out.rejections] == [(3, 1, Reason.ID_MISMATCH)]


def test_empty_and_too_long_arrays_are_rejected_whole():
    """Whole: one rejection standing for every item (a 256 KiB array holds 131,071)."""
    long = json.dumps([{"ts": 10 + i, "lat": 1, "lon": 2} for i in range(3)]).encode()
    out = Decoder(max_payload_bytes=262144, max_batch_items=2).decode(
        [(NATIVE + "a", b"[]"), (NATIVE + "a", long)]
    )
    assert len(out) == 0
    reasons = [(r.message, r.item, r.reason, r.count) for r in out.rejections]
    assert reasons == [(0, 0, Reason.EMPTY_BATCH, 1), (1, 0, Reason.BATCH_TOO_LARGE, 3)]


def test_a_negative_accuracy_is_rejected_in_every_spelling():
    """An accuracy is a radius: acc < 0 is impossible (acc_out_of_range); 0 is a fix."""
    messages = [
        (NATIVE + "a", b'{"ts": 10, "lat": 1, "lon": 2, "acc": -1}'),  # the common shape
        (NATIVE + "b", b'{"ts": 10, "lat": 1, "lon": 2, "acc": -0.5, "id": "b"}'),
        (
            NATIVE + "c",
            b'[{"ts": 10, "lat": 1, "lon": 2, "acc": 0}, {"ts": 11, "lat": 1, "lon": 3, "acc": -3}]',
        ),
        ("owntracks/li/phone", b'{"_type": "location", "tst": 30, "lat": 1, "lon": 5, "acc": -12}'),
    ]
    out = decoder().decode(messages)
    assert sorted((r.message, r.item, r.reason) for r in out.rejections) == [
        (0, 0, Reason.ACC_OUT_OF_RANGE),
        (1, 0, Reason.ACC_OUT_OF_RANGE),
        (2, 1, Reason.ACC_OUT_OF_RANGE),
        (3, 0, Reason.ACC_OUT_OF_RANGE),
    ]
    assert out.lon.tolist() == [2.0] and out.acc.tolist() == [0.0]  # c's first ping stands
