"""``gridpatrol serve``: ingest and the live geofence stage in one process."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from api.config import ApiSettings
from api.context import ApiContext
from base.errors import ConfigError
from geofence.assign import assign
from geofence.config import GeofenceSettings
from geofence.flags import FixFlagger
from geofence.grids import check_grids
from ingest.batcher import Batcher
from ingest.config import IngestSettings
from ingest.message import Message
from ingest.mqtt import MqttIngest
from ingest.prepare import PreparedBatch, Preparer
from patrol.live import Clock
from patrol.registry import read_grids, save_grids
from patrol.stage import CommittedBatch, LiveStage
from tracks.engines import open_store
from tracks.queries import import_devices, known_device_ids
from tracks.writer import PingWriter

log = logging.getLogger("gridpatrol.serve")


@dataclass(frozen=True)
class ServeOptions:
    db: str | Path  # a DuckDB file, or a DuckLake attach string (tracks.engines)
    data_path: Path | None = None  # a DuckLake's Parquet folder
    devices: Path | None = None
    grids: Path | None = None
    http: str | None = None  # HOST:PORT of the API and map
    tokens: Path | None = None
    role: str = "all"  # all, ingest, stage or api (gridpatrol.roles)
    lake_commit_retries: int | None = None  # a lake's ducklake_max_retry_count (None: 10)


#: After the subscription is acknowledged, the broker starts sending what it held; until
#: the first of it is batched, a silence may just mean it has not arrived yet.
SETTLE_AFTER_SUBSCRIBE_S = 2.0

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def parse_http(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--http must be HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


class Service:
    """The running pieces of ``serve``; :meth:`run` blocks until :meth:`stop`."""

    def __init__(
        self,
        options: ServeOptions,
        ingest: IngestSettings,
        geofence: GeofenceSettings | None = None,
        api: ApiSettings | None = None,
        *,
        clock: Clock = time.time,
    ) -> None:
        geofence = geofence or GeofenceSettings()
        self.store = open_store(
            options.db, options.data_path, commit_retries=options.lake_commit_retries
        )
        if options.grids is not None:
            grids, _ = check_grids(options.grids)
            save_grids(self.store, grids)
            log.info("imported %d grids from %s", len(grids), options.grids)
        if options.devices is not None:
            count = import_devices(self.store, options.devices)
            log.info("imported %d devices from %s", count, options.devices)
        known = known_device_ids(self.store) if ingest.strict_devices else None
        self.grid_set = read_grids(self.store)
        self.mqtt = MqttIngest(ingest, self._deliver, may_read=self._may_read)
        self.live: LiveStage | None = None
        assigner = None
        grid_ids: list[str] = []
        if self.grid_set is not None:
            grid_set = self.grid_set
            grid_ids = grid_set.ids

            def assigner(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
                return assign(grid_set, lon, lat)

            if options.role == "all":  # an ingest worker leaves the live stage to the stage
                self.live = LiveStage(
                    grid_set,
                    geofence,
                    self.store,
                    publish=self.mqtt.publish,
                    draining=self._draining,
                    clock=clock,
                )
        else:
            log.warning("no grids imported: pings are stored without grids, no live alerts")
        preparer = Preparer(ingest, assign=assigner, grid_ids=grid_ids, known_devices=known)
        flagger = FixFlagger(ingest.max_acc_m, ingest.max_speed_mps)
        flagger.warm_up()
        if self.live is not None:
            self.live.warm_up()
        self.batcher = Batcher(
            ingest,
            preparer,
            PingWriter(self.store, flagger),
            ack=self.mqtt.ack,
            on_committed=self._on_committed,
            read_through_after_s=ingest.keepalive_s / 2,
        )
        self.http: HttpServer | None = None
        if options.http is not None:
            self.http = HttpServer(
                options, api or ApiSettings(), self._api_context(geofence, options.role)
            )

    def _api_context(self, geofence: GeofenceSettings, role: str) -> Callable[..., ApiContext]:
        def make(**fields: Any) -> ApiContext:
            context = ApiContext(
                store=self.store,
                grid_set=self.grid_set,
                live=self.live,
                geofence=geofence,
                batcher_state=self.batcher.state,
                broker_connected=self.mqtt.connected.is_set,
                queue_depth=self.batcher.pending,
                backlog=self.batcher.backlog,
                mqtt_connects=lambda: self.mqtt.connects,
                role=role,
                **fields,
            )
            if self.live is not None:
                self.live.listeners.append(context.hub.publish)
            return context

        return make

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
        self.mqtt.start()
        if self.live is not None:
            self.live.start()
        if self.http is not None:
            self.http.start()
        try:
            self.batcher.run()
        finally:
            if self.live is not None:
                self.live.stop()
            if self.http is not None:
                self.http.stop()
            self.mqtt.stop()
            self.store.close()

    def stop(self) -> None:
        self.batcher.stop()


class HttpServer:
    """The API and the live map on uvicorn, in a thread of a serve process (any role).

    ``make_context(settings=..., tokens=...)`` builds the :class:`api.context.ApiContext` of
    the process; the rest (the tokens file, loopback without it) is the same for every role."""

    def __init__(
        self, options: ServeOptions, api: ApiSettings, make_context: Callable[..., ApiContext]
    ) -> None:
        import uvicorn

        from api.app import create_app
        from api.tokens import TokenFile

        assert options.http is not None
        host, port = parse_http(options.http)
        tokens = None
        if options.tokens is not None:
            tokens = TokenFile(options.tokens, api.tokens_reload_s)
        elif host not in LOOPBACK:
            log.warning("no --tokens file: the API is bound to 127.0.0.1 only, without tokens")
            host = "127.0.0.1"
        else:
            log.warning("no --tokens file: the API needs no token and listens on loopback only")
        self.context = make_context(settings=api, tokens=tokens)
        config = uvicorn.Config(
            create_app(self.context),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        self.server = uvicorn.Server(config)
        self.url = f"http://{host}:{port}/"
        self._thread = threading.Thread(target=self.server.run, name="http", daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.info("API and live map on %s", self.url)

    def started(self) -> bool:
        return bool(self.server.started)

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)
