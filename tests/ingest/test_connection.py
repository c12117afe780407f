"""The buffered broker connection: small reads served from one large read, nothing lost."""

from __future__ import annotations

import select
import socket
import time
import uuid
from pathlib import Path

import pytest

from gridpatrol.broker import Mosquitto
from gridpatrol.compose import IngestProcess
from gridpatrol.roles import ServeOptions
from ingest.config import IngestSettings
from ingest.connection import BufferedSocket
from tests.mqtt_helpers import publish_all, running, wait_for
from tracks.queries import read_stats


def readable(sock: BufferedSocket) -> None:
    assert select.select([sock], [], [], 5)[0], "no data arrived"


def test_small_reads_come_from_one_large_read():
    a, b = socket.socketpair()
    with a, b:
        for part in (b"\x30\x05hello", b"\x30\x05world", b"\x30\x02ok"):
            a.sendall(part)
        time.sleep(0.05)
        sock = BufferedSocket(b)
        sock.setblocking(False)
        readable(sock)
        assert sock.recv(1) == b"\x30"
        assert sock.pending() == 17  # the rest of all three sends came with the first read
        assert sock.recv(1) == b"\x05"
        assert sock.recv(5) == b"hello"
        assert sock.recv(100) == b"\x30\x05world\x30\x02ok"  # what is buffered, no more
        assert sock.pending() == 0
        with pytest.raises(BlockingIOError):
            sock.recv(1)
        a.sendall(b"more")
        readable(sock)
        assert sock.recv(2) == b"mo" and sock.recv(2) == b"re"


def test_a_closed_connection_reads_empty():
    a, b = socket.socketpair()
    sock = BufferedSocket(b)
    a.sendall(b"xy")
    a.close()
    assert sock.recv(1) == b"x"
    assert sock.recv(1) == b"y"
    assert sock.recv(1) == b""
    sock.close()


@pytest.mark.broker
def test_serve_reads_the_broker_through_the_buffer(broker: Mosquitto, tmp_path: Path):
    """Guards paho's socket hook (a private method): if paho stops calling it, this fails.
    Payloads larger than one read and many small ones in one read all arrive."""
    settings = IngestSettings(
        broker=broker.url, client_id=f"test-buf-{uuid.uuid4().hex[:8]}", batch_age_ms=50
    )
    service = IngestProcess(ServeOptions(db=tmp_path / "gp.db"), settings)
    now = time.time()
    big = b'{"ts": %f, "lat": 39.06, "lon": 117.16, "pad": "%s"}' % (now, b"x" * 200_000)
    small = [
        ("gridpatrol/v1/ping/buf-1", b'{"ts": %f, "lat": 39.06, "lon": 117.16}' % (now - i))
        for i in range(1, 2001)
    ]
    with running(service):
        assert isinstance(service.mqtt.client.socket(), BufferedSocket)
        publish_all(broker, [("gridpatrol/v1/ping/buf-1", big), *small])
        wait_for(lambda: read_stats(service.store)["stored"] == 2001, what="2001 pings stored")


@pytest.mark.broker
def test_serve_asks_the_broker_for_no_packet_over_its_maximum(broker: Mosquitto, tmp_path: Path):
    """Maximum Packet Size in serve's CONNECT (ingest/config.py): a message over it is dropped
    by the broker, never held in serve's memory, so it is not even counted as received."""
    settings = IngestSettings(
        broker=broker.url,
        client_id=f"test-max-{uuid.uuid4().hex[:8]}",
        batch_age_ms=50,
        max_payload_bytes=1000,  # packets over 2 x 1000 + 65,536 bytes are not sent to serve
    )
    service = IngestProcess(ServeOptions(db=tmp_path / "gp.db"), settings)
    now = time.time()
    big = b'{"ts": %f, "lat": 39.06, "lon": 117.16, "pad": "%s"}' % (now, b"x" * 200_000)
    small = b'{"ts": %f, "lat": 39.06, "lon": 117.16}' % now
    with running(service):
        publish_all(
            broker, [("gridpatrol/v1/ping/max-1", big), ("gridpatrol/v1/ping/max-1", small)]
        )
        wait_for(lambda: read_stats(service.store)["stored"] == 1, what="the small ping stored")
        stats = read_stats(service.store)
    assert stats["received"] == 1 and stats["rejected"] == {}
