"""Response models: what every route returns, as /openapi.json documents it.

They describe the JSON as it is (same keys, in the same order, same values); they are not
storage rows. ``extra="forbid"`` documents each object as closed, so a key added without its
model fails the schemathesis conformance test.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from geofence.alerts import AlertKind
from tracks.schema import DeviceKind

GridStatus = Literal["ok", "overdue", "no_data"]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(Model):
    status: int
    code: str
    message: str


class ErrorBody(Model):
    """The one error shape of every endpoint."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (401, "missing or unknown token"),
        (403, "outside the token's grids, or not for the token's role"),
        (404, "no such grid, device or alert"),
        (421, "without --tokens: the Host header is not 127.0.0.1, localhost or [::1]"),
        (409, "the alert is acknowledged already (POST /alerts/{alert_id}/ack)"),
        (422, "a parameter is invalid; the message names it"),
        (500, "internal error"),
        (429, "a stream: too many streams open, for the token or in all"),
        (503, "no grids imported, the storage unreadable, or the access log not writable"),
    )
}


#: The same, for a route whose own responses are not JSON (FastAPI would document a model's
#: error under the route's media type): the error bodies are JSON all the same.
JSON_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": response["description"],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
    for status, response in ERROR_RESPONSES.items()
}

#: The polls answered from cached bytes (api/polls.py): a 304 when If-None-Match names the
#: current ETag.
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not Modified: If-None-Match names the current ETag; no body"}
}


class GridProperties(Model):
    id: str
    name: str
    parent: str | None
    is_leaf: bool
    interval_min: float
    service_hours: str | None
    last_visit: str | None = Field(description="newest visit of the grid or its leaves")
    overdue_since: str | None
    status: GridStatus


class GridFeature(Model):
    type: Literal["Feature"]
    id: str
    properties: GridProperties
    geometry: dict[str, Any] | None = Field(description="GeoJSON Polygon or MultiPolygon")


class GridCollection(Model):
    type: Literal["FeatureCollection"]
    timezone: str
    service_day_start: str = Field(description="00:00 of the live clock's day (see live_clock)")
    live_clock: Literal["wall", "event"] = Field(
        description="what 'now' is: the wall clock, or event time (the newest fix seen)"
    )
    event_time: str | None = Field(
        description="the newest fix seen (null before the first): now, on the event clock"
    )
    features: list[GridFeature]


class Device(Model):
    device_id: str
    kind: DeviceKind | None
    worker: str | None
    assigned_grid: str | None
    last_seen: str | None
    lat: float | None
    lon: float | None
    current_grid: str | None
    online: bool


class TrackProperties(Model):
    device_id: str
    times: list[str]
    flags: list[int]
    grid_ids: list[str | None]


class TrackGeometry(Model):
    type: Literal["LineString"]
    coordinates: list[list[float]]


class TrackFeature(Model):
    """``format=geojson`` (the default); csv, gpx and parquet are downloads."""

    type: Literal["Feature"]
    properties: TrackProperties
    geometry: TrackGeometry


class ComplianceRow(Model):
    grid_id: str
    visits: int
    max_gap_s: float
    overdue_s: float
    compliance: float | None
    violations: list[list[str]] = Field(description="[start, end] of each overdue stretch")


class CoverageRow(Model):
    grid_id: str
    cells: int
    covered: int
    coverage: float | None


class DeviceCoverageRow(Model):
    """With ``device_id``: how much of its assigned grid the device's own track covered."""

    device_id: str
    grid_id: str
    cells: int
    covered: int
    coverage: float | None


class PresenceRow(Model):
    device_id: str
    grid_id: str
    presence: float | None


class ScorecardRow(Model):
    date: str
    worker: str | None
    device_id: str
    grid_id: str
    presence: float | None
    coverage: float | None
    compliance: float | None
    violations: int
    score: float


class AlertAck(Model):
    """An operator's acknowledgement of an alert."""

    at: str = Field(description="when it was acknowledged (the wall clock)")
    by: str = Field(description="the token's name ('local' without --tokens)")
    note: str


class AlertOut(Model):
    alert_id: str
    kind: AlertKind
    grid_id: str | None
    device_id: str | None
    at: str
    raised_at: str
    detail: str
    ack: AlertAck | None = Field(description="the acknowledgement; null: not acknowledged")


class AckIn(Model):
    note: str = Field("", max_length=500, description="the operator's note (may be empty)")


class AckEvent(Model):
    """An acknowledgement as POST /alerts/{alert_id}/ack answers it, the alert stream's
    ``ack`` event carries it and MQTT publishes it (docs/mqtt.md)."""

    alert_id: str
    kind: AlertKind
    grid_id: str | None
    device_id: str | None
    ack: AlertAck


class GridStateChange(Model):
    """A grid whose state changed, as the stream's ``grids`` event lists it."""

    id: str
    status: GridStatus
    last_visit: str | None
    overdue_since: str | None


class AlertKindInfo(Model):
    kind: AlertKind
    ends: AlertKind | None = Field(description="the kind whose condition this one ends")
    ended_by: AlertKind | None = Field(description="the kind that ends this one's condition")
    grid_status: GridStatus | None = Field(
        description="the status a grid takes with this alert (None: a device alert)"
    )


class AccessRecord(Model):
    at: str
    token: str | None = Field(description="the token's name (never the token); null: none valid")
    token_id: str | None
    role: str | None = Field(description="admin, supervisor, metrics; local without --tokens")
    method: str
    route: str
    params: dict[str, Any] = Field(description="the route's declared parameters")
    client: str | None
    status: int


class HealthStatus(Model):
    """/health without a token that may read its detail: the status only."""

    status: Literal["ok", "degraded"]


class Stats(Model):
    received: int
    stored: int
    duplicates: int
    rejected: dict[str, int]


class Backlog(Model):
    messages: int = Field(description="messages received, not yet acknowledged")
    oldest_age_s: float = Field(description="age of the oldest of them, s")
    stalled_s: float = Field(description="s without a commit while messages wait (0: none wait)")


class LiveStageHealth(Model):
    batches: int = Field(description="committed batches the live updater has applied")
    failures: int = Field(description="live-stage steps that failed (ingest went on)")
    last_error: str
    pending: int = Field(description="committed batches waiting for the live updater")
    alerts_unstored: int = Field(
        description="alerts raised, not stored yet, so not published (retried every tick)"
    )
    alerts_unacked: int = Field(
        description="alerts published, not acknowledged by the broker yet (not recorded)"
    )
    alert_store_failures: int = Field(description="alert writes that failed (retried)")
    outside_recent: float = Field(
        description="share of the last 5,000 usable fixes outside every grid"
    )
    outside_baseline: float | None = Field(
        description="that share in the day before start (or the first window seen)"
    )
    outside_warning: str = Field(
        description="set while the share outside every grid is far above the baseline "
        "(a grid file in the wrong datum, or moved: docs/datums.md)"
    )


class StageRole(Model):
    leading: bool = Field(description="this stage leads; false: standing by")
    position: int | None = Field(description="the last lake snapshot this stage handled")
    lake_snapshot: int = Field(description="the newest lake snapshot it saw")
    lag_snapshots: int = Field(description="snapshots not handled yet")
    lag_s: float = Field(description="age of the oldest snapshot not handled yet, s")
    last_error: str


class Health(Model):
    status: Literal["ok", "degraded"]
    problems: list[str]
    database: str
    writes: str
    broker_connected: bool
    queue_depth: int
    backlog: Backlog
    live_stage: LiveStageHealth | None = Field(description="null when serve has no grids")
    role: Literal["all", "ingest", "stage", "api"] = Field(description="serve --role")
    stage: StageRole | None = Field(description="the stage role's state; null in other roles")
