"""Alerts: the history since a time, and a live Server-Sent Events stream."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from api.deps import Auth, Context, parse_time
from api.errors import ApiError
from api.hub import StreamLimit
from api.models import AlertKindInfo, AlertOut, GridStatus
from geofence.alerts import ENDED_BY, AlertKind
from tracks.alerts import read_alerts

router = APIRouter(tags=["alerts"])


@router.get(
    "/alerts",
    summary="Alerts raised since a time (default: the last 24 hours)",
    response_model=list[AlertOut],
)
def list_alerts(
    context: Context,
    principal: Auth,
    since: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> list[dict[str, object]]:
    start = (
        parse_time(since, "since")
        if since is not None
        else dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    )
    tz = context.geofence.tz
    out = []
    # the token's scope first, then the limit: a supervisor gets their newest ``limit``
    rows = read_alerts(context.store, start, limit, principal.grids)
    for row in rows.iter_rows(named=True):
        grid_id = row["grid_id"]
        if not principal.sees_grid(grid_id if grid_id is not None else row["device_grid"]):
            continue
        out.append(
            {
                "alert_id": row["alert_id"],
                "kind": row["kind"],
                "grid_id": grid_id,
                "device_id": row["device_id"],
                "at": row["ts"].astimezone(tz).isoformat(),
                "raised_at": row["raised_at"].astimezone(tz).isoformat(),
                "detail": row["detail"],
            }
        )
    return out


#: The status a grid takes with each grid alert (the live map colours grids by it).
GRID_STATUS: dict[AlertKind, GridStatus] = {AlertKind.OVERDUE: "overdue", AlertKind.CLEARED: "ok"}


@router.get(
    "/alerts/kinds",
    summary="Every alert kind, the kind that ends it, and the grid status it sets",
    response_model=list[AlertKindInfo],
)
def alert_kinds(principal: Auth) -> list[dict[str, object]]:
    ends = {end: begin for begin, end in ENDED_BY.items()}
    return [
        {
            "kind": kind,
            "ends": ends.get(kind),
            "ended_by": ENDED_BY.get(kind),
            "grid_status": GRID_STATUS.get(kind),
        }
        for kind in AlertKind
    ]


class AlertStream(StreamingResponse):
    """The stream's response: its subscription is released however the response ends, even
    when the client leaves before the first line (the body's ``finally`` never runs then)."""

    def __init__(self, body: AsyncIterator[bytes], release: Callable[[], None]) -> None:
        super().__init__(
            body,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self.release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.release()


@router.get(
    "/alerts/stream",
    summary="New alerts as Server-Sent Events (event: alert, data: the alert as JSON)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
async def stream_alerts(request: Request, context: Context, principal: Auth) -> StreamingResponse:
    tz = context.geofence.tz
    token = principal.token
    try:
        sub = context.hub.subscribe(token.id if token is not None else None)
    except StreamLimit as exc:
        raise ApiError(429, f"{exc}: close one first") from None
    keepalive = context.settings.sse_keepalive_s
    # a revoked token's stream ends within the tokens file's reload period
    wake = min(keepalive, context.settings.tokens_reload_s)

    def revoked() -> bool:
        return token is not None and context.tokens is not None and not context.tokens.holds(token)

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b": connected\n\n"  # at once: clients count the stream open at a first line
            quiet_since = time.monotonic()
            while not await request.is_disconnected():
                if revoked():
                    yield b": token revoked\n\n"
                    return
                try:
                    alert, subject = await asyncio.wait_for(sub.queue.get(), wake)
                except TimeoutError:
                    alert, subject = None, None
                if alert is not None and principal.sees_grid(subject):
                    body = json.dumps(alert.to_json(tz))
                    yield f"event: alert\ndata: {body}\n\n".encode()
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since >= keepalive:
                    yield b": keep-alive\n\n"
                    quiet_since = time.monotonic()
        finally:
            context.hub.unsubscribe(sub)

    return AlertStream(events(), lambda: context.hub.unsubscribe(sub))
