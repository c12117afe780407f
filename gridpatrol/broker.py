"""A Mosquitto child process for the demo, the tests and the benchmarks.

Mosquitto's defaults throttle and drop (``max_inflight_messages 20`` caps QoS 1
delivery, ``max_queued_messages 1000`` drops QoS 1 messages for a subscriber that falls
behind), so every config written here sets both.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from gridpatrol.errors import GridpatrolError

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


def mosquitto_config(port: int, data_dir: Path, *, persistence: bool = True) -> str:
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        f"max_inflight_messages {MAX_INFLIGHT_MESSAGES}",
        f"max_queued_messages {MAX_QUEUED_MESSAGES}",
        "max_queued_bytes 0",
        "persistent_client_expiration 2d",
        f"persistence {'true' if persistence else 'false'}",
        f"persistence_location {data_dir}/",
        "autosave_interval 1",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
    ]
    return "\n".join(lines) + "\n"


class Mosquitto:
    """Start and stop a private Mosquitto on a free loopback port."""

    def __init__(self, *, port: int | None = None, persistence: bool = True) -> None:
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
        self.config.write_text(mosquitto_config(self.port, self.dir, persistence=persistence))
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
