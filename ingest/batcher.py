"""The writer: collects messages, flushes on rows or age, commits, then acknowledges.

The MQTT callback only appends to a deque; this loop (one thread) does all the work. The
queue is bounded by the MQTT receive window: the broker sends at most ``receive_maximum``
unacknowledged QoS 1 messages, and nothing is acknowledged before it is committed.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ingest.config import IngestSettings
from ingest.prepare import Message, PreparedBatch, Preparer
from tracks.store import Store, StoreError

log = logging.getLogger("gridpatrol.ingest")

#: Wait between attempts to write a batch the database refused.
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 5.0)


def count_rows(payload: bytes) -> int:
    """A cheap estimate of the pings in a payload, for the rows threshold."""
    return payload.count(b"{") if payload[:1] == b"[" else 1


@dataclass
class BatcherState:
    """What the writer has done so far: for health, metrics and tests."""

    batches: int = 0
    messages: int = 0
    last_flush_s: float = 0.0
    last_error: str = ""
    failing_since: float | None = None


class Batcher:
    def __init__(
        self,
        settings: IngestSettings,
        preparer: Preparer,
        store: Store,
        *,
        ack: Callable[[list[Message]], None],
        on_stored: Callable[[PreparedBatch], None] | None = None,
    ) -> None:
        self.settings = settings
        self.preparer = preparer
        self.store = store
        self.ack = ack
        self.on_stored = on_stored
        self.state = BatcherState()
        self._queue: collections.deque[Message] = collections.deque()
        self._rows_in = 0  # written by put() only
        self._rows_out = 0  # written by the writer only
        self._wake = threading.Event()
        self._stopping = threading.Event()

    def put(self, message: Message) -> None:
        """Called from the MQTT thread: must stay cheap."""
        self._queue.append(message)
        self._rows_in += count_rows(message.payload)
        if self._rows_in - self._rows_out >= self.settings.batch_rows:
            self._wake.set()

    def pending(self) -> int:
        return len(self._queue)

    def stop(self) -> None:
        """Ask the loop to flush what it holds and return."""
        self._stopping.set()
        self._wake.set()

    def run(self) -> None:
        """The writer loop; returns after :meth:`stop` once everything held is flushed."""
        age = self.settings.batch_age_ms / 1000.0
        while True:
            if not self._queue:
                if self._stopping.is_set():
                    return
                self._wake.wait(0.05)
                self._wake.clear()
                continue
            wait = self._queue[0].received_at + age - time.time()
            full = self._rows_in - self._rows_out >= self.settings.batch_rows
            if not full and wait > 0 and not self._stopping.is_set():
                self._wake.wait(wait)
                self._wake.clear()
                continue
            taken = [self._queue.popleft() for _ in range(len(self._queue))]
            self._rows_out += sum(count_rows(m.payload) for m in taken)
            if not self._flush_until_written(taken):
                return

    def _flush_until_written(self, messages: list[Message]) -> bool:
        """Write one batch, retrying while the database fails; False if stopped first."""
        attempt = 0
        while True:
            try:
                self.flush(messages)
                return True
            except StoreError as exc:
                now = time.time()
                if self.state.failing_since is None:
                    self.state.failing_since = now
                self.state.last_error = str(exc)
                log.error("batch of %d messages not stored, not acknowledged: %s", len(messages), exc)
                if self._stopping.is_set():
                    return False
                delay = RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)]
                attempt += 1
                if self._stopping.wait(delay):
                    return False

    def flush(self, messages: list[Message]) -> None:
        """Prepare, commit in one transaction, hand to the live stage, then acknowledge."""
        started = time.perf_counter()
        batch = self.preparer.prepare(messages)
        self.store.write_batch(batch.pings, batch.rejected, batch.counters, batch.events)
        if self.state.failing_since is not None:
            log.warning("database writable again: resuming")
        self.state.failing_since = None
        self.state.last_error = ""
        if self.on_stored is not None:
            self.on_stored(batch)
        self.ack(messages)
        elapsed = time.perf_counter() - started
        self.state.batches += 1
        self.state.messages += len(messages)
        self.state.last_flush_s = elapsed
