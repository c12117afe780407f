"""JT/T 808 gateway settings: one frozen dataclass, built once by ``gridpatrol jt808``."""

from __future__ import annotations

from dataclasses import dataclass

from base.errors import ConfigError
from base.settings import setting


@dataclass(frozen=True, kw_only=True)
class Jt808Settings:
    listen: str = setting("0.0.0.0:6808", "HOST:PORT the terminals connect to (TCP)")
    broker: str = setting("mqtt://127.0.0.1:1883", "MQTT broker URL, mqtt://HOST:PORT")
    protocol: str = setting("5", "MQTT version: 5, or 3.1.1 for a broker without MQTT 5")
    username: str = setting("", "MQTT user name (empty: none)")
    password: str = setting("", "MQTT password")
    client_id: str = setting("gridpatrol-jt808", "MQTT client id of the gateway")
    http: str = setting("", "HOST:PORT for /metrics and /health (empty: none)")
    db: str = setting(
        "",
        "the terminal registry: a DuckDB file of the gateway's own, or serve's DuckLake "
        "(gridpatrol terminals import)",
    )
    data_path: str = setting("", "a DuckLake --db's folder of Parquet files")
    allow_unauthenticated: bool = setting(
        False,
        "UNSAFE: publish locations of registered terminals whose connection has not "
        "authenticated (0x0102), for trackers that never do",
    )
    registry_reload_s: float = setting(
        10.0, "how often the registry is read again (rows imported or reset meanwhile)"
    )
    max_connections: int = setting(
        16000, "more connections are refused at once (keep it under ulimit -n)"
    )
    max_connections_per_address: int = setting(
        1000,
        "more connections from one IP address are refused at once "
        "(raise it when the trackers come through one carrier NAT)",
    )
    idle_timeout_s: float = setting(
        600.0,
        "a connection without a whole frame this long is closed (terminals send heartbeats)",
    )
    frame_timeout_s: float = setting(
        30.0, "a connection whose frame is not complete this long after its first byte is closed"
    )
    max_frame_bytes: int = setting(4096, "a longer frame (escaped, without 7E) is dropped")
    max_subpackages: int = setting(64, "a message announced in more subpackages is dropped")
    max_reassembly_bytes: int = setting(
        131072, "bytes of incomplete subpackaged messages one connection may hold"
    )
    max_open_reassemblies: int = setting(
        4, "incomplete subpackaged messages one connection may hold at once"
    )
    max_reassembly_total_bytes: int = setting(
        64 * 2**20, "bytes of incomplete subpackaged messages all connections together may hold"
    )
    subpackage_timeout_s: float = setting(
        120.0, "an incomplete subpackaged message is dropped after this long"
    )
    puback_timeout_s: float = setting(
        30.0, "a report not acknowledged by the broker in this time stays unanswered"
    )
    max_pending_publishes: int = setting(
        20000, "reports published but not yet acknowledged; more are left unanswered"
    )
    max_pending_bytes: int = setting(
        64 * 2**20, "payload bytes published but not yet acknowledged; more are left unanswered"
    )
    log_every_s: float = setting(10.0, "at most one log line per drop reason in this time")
    command_timeout_s: float = setting(
        3.0,
        "a command's answer is awaited this long, then it is sent again and awaited twice "
        "as long, three times ... (serve's --command-timeout-s should cover every try)",
    )
    command_retries: int = setting(2, "times a command is sent again before its reply is timeout")


def parse_host_port(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6); port 0 picks a free one."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)
