"""GET /devices' JSON, each device encoded once per change, and the position feed: the
changes of live state pushed to every screen (GET /devices/stream, Server-Sent Events).

The feed is one task on the HTTP event loop, running while a stream is open: every
:data:`FEED_POLL_S` it looks whether the live snapshot was replaced, and if so which devices
changed (a new fix, online or offline, the registry); each change is encoded once, and one
event is made per scope (the tokens' grids) for all the streams of that scope. A stream that
stops reading loses events (at most :data:`MAX_WAITING` wait), not our memory: the map takes
the whole list again with GET /devices (a 304 while it is current).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from api.context import ApiContext
from api.deps import Principal
from api.polls import PollCache, encode
from patrol.live import LiveSnapshot
from patrol.positions import Position, live_positions

log = logging.getLogger("gridpatrol.api")

#: How often the feed looks for a new live snapshot: the most it adds to a fix's way from
#: its commit to the screens.
FEED_POLL_S = 0.1

#: Events a stream may have waiting; past this it loses them (it should be reading).
MAX_WAITING = 100

#: Each device's JSON by its position (and time zone): a body is made of these, so a new
#: snapshot encodes only the devices that changed. Emptied when it holds this many.
MAX_ENCODED = 100_000
_encoded: dict[tuple[Position, ZoneInfo], bytes] = {}


def device_json(p: Position, tz: ZoneInfo) -> bytes:
    """One device as GET /devices shows it (the ``Device`` model), encoded once."""
    found = _encoded.get((p, tz))
    if found is not None:
        return found
    if len(_encoded) >= MAX_ENCODED:
        _encoded.clear()
    last_seen = dt.datetime.fromtimestamp(p.last_seen, tz) if p.last_seen is not None else None
    found = _encoded[(p, tz)] = encode(
        {
            "device_id": p.device_id,
            "kind": p.kind,
            "worker": p.worker,
            "assigned_grid": p.assigned_grid,
            "last_seen": last_seen.isoformat() if last_seen is not None else None,
            "lat": p.lat,
            "lon": p.lon,
            "current_grid": p.current_grid,
            "online": p.online,
        }
    )
    return found


def devices_json(positions: Iterable[Position], principal: Principal, tz: ZoneInfo) -> bytes:
    """A JSON array of the devices the principal sees."""
    seen = (device_json(p, tz) for p in positions if principal.sees_grid(p.assigned_grid))
    return b"[" + b",".join(seen) + b"]"


def device_rows(positions: Iterable[Position], principal: Principal, tz: ZoneInfo) -> list[object]:
    """:func:`devices_json` as Python objects."""
    rows: list[object] = json.loads(devices_json(positions, principal, tz))
    return rows


class PositionFeed:
    """The streams of GET /devices/stream and the task that feeds them (one event loop)."""

    def __init__(self, context: ApiContext, polls: PollCache, poll_s: float = FEED_POLL_S):
        self.context = context
        self.polls = polls
        self.poll_s = poll_s
        self._streams: dict[asyncio.Queue[bytes], Principal] = {}
        self._task: asyncio.Task[None] | None = None
        self._snapshot: LiveSnapshot | None = None
        self._positions: dict[str, Position] = {}

    def subscribe(self, principal: Principal) -> asyncio.Queue[bytes]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(MAX_WAITING)
        self._streams[queue] = principal
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return queue

    def unsubscribe(self, queue: asyncio.Queue[bytes]) -> None:
        self._streams.pop(queue, None)

    def streams(self) -> int:
        return len(self._streams)

    async def _run(self) -> None:
        while self._streams:
            try:
                await self._step()
            except Exception as exc:  # storage away (the registry): the streams wait
                log.warning("position feed: %s", exc)
            await asyncio.sleep(self.poll_s)
        self._snapshot = None  # no stream: the next one starts from the state then

    async def _step(self) -> None:
        live = self.context.live
        snapshot = live.snapshot() if live is not None else None
        if snapshot is None or snapshot is self._snapshot:
            return
        changed = await asyncio.to_thread(self._changes, snapshot)
        if not changed:
            return
        tz = self.context.geofence.tz
        events: dict[frozenset[str] | None, bytes] = {}
        for queue, principal in list(self._streams.items()):
            if principal.grids not in events:  # one event per scope, for all its streams
                seen = [p for p in changed if principal.sees_grid(p.assigned_grid)]
                data = devices_json(seen, principal, tz)
                events[principal.grids] = (
                    b"event: positions\ndata: " + data + b"\n\n" if seen else b""
                )
            event = events[principal.grids]
            if event and not queue.full():
                queue.put_nowait(event)

    def _changes(self, snapshot: LiveSnapshot) -> list[Position]:
        """The devices whose position or state changed since the last snapshot seen."""
        first = self._snapshot is None
        self._snapshot = snapshot
        positions = live_positions(snapshot, self.polls.registry(self.context.store))
        changed = [p for p in positions if self._positions.get(p.device_id) != p]
        self._positions = {p.device_id: p for p in positions}
        return [] if first else changed
