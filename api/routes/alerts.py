"""Alerts: the history since a time, operators' acknowledgements, and a live Server-Sent
Events stream of both."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse

from api.context import ApiContext
from api.deps import Auth, Context, parse_time, revoked
from api.errors import ApiError
from api.hub import StreamLimit
from api.models import AckEvent, AckIn, AlertKindInfo, AlertOut, ErrorBody, GridStatus
from api.polls import encode
from api.streams import EventStream
from base.topics import ack_topic
from geofence.alerts import ENDED_BY, AlertKind
from tracks.acks import read_acks, read_alert_subject, write_ack
from tracks.alerts import read_alerts

log = logging.getLogger("gridpatrol.api")

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
    acks = read_acks(context.store, rows["alert_id"].to_list())
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
                "ack": _ack_json(acks.get(row["alert_id"]), tz),
            }
        )
    return out


def _ack_json(ack: tuple[dt.datetime, str, str] | None, tz: dt.tzinfo) -> dict[str, str] | None:
    if ack is None:
        return None
    at, by, note = ack
    return {"at": at.astimezone(tz).isoformat(), "by": by, "note": note}


AlertId = Annotated[str, Path(max_length=200)]

#: One acknowledgement at a time in this process: the first one of an alert is kept, a
#: second gets 409 (two api processes at the same moment both write; the first counts).
_ACKING = threading.Lock()


@router.post(
    "/alerts/{alert_id}/ack",
    summary="Acknowledge an alert, with a note (who: the token's name; when: now)",
    response_model=AckEvent,
    status_code=201,
    responses={400: {"model": ErrorBody, "description": "the body is not JSON"}},
)
def ack_alert(
    alert_id: AlertId, body: AckIn, context: Context, principal: Auth
) -> dict[str, object]:
    """Recorded in ``alert_acks`` (append-only), then shown on every alert stream (``event:
    ack``) and published on MQTT (``gridpatrol/v1/alerts/ack/{kind}/{subject}``) where this
    process holds the broker's connection."""
    store = context.access.store  # the store this process writes (the lake on --role api)
    found = read_alert_subject(store, alert_id)
    if found is None:
        raise ApiError(404, f"no alert {alert_id!r}")
    kind, grid_id, device_id, device_grid = found
    subject = grid_id if grid_id is not None else device_grid
    if not principal.sees_grid(subject):
        raise ApiError(403, f"alert {alert_id!r} is outside your grids")
    with _ACKING:
        known = read_acks(store, [alert_id]).get(alert_id)
        if known is not None:
            at, by, _ = known
            raise ApiError(409, f"alert {alert_id!r} was acknowledged by {by} at {at.isoformat()}")
        now = dt.datetime.now(dt.UTC)
        write_ack(store, alert_id, now, principal.name, body.note)
    event: dict[str, object] = {
        "alert_id": alert_id,
        "kind": kind,
        "grid_id": grid_id,
        "device_id": device_id,
        "ack": _ack_json((now, principal.name, body.note), context.geofence.tz),
    }
    context.hub.publish_ack(event, subject)
    _publish_ack(context, event, kind, grid_id or device_id or alert_id)
    return event


def _publish_ack(context: ApiContext, event: dict[str, object], kind: str, subject: str) -> None:
    """On MQTT (QoS 1) where this process publishes the alerts (serve's all and stage roles);
    the acknowledgement is stored either way."""
    publish = context.live.publish if context.live is not None else None
    if publish is None:
        return
    try:
        publish(ack_topic(kind, subject), encode(event))
    except (OSError, ValueError) as exc:  # the broker away: stored and streamed all the same
        log.warning("acknowledgement of %s not published: %s", event["alert_id"], exc)


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


@router.get(
    "/alerts/stream",
    summary="New alerts and acknowledgements as Server-Sent Events (event: alert, data: "
    "the alert as JSON; event: ack, data: an acknowledgement as JSON)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
async def stream_alerts(request: Request, context: Context, principal: Auth) -> StreamingResponse:
    token = principal.token
    try:
        sub = context.hub.subscribe(token.id if token is not None else None)
    except StreamLimit as exc:
        raise ApiError(429, f"{exc}: close one first") from None
    keepalive = context.settings.sse_keepalive_s
    # a revoked token's stream ends within the tokens file's reload period
    wake = min(keepalive, context.settings.tokens_reload_s)

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b": connected\n\n"  # at once: clients count the stream open at a first line
            quiet_since = time.monotonic()
            while not await request.is_disconnected():
                if revoked(context, principal):
                    yield b": token revoked\n\n"
                    return
                try:
                    event, subject = await asyncio.wait_for(sub.queue.get(), wake)
                except TimeoutError:
                    event, subject = None, None
                if event is not None and principal.sees_grid(subject):
                    yield event  # serialised once by the hub, for every stream
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since >= keepalive:
                    yield b": keep-alive\n\n"
                    quiet_since = time.monotonic()
        finally:
            context.hub.unsubscribe(sub)

    return EventStream(events(), lambda: context.hub.unsubscribe(sub))
