"""What the API reads: the store (through named reads), grids, live state, ingest state."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from api.access import AccessRecorder
from api.config import ApiSettings
from api.tokens import TokenFile
from geofence.alerts import Alert
from geofence.config import GeofenceSettings
from geofence.grids import GridSet
from patrol.derive import ReportGrids
from patrol.grids import read_geometries
from patrol.updater import LiveUpdater
from tracks.store import Store


class AlertHub:
    """Fans alerts out to the SSE clients; called from the live updater's thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Alert]]] = []

    def subscribe(self) -> asyncio.Queue[Alert]:
        q: asyncio.Queue[Alert] = asyncio.Queue(maxsize=1000)
        with self._lock:
            self._clients.append((asyncio.get_running_loop(), q))
        return q

    def clients(self) -> int:
        """How many streams are connected now."""
        with self._lock:
            return len(self._clients)

    def unsubscribe(self, q: asyncio.Queue[Alert]) -> None:
        with self._lock:
            self._clients = [(lp, c) for lp, c in self._clients if c is not q]

    def publish(self, alert: Alert) -> None:
        with self._lock:
            clients = list(self._clients)
        for loop, q in clients:
            loop.call_soon_threadsafe(_offer, q, alert)


def _offer(q: asyncio.Queue[Alert], alert: Alert) -> None:
    if not q.full():  # a client that stopped reading loses alerts, not our memory
        q.put_nowait(alert)


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
    hub: AlertHub = field(default_factory=AlertHub)
    # where the access log goes (api/access.py); None: a recorder on ``store``
    access: AccessRecorder = field(default=None)  # type: ignore[assignment]
    _geometries: dict[str, Any] | None = field(default=None, init=False, repr=False)
    _report_grids: ReportGrids | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.access is None:
            self.access = AccessRecorder(self.store)

    def health_parts(self) -> list[object]:
        """Everything whose health /health and /metrics show, the live updater last."""
        return [*self.parts, self.access, *([self.live] if self.live is not None else [])]

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
