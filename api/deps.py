"""Dependencies: the request's principal (token and scope), parsed windows, the context."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request

from api.access import note_principal
from api.context import ApiContext
from api.errors import ApiError
from api.polls import PollCache
from api.tokens import TokenEntry
from geofence.grids import GridSet
from patrol.derive import ReportGrids


def get_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.context
    return context


Context = Annotated[ApiContext, Depends(get_context)]


def get_polls(request: Request) -> PollCache:
    polls: PollCache = request.app.state.polls
    return polls


Polls = Annotated[PollCache, Depends(get_polls)]


def live_now(context: ApiContext) -> float:
    """Now on the live clock (epoch seconds): event time where serve runs on the event
    clock (``--live-clock event``), else the wall clock."""
    return context.live.state.now() if context.live is not None else time.time()


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    grids: frozenset[str] | None  # every grid in scope (subtrees); None: all
    token: TokenEntry | None = None  # the tokens file's entry (its hash, never the token)

    def sees_grid(self, grid_id: str | None) -> bool:
        return self.grids is None or (grid_id is not None and grid_id in self.grids)


def scope_of(grid_set: GridSet | None, roots: list[str]) -> frozenset[str]:
    if grid_set is None:
        return frozenset(roots)
    return grid_set.tree.subtree(roots)


def find_principal(request: Request, context: ApiContext) -> Principal | None:
    """Who holds the request's bearer token (any role); None without a valid one. Without
    --tokens: the loopback's local admin."""
    if context.tokens is None:
        principal = Principal("local", "admin", None)  # no tokens file: loopback only, no auth
        note_principal(request, principal.name, None, "local")
        return principal
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    entry = context.tokens.find(token.strip())
    if entry is None:
        return None
    note_principal(request, entry.name, entry.id, entry.role)
    if entry.role == "admin":
        return Principal(entry.name, "admin", None, entry)
    if entry.role == "metrics":
        return Principal(entry.name, "metrics", frozenset(), entry)
    return Principal(entry.name, entry.role, scope_of(context.grid_set, entry.grids), entry)


def revoked(context: ApiContext, principal: Principal) -> bool:
    """Whether the principal's token is no longer in the tokens file as it was (a stream
    asks this every ``--tokens-reload-s`` and ends when it is)."""
    token = principal.token
    return token is not None and context.tokens is not None and not context.tokens.holds(token)


def _authenticated(request: Request, context: ApiContext) -> Principal:
    principal = find_principal(request, context)
    if principal is None:
        if not request.headers.get("authorization", ""):
            raise ApiError(401, "missing bearer token")
        raise ApiError(401, "unknown or revoked token")
    return principal


def get_principal(request: Request, context: Context) -> Principal:
    """An admin or a supervisor (a metrics token reads /metrics, /stats and /health only)."""
    principal = _authenticated(request, context)
    if principal.role == "metrics":
        raise ApiError(403, "a metrics token reads /metrics, /stats and /health only")
    return principal


Auth = Annotated[Principal, Depends(get_principal)]


def get_admin(request: Request, context: Context) -> Principal:
    """An admin only (403 for the others)."""
    principal = _authenticated(request, context)
    if principal.role != "admin":
        raise ApiError(403, "admins only")
    return principal


Admin = Annotated[Principal, Depends(get_admin)]


def get_monitor(request: Request, context: Context) -> Principal:
    """What reads the deployment-wide figures (/metrics, /stats): an admin or a metrics
    token; a supervisor, who sees only some grids, gets 403."""
    principal = _authenticated(request, context)
    if principal.role not in ("admin", "metrics"):
        raise ApiError(403, "deployment-wide figures are for admin and metrics tokens")
    return principal


Monitor = Annotated[Principal, Depends(get_monitor)]


def parse_time(value: str, name: str) -> dt.datetime:
    if len(value) > 64:
        raise ApiError(422, f"{name}: too long for a time")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(422, f"{name}: {value[:64]!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise ApiError(422, f"{name}: {value!r} needs a UTC offset such as +08:00")
    if not 1971 <= parsed.year <= 9998:
        raise ApiError(422, f"{name}: {value!r} is out of range (years 1971 to 9998)")
    return parsed


@dataclass(frozen=True)
class Window:
    start: dt.datetime
    end: dt.datetime


def get_window(
    context: Context,
    start: Annotated[str, Query(max_length=64, description="ISO 8601 with offset")],
    end: Annotated[str, Query(max_length=64, description="ISO 8601 with offset")],
) -> Window:
    s, e = parse_time(start, "start"), parse_time(end, "end")
    if e <= s:
        raise ApiError(422, "end: must be after start")
    days = (e - s).total_seconds() / 86400
    if days > context.settings.max_window_days:
        raise ApiError(
            422,
            f"end: window of {days:.1f} days exceeds the maximum of "
            f"{context.settings.max_window_days:g} days",
        )
    return Window(s, e)


TimeWindow = Annotated[Window, Depends(get_window)]


def need_grids(context: ApiContext) -> GridSet:
    if context.grid_set is None:
        raise ApiError(503, "no grids imported (gridpatrol grids import)")
    return context.grid_set


def report_grids(context: ApiContext) -> ReportGrids:
    return context.report_grids(need_grids(context))
