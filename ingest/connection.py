"""The broker connection, read in large chunks.

paho reads every MQTT packet with at least four ``recv`` calls (the type byte, each byte of
the remaining length, the body). Each is a system call that gives up the interpreter lock,
and under load getting it back means waiting behind the threads that decode and commit.
:class:`BufferedSocket` serves those reads from one large read instead, and
:class:`BufferedClient` has paho read every packet already buffered before it goes back to
``select``.

paho already asks a socket's ``pending()`` (it does so for TLS sockets) before it waits in
``select``, so buffered bytes never wait for the network.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

if TYPE_CHECKING:
    from paho.mqtt.client import SocketLike

#: Bytes asked of the kernel per read.
READ_CHUNK_BYTES = 256 * 1024

#: Packets read from the buffer per ``loop_read`` before paho's loop writes and keeps alive.
MAX_PACKETS_PER_READ = 1000


#: Asked before each read of the socket; False: do not read now (backpressure).
ReadGate = Callable[[], bool]


class BufferedSocket:
    """A connected stream socket whose reads come from a large buffer (paho's SocketLike)."""

    def __init__(self, sock: SocketLike, may_read: ReadGate | None = None) -> None:
        self._sock = sock
        self._may_read = may_read
        self._buffer = b""
        self._pos = 0

    def recv(self, size: int) -> bytes:
        """Up to ``size`` bytes: from the buffer, or from one new read when it is empty.

        Raises what the socket raises (BlockingIOError when nothing has arrived, and also
        when the gate says not to read: paho then goes on to write and keep alive, and the
        unread bytes wait in the kernel, so TCP holds the broker back); returns b"" when the
        broker closed the connection, as ``socket.recv`` does.
        """
        if self._pos >= len(self._buffer):
            if self._may_read is not None and not self._may_read():
                raise BlockingIOError("backpressure: the writer's queue is full")
            data = self._sock.recv(READ_CHUNK_BYTES)
            self._buffer, self._pos = data, 0
            if not data:
                return data
        start = self._pos
        self._pos = start + size
        return self._buffer[start : self._pos]

    def pending(self) -> int:
        """Bytes received but not yet read (and those a TLS socket holds decrypted)."""
        own = max(0, len(self._buffer) - self._pos)
        inner = getattr(self._sock, "pending", None)
        return own + (inner() if inner is not None else 0)

    def send(self, buffer: bytes | bytearray) -> int:
        return self._sock.send(buffer)

    def close(self) -> None:
        self._buffer, self._pos = b"", 0
        self._sock.close()

    def fileno(self) -> int:
        return self._sock.fileno()

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)


class BufferedClient(paho.Client):
    """paho's client on a :class:`BufferedSocket`; ``may_read`` gates reads of the socket."""

    may_read: ReadGate | None = None

    def _create_socket(self) -> SocketLike:
        return BufferedSocket(super()._create_socket(), self.may_read)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Read packets while whole ones may be buffered, up to MAX_PACKETS_PER_READ."""
        rc = super().loop_read(max_packets)
        for _ in range(MAX_PACKETS_PER_READ):
            sock = self._sock
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or sock is None:
                break
            if not isinstance(sock, BufferedSocket) or not sock.pending():
                break
            rc = super().loop_read(max_packets)
        return rc
