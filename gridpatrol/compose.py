"""One composition per role of ``serve`` (gridpatrol/roles.py), from the shared parts.

=========  ==================  =======================================================
role       class               parts, in start order (they stop in reverse, store last)
=========  ==================  =======================================================
all        IngestProcess       MQTT client, API, live updater; main loop: the batcher
ingest     IngestProcess       MQTT client (shared subscription), API; the batcher
stage      StageProcess        alerts' publisher, API; main loop: the lake's stage
api        ApiProcess          API; main loop: the live state read again from the lake
=========  ==================  =======================================================

:func:`compose` picks the class; each ``run()`` blocks until ``stop()``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

from api.config import ApiSettings
from geofence.config import GeofenceSettings
from gridpatrol.parts import (
    HttpServer,
    IdleIngest,
    Lifecycle,
    build_ingest,
    open_access_store,
    open_http,
    open_role_store,
    read_role_grids,
)
from gridpatrol.roles import Role, ServeOptions, check_role
from ingest.commands import Commander
from ingest.config import IngestSettings
from ingest.message import Message
from ingest.mqtt import MqttIngest
from ingest.prepare import PreparedBatch
from ingest.publisher import Publisher
from patrol.config import LiveSettings, RetentionSettings, StageSettings
from patrol.follower import AlertFollower
from patrol.lakestage import LakeStage
from patrol.live import Clock
from patrol.retention import RetentionKeeper
from patrol.updater import CommittedBatch, LiveUpdater
from tracks.lake import LakeStore
from tracks.store import StoreError

log = logging.getLogger("gridpatrol.serve")

#: After the subscription is acknowledged, the broker starts sending what it held; until
#: the first of it is batched, a silence may just mean it has not arrived yet.
SETTLE_AFTER_SUBSCRIBE_S = 2.0

#: How often an api process takes the live state again from the lake.
API_RELOAD_S = 5.0


class Process(Protocol):
    def run(self) -> None: ...

    def stop(self) -> None: ...


class IngestProcess:
    """Roles ``all`` and ``ingest``: MQTT in, batches committed then acknowledged; in
    ``all`` the live updater too (an ingest worker leaves it to the lake's stage)."""

    def __init__(
        self,
        options: ServeOptions,
        ingest: IngestSettings,
        geofence: GeofenceSettings | None = None,
        api: ApiSettings | None = None,
        *,
        live: LiveSettings | None = None,
        clock: Clock = time.time,
        retention: RetentionSettings | None = None,
    ) -> None:
        geofence = geofence or GeofenceSettings()
        self.store = open_role_store(options)
        self.grid_set = read_role_grids(
            self.store, "pings are stored without grids, no live alerts"
        )
        self.mqtt = MqttIngest(ingest, self._deliver, may_read=self._may_read)
        self.live: LiveUpdater | None = None
        if self.grid_set is not None and Role(options.role) is Role.ALL:
            self.live = LiveUpdater(
                self.grid_set,
                geofence,
                self.store,
                live,
                publish=self.mqtt.publish,
                draining=self._draining,
                clock=clock,
            )
        self.batcher = build_ingest(
            ingest,
            self.store,
            self.grid_set,
            ack=self.mqtt.ack,
            on_committed=self._on_committed,
        )
        if self.live is not None:
            self.live.warm_up()
        self.http = open_http(
            options,
            api or ApiSettings(),
            store=self.store,
            grid_set=self.grid_set,
            geofence=geofence,
            parts=(self.mqtt, self.batcher),
        )
        self.commands: Commander | None = None
        if self.http is not None:
            self.http.show_live(self.live)
            self.commands = self.http.context.commands = Commander(ingest, self.store)
        self.lifecycle = Lifecycle(self.store)
        for part in (
            self.mqtt,
            self.commands,
            self.http,
            self.live,
            self._retention(options, retention, geofence),
        ):
            self.lifecycle.add(part)

    def _retention(
        self, options: ServeOptions, settings: RetentionSettings | None, geofence: GeofenceSettings
    ) -> RetentionKeeper | None:
        """Role ``all`` with ``--retain-days``: the purge's thread (a lake's stage purges in
        its maintenance instead; ingest workers never delete)."""
        if settings is None or settings.retain_days <= 0 or Role(options.role) is not Role.ALL:
            return None
        return RetentionKeeper(self.store, settings, geofence)  # grids read at each purge

    def _deliver(self, message: Message) -> None:
        self.batcher.put(message)

    def _may_read(self) -> bool:
        return self.batcher.may_read()

    def _on_committed(self, batch: PreparedBatch) -> None:
        if self.live is not None:
            self.live.submit(CommittedBatch(batch.pings, batch.grid, batch.events))

    def _draining(self) -> bool:
        """Whether messages may still wait in the broker: new live alerts wait meanwhile."""
        if not self.mqtt.connected.is_set():
            return True
        settling = time.monotonic() - self.mqtt.subscribed_at < SETTLE_AFTER_SUBSCRIBE_S
        return settling or self.batcher.draining()

    def run(self) -> None:
        self.lifecycle.run(self.batcher.run)

    def stop(self) -> None:
        self.batcher.stop()


class StageProcess:
    """Role ``stage``: the lake's change feed into live state, alerts and maintenance."""

    def __init__(
        self,
        options: ServeOptions,
        ingest: IngestSettings,
        geofence: GeofenceSettings,
        api: ApiSettings,
        settings: StageSettings,
        live: LiveSettings | None = None,
        retention: RetentionSettings | None = None,
    ) -> None:
        store = open_role_store(options)
        assert isinstance(store, LakeStore)
        self.store = store
        grid_set = read_role_grids(
            store, "the stage drops duplicates and maintains the lake, no live alerts"
        )
        self.publisher = Publisher(ingest)
        self.stage = LakeStage(
            store,
            grid_set,
            geofence,
            settings,
            live,
            flag_limits=(ingest.max_acc_m, ingest.max_speed_mps),
            publish=self.publisher.publish,
            on_live=self._on_live,
            retention=retention,
        )
        self.http = open_http(
            options,
            api,
            store=store,
            grid_set=grid_set,
            geofence=geofence,
            parts=(IdleIngest(), self.publisher, self.stage.health),
        )
        self.lifecycle = Lifecycle(store)
        for part in (self.publisher, self.http):
            self.lifecycle.add(part)

    def _on_live(self, live: LiveUpdater | None) -> None:
        """A new live updater (this process took the lead) or none (it stepped down)."""
        if self.http is not None:
            self.http.show_live(live)

    def run(self) -> None:
        self.lifecycle.run(self.stage.run)

    def stop(self) -> None:
        self.stage.stop()


class ApiProcess:
    """Role ``api``: the API over the lake, read-only. Its live state (the map's statuses,
    devices' positions) is read from the lake every ``API_RELOAD_S``: the last visits and
    fixes stored, and the conditions the stage's stored alerts left open. At each reload the
    alerts the stage stored since the last one (:class:`patrol.follower.AlertFollower`) go
    to ``/alerts/stream``: its clients get the stage's alerts within ``API_RELOAD_S``."""

    def __init__(
        self,
        options: ServeOptions,
        geofence: GeofenceSettings,
        api: ApiSettings,
        live: LiveSettings | None = None,
    ) -> None:
        self.store = store = open_role_store(options)
        grid_set = read_role_grids(store, "no live state")
        self.live = None
        if grid_set is not None:
            self.live = LiveUpdater(grid_set, geofence, store, live)
        self.follower = AlertFollower(store)
        http = open_http(
            options,
            api,
            store=store,
            grid_set=grid_set,
            geofence=geofence,
            parts=(IdleIngest(),),
            access_store=open_access_store(options),  # closed by the API's stop
        )
        assert http is not None  # check_role: --role api needs --http
        self.http: HttpServer = http
        self.http.show_live(self.live, stream=False)  # the follower streams the alerts
        self._stopping = threading.Event()
        self.lifecycle = Lifecycle(store)
        self.lifecycle.add(self.http)

    def run(self) -> None:
        self.lifecycle.run(self._reload_until_stopped)

    def _reload_until_stopped(self) -> None:
        while not self._stopping.wait(API_RELOAD_S):
            self.reload()

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


@dataclass(frozen=True)
class ServeSettings:
    """Every settings object ``serve`` passes down, built once by the command line."""

    ingest: IngestSettings = field(default_factory=IngestSettings)
    geofence: GeofenceSettings = field(default_factory=GeofenceSettings)
    live: LiveSettings = field(default_factory=LiveSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    stage: StageSettings = field(default_factory=StageSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)


def compose(options: ServeOptions, settings: ServeSettings) -> Process:
    """The process of ``options.role``, checked (gridpatrol.roles) and assembled."""
    ingest = check_role(options, settings.ingest)
    geofence, api, live = settings.geofence, settings.api, settings.live
    role = Role(options.role)
    if role is Role.STAGE:
        return StageProcess(
            options, ingest, geofence, api, settings.stage, live, settings.retention
        )
    if role is Role.API:
        return ApiProcess(options, geofence, api, live)
    return IngestProcess(options, ingest, geofence, api, live=live, retention=settings.retention)
