"""The batcher: collects messages, flushes on rows or age, commits through the writer
(:class:`tracks.writer.PingWriter`), then acknowledges.

The MQTT callback only appends to a deque and never waits; two threads do the work
(prepare, commit). Nothing is acknowledged before it is committed. The queue is bounded
twice: by the MQTT receive window (the broker should send at most ``receive_maximum``
unacknowledged QoS 1 messages) and, because a broker may not keep to it, by
:data:`HELD_BATCHES` batches of rows or bytes: past that, :meth:`Batcher.may_read` tells the
connection to stop reading the socket (TCP then holds the broker back) while paho's loop
goes on writing acknowledgements and keep-alives.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from base.health import Reading, counter, detail, gauge, measure
from ingest.config import IngestSettings
from ingest.message import Message
from ingest.prepare import PreparedBatch, Preparer
from ingest.rejections import DeviceRejections
from tracks.store import StoreError
from tracks.writer import PingWriter

log = logging.getLogger("gridpatrol.ingest")

#: Wait between attempts to write a batch the database refused.
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 5.0)

#: The queue holds at most this many batches (in rows or bytes); past that the connection
#: stops reading the socket (:meth:`Batcher.may_read` says so; :meth:`Batcher.put` never
#: waits), so TCP holds the broker back. The broker's receive window alone is not a bound:
#: Mosquitto 2.0.11 was seen sending far more unacknowledged messages than the receive
#: maximum once acknowledgements flow.
HELD_BATCHES = 4

#: While the queue is full, the connection asks :meth:`Batcher.may_read` at most this long
#: before paho's loop goes on to write acknowledgements and keep-alives.
READ_WAIT_S = 0.05

#: For this long after the writer took a full batch, ingest counts as draining a backlog.
DRAINING_HOLD_S = 2.0

#: A batch also ends at this many payload bytes, so that large payloads (up to
#: ``max_payload_bytes`` each) bound a batch's memory, and the queue's, as rows do.
BATCH_BYTES = 16 * 1024 * 1024


def count_rows(payload: bytes) -> int:
    """A cheap estimate of the pings in a payload, for the rows threshold."""
    return payload.count(b"{") if payload[:1] == b"[" else 1


@dataclass
class BatcherState:
    """What the writer has done so far: for health, metrics and tests (base/health.py)."""

    batches: int = counter("gridpatrol_batches", "batches committed")
    messages: int = detail("messages committed and acknowledged", default=0)
    last_flush_s: float = gauge(
        "gridpatrol_batch_seconds_last", "prepare-to-ack time of the last batch", default=0.0
    )
    last_error: str = detail("why the last write failed", default="")
    failing_since: float | None = gauge(
        "gridpatrol_write_failing",
        "1 while database writes fail",
        default=None,
        number=lambda since: 0.0 if since is None else 1.0,
    )
    last_commit_at: float | None = detail("epoch seconds of the last commit")
    read_throughs: int = counter(
        "gridpatrol_read_throughs", "times a full queue gave way to keep the connection"
    )
    retries: int = counter(
        "gridpatrol_commits_retried",
        "batch commits retried whole after a failure (nothing acknowledged before)",
    )

    @measure(Reading("detail", "ok, or since when and why writes fail", key="writes"))
    def writes(self) -> str:
        if self.failing_since is None:
            return "ok"
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.failing_since))
        return f"failing since {since}: {self.last_error}"

    def problems(self) -> list[str]:
        if self.failing_since is None:
            return []
        return ["database writes failing; messages are not acknowledged"]


QUEUE_DEPTH = Reading(
    "gauge", "messages received, not yet batched", "gridpatrol_queue_depth", "queue_depth"
)

#: Messages waiting and no commit for this long: /health reports a stall.
STALL_AFTER_S = 30.0


@dataclass(frozen=True)
class Backlog:
    """Messages received but not yet acknowledged, for /health and /metrics."""

    messages: int = gauge(
        "gridpatrol_backlog_messages",
        "messages received, not yet acknowledged",
        key="backlog.messages",
    )
    oldest_age_s: float = gauge(
        "gridpatrol_backlog_oldest_seconds",
        "age of the oldest message not yet acknowledged (0 when none)",
        default=0.0,
        key="backlog.oldest_age_s",
        digits=3,
    )
    stalled_s: float = gauge(
        "gridpatrol_stalled_seconds",
        "seconds without a commit while messages wait (since the oldest arrived, if "
        "later; 0 when none wait)",
        default=0.0,
        key="backlog.stalled_s",
        digits=3,
    )

    def problems(self) -> list[str]:
        if self.stalled_s <= STALL_AFTER_S:
            return []
        return [
            f"stalled: no commit for {self.stalled_s:.0f} s while {self.messages} messages wait"
        ]


class Batcher:
    HEALTH_PARTS = ("state", "backlog", "rejections")  # base/health.py

    def __init__(
        self,
        settings: IngestSettings,
        preparer: Preparer,
        writer: PingWriter,
        *,
        ack: Callable[[list[Message]], None],
        on_committed: Callable[[PreparedBatch], None] | None = None,
        read_through_after_s: float = 15.0,
    ) -> None:
        self.settings = settings
        self.preparer = preparer
        self.writer = writer
        self.ack = ack
        self.on_committed = on_committed
        self.state = BatcherState()
        self.rejections = DeviceRejections()  # by device, for /metrics
        self._queue: collections.deque[Message] = collections.deque()
        self._rows_in = self._bytes_in = 0  # written by put() only
        self._rows_out = self._bytes_out = 0  # written by the writer only
        self._wake = threading.Event()
        self._room = threading.Event()  # set by the writer when it takes from the queue
        self._stopping = threading.Event()
        self._handoff: queue.Queue[tuple[list[Message], PreparedBatch] | None] = queue.Queue(1)
        self._error: BaseException | None = None
        self._last_full_at = -float("inf")  # monotonic time the writer last took a full batch
        self._read_through_after_s = read_through_after_s
        self._full_since: float | None = None  # monotonic; set by may_read() only
        self._reading_through = False  # likewise
        # taken but not yet acknowledged: (oldest received_at, messages) per batch, in order
        self._in_flight: collections.deque[tuple[float, int]] = collections.deque()

    def put(self, message: Message) -> None:
        """Called from the MQTT thread: cheap, never waits (see :meth:`may_read`)."""
        self._queue.append(message)
        self._rows_in += count_rows(message.payload)
        self._bytes_in += len(message.payload)
        if not self._wake.is_set() and self._holds(1):
            self._wake.set()

    def may_read(self, wait_s: float = READ_WAIT_S) -> bool:
        """Called by the connection before it reads the socket: False while the queue holds
        HELD_BATCHES batches (after waiting up to ``wait_s`` for room).

        Not reading for long would stop paho from reading the broker's PINGRESP, and paho
        drops a connection whose ping is not answered within the keep-alive. So after
        ``read_through_after_s`` of a full queue, reading resumes until the writer makes
        room: the writer then commits nothing and acknowledges nothing, and the broker sends
        no more than its receive window of unacknowledged messages.
        """
        if not self._holds(HELD_BATCHES):
            self._full_since = None
            return True
        now = time.monotonic()
        if self._full_since is None:
            self._full_since = now
        elif now - self._full_since >= self._read_through_after_s:
            if not self._reading_through:
                self._reading_through = True
                self.state.read_throughs += 1
                log.warning(
                    "writer stalled %.0f s with a full queue: reading on to keep the "
                    "broker connection (bounded by the receive window)",
                    now - self._full_since,
                )
            return True
        self._reading_through = False
        self._room.clear()
        if self._holds(HELD_BATCHES):
            self._room.wait(wait_s)
        return not self._holds(HELD_BATCHES)

    @measure(QUEUE_DEPTH)
    def pending(self) -> int:
        return len(self._queue)

    def draining(self) -> bool:
        """Whether a backlog is being worked through: a full batch waits, or one was taken
        within the last DRAINING_HOLD_S (messages then arrive as fast as they are stored)."""
        recent = time.monotonic() - self._last_full_at < DRAINING_HOLD_S
        return recent or self._holds(1)

    def backlog(self) -> Backlog:
        """Received, not yet acknowledged: the queue plus the batches being written."""
        in_flight = list(self._in_flight)
        messages = len(self._queue) + sum(n for _, n in in_flight)
        if not messages:
            return Backlog(0, 0.0, 0.0)
        try:
            head = [self._queue[0].received_at]
        except IndexError:  # the writer took it meanwhile
            head = []
        now = time.time()
        oldest = min([t for t, _ in in_flight] + head, default=now)
        since = max(oldest, self.state.last_commit_at or oldest)
        return Backlog(messages, now - oldest, now - since)

    def _holds(self, batches: int) -> bool:
        """Whether the queue holds this many batches' worth, in rows or in bytes."""
        return (
            self._rows_in - self._rows_out >= batches * self.settings.batch_rows
            or self._bytes_in - self._bytes_out >= batches * BATCH_BYTES
        )

    def stop(self) -> None:
        """Ask the loop to flush what it holds and return."""
        self._stopping.set()
        self._wake.set()

    def run(self) -> None:
        """The batching loop; returns after :meth:`stop` once everything held is flushed.

        Two stages overlap: this thread prepares batch N+1 (decode, validate, assign grids)
        while the commit thread writes batch N (DuckDB releases the interpreter lock) and
        flags it in the write's transaction, where the stored fixes are known exactly.
        """
        committer = threading.Thread(target=self._commit_loop, name="commit", daemon=True)
        committer.start()
        try:
            self._batch_loop(committer)
        finally:
            self._put(None, committer)
            committer.join()
        if self._error is not None:
            raise self._error

    def _batch_loop(self, committer: threading.Thread) -> None:
        age = self.settings.batch_age_ms / 1000.0
        while committer.is_alive():
            if not self._queue:
                if self._stopping.is_set():
                    return
                self._wake.wait(0.05)
                self._wake.clear()
                continue
            wait = self._queue[0].received_at + age - time.time()
            full = self._holds(1)
            if not full and wait > 0 and not self._stopping.is_set():
                self._wake.wait(wait)
                self._wake.clear()
                continue
            taken, rows, size = [], 0, 0
            # a batch's memory is bounded, however long the queue has grown
            while self._queue and rows < self.settings.batch_rows and size < BATCH_BYTES:
                taken.append(self._queue.popleft())
                rows += count_rows(taken[-1].payload)
                size += len(taken[-1].payload)
            if rows >= self.settings.batch_rows or size >= BATCH_BYTES:
                self._last_full_at = time.monotonic()
            self._rows_out += rows
            self._bytes_out += size
            self._in_flight.append((taken[0].received_at, len(taken)))
            self._room.set()
            self._put((taken, self.preparer.prepare(taken)), committer)

    def _put(
        self, item: tuple[list[Message], PreparedBatch] | None, committer: threading.Thread
    ) -> None:
        while committer.is_alive():
            try:
                self._handoff.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _commit_loop(self) -> None:
        try:
            while True:
                item = self._handoff.get()
                if item is None:
                    return
                messages, batch = item
                if not self._commit_until_written(messages, batch):
                    return  # stopped while the database fails: the broker keeps them
        except BaseException as exc:  # a bug: stop serve loudly rather than hang
            self._error = exc
            self._stopping.set()

    def _commit_until_written(self, messages: list[Message], batch: PreparedBatch) -> bool:
        """Write one batch, retrying while the database fails; False if stopped first."""
        attempt = 0
        while True:
            try:
                self.commit(messages, batch)
                return True
            except StoreError as exc:
                now = time.time()
                if self.state.failing_since is None:
                    self.state.failing_since = now
                self.state.last_error = str(exc)
                log.error(
                    "batch of %d messages not stored, not acknowledged: %s", len(messages), exc
                )
                if self._stopping.is_set():
                    return False
                delay = RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)]
                attempt += 1
                self.state.retries += 1
                if self._stopping.wait(delay):
                    return False

    def commit(self, messages: list[Message], batch: PreparedBatch) -> None:
        """Commit in one transaction, acknowledge, then hand the batch as stored (its new
        rows, flagged) to ``on_committed``."""
        started = time.perf_counter()
        stored = self.writer.write(batch.pings, batch.rejected, batch.counters, batch.events)
        if self.state.failing_since is not None:
            log.warning("database writable again: resuming")
        self.state.failing_since = None
        self.state.last_error = ""
        self.ack(messages)
        self._in_flight.popleft()
        self.state.last_commit_at = time.time()
        self.state.batches += 1
        self.state.messages += len(messages)
        self.state.last_flush_s = time.perf_counter() - started
        self.rejections.add(batch.rejected_by_device)
        if self.on_committed is not None:
            self.on_committed(replace(batch, pings=stored.pings, grid=stored.rows_of(batch.grid)))
