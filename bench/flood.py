"""Flood: publishers at twice the rate serve sustains; serve's peak memory, and losses.

serve runs as its own process, as in production, so its memory is read from /proc. The
sustainable rate is measured first in the same run (a burst, publish to last commit); then
paced mosquitto_pub processes send at twice that rate. The broker holds the backlog (our
config raises max_queued_messages); serve drains it, its memory bounded by the MQTT receive
window (--receive-maximum unacknowledged messages), not by the backlog.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from bench.e2e import PUBLISHERS, mosquitto_pub, payload_lines
from gridpatrol.broker import Mosquitto, free_port

PER_MESSAGE = 50


@dataclass(frozen=True)
class FloodResult:
    sustainable: float  # pings/s, burst publish to last commit
    rate: float  # pings/s offered in the flood
    seconds: float
    sent: int  # pings
    stored: int
    lost: int  # sent - (stored + duplicates + rejected)
    drained_s: float  # from the flood's start to the last commit
    idle_rss_mb: float
    peak_rss_mb: float


def _publishers(broker: Mosquitto, tag: str) -> list[subprocess.Popen[bytes]]:
    return [
        mosquitto_pub(broker, f"gridpatrol/v1/ping/{tag}-{p}", subprocess.PIPE)
        for p in range(PUBLISHERS)
    ]


def _feed(pipe: IO[bytes], lines: list[bytes], per_second: float | None) -> None:
    """Write the lines to a publisher, all at once or paced at per_second lines."""
    started = time.perf_counter()
    sent = 0
    while sent < len(lines):
        due = (
            len(lines) if per_second is None else int((time.perf_counter() - started) * per_second)
        )
        due = min(len(lines), max(due, sent + 1))
        pipe.write(b"".join(lines[sent:due]))
        pipe.flush()
        sent = due
        if per_second is not None:
            time.sleep(0.005)
    pipe.close()


def _publish(
    broker: Mosquitto, tag: str, lines: list[list[bytes]], per_second: float | None
) -> None:
    procs = _publishers(broker, tag)
    feeders = [
        threading.Thread(target=_feed, args=(proc.stdin, chunk, per_second))
        for proc, chunk in zip(procs, lines, strict=True)
    ]
    for feeder in feeders:
        feeder.start()
    for feeder in feeders:
        feeder.join()
    for proc in procs:
        proc.wait()


def _rss_kb(pid: int) -> tuple[int, int]:
    """VmRSS and VmHWM (peak) of a process, in KB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


class _Serve:
    def __init__(self, broker: Mosquitto, db: Path, log: Path) -> None:
        port = free_port()
        self.api = f"http://127.0.0.1:{port}/api/v1"
        with open(log, "wb") as sink:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gridpatrol",
                    "serve",
                    "--db",
                    str(db),
                    "--broker",
                    broker.url,
                    "--client-id",
                    "bench-flood",
                    "--http",
                    f"127.0.0.1:{port}",
                ],
                stderr=sink,
            )
        self.wait_for(lambda s: s is not None, 60)

    def stats(self) -> dict | None:
        try:
            return httpx.get(self.api + "/stats", timeout=5).json()
        except httpx.HTTPError:
            return None

    def wait_for(self, predicate: Callable[[dict | None], bool], timeout_s: float) -> dict | None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            stats = self.stats()
            if predicate(stats):
                return stats
            time.sleep(0.02)
        raise RuntimeError(f"serve did not get there in {timeout_s} s: {self.stats()}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(60)


def flood(workdir: Path, burst_messages: int, seconds: float) -> FloodResult:
    broker = Mosquitto(persistence=False).start()
    serve = _Serve(broker, workdir / "flood.db", workdir / "flood.log")
    try:
        idle_kb = _rss_kb(serve.process.pid)[0]
        start = time.time() - 6 * 86400
        per_pub = burst_messages // PUBLISHERS
        burst = [payload_lines(p, per_pub, PER_MESSAGE, start) for p in range(PUBLISHERS)]
        expected = PUBLISHERS * per_pub * PER_MESSAGE
        t0 = time.perf_counter()
        _publish(broker, "burst", burst, None)
        serve.wait_for(lambda s: s is not None and s["received"] >= expected, 600)
        sustainable = expected / (time.perf_counter() - t0)

        rate = 2.0 * sustainable
        per_pub_flood = int(rate * seconds / PER_MESSAGE / PUBLISHERS)
        lines = [
            payload_lines(p, per_pub_flood, PER_MESSAGE, start + 86400) for p in range(PUBLISHERS)
        ]
        sent = PUBLISHERS * per_pub_flood * PER_MESSAGE
        t0 = time.perf_counter()
        _publish(broker, "flood", lines, rate / PER_MESSAGE / PUBLISHERS)
        offered = sent / (time.perf_counter() - t0)
        final = serve.wait_for(lambda s: s is not None and s["received"] >= expected + sent, 600)
        drained = time.perf_counter() - t0
        assert final is not None
        _, peak_kb = _rss_kb(serve.process.pid)
        accounted = final["stored"] + final["duplicates"] + sum(final["rejected"].values())
    finally:
        serve.stop()
        broker.cleanup()
    return FloodResult(
        sustainable=sustainable,
        rate=offered,
        seconds=seconds,
        sent=sent,
        stored=final["stored"] - expected,
        lost=expected + sent - accounted,
        drained_s=drained,
        idle_rss_mb=idle_kb / 1024,
        peak_rss_mb=peak_kb / 1024,
    )
