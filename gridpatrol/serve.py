"""``gridpatrol serve``: ingest and the live geofence stage in one process."""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import numpy as np

from geofence.assign import assign_ids
from geofence.config import GeofenceSettings
from geofence.grids import check_grids
from geofence.live import LiveState
from geofence.registry import read_grids, save_grids
from ingest.batcher import Batcher
from ingest.config import IngestSettings
from ingest.mqtt import MqttIngest
from ingest.prepare import Message, PreparedBatch, Preparer
from tracks.queries import import_devices, known_device_ids
from tracks.store import Store

log = logging.getLogger("gridpatrol.serve")


@dataclass(frozen=True)
class ServeOptions:
    db: Path
    devices: Path | None = None
    grids: Path | None = None


class Service:
    """The running pieces of ``serve``; :meth:`run` blocks until :meth:`stop`."""

    def __init__(
        self,
        options: ServeOptions,
        ingest: IngestSettings,
        geofence: GeofenceSettings | None = None,
    ) -> None:
        geofence = geofence or GeofenceSettings()
        self.store = Store(options.db)
        if options.grids is not None:
            grids, _ = check_grids(options.grids)
            save_grids(self.store, grids)
            log.info("imported %d grids from %s", len(grids), options.grids)
        if options.devices is not None:
            count = import_devices(self.store, options.devices)
            log.info("imported %d devices from %s", count, options.devices)
        known = known_device_ids(self.store) if ingest.strict_devices else None
        self.grid_set = read_grids(self.store)
        self.mqtt = MqttIngest(ingest, self._deliver)
        self.live: LiveState | None = None
        assigner = None
        if self.grid_set is not None:
            grid_set = self.grid_set

            def assigner(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
                return assign_ids(grid_set, lon, lat)

            self.live = LiveState(grid_set, geofence, self.store, publish=self.mqtt.publish)
        else:
            log.warning("no grids imported: pings are stored without grids, no live alerts")
        preparer = Preparer(ingest, self.store, assign=assigner, known_devices=known)
        preparer.warm_up()
        if self.live is not None:
            self.live.warm_up()
        self.batcher = Batcher(
            ingest, preparer, self.store, ack=self.mqtt.ack, on_stored=self._on_stored
        )
        self.tick_s = geofence.tick_s
        self._stopped = threading.Event()

    def _deliver(self, message: Message) -> None:
        self.batcher.put(message)

    def _on_stored(self, batch: PreparedBatch) -> None:
        if self.live is not None:
            self.live.on_stored(batch.pings)
            if batch.events.height:
                self.live.on_events(batch.events)

    def _tick_loop(self) -> None:
        while not self._stopped.wait(self.tick_s):
            if self.live is not None:
                self.live.tick()

    def run(self) -> None:
        self.mqtt.start()
        ticker = threading.Thread(target=self._tick_loop, name="live-tick", daemon=True)
        ticker.start()
        try:
            self.batcher.run()
        finally:
            self._stopped.set()
            ticker.join()
            self.mqtt.stop()
            self.store.close()

    def stop(self) -> None:
        self.batcher.stop()


def serve(options: ServeOptions, ingest: IngestSettings, geofence: GeofenceSettings) -> int:
    service = Service(options, ingest, geofence)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: flushing, committing, acknowledging, then exiting", signum)
        service.stop()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    log.info("serving %s from %s", options.db, ingest.broker)
    service.run()
    log.info("stopped cleanly")
    return 0
