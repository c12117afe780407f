"""``gridpatrol serve --role``: one process doing everything, or one part of a lake's processes.

* ``all`` (the default): :class:`gridpatrol.serve.Service` as it always was: ingest, the live
  stage and (with ``--http``) the API, on a DuckDB file or a lake;
* ``ingest``: the same Service without the live stage, subscribed on the shared subscription
  ``$share/{--share-group}/...``; any number of them append to one lake;
* ``stage``: :class:`patrol.lakestage.LakeStage`, one leading and the others standing by;
  with ``--http`` the whole API (a standby answers ``/api/v1/health`` with 503);
* ``api``: the API over the lake, read-only, any number; its live state is read from the
  lake every ``API_RELOAD_S`` (the stage's stored alerts and the stored visits and fixes),
  and the alerts stored since the last reload go to its ``/alerts/stream``.

docs/operations.md, "Roles", says how they fit together.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
from types import FrameType
from typing import Any, Protocol

from api.config import ApiSettings
from api.context import ApiContext
from base.errors import ConfigError
from geofence.config import GeofenceSettings
from geofence.grids import check_grids
from gridpatrol.serve import HttpServer, ServeOptions, Service
from ingest.config import IngestSettings
from ingest.publisher import Publisher
from patrol.config import StageSettings
from patrol.follower import AlertFollower
from patrol.lakestage import LakeStage
from patrol.registry import read_grids, save_grids
from patrol.stage import LiveStage
from tracks.engines import is_lake, open_store
from tracks.errors import redact
from tracks.lake import LakeStore
from tracks.queries import import_devices
from tracks.store import StoreError

log = logging.getLogger("gridpatrol.serve")

ROLES = ("all", "ingest", "stage", "api")

#: The shared-subscription group of ingest workers when --share-group is not given.
DEFAULT_SHARE_GROUP = "gridpatrol"


class Process(Protocol):
    def run(self) -> None: ...

    def stop(self) -> None: ...


def check_role(options: ServeOptions, ingest: IngestSettings) -> IngestSettings:
    """Refuse what a role cannot do (one line, exit 2); the ingest settings it runs with."""
    role = options.role
    if role not in ROLES:
        raise ConfigError(f"--role must be one of {', '.join(ROLES)}, got {role!r}")
    if options.lake_commit_retries is not None and (
        options.lake_commit_retries < 0 or not is_lake(options.db)
    ):
        raise ConfigError("--lake-commit-retries is 0 or more, for a DuckLake --db")
    if role == "all":
        return ingest
    if not is_lake(options.db):
        raise ConfigError(
            f"--role {role} needs a DuckLake --db (ducklake:postgres:...), "
            f"which several processes share; a DuckDB file has one writer"
        )
    if role in ("ingest", "api") and (options.grids is not None or options.devices is not None):
        raise ConfigError(
            f"--role {role} imports nothing: give --grids and --devices to the "
            "stage (or use gridpatrol grids import / devices import)"
        )
    if role == "api" and options.http is None:
        raise ConfigError("--role api serves the API: give --http HOST:PORT")
    if role == "ingest":
        return dataclasses.replace(ingest, share_group=ingest.share_group or DEFAULT_SHARE_GROUP)
    return ingest


class StageProcess:
    """The stage role: the lake's change feed into live state, alerts and maintenance."""

    def __init__(
        self,
        options: ServeOptions,
        ingest: IngestSettings,
        geofence: GeofenceSettings,
        api: ApiSettings,
        settings: StageSettings,
    ) -> None:
        store = open_store(
            options.db, options.data_path, commit_retries=options.lake_commit_retries
        )
        assert isinstance(store, LakeStore)
        self.store = store
        if options.grids is not None:
            grids, _ = check_grids(options.grids)
            save_grids(store, grids)
            log.info("imported %d grids from %s", len(grids), options.grids)
        if options.devices is not None:
            log.info(
                "imported %d devices from %s",
                import_devices(store, options.devices),
                options.devices,
            )
        grid_set = read_grids(store)
        if grid_set is None:
            log.warning(
                "no grids imported: the stage drops duplicates and maintains the "
                "lake, no live alerts"
            )
        self.publisher = Publisher(ingest)
        self.stage = LakeStage(
            store,
            grid_set,
            geofence,
            settings,
            flag_limits=(ingest.max_acc_m, ingest.max_speed_mps),
            publish=self.publisher.publish,
            on_live=self._on_live,
        )
        self.http: HttpServer | None = None
        if options.http is not None:

            def make(**fields: Any) -> ApiContext:
                return ApiContext(
                    store=store,
                    grid_set=grid_set,
                    live=None,
                    geofence=geofence,
                    broker_connected=self.publisher.client.is_connected,
                    role="stage",
                    stage=self.stage.health,
                    **fields,
                )

            self.http = HttpServer(options, api, make)

    def _on_live(self, live: LiveStage | None) -> None:
        """A new live stage (this process took the lead) or none (it stepped down)."""
        if self.http is None:
            return
        self.http.context.live = live
        if live is not None:
            live.listeners.append(self.http.context.hub.publish)

    def run(self) -> None:
        self.publisher.start()
        if self.http is not None:
            self.http.start()
        try:
            self.stage.run()
        finally:
            if self.http is not None:
                self.http.stop()
            self.publisher.stop()
            self.store.close()

    def stop(self) -> None:
        self.stage.stop()


#: How often an api process takes the live state again from the lake.
API_RELOAD_S = 5.0


class ApiProcess:
    """The api role: the API over the lake, read-only. Its live state (the map's statuses,
    devices' positions) is read from the lake every ``API_RELOAD_S``: the last visits and
    fixes stored, and the conditions the stage's stored alerts left open. At each reload the
    alerts the stage stored since the last one (:class:`patrol.follower.AlertFollower`) go
    to ``/alerts/stream``: its clients get the stage's alerts within ``API_RELOAD_S``."""

    def __init__(self, options: ServeOptions, geofence: GeofenceSettings, api: ApiSettings) -> None:
        self.store = store = open_store(options.db, options.data_path, read_only=True)
        grid_set = read_grids(store)
        self.live = LiveStage(grid_set, geofence, store) if grid_set is not None else None
        self.follower = AlertFollower(store)
        live = self.live

        def make(**fields: Any) -> ApiContext:
            return ApiContext(
                store=store, grid_set=grid_set, live=live, geofence=geofence, role="api", **fields
            )

        self.http = HttpServer(options, api, make)
        self._stopping = threading.Event()

    def run(self) -> None:
        self.http.start()
        try:
            while not self._stopping.wait(API_RELOAD_S):
                self.reload()
        finally:
            self.http.stop()
            self.store.close()

    def reload(self) -> None:
        """The live state again from the lake, and the alerts stored since to the stream."""
        try:
            if self.live is not None:
                self.live.reload()
            for alert in self.follower.poll():
                self.http.context.hub.publish(alert)
        except StoreError as exc:  # the lake away: the last state is served
            log.error("live state not read again from the lake: %s", exc)

    def stop(self) -> None:
        self._stopping.set()


def open_process(
    options: ServeOptions,
    ingest: IngestSettings,
    geofence: GeofenceSettings,
    api: ApiSettings,
    stage: StageSettings,
) -> Process:
    ingest = check_role(options, ingest)
    if options.role == "stage":
        return StageProcess(options, ingest, geofence, api, stage)
    if options.role == "api":
        return ApiProcess(options, geofence, api)
    return Service(options, ingest, geofence, api)


def serve(
    options: ServeOptions,
    ingest: IngestSettings,
    geofence: GeofenceSettings,
    api: ApiSettings,
    stage: StageSettings,
) -> int:
    process = open_process(options, ingest, geofence, api, stage)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: finishing what is under way, then exiting", signum)
        process.stop()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    log.info("serving %s as --role %s", redact(str(options.db)), options.role)
    process.run()
    log.info("stopped cleanly")
    return 0
