"""The gateway's counters (Prometheus text at /metrics), /health, and rate-limited log lines."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ingest.jt808.reasons import Drop

log = logging.getLogger("gridpatrol.jt808")

MESSAGE_NAMES = {
    0x0001: "0x0001",
    0x0002: "0x0002",
    0x0003: "0x0003",
    0x0100: "0x0100",
    0x0102: "0x0102",
    0x0200: "0x0200",
    0x0704: "0x0704",
}


class Metrics:
    """One registry per gateway (tests run several in one process)."""

    def __init__(self, log_every_s: float) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "gridpatrol_jt808_messages",
            "whole messages received, by id (other: ids we do not handle)",
            ["message"],
            registry=self.registry,
        )
        self.dropped = Counter(
            "gridpatrol_jt808_dropped",
            "frames, messages, pings or connections dropped or refused, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.pings = Counter(
            "gridpatrol_jt808_pings_published",
            "pings acknowledged by the broker, by whether the connection had authenticated",
            ["authenticated"],
            registry=self.registry,
        )
        self.commands = Counter(
            "gridpatrol_jt808_commands",
            "commands from serve sent to a terminal, by action (docs/jt808.md, Commands)",
            ["action"],
            registry=self.registry,
        )
        self.connections = Gauge(
            "gridpatrol_jt808_connections", "open terminal connections", registry=self.registry
        )
        self.pending = Gauge(
            "gridpatrol_jt808_pending_publishes",
            "published, not yet acknowledged by the broker",
            registry=self.registry,
        )
        for reason in Drop:  # every reason shows, at 0, from the start
            self.dropped.labels(reason.value)
        self.log_every_s = log_every_s
        self._last_line: dict[Drop, float] = {}
        self._quiet: dict[Drop, int] = {}

    def message(self, msg_id: int) -> None:
        self.messages.labels(MESSAGE_NAMES.get(msg_id, "other")).inc()

    def drop(self, reason: Drop, peer: str, count: int = 1) -> None:
        """Count, and log one line per reason per ``log_every_s`` with how many were quiet."""
        self.dropped.labels(reason.value).inc(count)
        now = time.monotonic()
        if now - self._last_line.get(reason, -1e9) < self.log_every_s:
            self._quiet[reason] = self._quiet.get(reason, 0) + count
            return
        self._last_line[reason] = now
        quiet = self._quiet.pop(reason, 0)
        more = f" ({quiet} more since the last line)" if quiet else ""
        log.warning("jt808: %s from %s%s", reason.value, peer, more)


def serve_http(
    host: str, port: int, metrics: Metrics, healthy: Callable[[], dict[str, object]]
) -> ThreadingHTTPServer:
    """/metrics and /health on a daemon thread; the caller shuts the server down."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                body, kind, status = generate_latest(metrics.registry), CONTENT_TYPE_LATEST, 200
            elif self.path == "/health":
                state = healthy()
                body = json.dumps(state).encode()
                kind, status = "application/json", 200 if state["broker"] else 503
            else:
                body, kind, status = b"not found\n", "text/plain", 404
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # scrapes every few seconds are not news

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="jt808-http", daemon=True).start()
    return server
