"""Commands to devices (locate, track, interval, text) and a grid's roll call (点名).

An OwnTracks phone (device id ``user.device``) is asked on its own topic and takes ``locate``
only (409 for the rest); every other device of the registry through the JT/T 808 gateway,
which replies ``offline`` for a device with no authenticated terminal connection there (a
native MQTT tracker is never one). Each command waits for its outcome at most
``--command-timeout-s`` and is recorded in ``device_commands`` (docs/api.md, "Commands").
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, Self

import polars as pl
from fastapi import APIRouter, Path, Query
from pydantic import Field, model_validator

from api.access import RECORDED
from api.deps import Auth, Context, need_grids, scope_of
from api.errors import ApiError
from api.models import JSON_ERROR_RESPONSES, Model
from base.commands import MAX_TEXT_BYTES, Command, Status
from base.topics import owntracks_command_topic
from ingest.commands import Commander, Pending
from tracks.commands import read_commands
from tracks.devices import read_devices

router = APIRouter(tags=["commands"], dependencies=[RECORDED])  # who asked whom: on record

DeviceId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
GridId = Annotated[str, Path(max_length=200)]


class CommandIn(Model):
    action: Literal["locate", "track", "interval", "text"] = Field(
        description="locate: where it is now; track: report every interval_s for duration_s "
        "(0 stops tracking); interval: report every interval_s from now on; text: show and "
        "read out text (JT/T 808 terminals only, but locate)"
    )
    interval_s: int | None = Field(None, ge=1, le=65535, description="track, interval")
    duration_s: int | None = Field(None, ge=0, le=86400 * 7, description="track")
    text: str | None = Field(None, min_length=1, max_length=500, description="text")

    @model_validator(mode="after")
    def _complete(self) -> Self:
        needs = {"track": ("interval_s", "duration_s"), "interval": ("interval_s",)}
        missing = [f for f in needs.get(self.action, ()) if getattr(self, f) is None]
        if self.action == "text" and self.text is None:
            missing.append("text")
        if missing:
            raise ValueError(f"{self.action} needs {' and '.join(missing)}")
        if self.text is not None:
            try:
                size = len(self.text.encode("gbk"))
            except UnicodeEncodeError as exc:
                raise ValueError("text must be encodable in GBK") from exc
            if size > MAX_TEXT_BYTES:
                raise ValueError(f"text longer than {MAX_TEXT_BYTES} GBK bytes")
        return self


class CommandOut(Model):
    command_id: str
    device_id: str
    worker: str | None
    action: str
    status: Status = Field(
        description="answered, timeout (no answer in time), offline (the terminal has no "
        "connection to the gateway), unsupported (the device takes no such command)"
    )
    result: int | None = Field(description="the device's result: 0 done, 1 failed, ...")
    sent_at: str
    ended_at: str
    ts: str | None = Field(description="the fix a locate was answered with")
    lat: float | None
    lon: float | None
    detail: str


class RollCall(Model):
    grid_id: str
    answered: int
    devices: list[CommandOut]


def _commander(context: Context) -> Commander:
    if context.commands is None:
        raise ApiError(503, "commands need serve's MQTT ingest (role all or ingest)")
    return context.commands


def _iso(ts: float | None, tz: dt.tzinfo) -> str | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, tz).isoformat()


def _when(ts: float | None, tz: dt.tzinfo) -> str:
    assert ts is not None  # an ended command's times
    return dt.datetime.fromtimestamp(ts, tz).isoformat()


def _out(pending: Pending, worker: str | None, tz: dt.tzinfo) -> CommandOut:
    reply = pending.reply
    assert reply is not None
    return CommandOut(
        command_id=pending.command.command_id,
        device_id=pending.device_id,
        worker=worker,
        action=pending.command.action,
        status=reply.status,
        result=reply.result,
        sent_at=_when(pending.sent_at, tz),
        ended_at=_when(pending.ended_at, tz),
        ts=_iso(reply.ts, tz),
        lat=reply.lat,
        lon=reply.lon,
        detail=reply.detail,
    )


def _is_phone(device_id: str) -> bool:
    """An OwnTracks phone's id (``user.device``), asked on its own topic."""
    return owntracks_command_topic(device_id) is not None


@router.post(
    "/devices/{device_id}/commands",
    summary="Command a device and wait for its answer (or the timeout)",
    response_model=CommandOut,
    responses=JSON_ERROR_RESPONSES,
)
def command_device(
    device_id: DeviceId, body: CommandIn, context: Context, principal: Auth
) -> CommandOut:
    commander = _commander(context)
    devices = read_devices(context.store, device_id)
    grid_id = devices["grid_id"][0] if devices.height else None
    if not principal.sees_grid(grid_id):
        raise ApiError(403, f"device {device_id!r} is outside your grids")
    if not devices.height:
        raise ApiError(404, f"no device {device_id!r} in the registry")
    owntracks = _is_phone(device_id)
    if owntracks and body.action != "locate":
        raise ApiError(409, f"an OwnTracks phone takes locate only, not {body.action}")
    command = Command("", body.action, body.interval_s, body.duration_s, body.text)
    pending = commander.send(device_id, command, owntracks=owntracks, requested_by=principal.name)
    commander.wait([pending], context.settings.command_timeout_s)
    worker = devices["worker"][0] if devices.height else None
    return _out(pending, worker, context.geofence.tz)


@router.get(
    "/devices/{device_id}/command-log",
    summary="A device's commands and their outcomes, newest last",
    response_model=list[CommandOut],
    responses=JSON_ERROR_RESPONSES,
)
def list_commands(
    device_id: DeviceId,
    context: Context,
    principal: Auth,
    days: Annotated[float, Query(gt=0, le=31)] = 1.0,
) -> list[CommandOut]:
    devices = read_devices(context.store, device_id)
    grid_id = devices["grid_id"][0] if devices.height else None
    if not principal.sees_grid(grid_id):
        raise ApiError(403, f"device {device_id!r} is outside your grids")
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    tz = context.geofence.tz
    worker = devices["worker"][0] if devices.height else None

    def iso(value: dt.datetime | None) -> str | None:
        return None if value is None else value.astimezone(tz).isoformat()

    return [
        CommandOut(
            command_id=r["command_id"],
            device_id=r["device_id"],
            worker=worker,
            action=r["action"],
            status=Status(r["status"]),
            result=r["result"],
            sent_at=r["sent_at"].astimezone(tz).isoformat(),
            ended_at=r["ended_at"].astimezone(tz).isoformat(),
            ts=iso(r["ts"]),
            lat=r["lat"],
            lon=r["lon"],
            detail=r["detail"],
        )
        for r in read_commands(context.store, device_id, since).iter_rows(named=True)
    ]


@router.post(
    "/grids/{grid_id}/rollcall",
    summary="Roll call (点名): locate every device assigned to a grid (and its subgrids) "
    "at once; who answered, and where",
    response_model=RollCall,
    responses=JSON_ERROR_RESPONSES,
)
def roll_call(grid_id: GridId, context: Context, principal: Auth) -> RollCall:
    commander = _commander(context)
    grid_set = need_grids(context)
    if grid_id not in grid_set.tree.leaves_under:
        raise ApiError(404, f"no grid {grid_id!r}")
    if not principal.sees_grid(grid_id):
        raise ApiError(403, f"grid {grid_id!r} is outside your grids")
    scope = scope_of(grid_set, [grid_id])
    devices = read_devices(context.store).filter(pl.col("grid_id").is_in(list(scope)))
    tz = context.geofence.tz
    sent: list[tuple[Pending, str | None]] = []
    for device in devices.sort("device_id").iter_rows(named=True):
        pending = commander.send(
            device["device_id"],
            Command("", "locate"),
            owntracks=_is_phone(device["device_id"]),
            requested_by=principal.name,
            rollcall=grid_id,
        )
        sent.append((pending, device["worker"]))
    commander.wait([p for p, _ in sent], context.settings.command_timeout_s)
    out = [_out(p, worker, tz) for p, worker in sent]
    answered = sum(c.status == Status.ANSWERED for c in out)
    return RollCall(grid_id=grid_id, answered=answered, devices=out)
