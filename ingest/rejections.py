"""Rejected pings as rows: one row per message, and the devices that send the most of them.

A message's bad pings, however many, make one row of ``rejected``: the reason and detail of
its first bad ping, the count and reasons of all of them in the detail. The counters still
count pings (``rejected.<reason>`` grows by each bad ping), so that
``received = stored + duplicates + sum(rejected)`` holds; only the rows are per message.
Before, a 256 KiB ``[0,0,...]`` became 131,000 rows and one device could stall everyone's
commits with it.

A row keeps the first :data:`STORED_PAYLOAD_BYTES` of the payload and, when that is not all of
it, the payload's length and SHA-256 in the detail: enough to see what a device sends and to
match repeats, without a disk that fills at the rate a device publishes junk.
"""

from __future__ import annotations

import collections
import hashlib
import heapq
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from base.health import Reading, measure
from ingest.reasons import Reason

#: Of a rejected payload, this many leading bytes are stored (docs/storage.md).
STORED_PAYLOAD_BYTES = 1024

#: /metrics shows the rejected pings of this many devices, those with the most.
DEVICES_SHOWN = 20
#: Counts are kept for up to twice this many devices; past that, all but the this many with
#: the most are forgotten. A device minting new ids (an open broker; with broker-config's
#: ACL a device has one id) then costs a bounded table and never pushes a steady offender
#: out: an offender's count only grows, the new ids start at their first message.
DEVICES_TRACKED = 1000

DEVICE_REJECTED = Reading(
    "counter",
    f"pings rejected by device since start, for the {DEVICES_SHOWN} devices with the most "
    "(a bounded label set)",
    "gridpatrol_device_rejected",
    label="device",
)


@dataclass
class _Message:
    """The rejections of one message: its first bad ping, and a count per reason."""

    item: int
    reason: Reason
    detail: str
    counts: collections.Counter[Reason] = field(default_factory=collections.Counter)


class MessageRejections:
    """Collects a batch's rejections and gives one row per message."""

    def __init__(self) -> None:
        self._by_message: dict[int, _Message] = {}

    def add(
        self,
        message: int,
        item: int,
        reason: Reason,
        detail: str | Callable[[], str],
        count: int = 1,
    ) -> None:
        """A callable ``detail`` is called only when this is the message's first bad ping
        so far: of 1,000 bad pings in a message, one is described."""
        found = self._by_message.get(message)
        if found is None or item < found.item:
            text = detail if isinstance(detail, str) else detail()
            if found is None:
                found = self._by_message[message] = _Message(item, reason, text)
            else:
                found.item, found.reason, found.detail = item, reason, text
        found.counts[reason] += count

    def counters(self) -> collections.Counter[str]:
        """``rejected.<reason>``: bad pings, not rows."""
        total: collections.Counter[str] = collections.Counter()
        for found in self._by_message.values():
            for reason, n in found.counts.items():
                total[f"rejected.{reason.value}"] += n
        return total

    def pings(self) -> dict[int, int]:
        """Message index -> its bad pings."""
        return {m: found.counts.total() for m, found in self._by_message.items()}

    def rows(self, payloads: list[bytes]) -> list[tuple[int, bytes, int, str, str]]:
        """(message, stored payload, item, reason, detail), in message order."""
        out = []
        for message in sorted(self._by_message):
            found = self._by_message[message]
            detail = found.detail
            total = found.counts.total()
            if total > 1:
                reasons = ", ".join(f"{r.value} {n}" for r, n in sorted(found.counts.items()))
                detail = f"{total} pings rejected ({reasons}); item {found.item}: {detail}"
            payload = payloads[message]
            if Reason.OFF_DUTY in found.counts:  # a position off duty is not kept, not even here
                payload = b""
                detail += " [payload not kept: off duty]"
            if len(payload) > STORED_PAYLOAD_BYTES:
                digest = hashlib.sha256(payload).hexdigest()
                detail += (
                    f" [payload {len(payload)} bytes, first {STORED_PAYLOAD_BYTES} kept, "
                    f"sha256 {digest}]"
                )
                payload = payload[:STORED_PAYLOAD_BYTES]
            out.append((message, payload, found.item, found.reason.value, detail))
        return out


class DeviceRejections:
    """Pings rejected per device since start, kept for a bounded set of devices."""

    def __init__(self, *, shown: int = DEVICES_SHOWN, tracked: int = DEVICES_TRACKED) -> None:
        self.shown = shown
        self.tracked = tracked
        self._counts: dict[str, int] = {}

    def add(self, by_device: Mapping[str, int]) -> None:
        counts = self._counts
        for device, n in by_device.items():
            counts[device] = counts.get(device, 0) + n
        if len(counts) > 2 * self.tracked:  # amortised: one sort per `tracked` new devices
            kept = heapq.nlargest(self.tracked, counts.items(), key=lambda kv: kv[1])
            self._counts = dict(kept)

    @measure(DEVICE_REJECTED)
    def top(self) -> dict[str, int]:
        """The devices with the most rejected pings, most first."""
        return dict(heapq.nlargest(self.shown, self._counts.items(), key=lambda kv: kv[1]))
