"""What the API reads: the store (through named reads), grids, live state, ingest state."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from api.access import AccessRecorder
from api.config import ApiSettings
from api.hub import AlertHub
from api.polls import encode
from api.tiles import TileSource
from api.tokens import TokenFile
from geofence.config import GeofenceSettings
from geofence.grids import GridSet
from ingest.commands import Commander
from patrol.derive import ReportGrids
from patrol.grids import read_geometries
from patrol.rosters import Duty, load_duty
from patrol.updater import LiveUpdater
from tracks.devices import read_devices
from tracks.store import Store

#: How often a hiding view reads the roster again (a roster imported on a lake while serve runs).
DUTY_RELOAD_S = 60.0


@dataclass
class ApiContext:
    store: Store
    grid_set: GridSet | None
    live: LiveUpdater | None
    geofence: GeofenceSettings
    settings: ApiSettings
    tokens: TokenFile | None
    role: str = "all"  # serve --role
    # what the process runs beside the API, each declaring its health (base/health.py):
    # ingest's connection and writer, or the stage's publisher and leadership; ``live`` too
    parts: Sequence[object] = ()
    # the alert streams' fan-out; None: one with the settings' limits
    hub: AlertHub = field(default=None)  # type: ignore[assignment]
    # where the access log goes (api/access.py); None: a recorder on ``store``
    access: AccessRecorder = field(default=None)  # type: ignore[assignment]
    # commands to devices (api/routes/commands.py); None: this role sends none
    commands: Commander | None = None
    # the live map's base map (api/tiles.py: --tiles or --tiles-file); None: none
    tiles: TileSource | None = None
    _geometries: dict[str, Any] | None = field(default=None, init=False, repr=False)
    _geometry_json: dict[str, bytes] | None = field(default=None, init=False, repr=False)
    _report_grids: ReportGrids | None = field(default=None, init=False, repr=False)
    _duty: tuple[float, Duty] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.access is None:
            self.access = AccessRecorder(self.store)
        if self.hub is None:
            self.hub = AlertHub(
                self.settings.sse_max_streams, self.settings.sse_max_streams_per_token
            )
        self.hub.grid_of = self._assigned_grid
        self.hub.tz = self.geofence.tz

    def _assigned_grid(self, device_id: str) -> str | None:
        """A device's assigned grid, read when one of its alerts is published."""
        row = read_devices(self.store, device_id)
        return row["grid_id"][0] if row.height else None

    def duty_for(self, role: str) -> Duty | None:
        """The roster by which a token role's view leaves out fixes off duty (``--off-duty
        hide`` or ``drop``, for all but admins); None: the role sees every fix. Read again from
        storage at most every :data:`DUTY_RELOAD_S` (a roster imported on a lake)."""
        if self.settings.off_duty == "keep" or role == "admin":
            return None
        now = time.monotonic()
        if self._duty is None or now - self._duty[0] > DUTY_RELOAD_S:
            self._duty = (now, load_duty(self.store, self.geofence.tz))
        return self._duty[1]

    def health_parts(self) -> list[object]:
        """Everything whose health /health and /metrics show, the live updater last."""
        return [*self.parts, self.access, self.hub, *([self.live] if self.live is not None else [])]

    def report_grids(self, grid_set: GridSet) -> ReportGrids:
        """The grids as reports read them, built once (as :meth:`grid_geometries`)."""
        if self._report_grids is None:
            self._report_grids = ReportGrids(self.store, grid_set)
        return self._report_grids

    def grid_geometries(self) -> dict[str, Any]:
        """Each grid's GeoJSON geometry as imported, read once: the grids do not change
        while serve runs (an import replaces them only before serve starts)."""
        if self._geometries is None:
            self._geometries = read_geometries(self.store)
        return self._geometries

    def grid_geometry_json(self) -> dict[str, bytes]:
        """:meth:`grid_geometries` each encoded as JSON, once (GET /grids is made of them)."""
        if self._geometry_json is None:
            self._geometry_json = {
                gid: encode(geometry) for gid, geometry in self.grid_geometries().items()
            }
        return self._geometry_json
