"""A mutation fuzzer for the JT/T 808 gateway's input side:
``python -m tests.faults.fuzz_jt808 -n 1000000 [--seed S]``.

Takes valid frames (2013 and 2019 headers; registration, authentication, heartbeat, location,
batch, subpackaged parts, unknown ids, and the terminal's answers to commands: 0x0001 and
0x0201), mutates them (byte flips, truncation, stray 7E and 7D, splices, oversized bodies,
garbage between frames), and feeds them in random chunks to real gateway sessions (frame
reader, header, reassembly, message bodies, answers) with no broker, so reports stay
unanswered. Half the sessions stand for an authenticated terminal, to which serve's commands
(mutated JSON on mutated topics, between the chunks) go down: command bodies, sends,
retransmission timers, and answers matched by serial. Checks that nothing raises and that
traced memory stays flat.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from ingest.jt808 import messages as m
from ingest.jt808.config import Jt808Settings
from ingest.jt808.frames import encode_frame
from ingest.jt808.gateway import Gateway, Session
from ingest.jt808.header import Header, build_message
from ingest.jt808.registry import Registry
from tests.ingest.jt808.helpers import registry

NOW = 1795134600.0


class FakeTransport(asyncio.Transport):
    """Enough of an asyncio transport for a session: counts what is written."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("fuzz", 0)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def seeds() -> list[bytes]:
    location = m.build_location(
        39.06,
        117.16,
        NOW,
        speed=100,
        direction=45,
        extras=((0x01, b"\x00\x00\x00\x10"), (0x30, b"\x1f")),
    )
    batch = m.build_batch([location, m.build_location(-1.0, -2.0, NOW + 5)], m.BATCH_BLIND_AREA)
    out = []
    for version, phone in ((None, "013900000001"), (1, "00000000013900000002")):

        def frame(
            msg_id: int,
            body: bytes,
            serial: int = 1,
            total: int = 0,
            index: int = 0,
            phone: str = phone,
            version: int | None = version,
        ) -> bytes:
            return encode_frame(
                build_message(Header(msg_id, phone, serial, version, 0, total, index), body)
            )

        out += [
            frame(m.TERMINAL_RESPONSE, m.build_general_response(1, m.TRACK, 0), serial=9),
            frame(m.TERMINAL_RESPONSE, m.build_general_response(2, m.TEXT, 3), serial=10),
            frame(m.LOCATION_ANSWER, m.build_location_answer(1, location), serial=11),
            frame(m.LOCATION_ANSWER, m.build_location_answer(3, location), serial=12),
            frame(m.REGISTER, m.build_register(version, terminal_id="FZ1")),
            frame(m.AUTHENTICATE, m.build_auth("0123456789abcdef", version, "86")),
            frame(m.HEARTBEAT, b""),
            frame(m.LOCATION, location),
            frame(m.BATCH, batch),
            frame(m.BATCH, batch[:40], 7, 2, 1) + frame(m.BATCH, batch[40:], 8, 2, 2),
            frame(0x0900, b"\x41hello"),
            frame(m.DEREGISTER, b""),
        ]
    return out


#: serve's commands as the gateway receives them (docs/mqtt.md, "Commands").
COMMANDS = [
    b'{"command_id": "c1", "action": "locate"}',
    b'{"command_id": "c2", "action": "track", "interval_s": 5, "duration_s": 3600}',
    b'{"command_id": "c3", "action": "interval", "interval_s": 30}',
    '{"command_id": "c4", "action": "text", "text": "请到A网格"}'.encode(),
    '{"command_id": "c5", "action": "text", "text": "🚲"}'.encode(),  # not in GBK
    b'{"command_id": "c6", "action": "text", "text": "' + b"x" * 1100 + b'"}',  # too long
    b'{"command_id": "c7", "action": "track"}',  # without its parameters
    b'{"command_id": 7, "action": "dance", "interval_s": -1}',
]
COMMAND_TOPICS = [
    "gridpatrol/v1/cmd/13900000001",
    "gridpatrol/v1/cmd/13900000002",
    "gridpatrol/v1/cmd/nobody",
    "gridpatrol/v1/cmd/bad topic/+",
]


def mutate(rng: random.Random, frame: bytes) -> bytes:
    data = bytearray(frame)
    for _ in range(rng.randint(0, 3)):
        kind = rng.randrange(8)
        if kind == 0 and data:  # flip a byte
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif kind == 1 and data:  # truncate
            del data[rng.randrange(len(data)) :]
        elif kind == 2:  # a stray flag or escape
            data.insert(rng.randrange(len(data) + 1), rng.choice([0x7E, 0x7D]))
        elif kind == 3:  # garbage
            at = rng.randrange(len(data) + 1)
            data[at:at] = rng.randbytes(rng.randrange(1, 40))
        elif kind == 4:  # a body length field that lies
            if len(data) > 4:
                data[3] = rng.randrange(256)
        elif kind == 5:  # huge
            data[1:1] = b"\x11" * rng.choice([100, 5000])
        elif kind == 6:  # BCD out of range in the phone or the time
            if len(data) > 8:
                data[rng.randrange(5, len(data) - 2)] |= 0xA0
        else:  # two frames glued without a flag between
            data = data[:-1] + data[1:]
    return bytes(data)


async def fuzz(count: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as folder:
        known = registry(Path(folder) / "jt808.db", ["13900000001", "13900000002"])
        try:
            return await _fuzz(count, rng, known)
        finally:
            known.store.close()


async def _fuzz(count: int, rng: random.Random, known: Registry) -> dict[str, int]:
    base = seeds()
    gateway = Gateway(  # reports of the two known phones reach the publisher unauthenticated
        Jt808Settings(
            max_frame_bytes=2048,
            max_subpackages=8,
            max_reassembly_bytes=4096,
            allow_unauthenticated=True,
        ),
        known,
    )
    replies: list[int] = [0, 0]  # replies to serve: all, and those with an answer
    gateway.downlink.publish = lambda device, payload: _count(replies, payload)
    done = written = sessions = commands = 0
    while done < count:
        session = Session(gateway)
        transport = FakeTransport()
        session.connection_made(transport)
        if rng.random() < 0.5:  # as if it had authenticated: commands go down to it
            session.authenticated = rng.choice(["013900000001", "00000000013900000001"])
            session.version = None if len(session.authenticated) == 12 else 1
            session.device = "13900000001"
            gateway.by_device[session.device] = session
        stream = b"".join(mutate(rng, rng.choice(base)) for _ in range(min(100, count - done)))
        done += min(100, count - done)
        at = 0
        while at < len(stream):
            step = rng.choice([1, 7, 64, 512, 4096])
            if rng.random() < 0.2:
                topic = rng.choice(COMMAND_TOPICS)
                command = rng.choice(COMMANDS)
                gateway.downlink.receive(
                    topic, mutate(rng, command) if rng.random() < 0.5 else command
                )
                commands += 1
            session.data_received(stream[at : at + step])
            at += step
        for sent in list(gateway.downlink.outstanding):  # retransmitted, then timed out
            for _ in range(gateway.settings.command_retries + 1):
                gateway.downlink._expire(session, sent[1])
        session.reassembly.expire(time.monotonic() + 1e6)
        session.connection_lost(None)
        written += transport.written
        sessions += 1
    dropped = sum(
        int(s.value)
        for s in gateway.metrics.dropped.collect()[0].samples
        if s.name.endswith("_total")
    )
    return {
        "frames": done,
        "sessions": sessions,
        "answer_bytes": written,
        "dropped": dropped,
        "reassembly_bytes_left": gateway.reassembly_budget.used,  # every session closed: 0
        "commands": commands,
        "replies": replies[0],
        "answered": replies[1],
        "outstanding_left": len(gateway.downlink.outstanding),  # every session closed: 0
    }


def _count(replies: list[int], payload: bytes) -> None:
    replies[0] += 1
    replies[1] += b'"answered"' in payload


def run(count: int, seed: int) -> dict[str, int]:
    """Fuzz ``count`` frames; also returns the traced memory growth over the second half."""
    tracemalloc.start()
    try:
        first = asyncio.run(fuzz(count // 2, seed))
        before = tracemalloc.get_traced_memory()[0]
        second = asyncio.run(fuzz(count - count // 2, seed + 1))
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    totals = {k: first[k] + second[k] for k in first}
    totals["memory_growth_bytes"] = after - before
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.fuzz_jt808", description=__doc__)
    parser.add_argument("-n", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    t0 = time.perf_counter()
    totals = run(args.n, args.seed)
    print(f"seed {args.seed}: {totals} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
