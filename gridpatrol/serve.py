"""``gridpatrol serve``: ingest (and the live geofence stage) in one process."""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from ingest.batcher import Batcher
from ingest.config import IngestSettings
from ingest.mqtt import MqttIngest
from ingest.prepare import Preparer
from tracks.queries import import_devices, known_device_ids
from tracks.store import Store

log = logging.getLogger("gridpatrol.serve")


@dataclass(frozen=True)
class ServeOptions:
    db: Path
    devices: Path | None = None


class Service:
    """The running pieces of ``serve``; :meth:`run` blocks until :meth:`stop`."""

    def __init__(self, options: ServeOptions, ingest: IngestSettings) -> None:
        self.store = Store(options.db)
        if options.devices is not None:
            count = import_devices(self.store, options.devices)
            log.info("imported %d devices from %s", count, options.devices)
        known = known_device_ids(self.store) if ingest.strict_devices else None
        preparer = Preparer(ingest, self.store, known_devices=known)
        self.mqtt = MqttIngest(ingest, self._deliver)
        self.batcher = Batcher(ingest, preparer, self.store, ack=self.mqtt.ack)

    def _deliver(self, message: object) -> None:
        self.batcher.put(message)  # type: ignore[arg-type]

    def run(self) -> None:
        self.mqtt.start()
        try:
            self.batcher.run()
        finally:
            self.mqtt.stop()
            self.store.close()

    def stop(self) -> None:
        self.batcher.stop()


def serve(options: ServeOptions, ingest: IngestSettings) -> int:
    service = Service(options, ingest)

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
