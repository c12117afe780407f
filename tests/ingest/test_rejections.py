"""Rejections as rows: one per message, payloads cut short, the offending devices counted."""

from __future__ import annotations

import hashlib
import json
import time

from ingest.config import IngestSettings
from ingest.message import Message
from ingest.prepare import Preparer
from ingest.rejections import STORED_PAYLOAD_BYTES, DeviceRejections
from tracks.queries import read_stats
from tracks.store import Store

NATIVE = "gridpatrol/v1/ping/"


def junk(size: int = 262144) -> bytes:
    """The review's payload: ``[0,0,...]`` of up to 256 KiB, 131,071 items."""
    return b"[" + b",".join([b"0"] * ((size - 1) // 2)) + b"]"


def test_an_array_of_junk_is_one_row_counted_in_pings(tmp_path):
    payload = junk()
    now = time.time()
    started = time.perf_counter()
    batch = Preparer(IngestSettings()).prepare([Message(NATIVE + "junk-1", payload, now)])
    took = time.perf_counter() - started
    assert batch.rejected.height == 1
    (row,) = batch.rejected.to_dicts()
    assert row["reason"] == "batch_too_large" and row["item"] == 0
    assert "131071 pings rejected (batch_too_large 131071)" in row["detail"]
    # the first bytes and a hash of the whole, not the whole
    assert row["payload"] == payload[:STORED_PAYLOAD_BYTES]
    assert f"{len(payload)} bytes" in row["detail"]
    assert hashlib.sha256(payload).hexdigest() in row["detail"]
    assert batch.counters == {
        "received": 131071,
        "rejected.batch_too_large": 131071,
        "duplicates": 0,
    }
    assert batch.rejected_by_device == {"junk-1": 131071}
    assert took < 0.1, f"{took:.3f} s to prepare one message"
    with Store(tmp_path / "gp.db") as store:
        store.write_batch(batch.pings, batch.rejected, batch.counters, batch.events)
        stats = read_stats(store)
        rows = store.cursor().execute("SELECT count(*) FROM rejected").fetchone()
    assert rows == (1,)
    assert stats["received"] == 131071 and stats["rejected"] == {"batch_too_large": 131071}


def test_the_bad_pings_of_one_message_make_one_row_with_their_count():
    now = time.time()
    mixed = [
        {"ts": now, "lat": 39.06, "lon": 117.16},  # good
        {"ts": now, "lat": 200, "lon": 117.16},  # lat_out_of_range
        {"ts": now + 7200, "lat": 39.06, "lon": 117.16},  # ts_future
        {"ts": now, "lat": 39.06, "lon": 200},  # lon_out_of_range
        {"ts": "noon", "lat": 39.06, "lon": 117.16},  # bad_timestamp
    ]
    messages = [
        Message(NATIVE + "mix-1", json.dumps(mixed).encode(), now),
        Message(NATIVE + "mix-2", b"[0, 1, 2]", now),
        Message(NATIVE + "mix-2", b'{"ts": 1, "lat": 1}', now),
        Message("not/a/ping", b"{}", now),
    ]
    batch = Preparer(IngestSettings()).prepare(messages)
    rows = batch.rejected.to_dicts()
    assert [r["topic"] for r in rows] == [m.topic for m in messages[:1] + messages[1:]]
    first = rows[0]
    assert (first["item"], first["reason"]) == (1, "lat_out_of_range")
    assert first["detail"].startswith(
        "4 pings rejected (bad_timestamp 1, lat_out_of_range 1, lon_out_of_range 1, ts_future 1); "
        "item 1: lat=200.0 lon=117.16"
    )
    assert first["payload"] == messages[0].payload  # short: kept whole, no hash
    assert "sha256" not in first["detail"]
    assert (rows[1]["item"], rows[1]["reason"]) == (0, "wrong_type")
    assert rows[1]["detail"].startswith("3 pings rejected (wrong_type 3); item 0: ")
    assert rows[2]["reason"] == "missing_field" and rows[3]["reason"] == "bad_topic"
    assert batch.pings.height == 1
    assert batch.counters["received"] == 1 + 4 + 3 + 1 + 1
    rejected = {k: v for k, v in batch.counters.items() if k.startswith("rejected.")}
    assert sum(rejected.values()) == 9  # pings, not rows
    assert batch.rejected_by_device == {"mix-1": 4, "mix-2": 4}  # no device for a bad topic


def test_devices_counted_stay_bounded_and_a_steady_offender_stays_shown():
    counts = DeviceRejections(shown=3, tracked=100)
    counts.add({"offender": 50, "other": 2})
    for batch in range(100):  # a device minting ids: 10,000 of them, one rejection each
        counts.add({f"minted-{batch}-{i}": 1 for i in range(100)})
        counts.add({"offender": 1})
    assert len(counts._counts) <= 200
    top = counts.top()
    assert len(top) == 3
    assert next(iter(top.items())) == ("offender", 150)
