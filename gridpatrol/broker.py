"""A Mosquitto child process for the demo, the tests and the benchmarks.

Mosquitto's defaults throttle and drop (``max_inflight_messages 20`` caps QoS 1
delivery, ``max_queued_messages 1000`` drops QoS 1 messages for a subscriber that falls
behind), so every config written here sets both.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from base.errors import GridpatrolError
from ingest.config import MAX_PACKET_BYTES

MAX_INFLIGHT_MESSAGES = 10000
MAX_QUEUED_MESSAGES = 1000000


class BrokerError(GridpatrolError):
    """Mosquitto is missing or did not start."""


def find_mosquitto() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(p)),
        None,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mosquitto_config(
    port: int,
    data_dir: Path,
    *,
    persistence: bool = True,
    also_on: tuple[str, ...] = (),
    autosave: tuple[str, ...] = ("autosave_interval 1",),
) -> str:
    # also_on: addresses to listen on besides loopback (a test's other "hosts");
    # autosave: the persistence lines (bench/durability.py measures the choices)
    lines = [
        *(f"listener {port} {address}" for address in ("127.0.0.1", *also_on)),
        "allow_anonymous true",
        f"max_inflight_messages {MAX_INFLIGHT_MESSAGES}",
        f"max_queued_messages {MAX_QUEUED_MESSAGES}",
        "max_queued_bytes 0",
        f"max_packet_size {MAX_PACKET_BYTES}",
        "persistent_client_expiration 2d",
        f"persistence {'true' if persistence else 'false'}",
        f"persistence_location {data_dir}/",
        *autosave,
        "log_dest stderr",
        "log_type error",
        "log_type warning",
    ]
    return "\n".join(lines) + "\n"


class Mosquitto:
    """Start and stop a private Mosquitto on a free loopback port."""

    protocol = "5"

    def __init__(
        self,
        *,
        port: int | None = None,
        persistence: bool = True,
        also_on: tuple[str, ...] = (),
        autosave: tuple[str, ...] = ("autosave_interval 1",),
    ) -> None:
        binary = find_mosquitto()
        if binary is None:
            raise BrokerError(
                "the mosquitto binary is not installed (Debian: apt-get install mosquitto)"
            )
        self.binary = binary
        self.port = port or free_port()
        # Mosquitto started as root drops to its own user: the folder must be open to it.
        self.dir = Path(tempfile.mkdtemp(prefix="gridpatrol-mosquitto-"))
        os.chmod(self.dir, 0o777)
        self.config = self.dir / "mosquitto.conf"
        self.config.write_text(
            mosquitto_config(
                self.port, self.dir, persistence=persistence, also_on=also_on, autosave=autosave
            )
        )
        os.chmod(self.config, 0o644)
        self.log = self.dir / "mosquitto.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0) -> Mosquitto:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "-c", str(self.config)], stdout=log, stderr=log
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(f"mosquitto exited at start: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on port {self.port} in {timeout_s} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class PythonBroker:
    """An in-process amqtt broker (MQTT 3.1.1 only) for a machine without Mosquitto.

    Used by the demo alone: it is no production broker (no MQTT 5, no persistence here).
    """

    protocol = "3.1.1"

    def __init__(self, *, port: int | None = None) -> None:
        self.port = port or free_port()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="amqtt", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def _run(self) -> None:
        from amqtt.broker import Broker

        async def main() -> None:
            self._stop = asyncio.Event()
            broker = Broker(
                {
                    "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
                    "plugins": {
                        "amqtt.plugins.authentication.AnonymousAuthPlugin": {
                            "allow_anonymous": True
                        }
                    },
                }
            )
            await broker.start()
            self._ready.set()
            await self._stop.wait()
            await broker.shutdown()

        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(main())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()

    def start(self, timeout_s: float = 10.0) -> PythonBroker:
        self._thread.start()
        if not self._ready.wait(timeout_s) or self._error is not None:
            raise BrokerError(f"the Python broker did not start: {self._error}")
        return self

    def cleanup(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)
