"""The writer's queue is bounded: past HELD_BATCHES batches the connection stops reading.

``put`` never waits (it runs in paho's callback, and paho's loop must go on writing
acknowledgements and keep-alives); ``may_read`` is the gate the connection asks before it
reads the socket.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ingest.batcher import BATCH_BYTES, HELD_BATCHES, Batcher
from ingest.config import IngestSettings
from ingest.message import Message
from ingest.prepare import Preparer
from tracks.queries import read_stats
from tracks.store import Store
from tracks.writer import PingWriter


def fill_then_drain(
    tmp_path: Path, settings: IngestSettings, messages: list[Message]
) -> dict[str, object]:
    """Put messages as a gated connection would, while the writer is stopped: each put
    only after ``may_read`` allows it. Once the gate closes, start the writer.

    Returns the puts made while the writer was stopped, the queue's length then, whether
    the gate opened again once the writer ran, and the counters at the end."""
    with Store(tmp_path / "gp.db") as store:
        batcher = Batcher(
            settings,
            Preparer(settings),
            PingWriter(store),
            ack=lambda _: None,
            read_through_after_s=3600,
        )
        put = [0]
        closed = threading.Event()

        def connection() -> None:
            for m in messages:
                while not batcher.may_read(wait_s=0.01):
                    closed.set()
                batcher.put(m)
                put[0] += 1

        mqtt = threading.Thread(target=connection)
        mqtt.start()
        assert closed.wait(10), "the gate never closed"
        held_puts, held = put[0], batcher.pending()
        writer = threading.Thread(target=batcher.run)
        writer.start()
        mqtt.join(10)
        assert not mqtt.is_alive() and put[0] == len(messages)
        batcher.stop()
        writer.join(10)
        return {"puts": held_puts, "held": held, "stats": read_stats(store)}


def test_gate_closes_while_the_queue_is_full_and_opens_when_the_writer_takes(tmp_path: Path):
    settings = IngestSettings(batch_rows=10, batch_age_ms=10)
    now = time.time()
    messages = [
        Message(
            "gridpatrol/v1/ping/q-1", b'{"ts": %f, "lat": 39.06, "lon": 117.16}' % (now - i), now
        )
        for i in range(1, 101)
    ]
    run = fill_then_drain(tmp_path, settings, messages)
    # the writer was not running: the gate closed when the queue held HELD_BATCHES batches
    assert run["puts"] == run["held"] == HELD_BATCHES * 10
    stats = run["stats"]
    assert isinstance(stats, dict) and stats["stored"] == 100


def test_large_payloads_fill_the_queue_by_bytes(tmp_path: Path):
    """Junk of 1 MiB a message (rejected as too large) is held by bytes, not rows."""
    junk = b"x" * (1024 * 1024)
    messages = [Message("gridpatrol/v1/ping/q-2", junk, time.time()) for _ in range(100)]
    run = fill_then_drain(tmp_path, IngestSettings(batch_age_ms=10), messages)
    assert run["held"] == HELD_BATCHES * (BATCH_BYTES // len(junk))
    stats = run["stats"]
    assert isinstance(stats, dict) and stats["rejected"] == {"payload_too_large": 100}


def test_a_stalled_writer_lets_reading_through_after_the_limit(tmp_path: Path):
    """With the writer stopped, the gate stays closed for read_through_after_s, then opens
    (so paho can read the broker's PINGRESP) and counts it once."""
    settings = IngestSettings(batch_rows=10)
    with Store(tmp_path / "gp.db") as store:
        batcher = Batcher(
            settings,
            Preparer(settings),
            PingWriter(store),
            ack=lambda _: None,
            read_through_after_s=0.5,
        )
        now = time.time()
        for i in range(HELD_BATCHES * 10):
            batcher.put(
                Message(
                    "gridpatrol/v1/ping/q-3", b'{"ts": %f, "lat": 1, "lon": 1}' % (now - i), now
                )
            )
        started = time.monotonic()
        assert not batcher.may_read(wait_s=0.01)
        while not batcher.may_read(wait_s=0.01):
            assert time.monotonic() - started < 5, "the gate never gave way"
        waited = time.monotonic() - started
        assert 0.5 <= waited < 2.0
        assert batcher.may_read(wait_s=0.01)
        assert batcher.state.read_throughs == 1
        backlog = batcher.backlog()
        assert backlog.messages == HELD_BATCHES * 10
        assert backlog.oldest_age_s >= 0.5 and backlog.stalled_s >= 0.5
