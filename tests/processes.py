"""What a test starts, ended by its fixture: every process a test starts is recorded here and
ended at the test's teardown (SIGTERM, then SIGKILL), whether the test passed, failed or was
interrupted (pytest runs the finalisers on KeyboardInterrupt too). A test's own last line, or a
``finally`` that an earlier failure skips, is never what ends a process."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from typing import Any

from gridpatrol.broker import Mosquitto
from gridpatrol.postgres import PostgresCluster, PostgresError

#: How long a process has, after SIGTERM at teardown, to stop by itself (serve flushes,
#: commits and acknowledges) before it is killed.
GRACE_S = 30.0


class Processes:
    """The processes a test started (``popen``, or ``add`` for one started elsewhere)."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def popen(self, args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        return self.add(subprocess.Popen(args, **kwargs))

    def add(self, process: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        self.started.append(process)
        return process

    def end_all(self, grace_s: float = GRACE_S) -> None:
        """SIGTERM to every one still running at once, SIGKILL to those still running after
        ``grace_s``; every one waited for (no zombie, nothing left behind)."""
        running = [p for p in self.started if p.poll() is None]
        try:
            for process in running:
                process.terminate()  # nothing when it has exited meanwhile
            deadline = time.monotonic() + grace_s
            for process in running:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(max(0.0, deadline - time.monotonic()))
        finally:  # also when a second Ctrl-C comes while waiting
            for process in running:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            self.started.clear()


class Brokers:
    """Mosquittos of a test's own (one it stops and starts); each cleaned up at teardown."""

    def __init__(self) -> None:
        self.started: list[Mosquitto] = []

    def __call__(self, **options: Any) -> Mosquitto:
        broker = Mosquitto(**options)
        self.started.append(broker)  # recorded first: a failed start leaves its folder too
        return broker.start()

    def cleanup(self) -> None:
        for broker in self.started:
            broker.cleanup()
        self.started.clear()


class Clusters:
    """PostgreSQL clusters of a test's own; each stopped and removed at teardown."""

    def __init__(self) -> None:
        self.started: list[PostgresCluster] = []

    def __call__(self, **options: Any) -> PostgresCluster:
        cluster = PostgresCluster(**options)
        self.started.append(cluster)  # recorded first: a failed start may leave it running
        return cluster.start()

    def cleanup(self) -> None:
        failures = []
        for cluster in self.started:
            try:
                cluster.stop()
            except PostgresError as exc:  # reported once every cluster is removed
                failures.append(exc)
            finally:
                shutil.rmtree(cluster.folder, ignore_errors=True)
        self.started.clear()
        if failures:
            raise failures[0]
