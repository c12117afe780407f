"""GET /devices' JSON, each device encoded once per change, and the live feed: the changes
of live state pushed to every screen (GET /devices/stream, Server-Sent Events).

The feed is one task on the HTTP event loop, running while a stream is open: every
:data:`FEED_POLL_S` it looks whether the live snapshot was replaced, and if so which devices
changed (a new fix, online or offline, the registry) and which grids' states (status, last
visit, overdue since; api/gridstates.py). Each change is encoded once, and one message (a
``positions`` event, a ``grids`` event, or both) is made per scope (the tokens' grids) for
all the streams of that scope: every stream of a scope is handed the same bytes. A stream
that stops reading loses events (at most :data:`MAX_WAITING` wait), not our memory: the map
takes the whole lists again with GET /devices and GET /grids (a 304 while current).

The streams follow the alert stream's token rules: at most ``--sse-max-streams`` in all and
``--sse-max-streams-per-token`` per token (more: :class:`~api.hub.StreamLimit`, a 429), and
a revoked token's stream ends within the tokens file's reload period.
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
from api.gridstates import GridState, grid_states, state_json
from api.hub import StreamLimit
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


#: A change of a grid's state: its id and its JSON.
GridChange = tuple[str, bytes]


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
        self._states: dict[str, GridState] = {}

    def subscribe(self, principal: Principal) -> asyncio.Queue[bytes]:
        """A new stream's queue, or :class:`StreamLimit` past the limits."""
        settings = self.context.settings
        if len(self._streams) >= settings.sse_max_streams:
            raise StreamLimit(f"{settings.sse_max_streams} position streams are open, the most")
        key = principal.token.id if principal.token is not None else None
        if key is not None:
            mine = sum(
                1 for p in self._streams.values() if p.token is not None and p.token.id == key
            )
            if mine >= settings.sse_max_streams_per_token:
                raise StreamLimit(f"this token has {mine} position streams open, the most allowed")
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
        positions, grids = await asyncio.to_thread(self._changes, snapshot)
        if not positions and not grids:
            return
        tz = self.context.geofence.tz
        messages: dict[frozenset[str] | None, bytes] = {}
        for queue, principal in list(self._streams.items()):
            scope = principal.grids
            if scope not in messages:  # one message per scope, for all its streams
                messages[scope] = _message(positions, grids, principal, tz)
            message = messages[scope]
            if message and not queue.full():
                queue.put_nowait(message)

    def _changes(self, snapshot: LiveSnapshot) -> tuple[list[Position], list[GridChange]]:
        """The devices whose position or state changed since the last snapshot seen, and
        the grids whose state did (each encoded)."""
        first = self._snapshot is None
        self._snapshot = snapshot
        positions = live_positions(snapshot, self.polls.registry(self.context.store))
        changed = [p for p in positions if self._positions.get(p.device_id) != p]
        self._positions = {p.device_id: p for p in positions}
        grids: list[GridChange] = []
        grid_set = self.context.grid_set
        if grid_set is not None:
            states = grid_states(grid_set, snapshot, self.context.geofence.tz)
            grids = [
                (grid_id, state_json(grid_id, state))
                for grid_id, state in states.items()
                if self._states.get(grid_id) != state
            ]
            self._states = states
        return ([], []) if first else (changed, grids)


def _message(
    positions: list[Position], grids: list[GridChange], principal: Principal, tz: ZoneInfo
) -> bytes:
    """A scope's events: ``positions`` (its devices that changed) and ``grids`` (its grids
    whose state changed), each only if not empty."""
    out = b""
    seen = [p for p in positions if principal.sees_grid(p.assigned_grid)]
    if seen:
        out += b"event: positions\ndata: " + devices_json(seen, principal, tz) + b"\n\n"
    mine = [data for grid_id, data in grids if principal.sees_grid(grid_id)]
    if mine:
        out += b"event: grids\ndata: [" + b",".join(mine) + b"]\n\n"
    return out
