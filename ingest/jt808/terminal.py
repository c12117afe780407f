"""A JT/T 808 terminal over asyncio TCP: the simulator's trackers, the tests' and the bench's.

Every request waits for the platform's answer to its serial number and, like a terminal
following the standard, retransmits after a timeout that grows with each try (T, 2T, 3T ...).
The platform's commands (0x8201, 0x8202, 0x8103, 0x8300) go to ``on_command``, whose answer
(message id and body: 0x0201, or the general response 0x0001) is sent back; a terminal
without one answers no command.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Callable

from ingest.jt808 import messages as m
from ingest.jt808.frames import FrameReader, encode_frame
from ingest.jt808.header import MAX_BODY, Header, build_message, parse_message

#: The platform's commands a terminal may answer.
COMMANDS = (m.QUERY_LOCATION, m.TRACK, m.SET_PARAMS, m.TEXT)

#: A terminal's answer to a command: (message id, body), or None to stay silent.
OnCommand = Callable[[Header, bytes], tuple[int, bytes] | None]


class NoAnswer(Exception):
    """The platform did not answer after every retransmission."""


class Refused(Exception):
    """The platform refused the registration (the 0x8100 result: 1 to 4)."""

    def __init__(self, result: int) -> None:
        super().__init__(f"registration refused with result {result}")
        self.result = result


class Terminal:
    def __init__(
        self, phone: str, version: int | None = None, *, timeout_s: float = 5.0, retries: int = 3
    ) -> None:
        self.phone = phone
        self.version = version
        self.timeout_s = timeout_s
        self.retries = retries
        self.serial = 0
        self._waiting: dict[int, asyncio.Future[tuple[int, bytes]]] = {}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self.on_command: OnCommand | None = None

    async def connect(self, host: str, port: int) -> Terminal:
        self._reader, self._writer = await asyncio.open_connection(host, port)
        self._task = asyncio.get_running_loop().create_task(self._read())
        return self

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):  # the platform may have closed it first
                await self._writer.wait_closed()

    @property
    def connected(self) -> bool:
        return self._task is not None and not self._task.done()

    async def register(self, terminal_id: str = "SIM0001", plate: str = "") -> str:
        """Register and return the code; :class:`Refused` with the platform's result when
        it answers anything but 0."""
        result, code = await self.registration(terminal_id, plate)
        if result != m.OK:
            raise Refused(result)
        return code

    async def registration(self, terminal_id: str = "SIM0001", plate: str = "") -> tuple[int, str]:
        """Send 0x0100; the 0x8100 result and authentication code."""
        body = m.build_register(self.version, terminal_id=terminal_id, plate=plate)
        _, answer = await self.request(m.REGISTER, body)
        parsed = m.parse_register_response(answer)
        assert not isinstance(parsed, m.Drop)
        return parsed[1], parsed[2]

    async def authenticate(self, code: str) -> int:
        return await self.result(m.AUTHENTICATE, m.build_auth(code, self.version, "8600000000"))

    async def result(self, msg_id: int, body: bytes, part_size: int = MAX_BODY) -> int:
        """Send and return the result byte of the platform's general response."""
        _, answer = await self.request(msg_id, body, part_size)
        parsed = m.parse_general_response(answer)
        assert not isinstance(parsed, m.Drop)
        return parsed[2]

    async def request(
        self, msg_id: int, body: bytes, part_size: int = MAX_BODY
    ) -> tuple[int, bytes]:
        """Send (in subpackages of ``part_size`` bytes when longer), return the answer to the
        last part: (message id, body)."""
        parts = [body[i : i + part_size] for i in range(0, len(body), part_size)] or [b""]
        answer = (0, b"")
        for index, part in enumerate(parts, 1):
            self.serial = (self.serial + 1) & 0xFFFF
            total = len(parts) if len(parts) > 1 else 0
            header = Header(
                msg_id, self.phone, self.serial, self.version, 0, total, index if total else 0
            )
            answer = await self._send(header.serial, encode_frame(build_message(header, part)))
        return answer

    async def _send(self, serial: int, frame: bytes) -> tuple[int, bytes]:
        assert self._writer is not None
        for attempt in range(self.retries + 1):
            if not self.connected:
                raise ConnectionError("the platform closed the connection")
            future = asyncio.get_running_loop().create_future()
            self._waiting[serial] = future
            self._writer.write(frame)
            try:
                return await asyncio.wait_for(future, self.timeout_s * (attempt + 1))
            except TimeoutError:
                continue
            finally:
                self._waiting.pop(serial, None)
        raise NoAnswer(f"no answer to serial {serial} after {self.retries} retransmissions")

    def _answer(self, header: Header, body: bytes) -> None:
        answer = self.on_command(header, body) if self.on_command is not None else None
        if answer is None or self._writer is None:
            return
        self.serial = (self.serial + 1) & 0xFFFF
        reply = Header(answer[0], self.phone, self.serial, self.version)
        self._writer.write(encode_frame(build_message(reply, answer[1])))

    async def _read(self) -> None:
        assert self._reader is not None
        frames = FrameReader(65536)
        try:
            while data := await self._reader.read(65536):
                for frame in frames.feed(data)[0]:
                    parsed = parse_message(frame)
                    if isinstance(parsed, m.Drop):
                        continue
                    if len(parsed[1]) < 2 and parsed[0].msg_id not in COMMANDS:
                        continue
                    header, body = parsed
                    if header.msg_id in COMMANDS:
                        self._answer(header, body)
                        continue
                    (answered,) = struct.unpack_from(">H", body)
                    future = self._waiting.get(answered)
                    if future is not None and not future.done():
                        future.set_result((header.msg_id, body))
        finally:
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(ConnectionError("the platform closed the connection"))
