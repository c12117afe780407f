"""Helpers of the role tests: serve processes of each role on one lake, and their state."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from conftest import Lake
from gridpatrol.broker import Mosquitto, free_port
from tests.geofence.town import lonlat
from tests.integration.netns import Host
from tests.mqtt_helpers import connect, wait_for
from tests.processes import Processes
from tracks.engines import open_store

#: Fast settings for tests: the stage polls often, stands by briefly, maintains every second
#: and keeps no old snapshot.
STAGE_FLAGS = (
    "--feed-poll-s",
    "0.1",
    "--standby-try-s",
    "0.3",
    "--maintenance-every-s",
    "1",
    "--keep-snapshots-s",
    "0",
    "--tick-s",
    "0.2",
)


class Proc:
    """``gridpatrol serve`` in a process; its log lines are kept (and searchable). Given
    ``processes`` (the fixture), every process it starts is recorded there and ended at the
    test's teardown; tests start them through the ``serves`` fixture (:class:`Serves`)."""

    def __init__(
        self,
        lake: Lake,
        broker: Mosquitto,
        role: str,
        client_id: str,
        *extra: str,
        host: Host | None = None,
        processes: Processes | None = None,
    ):
        # host: run on another "machine" (a network namespace), reaching the broker and
        # PostgreSQL over its link
        db, broker_url, address, prefix = lake.db, broker.url, "127.0.0.1", []
        if host is not None:
            db = db.replace("host=127.0.0.1", f"host={host.gateway}")
            broker_url = broker_url.replace("127.0.0.1", host.gateway)
            address, prefix = host.address, ["ip", "netns", "exec", host.netns]
        self.args = [
            *prefix,
            sys.executable,
            "-m",
            "gridpatrol",
            "serve",
            "--role",
            role,
            "--db",
            db,
            "--data-path",
            str(lake.data_path),
            "--broker",
            broker_url,
            "--client-id",
            client_id,
            "--session-expiry-s",
            "300",
            "--batch-age-ms",
            "100",
            *extra,
        ]
        self.name = f"{role} {client_id}"
        self.token: str | None = None  # a bearer token, where --tokens is given
        self.http: str | None = None
        if role in ("stage", "api"):
            self.http = f"{address}:{free_port()}"
            self.args += ["--http", self.http]
        if role == "stage":
            self.args += STAGE_FLAGS
        self.lines: list[str] = []
        self.process: subprocess.Popen[bytes] | None = None
        self.processes = processes
        self.start()

    def start(self) -> Proc:
        self.lines.clear()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(self.args, stderr=subprocess.PIPE, env=env)
        if self.processes is not None:
            self.processes.add(self.process)
        threading.Thread(target=self._read, args=(self.process,), daemon=True).start()
        return self

    def _read(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stderr is not None
        with process.stderr:
            for line in process.stderr:
                self.lines.append(line.decode(errors="replace"))

    def saw(self, pattern: str) -> bool:
        return any(re.search(pattern, line) for line in list(self.lines))

    def wait_for_line(self, pattern: str, timeout_s: float = 30.0) -> None:
        def seen() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"exited {self.process.returncode}:\n{''.join(self.lines)}")
            return self.saw(pattern)

        wait_for(seen, timeout_s, what=f"{pattern!r} in the log of {self.name}")

    def wait_for_api(self, timeout_s: float = 30.0) -> None:
        """Until the API answers: serve logs "API and live map on" as uvicorn's thread
        starts, before it listens (later still under load)."""
        self.wait_for_line("API and live map on", timeout_s)

        def answers() -> bool:
            try:
                self.health()
            except httpx.TransportError:
                return False
            return True

        wait_for(answers, timeout_s, what=f"the API of {self.name} to answer")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def health(self) -> tuple[int, dict[str, object]]:
        """/api/v1/health; the process's log when it has exited."""
        assert self.process is not None
        try:
            response = httpx.get(
                f"http://{self.http}/api/v1/health", timeout=10, headers=self._auth()
            )
        except httpx.ConnectError as exc:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"exited {self.process.returncode}:\n{''.join(self.lines[-40:])}"
                ) from exc
            raise
        return response.status_code, response.json()

    def _auth(self) -> dict[str, str]:
        return {} if self.token is None else {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str) -> object:
        return httpx.get(
            f"http://{self.http}/api/v1/{path}", timeout=10, headers=self._auth()
        ).json()

    def metrics(self) -> dict[str, float]:
        text = httpx.get(f"http://{self.http}/api/v1/metrics", timeout=10).text
        return {
            line.split()[0]: float(line.split()[1])
            for line in text.splitlines()
            if line and not line.startswith("#") and "{" not in line
        }


def wait_until_caught_up(stage: Proc, timeout_s: float = 60.0) -> dict[str, object]:
    """The leading stage has handled every lake snapshot there is (twice in a row, a poll
    apart, so a commit racing the first look is handled too)."""

    def caught_up() -> dict[str, object] | None:
        try:
            status, body = stage.health()
        except httpx.TransportError:  # not listening yet (an exit is an AssertionError)
            return None
        role = body["stage"]
        assert isinstance(role, dict)
        return body if status == 200 and role["lag_snapshots"] == 0 else None

    wait_for(caught_up, timeout_s, what="the stage to catch up")
    time.sleep(0.3)
    return wait_for(caught_up, timeout_s, what="the stage to catch up")


class Serves:
    """The ``serves`` fixture: starts serve processes (:class:`Proc`'s arguments) and ingest
    workers, each recorded in the test's ``processes`` and so ended at its teardown."""

    def __init__(self, processes: Processes) -> None:
        self.processes = processes
        self.started: list[Proc] = []

    def __call__(
        self,
        lake: Lake,
        broker: Mosquitto,
        role: str,
        client_id: str,
        *extra: str,
        host: Host | None = None,
    ) -> Proc:
        proc = Proc(lake, broker, role, client_id, *extra, host=host, processes=self.processes)
        self.started.append(proc)
        return proc

    def workers(
        self,
        lake: Lake,
        broker: Mosquitto,
        group: str,
        count: int,
        *extra: str,
        host: Host | None = None,
    ) -> list[Proc]:
        """``count`` ingest workers on the share group ``group``, once each is subscribed."""
        tag = "" if host is None else host.netns
        workers = [
            self(
                lake,
                broker,
                "ingest",
                f"{group}-w{tag}{i}",
                "--share-group",
                group,
                *extra,
                host=host,
            )
            for i in range(count)
        ]
        for w in workers:
            w.wait_for_line("subscribed to")
        return workers

    def end_all(self) -> None:
        """End every process; print the end of each one's log (pytest shows it when the
        test failed)."""
        self.processes.end_all()
        for proc in self.started:
            print(f"--- {proc.name}:", *proc.lines[-30:], sep="\n")


def cli_json(capsys, args: list[str]) -> object:  # type: ignore[no-untyped-def]
    from gridpatrol.cli import main

    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


def stop_all(processes: list[Proc]) -> None:
    for p in processes:
        p.stop()


def lake_args(lake: Lake) -> list[str]:
    return ["--db", lake.db, "--data-path", str(lake.data_path)]


def file_args(db: Path) -> list[str]:
    return ["--db", str(db)]


def ping(device: str, ts: float, x: float = 0.0) -> tuple[str, bytes]:
    lon, lat = lonlat(x, 0)
    return f"gridpatrol/v1/ping/{device}", json.dumps({"ts": ts, "lon": lon, "lat": lat}).encode()


def stream(count: int, base: float, prefix: str) -> list[tuple[str, bytes]]:
    """``count`` pings of 20 devices, 10 ms of fix time apart (devices in turn)."""
    return [ping(f"{prefix}-{i % 20}", base + i * 0.01, -150 + (i % 300)) for i in range(count)]


def stored(lake: Lake) -> tuple[int, int]:
    """Rows in pings, and distinct (device_id, ts) among them."""
    with open_store(lake.db, lake.data_path, read_only=True) as store:
        row = store.read_one("SELECT count(*), count(DISTINCT (device_id, ts)) FROM pings")
    assert row is not None
    return int(row[0]), int(row[1])


class Publisher:
    """Publishes in a thread at a steady pace, so faults happen under load."""

    def __init__(self, broker: Mosquitto, messages: list[tuple[str, bytes]], per_s: float):
        self.client = connect(broker, max_inflight=1000)
        self.messages = messages
        self.per_s = per_s
        self.infos: list[object] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        began = time.monotonic()
        for i, (topic, payload) in enumerate(self.messages):
            delay = began + i / self.per_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.infos.append(self.client.publish(topic, payload, qos=1))

    def sent(self) -> int:
        return len(self.infos)

    def finish(self) -> None:
        self.thread.join(120)
        for info in self.infos:
            info.wait_for_publish(60)  # type: ignore[attr-defined]
            assert info.is_published()  # type: ignore[attr-defined]
        self.client.disconnect()
        self.client.loop_stop()


def assert_stored_once(lake: Lake, stage: Proc, total: int) -> None:
    """Every one of ``total`` pings stored, and once the stage has caught up (dropping the
    keys two workers both stored), stored exactly once."""
    wait_for(lambda: stored(lake)[1] == total, 60, what="every ping stored")
    wait_until_caught_up(stage)
    time.sleep(0.5)
    assert stored(lake) == (total, total)
