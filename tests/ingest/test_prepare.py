"""A batch of messages becomes rows, rejections and counters, device names intact."""

from __future__ import annotations

import time
from pathlib import Path

from geofence.flags import FixFlagger
from ingest.config import IngestSettings
from ingest.message import Message
from ingest.prepare import Preparer
from tracks.store import Store
from tracks.writer import PingWriter

TOPIC = "gridpatrol/v1/ping/"


def test_devices_keep_their_names_when_one_has_no_good_ping(tmp_path: Path):
    now = time.time()
    t0 = round(now - 60)
    messages = [
        # listed first: every ping of "gone" is rejected, so it has no rows
        Message(TOPIC + "gone", b'{"ts": %d, "lat": 91, "lon": 117.16}' % t0, now),
        Message(
            TOPIC + "kept",
            b'[{"ts": %d, "lat": 39.06, "lon": 117.16, "acc": 80},'
            b' {"ts": %d, "lat": 39.06, "lon": 117.16}]' % (t0 + 10, t0),
            now,
        ),
        Message(TOPIC + "also", b'{"ts": %d, "lat": 39.07, "lon": 117.17}' % t0, now),
        Message(TOPIC + "kept", b'{"ts": %d, "lat": 39.06, "lon": 117.16}' % t0, now),  # again
    ]
    with Store(tmp_path / "gp.db") as store:
        settings = IngestSettings()
        batch = Preparer(settings).prepare(messages)
        assert batch.pings["flags"].to_list() == [0, 0, 0]  # set at commit, in fix-time order
        writer = PingWriter(store, FixFlagger(settings.max_acc_m, settings.max_speed_mps))
        written = writer.write(batch.pings, batch.rejected, batch.counters, batch.events)
    rows = batch.pings.select("device_id", "ts", "grid_id").rows()
    assert sorted(
        (d, int(ts.timestamp()), int(f), g)
        for (d, ts, g), f in zip(rows, written.flags, strict=True)
    ) == [
        ("also", t0, 0, None),
        ("kept", t0, 0, None),
        ("kept", t0 + 10, 1, None),  # acc 80 m: poor accuracy
    ]
    assert batch.rejected["reason"].to_list() == ["lat_out_of_range"]
    assert batch.counters["received"] == 5
    assert batch.counters["duplicates"] == 1
