"""Each grid's live status (status, last visit, overdue since) from a live snapshot: the one
reckoning GET /grids and the stream's ``grids`` events share.

A leaf's status is ``overdue`` while live state holds it overdue, else ``no_data`` if it was
never visited, else ``ok``; a parent takes the newest visit of its leaves and the earliest
``overdue_since`` of those overdue.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import NamedTuple
from zoneinfo import ZoneInfo

from api.polls import encode
from geofence.grids import GridSet
from patrol.live import LiveSnapshot


class GridState(NamedTuple):
    status: str  # ok, overdue or no_data (models.GridStatus)
    last_visit: str | None  # ISO time in the deployment's zone
    overdue_since: str | None


NO_LIVE_STATE = GridState("ok", None, None)


#: The last reckoning and what it was made from: the feed and the polls of one snapshot
#: share it (compared by identity: a snapshot is replaced, never changed).
_last: tuple[GridSet, LiveSnapshot | None, ZoneInfo, dict[str, GridState]] | None = None


def grid_states(grid_set: GridSet, live: LiveSnapshot | None, tz: ZoneInfo) -> dict[str, GridState]:
    """Every grid's state, by id (without live state: all ``ok``, never visited); reckoned
    once per snapshot."""
    global _last
    last = _last
    if last is not None and last[0] is grid_set and last[1] is live and last[2] == tz:
        return last[3]
    states = _reckon(grid_set, live, tz)
    _last = (grid_set, live, tz, states)
    return states


#: ISO times by (epoch seconds, zone): most grids' times are those of the last snapshot, so
#: a reckoning formats only the new ones (formatting was most of its cost). Emptied when full.
MAX_TIMES = 100_000
_times: dict[tuple[float, ZoneInfo], str] = {}


def _iso(ts: float, tz: ZoneInfo) -> str:
    found = _times.get((ts, tz))
    if found is None:
        if len(_times) >= MAX_TIMES:
            _times.clear()
        found = _times[(ts, tz)] = dt.datetime.fromtimestamp(ts, tz).isoformat()
    return found


def _reckon(grid_set: GridSet, live: LiveSnapshot | None, tz: ZoneInfo) -> dict[str, GridState]:
    if live is None:
        return {grid.id: NO_LIVE_STATE for grid in grid_set.grids}
    tree = grid_set.tree
    # one pass over the leaves' newest visits; parents take the newest of their leaves
    visits = live.last_visit.tolist()
    overdue_at = live.overdue
    states = {}
    for grid in grid_set.grids:
        leaf = tree.position.get(grid.id)
        if leaf is not None:
            latest = visits[leaf]
            overdue = [overdue_at[grid.id]] if grid.id in overdue_at else []
        else:
            latest = max((visits[i] for i in tree.positions_under[grid.id]), default=-math.inf)
            overdue = [overdue_at[i] for i in tree.leaves_under[grid.id] if i in overdue_at]
        last_visit = None
        if math.isfinite(latest):
            last_visit = _iso(latest, tz)
        if overdue:
            since = _iso(min(overdue), tz)
            states[grid.id] = GridState("overdue", last_visit, since)
        else:
            states[grid.id] = GridState("ok" if last_visit else "no_data", last_visit, None)
    return states


def state_json(grid_id: str, state: GridState) -> bytes:
    """One grid's state as a ``grids`` event lists it (the ``GridStateChange`` model)."""
    return encode(
        {
            "id": grid_id,
            "status": state.status,
            "last_visit": state.last_visit,
            "overdue_since": state.overdue_since,
        }
    )
