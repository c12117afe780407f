"""The writer's queue is bounded: past HELD_BATCHES batches the MQTT thread waits."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ingest.batcher import BATCH_BYTES, HELD_BATCHES, Batcher
from ingest.config import IngestSettings
from ingest.prepare import Message, Preparer
from tracks.queries import read_stats
from tracks.store import Store


def fill_then_drain(tmp_path: Path, settings: IngestSettings, messages: list[Message]) -> dict:
    """Put the messages from an "MQTT" thread while the writer is stopped; once put is
    waiting, start the writer. Returns the puts returned before the writer started, the
    queue's length then, and the counters at the end."""
    with Store(tmp_path / "gp.db") as store:
        batcher = Batcher(settings, Preparer(settings, store), store, ack=lambda _: None)
        put = [0]

        def publish() -> None:
            for m in messages:
                batcher.put(m)
                put[0] += 1

        mqtt = threading.Thread(target=publish)
        mqtt.start()
        time.sleep(0.5)
        returned, held = put[0], batcher.pending()
        writer = threading.Thread(target=batcher.run)
        writer.start()
        mqtt.join(10)
        assert put[0] == len(messages)
        batcher.stop()
        writer.join(10)
        return {"returned": returned, "held": held, "stats": read_stats(store)}


def test_put_waits_while_the_queue_is_full_and_resumes_when_the_writer_takes(tmp_path: Path):
    settings = IngestSettings(batch_rows=10, batch_age_ms=10)
    now = time.time()
    messages = [
        Message(
            "gridpatrol/v1/ping/q-1", b'{"ts": %f, "lat": 39.06, "lon": 117.16}' % (now - i), now
        )
        for i in range(1, 101)
    ]
    run = fill_then_drain(tmp_path, settings, messages)
    # the writer was not running: the queue was full, the put that filled it waited
    assert run["returned"] == HELD_BATCHES * 10 - 1
    assert run["held"] == HELD_BATCHES * 10
    assert run["stats"]["stored"] == 100


def test_large_payloads_fill_the_queue_by_bytes(tmp_path: Path):
    """Junk of 1 MiB a message (rejected as too large) is held by bytes, not rows."""
    junk = b"x" * (1024 * 1024)
    messages = [Message("gridpatrol/v1/ping/q-2", junk, time.time()) for _ in range(100)]
    run = fill_then_drain(tmp_path, IngestSettings(batch_age_ms=10), messages)
    assert run["held"] == HELD_BATCHES * (BATCH_BYTES // len(junk))
    assert run["stats"]["rejected"] == {"payload_too_large": 100}
