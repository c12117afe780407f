"""The parts every role of ``serve`` is assembled from (:mod:`gridpatrol.compose`).

* :func:`open_role_store` and :func:`import_at_start`: the store, and ``--grids`` and
  ``--devices`` imported into it before anything reads it;
* :func:`build_ingest`: the write path (prepare, batch, commit, acknowledge);
* :class:`HttpServer`: the API and the live map, with the one :class:`api.context.ApiContext`
  of the process;
* :class:`Lifecycle`: the one shutdown order: parts started in order, stopped in reverse
  order once the role's main loop returns, the store closed last.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from api.config import ApiSettings
from api.context import ApiContext
from base.errors import ConfigError
from base.health import measure
from geofence.assign import assign
from geofence.config import GeofenceSettings
from geofence.flags import FixFlagger
from geofence.grids import GridSet, check_grids
from gridpatrol.roles import Role, ServeOptions
from ingest.batcher import QUEUE_DEPTH, Backlog, Batcher
from ingest.config import IngestSettings
from ingest.message import Message
from ingest.mqtt import MQTT_CONNECTS
from ingest.prepare import OffDuty, PreparedBatch, Preparer
from ingest.rejections import DEVICE_REJECTED
from patrol.grids import read_grids, save_grids
from patrol.updater import LiveUpdater
from tracks.devices import read_device_datums
from tracks.engines import open_store
from tracks.queries import import_devices, known_device_ids
from tracks.store import Store
from tracks.writer import PingWriter

log = logging.getLogger("gridpatrol.serve")

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class Part(Protocol):
    """A running piece of a process: a thread or a connection."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class Lifecycle:
    """Parts started in the order added; after ``main`` returns (or raises) they stop in
    reverse order, and the store closes last. So a part stops before what it uses: the live
    stage (which publishes) before the MQTT client, the API before the store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._parts: list[Part] = []

    def add(self, part: Part | None) -> None:
        if part is not None:
            self._parts.append(part)

    def run(self, main: Callable[[], None]) -> None:
        with contextlib.ExitStack() as stack:
            stack.callback(self.store.close)
            for part in self._parts:
                part.start()
                stack.callback(part.stop)
            main()


class IdleIngest:
    """Ingest's readings in a process without ingest (roles stage and api): nothing waits,
    no connection. So /metrics shows the same ingest names in every role."""

    HEALTH_PARTS = ("backlog",)  # base/health.py
    backlog = Backlog()

    @measure(QUEUE_DEPTH)
    def pending(self) -> int:
        return 0

    @measure(MQTT_CONNECTS)
    def connections(self) -> int:
        return 0

    @measure(DEVICE_REJECTED)
    def rejections(self) -> dict[str, int]:
        return {}


def open_role_store(options: ServeOptions) -> Store:
    """The store of ``--db``: read-only for the api role; ``--grids`` and ``--devices``
    imported first where the role imports (gridpatrol.roles)."""
    role = Role(options.role)
    if role is Role.API:
        return open_store(options.db, options.data_path, read_only=True)
    store = open_store(options.db, options.data_path, commit_retries=options.lake_commit_retries)
    import_at_start(store, options)
    return store


def import_at_start(store: Store, options: ServeOptions) -> None:
    if options.grids is not None:
        grids, _ = check_grids(options.grids)
        save_grids(store, grids)
        log.info("imported %d grids from %s", len(grids), options.grids)
    if options.devices is not None:
        count = import_devices(store, options.devices)
        log.info("imported %d devices from %s", count, options.devices)


def read_role_grids(store: Store, without: str) -> GridSet | None:
    """The stored grids; None (and ``without`` logged) when none were imported."""
    grid_set = read_grids(store)
    if grid_set is None:
        log.warning("no grids imported: %s", without)
    return grid_set


def build_ingest(
    settings: IngestSettings,
    store: Store,
    grid_set: GridSet | None,
    *,
    ack: Callable[[list[Message]], None],
    on_committed: Callable[[PreparedBatch], None],
    off_duty: OffDuty | None = None,
) -> Batcher:
    """The write path: prepare (decode, validate, place in grids), batch, then commit through
    the one :class:`tracks.writer.PingWriter` (which flags in the transaction), then ack."""
    known = known_device_ids(store) if settings.strict_devices else None
    assigner = None
    if grid_set is not None:

        def assigner(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
            return assign(grid_set, lon, lat)

    preparer = Preparer(
        settings,
        assign=assigner,
        grid_ids=grid_set.ids if grid_set is not None else [],
        known_devices=known,
        datums=read_device_datums(store),  # read at start, as the known devices are
        off_duty=off_duty,  # --off-duty drop: the roster read at start, too
    )
    flagger = FixFlagger(settings.max_acc_m, settings.max_speed_mps)
    flagger.warm_up()  # the kernels compiled now, not inside the first batch's latency
    return Batcher(
        settings,
        preparer,
        PingWriter(store, flagger),
        ack=ack,
        on_committed=on_committed,
        read_through_after_s=settings.keepalive_s / 2,
    )


def parse_http(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--http must be HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


class HttpServer:
    """The API and the live map on uvicorn, in a thread of a serve process (any role).

    The context is the same for every role but for what the role runs beside the API:
    ``parts`` declare their health (base/health.py), ``live`` is shown (:meth:`show_live`)."""

    def __init__(
        self,
        options: ServeOptions,
        api: ApiSettings,
        *,
        store: Store,
        grid_set: GridSet | None,
        geofence: GeofenceSettings,
        parts: Sequence[object] = (),
        access_store: Store | None = None,
    ) -> None:
        import uvicorn

        from api.access import AccessRecorder
        from api.app import create_app
        from api.tiles import open_tiles
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
        self.context = ApiContext(
            store=store,
            grid_set=grid_set,
            live=None,
            geofence=geofence,
            settings=api,
            tokens=tokens,
            role=str(options.role),
            parts=parts,
            # the access log goes to the store, or to the one opened for it (role api)
            access=AccessRecorder(access_store or store, owns_store=access_store is not None),
            tiles=open_tiles(api.tiles, api.tiles_file),  # a bad file: refused here, one line
        )
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

    def show_live(self, live: LiveUpdater | None, *, stream: bool = True) -> None:
        """Serve this live state (None: none); with ``stream``, its alerts go to
        ``/alerts/stream`` as they are stored."""
        self.context.live = live
        if live is not None and stream:
            live.listeners.append(self.context.hub.publish)

    def start(self) -> None:
        self._thread.start()
        log.info("API and live map on %s", self.url)

    def started(self) -> bool:
        return bool(self.server.started)

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)
        self.context.access.stop()  # no request after: every record written
        if self.context.tiles is not None:
            self.context.tiles.close()


def open_http(
    options: ServeOptions,
    api: ApiSettings,
    *,
    store: Store,
    grid_set: GridSet | None,
    geofence: GeofenceSettings,
    parts: Sequence[object] = (),
    access_store: Store | None = None,
) -> HttpServer | None:
    """The API of a process with ``--http``; None without."""
    if options.http is None:
        return None
    return HttpServer(
        options,
        api,
        store=store,
        grid_set=grid_set,
        geofence=geofence,
        parts=parts,
        access_store=access_store,
    )


def open_access_store(options: ServeOptions) -> Store:
    """The api role's store for its access records only: the lake opened for writing (its
    other reads stay on the read-only store). The access log is append-only, and appends of
    several processes never conflict on a lake (docs/storage.md, "The access log")."""
    return open_store(options.db, options.data_path, commit_retries=options.lake_commit_retries)
