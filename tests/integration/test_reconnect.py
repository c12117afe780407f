"""What happens at each point of a reconnect (docs/operations.md, "Reconnects"):

1. Messages received on connection 1 are in a batch the writer is committing when the
   connection drops (here: the broker restarts; it keeps the session on disk).
2. The commit completes while disconnected. Its acknowledgements are NOT sent: a packet id
   belongs to the connection it came on, and on the next connection it may name another
   message (the connection's generation moves on at the disconnect, and acks go only to
   messages of the current generation). The rows are stored.
3. Connection 2 (session present): the broker sends the unacknowledged messages again.
   Their rows are stored already, so they count as duplicates; they are acknowledged on
   connection 2. Nothing is lost (the broker kept them until acknowledged) and nothing is
   stored twice ((device_id, ts) is unique).
4. A later start with the same client id gets nothing more: every message was acknowledged.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from gridpatrol.compose import IngestProcess
from gridpatrol.roles import ServeOptions
from ingest.config import IngestSettings
from tests.mqtt_helpers import publish_all, running, wait_for
from tests.processes import Brokers
from tests.stores import HeldWrites
from tracks.queries import read_stats

pytestmark = pytest.mark.broker


def test_each_point_of_a_reconnect(
    brokers: Brokers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    HeldWrites.install(monkeypatch)
    broker = brokers(persistence=True)
    settings = IngestSettings(
        broker=broker.url,
        client_id=f"rc-{uuid.uuid4().hex[:6]}",
        session_expiry_s=300,
        batch_age_ms=50,
    )
    now = time.time()
    messages = [
        (
            f"gridpatrol/v1/ping/rc-{i}",
            json.dumps({"ts": now - 60 + i, "lat": 39.06, "lon": 117.16}).encode(),
        )
        for i in range(10)
    ]
    service = IngestProcess(ServeOptions(db=tmp_path / "gp.db"), settings)
    sent: list[tuple[int, int]] = []  # (connection generation, messages acknowledged)
    real_ack = service.mqtt.ack

    def ack(batch: list) -> None:
        sent.append(
            (
                service.mqtt.generation,
                sum(m.generation == service.mqtt.generation for m in batch),
            )
        )
        real_ack(batch)

    service.batcher.ack = ack
    HeldWrites.reset()
    with running(service):
        publish_all(broker, messages)
        assert HeldWrites.writing.wait(10)  # point 1: the batch is being written
        broker.stop()
        wait_for(lambda: not service.mqtt.connected.is_set(), what="serve disconnected")
        HeldWrites.hold.clear()  # point 2: committed while disconnected
        wait_for(lambda: service.batcher.state.batches == 1, what="the first commit")
        assert sent == [(2, 0)]  # none goes out for connection 1's messages (generation 1)
        assert read_stats(service.store)["stored"] == 10
        broker.start()  # point 3: the broker sends the ten again
        wait_for(
            lambda: read_stats(service.store)["received"] == 20,
            timeout_s=30,
            what="the ten redelivered",
        )
        wait_for(lambda: service.batcher.backlog().messages == 0, what="all acknowledged")
        stats = read_stats(service.store)
    assert stats["stored"] == 10 and stats["duplicates"] == 10
    # connection 2 is generation 3 (the disconnect was 2): the ten acknowledged on it
    assert sent[0] == (2, 0) and sum(n for g, n in sent[1:] if g == 3) == 10
    again = IngestProcess(ServeOptions(db=tmp_path / "gp.db"), settings)  # point 4
    with running(again):
        time.sleep(1.0)  # a redelivery would come at once after the subscription
        assert read_stats(again.store)["received"] == 20
