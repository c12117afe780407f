"""The JT/T 808 gateway: an asyncio TCP server whose terminals' reports become native pings.

Each connection is a :class:`Session` (an asyncio protocol: no task per connection, so
thousands fit in one process). Reports are published with QoS 1 and answered with 0x8001
only when the broker's PUBACK arrives; with the broker away nothing is answered and the
terminal retransmits (duplicates are dropped downstream by device and time).

Only terminals of the registry (:mod:`ingest.jt808.registry`) are answered a registration,
and only their authenticated connections' reports are published (docs/jt808.md).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import msgspec

from base.errors import ConfigError
from ingest.jt808 import messages as m
from ingest.jt808.config import Jt808Settings, parse_host_port
from ingest.jt808.downlink import Downlink
from ingest.jt808.frames import FrameReader, encode_frame
from ingest.jt808.header import Header, build_message, device_id, parse_message
from ingest.jt808.metrics import Metrics, serve_http
from ingest.jt808.publisher import Publisher
from ingest.jt808.reasons import Drop
from ingest.jt808.reassembly import Budget, Reassembly
from ingest.jt808.registry import Registry
from ingest.mqtt import parse_broker_url
from tracks.engines import open_store
from tracks.errors import StoreError

log = logging.getLogger("gridpatrol.jt808")

MAX_PINGS_PER_PUBLISH = 1000  # the native contract's longest array (docs/mqtt.md)
_encode = msgspec.json.Encoder().encode


class Session(asyncio.Protocol):
    """One terminal connection."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        settings = gateway.settings
        self.reader = FrameReader(settings.max_frame_bytes)
        self.reassembly = Reassembly(
            max_parts=settings.max_subpackages,
            max_bytes=settings.max_reassembly_bytes,
            max_open=settings.max_open_reassemblies,
            timeout_s=settings.subpackage_timeout_s,
            budget=gateway.reassembly_budget,
        )
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.address = ""  # the peer's IP address: the per-address limit's key
        self.authenticated: str | None = None  # the phone that authenticated
        self.device: str | None = None  # its device id: commands to it come here
        self.version: int | None = None  # the protocol version it authenticated with
        self.serial = 0
        self.last_seen = 0.0  # when the last whole frame came (the idle timeout's start)
        self.frame_started: float | None = None  # when the frame now incomplete began

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.address = str(peer[0]) if peer else "?"
        self.last_seen = self.gateway.loop.time()
        if not self.gateway.admit(self):
            transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.signed_out()
        self.gateway.release(self)

    def signed_out(self) -> None:
        """Commands go to this connection no more; those awaiting its answer end."""
        if self.device is not None and self.gateway.by_device.get(self.device) is self:
            del self.gateway.by_device[self.device]
        self.device = None
        self.gateway.downlink.closed(self)

    def pause_writing(self) -> None:  # a terminal that does not read its answers
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        now = self.gateway.loop.time()
        frames, drops = self.reader.feed(data)
        if frames:  # bytes alone (one at a time, or garbage) do not keep a connection open
            self.last_seen = now
        if not self.reader.partial:
            self.frame_started = None
        elif self.frame_started is None or frames or drops:  # a frame ended, another began
            self.frame_started = now
        for reason in drops:
            self.gateway.metrics.drop(reason, self.peer)
        for frame in frames:
            self.handle(frame)

    # messages
    def handle(self, frame: bytes) -> None:
        parsed = parse_message(frame)
        if isinstance(parsed, Drop):
            self.gateway.metrics.drop(parsed, self.peer)
            return
        header, body = parsed
        if header.encryption:
            self.gateway.metrics.drop(Drop.ENCRYPTED, self.peer)
            self.respond(header, m.UNSUPPORTED)
            return
        if header.total:
            whole = self.reassembly.add(header, body, self.last_seen)
            if isinstance(whole, Drop):
                self.gateway.metrics.drop(whole, self.peer)
                return
            if whole is None:  # each part but the last is answered on arrival
                self.respond(header, m.OK)
                return
            body = whole
        self.gateway.metrics.message(header.msg_id)
        self.dispatch(header, body)

    def dispatch(self, header: Header, body: bytes) -> None:
        gateway = self.gateway
        msg_id = header.msg_id
        if msg_id in (m.LOCATION, m.BATCH):
            self.report(header, body)
        elif msg_id == m.HEARTBEAT:
            self.respond(header, m.OK)
        elif msg_id == m.REGISTER:
            self.register(header, body)
        elif msg_id == m.AUTHENTICATE:
            code = m.parse_auth(body, header.version)
            if isinstance(code, str) and gateway.registry.verify(device_id(header.phone), code):
                self.signed_out()  # a connection authenticates as one terminal at a time
                self.authenticated = header.phone
                self.version = header.version
                self.device = gateway.registry.device(device_id(header.phone))
                if self.device is not None:
                    gateway.by_device[self.device] = self  # the newest connection wins
                self.respond(header, m.OK)
            else:
                gateway.metrics.drop(Drop.AUTH_FAILED, self.peer)
                self.respond(header, m.FAILURE)
        elif msg_id == m.DEREGISTER:  # the code stays: only an operator's reset frees it
            self.authenticated = None
            self.signed_out()
            self.respond(header, m.OK)
        elif msg_id == m.TERMINAL_RESPONSE:  # a terminal's answer is never answered
            answer = m.parse_general_response(body)
            if isinstance(answer, Drop):
                gateway.metrics.drop(answer, self.peer)
            else:
                gateway.downlink.answered(self, answer[0], answer[2])
        elif msg_id == m.LOCATION_ANSWER:
            self.location_answer(header, body)
        else:
            gateway.metrics.drop(Drop.UNSUPPORTED, self.peer)
            self.respond(header, m.UNSUPPORTED)

    def location_answer(self, header: Header, body: bytes) -> None:
        """0x0201, the answer to a 0x8201: the command's reply, and the fix a ping (published
        as a report's, unanswered: an answer is not answered)."""
        answer = m.parse_location_answer(body)
        if isinstance(answer, Drop):
            self.gateway.metrics.drop(answer, self.peer)
            return
        serial, location = answer
        self.gateway.downlink.answered(self, serial, m.OK, location)
        if self.device is not None and self.authenticated == header.phone and location.on_earth:
            published = self.gateway.publisher.publish(self.device, _encode(location.to_ping()))
            if isinstance(published, Drop):
                self.gateway.metrics.drop(published, self.peer)

    def register(self, header: Header, body: bytes) -> None:
        """0x0100: a code for a known terminal's first registration, the standard's refusals
        for the rest (docs/jt808.md, "The terminal registry")."""
        metrics = self.gateway.metrics
        registration = m.parse_register(body, header.version)
        if isinstance(registration, Drop):
            metrics.drop(registration, self.peer)
            self.respond(header, m.MESSAGE_ERROR)
            return
        try:
            result, code = self.gateway.registry.register(device_id(header.phone), registration)
        except StoreError as exc:
            log.error("jt808: cannot store the code of %s: %s", header.phone, exc)
            metrics.drop(Drop.REGISTRY_ERROR, self.peer)
            return  # unanswered: the terminal retransmits
        if result in (m.NO_SUCH_TERMINAL, m.NO_SUCH_VEHICLE):
            metrics.drop(Drop.UNKNOWN_TERMINAL, self.peer)
        elif result != m.OK:
            metrics.drop(Drop.ALREADY_REGISTERED, self.peer)
        body = m.build_register_response(header.serial, result, code)
        self.send(header, m.REGISTER_RESPONSE, body)

    def report(self, header: Header, body: bytes) -> None:
        metrics = self.gateway.metrics
        if header.msg_id == m.LOCATION:
            one = m.parse_location(body)
            items: list[m.Location | Drop] | Drop = one if isinstance(one, Drop) else [one]
        else:
            batch = m.parse_batch(body)
            items = batch if isinstance(batch, Drop) else batch[1]
        if isinstance(items, Drop):
            metrics.drop(items, self.peer)
            self.respond(header, m.MESSAGE_ERROR)
            return
        pings = []
        for item in items:
            if isinstance(item, Drop):
                metrics.drop(item, self.peer)
            elif not item.on_earth:  # no fix, and no place to store the alarms at
                metrics.drop(Drop.NOT_POSITIONED, self.peer)
            else:
                pings.append(item.to_ping())
        authenticated = self.authenticated == header.phone
        device = self.gateway.registry.device(device_id(header.phone))
        refused = (
            Drop.UNKNOWN_TERMINAL
            if device is None
            else None
            if authenticated or self.gateway.settings.allow_unauthenticated
            else Drop.UNAUTHENTICATED
        )
        if pings and refused is not None:  # answered, counted, never published
            metrics.drop(refused, self.peer, len(pings))
            self.respond(header, m.FAILURE)
            return
        if not pings or device is None:
            self.respond(header, m.OK)
            return
        futures: list[asyncio.Future[Drop | None]] = []
        for at in range(0, len(pings), MAX_PINGS_PER_PUBLISH):
            chunk = pings[at : at + MAX_PINGS_PER_PUBLISH]
            payload = _encode(chunk if header.msg_id == m.BATCH else chunk[0])
            future = self.gateway.publisher.publish(device, payload)
            if isinstance(future, Drop):
                metrics.drop(future, self.peer, len(pings))
                return  # unanswered: the terminal retransmits the whole report
            futures.append(future)
        label = "yes" if authenticated else "no"
        count = len(pings)
        if len(futures) == 1:
            futures[0].add_done_callback(
                lambda done: self.answer_acked(header, [done.result()], count, label)
            )
        else:  # gather of plain futures makes no task: one callback when every PUBACK is in
            asyncio.gather(*futures).add_done_callback(
                lambda done: self.answer_acked(header, done.result(), count, label)
            )

    def answer_acked(
        self, header: Header, reasons: list[Drop | None], count: int, label: str
    ) -> None:
        failed = next((r for r in reasons if r is not None), None)
        if failed is not None:
            self.gateway.metrics.drop(failed, self.peer, count)
            return
        self.gateway.metrics.pings.labels(label).inc(count)
        self.respond(header, m.OK)

    # answers
    def respond(self, header: Header, result: int) -> None:
        body = m.build_general_response(header.serial, header.msg_id, result)
        self.send(header, m.PLATFORM_RESPONSE, body)

    def send(self, to: Header, msg_id: int, body: bytes) -> None:
        self.serial = (self.serial + 1) & 0xFFFF
        header = Header(msg_id, to.phone, self.serial, to.version)
        self.write(encode_frame(build_message(header, body)))

    def command(self, msg_id: int, body: bytes) -> tuple[int, bytes]:
        """Send a command to the terminal authenticated here: its serial and frame."""
        assert self.authenticated is not None
        self.serial = (self.serial + 1) & 0xFFFF
        header = Header(msg_id, self.authenticated, self.serial, self.version)
        frame = encode_frame(build_message(header, body))
        self.write(frame)
        return self.serial, frame

    def write(self, frame: bytes) -> bool:
        """Whether the frame went to a connection still open."""
        if self.transport is None or self.transport.is_closing():
            return False
        self.transport.write(frame)
        return True


class Gateway:
    """The server, its sessions, the publisher and the limits; one per process."""

    def __init__(self, settings: Jt808Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry
        self.metrics = Metrics(settings.log_every_s)
        self.sessions: set[Session] = set()
        self.per_address: dict[str, int] = {}  # open connections by peer IP address
        self.reassembly_budget = Budget(settings.max_reassembly_total_bytes)
        self.loop = asyncio.get_running_loop()
        self.publisher = Publisher(settings, self.loop)
        self.by_device: dict[str, Session] = {}  # the authenticated connection of each device
        self.downlink = Downlink(
            settings, self.metrics, self.loop, self.by_device, self.publisher.reply
        )
        self.publisher.on_command = self.downlink.receive
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._reloader: asyncio.Task[None] | None = None
        self._http: ThreadingHTTPServer | None = None
        self.port = 0

    async def start(self) -> None:
        host, port = parse_host_port(self.settings.listen)
        self.publisher.start()
        self._server = await self.loop.create_server(
            lambda: Session(self), host, port, backlog=4096
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._sweeper = self.loop.create_task(self._sweep())
        self._reloader = self.loop.create_task(self._reload())
        if self.settings.http:
            http_host, http_port = parse_host_port(self.settings.http)
            self._http = serve_http(http_host, http_port, self.metrics, self.health)
        log.info(
            "JT/T 808 gateway listening on %s:%d, publishing to %s",
            host,
            self.port,
            self.settings.broker,
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            if session.transport is not None:
                session.transport.close()
        for _ in range(100):  # the sockets close on the next loop iterations
            if not self.sessions:
                break
            await asyncio.sleep(0.01)
        for task in (self._sweeper, self._reloader):
            if task is not None:
                task.cancel()
        if self._server is not None:
            await self._server.wait_closed()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        self.publisher.stop()

    def health(self) -> dict[str, object]:
        return {
            "broker": self.publisher.connected.is_set(),
            "connections": len(self.sessions),
            "pending_publishes": self.publisher.pending,
        }

    def admit(self, session: Session) -> bool:
        if len(self.sessions) >= self.settings.max_connections:
            self.metrics.drop(Drop.CONNECTION_LIMIT, session.peer)
            return False
        count = self.per_address.get(session.address, 0)
        if count >= self.settings.max_connections_per_address:
            self.metrics.drop(Drop.ADDRESS_LIMIT, session.peer)
            return False
        self.per_address[session.address] = count + 1
        self.sessions.add(session)
        self.metrics.connections.set(len(self.sessions))
        return True

    def release(self, session: Session) -> None:
        if session not in self.sessions:
            return  # refused at admission: never counted
        self.sessions.discard(session)
        session.reassembly.clear()  # its parts leave the shared budget
        left = self.per_address[session.address] - 1
        if left:
            self.per_address[session.address] = left
        else:
            del self.per_address[session.address]
        self.metrics.connections.set(len(self.sessions))

    async def _sweep(self) -> None:
        """Close idle connections and expire incomplete subpackaged messages."""
        every = min(
            5.0,
            self.settings.idle_timeout_s / 4,
            self.settings.frame_timeout_s / 4,
            self.settings.subpackage_timeout_s / 4,
            self.settings.puback_timeout_s / 4,
        )
        while True:
            await asyncio.sleep(every)
            now = self.loop.time()
            self.publisher.expire(now)
            self.metrics.pending.set(self.publisher.pending)
            for session in list(self.sessions):
                expired = session.reassembly.expire(now)
                if expired:
                    self.metrics.drop(Drop.SUBPACKAGE_EXPIRED, session.peer, expired)
                started = session.frame_started
                if started is not None and now - started > self.settings.frame_timeout_s:
                    self.metrics.drop(Drop.FRAME_TIMEOUT, session.peer)
                    self._close(session)
                elif now - session.last_seen > self.settings.idle_timeout_s:
                    self.metrics.drop(Drop.IDLE_TIMEOUT, session.peer)
                    self._close(session)

    async def _reload(self) -> None:
        """Read the registry again every registry_reload_s, off the event loop (a lake's
        read takes a round trip to its catalog); a failed read keeps the registry held."""
        while True:
            await asyncio.sleep(self.settings.registry_reload_s)
            try:
                terminals = await self.loop.run_in_executor(None, self.registry.read)
            except StoreError as exc:
                log.error("jt808: cannot read the terminal registry: %s", exc)
                continue
            self.registry.swap(terminals)

    @staticmethod
    def _close(session: Session) -> None:
        """Close at once: a connection past a deadline gets no answer flushed first."""
        if session.transport is not None and not session.transport.is_closing():
            session.transport.abort()


def open_registry(settings: Jt808Settings) -> Registry:
    """The registry ``--db`` names; without one the gateway would answer no terminal."""
    if not settings.db:
        raise ConfigError(
            "--db is required: the terminal registry (gridpatrol terminals import FILE --db DB)"
        )
    data_path = Path(settings.data_path) if settings.data_path else None
    store = open_store(settings.db, data_path)
    try:
        registry = Registry(store)
    except StoreError:
        store.close()
        raise
    if not registry.terminals:
        log.warning(
            "the terminal registry in %s is empty: no terminal will be answered", store.path
        )
    return registry


async def run_gateway(settings: Jt808Settings) -> None:
    """``gridpatrol jt808``: until SIGTERM or SIGINT."""
    parse_host_port(settings.listen)  # bad flags before the registry is opened
    parse_broker_url(settings.broker)
    registry = open_registry(settings)
    try:
        gateway = Gateway(settings, registry)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            gateway.loop.add_signal_handler(sig, stop.set)
        await gateway.start()
        await stop.wait()
        log.info("stopping the gateway")
        await gateway.stop()
    finally:
        registry.store.close()


class GatewayThread:
    """A gateway on its own event loop in a daemon thread, beside serve (demo and tests)."""

    def __init__(self, settings: Jt808Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry
        self.gateway: Gateway | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jt808", daemon=True)
        self._error: OSError | None = None

    def _run(self) -> None:
        async def start() -> None:
            try:
                gateway = Gateway(self.settings, self.registry)
                await gateway.start()
                self.gateway = gateway
            except OSError as exc:  # reported by start()
                self._error = exc
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def start(self, timeout_s: float = 10.0) -> Gateway:
        self._thread.start()
        if not self._ready.wait(timeout_s) or self.gateway is None:
            raise ConfigError(
                f"the JT/T 808 gateway did not start on {self.settings.listen}: {self._error}"
            )
        return self.gateway

    def stop(self) -> None:
        if self.gateway is not None:
            asyncio.run_coroutine_threadsafe(self.gateway.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
