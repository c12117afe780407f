"""Ingest settings: one frozen dataclass, built once by the entry point and passed down."""

from __future__ import annotations

from dataclasses import dataclass

from base.settings import setting


@dataclass(frozen=True, kw_only=True)
class IngestSettings:
    broker: str = setting("mqtt://127.0.0.1:1883", "MQTT broker URL, mqtt://HOST:PORT")
    protocol: str = setting("5", "MQTT version: 5, or 3.1.1 for a broker without MQTT 5")
    username: str = setting("", "MQTT user name (empty: none)")
    password: str = setting("", "MQTT password")
    client_id: str = setting("gridpatrol-ingest", "MQTT client id; the persistent session's key")
    share_group: str = setting(
        "", "shared-subscription group: several workers with the same group split the load"
    )
    session_expiry_s: int = setting(86400, "how long the broker keeps our session while away")
    receive_maximum: int = setting(
        10000, "unacknowledged QoS 1 messages the broker may send us (the backpressure window)"
    )
    keepalive_s: int = setting(
        30, "MQTT keep-alive, s: the broker drops a connection silent for 1.5 times this"
    )
    batch_rows: int = setting(40000, "flush a batch when it holds this many pings")
    batch_age_ms: int = setting(200, "flush a batch when its oldest message is this old")
    max_payload_bytes: int = setting(262144, "larger payloads are rejected")
    max_batch_items: int = setting(1000, "longer JSON arrays are rejected")
    max_future_s: float = setting(600.0, "fixes further ahead of the receive time are rejected")
    max_age_s: float = setting(7 * 86400.0, "fixes older than this at receive time are rejected")
    max_acc_m: float = setting(50.0, "fixes with a worse accuracy are stored but flagged")
    max_speed_mps: float = setting(
        40.0, "fixes implying a faster move from the previous good fix are stored but flagged"
    )
    strict_devices: bool = setting(False, "reject pings from devices not in the devices table")


#: Room in an MQTT packet besides the payload: a topic (up to 65,535 bytes) and properties.
PACKET_HEADROOM_BYTES = 65536


def max_packet_bytes(max_payload_bytes: int) -> int:
    """The largest MQTT packet serve takes (its CONNECT's Maximum Packet Size) and the
    broker configs written here take from anyone (``max_packet_size``). Payloads up to twice
    ``--max-payload-bytes`` still arrive, to be rejected and counted as
    ``payload_too_large``; a larger one the broker drops (to serve) or refuses (from a
    device: Mosquitto disconnects it) before anyone holds it in memory. Without it, packets
    up to 256 MB were held whole in serve's memory before the size check."""
    return 2 * max_payload_bytes + PACKET_HEADROOM_BYTES


#: Of the default settings: what broker-config and the brokers of the tests and the demo set.
MAX_PACKET_BYTES = max_packet_bytes(IngestSettings().max_payload_bytes)
