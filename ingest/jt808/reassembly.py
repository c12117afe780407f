"""Subpackaged messages put back together, within limits on parts, bytes, count and time.

The parts of one message carry consecutive serial numbers, so (message id, total, serial of
part 1) names the message. A part that would break a limit is dropped with a reason; an
incomplete message is dropped when :meth:`Reassembly.expire` finds it older than the timeout.
Every connection's parts together stay within one :class:`Budget` (the gateway's).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ingest.jt808.header import Header
from ingest.jt808.reasons import Drop


@dataclass
class _Parts:
    started: float
    parts: dict[int, bytes] = field(default_factory=dict)
    size: int = 0


class Budget:
    """Bytes that several holders share: what one takes, another cannot."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> bool:
        if self.used + size > self.limit:
            return False
        self.used += size
        return True

    def give(self, size: int) -> None:
        self.used -= size


class Reassembly:
    """The incomplete subpackaged messages of one connection."""

    def __init__(
        self,
        *,
        max_parts: int,
        max_bytes: int,
        max_open: int,
        timeout_s: float,
        budget: Budget | None = None,
    ) -> None:
        self.max_parts = max_parts
        self.max_bytes = max_bytes
        self.max_open = max_open
        self.timeout_s = timeout_s
        self.budget = budget or Budget(max_bytes)
        self._open: dict[tuple[int, int, int], _Parts] = {}
        self.size = 0

    def add(self, header: Header, body: bytes, now: float) -> bytes | Drop | None:
        """The whole body once the last part is in, None while parts are missing."""
        if header.total > self.max_parts:
            return Drop.SUBPACKAGE_LIMIT
        key = (header.msg_id, header.total, (header.serial - header.index + 1) & 0xFFFF)
        entry = self._open.get(key)
        if entry is None:
            if len(self._open) >= self.max_open:
                return Drop.SUBPACKAGE_LIMIT
            entry = self._open[key] = _Parts(now)
        if header.index in entry.parts:  # a retransmitted part replaces the first copy
            old = len(entry.parts.pop(header.index))
            entry.size -= old
            self.size -= old
            self.budget.give(old)
        if self.size + len(body) > self.max_bytes or not self.budget.take(len(body)):
            self._discard(key)
            return Drop.SUBPACKAGE_LIMIT
        entry.parts[header.index] = body
        entry.size += len(body)
        self.size += len(body)
        if len(entry.parts) < header.total:
            return None
        self._discard(key)
        return b"".join(entry.parts[i] for i in range(1, header.total + 1))

    def expire(self, now: float) -> int:
        """Drop the messages older than the timeout; how many."""
        old = [k for k, e in self._open.items() if now - e.started > self.timeout_s]
        for key in old:
            self._discard(key)
        return len(old)

    def clear(self) -> None:
        """Drop every incomplete message (the connection closed)."""
        for key in list(self._open):
            self._discard(key)

    def _discard(self, key: tuple[int, int, int]) -> None:
        size = self._open.pop(key).size
        self.size -= size
        self.budget.give(size)
