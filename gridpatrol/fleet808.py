"""The simulated fleet's trackers speaking JT/T 808 to a gateway instead of MQTT.

Tracker ``N`` (its position in the devices file, from 1) gets the phone number
``0139000000NN`` and so, by the gateway's rule, the device id ``139000000NN``
(:func:`jt808_devices`) and the terminal id ``SIMNNNN`` (:func:`terminal_rows`: the
registry rows the demo imports). The plan (``simulate.plan_messages``) is the same as over MQTT;
:class:`Router` sends the trackers' messages to :class:`Fleet808` and the phones' to MQTT, so
``simulate.publish_plan`` paces both. Each tracker registers once (and keeps its code), authenticates on every connection, reports (0x0200;
a JSON array becomes a 0x0704 batch), sends heartbeats when idle, and loses the network for
ten minutes every four hours: what it measured meanwhile follows as blind-area batches
(0x0704 type 1), subpackaged when longer than a frame. Each answers the platform's commands
(:meth:`Fleet808.answer`): 0x8201 with 0x0201 and its latest fix; 0x8202, 0x8103 and 0x8300
with 0x0001 result 0, keeping what they asked (``tracking``, ``params``, ``texts``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import threading
from dataclasses import replace

from gridpatrol.simulate import SimDevice
from ingest.jt808 import messages as m
from ingest.jt808.header import Header
from ingest.jt808.terminal import NoAnswer, Refused, Terminal

log = logging.getLogger("gridpatrol.simulate")

FIRST_PHONE = 13900000000
DEAD_ZONE_S = 600.0  # ten minutes without network ...
DEAD_ZONE_EVERY = 24  # ... in every 24th ten minutes (four hours), staggered by tracker
HEARTBEAT_S = 20.0  # real seconds of silence before a heartbeat


def jt808_devices(devices: list[SimDevice]) -> list[SimDevice]:
    """The devices with each tracker's id replaced by its JT/T 808 device id."""
    return [
        replace(d, device_id=str(FIRST_PHONE + i + 1)) if d.kind == "tracker" else d
        for i, d in enumerate(devices)
    ]


def terminal_rows(devices: list[SimDevice]) -> list[dict[str, str]]:
    """The terminal registry's rows (phone, terminal_id, plate, device_id) of the trackers
    of :func:`jt808_devices`' devices, as ``gridpatrol terminals import`` reads them."""
    rows = []
    for device in devices:
        if device.kind == "tracker":
            index = int(device.device_id) - FIRST_PHONE
            phone = device.device_id.rjust(12, "0")
            rows.append(
                {
                    "phone": phone,
                    "terminal_id": terminal_id(index),
                    "plate": "",
                    "device_id": device.device_id,
                }
            )
    return rows


def terminal_id(index: int) -> str:
    return f"SIM{index:04d}"


def location_body(fix: dict[str, float]) -> bytes:
    """A native tracker fix (simulate's JSON object) as a 0x0200 body."""
    return m.build_location(
        fix["lat"],
        fix["lon"],
        fix["ts"],
        speed=round(fix.get("spd", 0) * 36),
        direction=round(fix.get("hdg", 0)) % 360,
    )


class Fleet808:
    """One terminal per tracker on an event loop in a thread; :meth:`send` is thread-safe."""

    def __init__(self, host: str, port: int, sim_start: float) -> None:
        self.host, self.port = host, port
        self.sim_start = sim_start
        self.loop = asyncio.new_event_loop()
        self.queues: dict[str, asyncio.Queue[list[dict[str, float]]]] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.terminals: dict[str, Terminal] = {}
        self.codes: dict[str, str] = {}  # each tracker's code, kept as a terminal keeps it
        self.stopping = False
        self.reported = 0  # fixes the gateway answered
        # what the platform's commands set, by device: as a tracker would act on them
        self.latest: dict[str, dict[str, float]] = {}  # the newest fix measured
        self.tracking: dict[str, tuple[int, int]] = {}  # 0x8202: (interval s, for s)
        self.params: dict[str, dict[int, int]] = {}  # 0x8103: DWORD parameters
        self.texts: dict[str, list[str]] = {}  # 0x8300: texts shown
        self._thread = threading.Thread(target=self.loop.run_forever, name="fleet808", daemon=True)
        self._thread.start()

    def send(self, device_id: str, payload: bytes) -> None:
        fixes = json.loads(payload)
        self.loop.call_soon_threadsafe(
            self._put, device_id, fixes if isinstance(fixes, list) else [fixes]
        )

    def _put(self, device_id: str, fixes: list[dict[str, float]]) -> None:
        self.latest[device_id] = max(fixes, key=lambda f: f["ts"])
        queue = self.queues.get(device_id)
        if queue is None:
            queue = self.queues[device_id] = asyncio.Queue()
            self.tasks.append(self.loop.create_task(self._tracker(device_id, queue)))
        queue.put_nowait(fixes)

    def _dead(self, index: int, ts: float) -> bool:
        return (
            int((ts - self.sim_start) // DEAD_ZONE_S) % DEAD_ZONE_EVERY == index % DEAD_ZONE_EVERY
        )

    async def _tracker(self, device_id: str, queue: asyncio.Queue[list[dict[str, float]]]) -> None:
        phone = device_id.rjust(12, "0")
        index = int(device_id) - FIRST_PHONE
        held: list[bytes] = []  # measured in a dead zone, not yet sent
        fixes: list[dict[str, float]] | None = None
        while not self.stopping:
            terminal = self.terminals.get(device_id)
            try:
                if terminal is None or not terminal.connected:
                    terminal = await Terminal(phone).connect(self.host, self.port)
                    terminal.on_command = functools.partial(self.answer, device_id)
                    self.terminals[device_id] = terminal
                    await self._sign_in(device_id, terminal, index)
                if fixes is None:
                    try:
                        fixes = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
                    except TimeoutError:
                        await terminal.result(m.HEARTBEAT, b"")
                        continue
                if self._dead(index, fixes[-1]["ts"]):
                    held += [location_body(f) for f in fixes]
                    fixes = None
                    continue
                if held:  # back in coverage: the blind-area supplement first
                    await terminal.result(m.BATCH, m.build_batch(held, m.BATCH_BLIND_AREA))
                    self.reported += len(held)
                    held = []
                if len(fixes) == 1:
                    await terminal.result(m.LOCATION, location_body(fixes[0]))
                else:
                    batch = m.build_batch([location_body(f) for f in fixes], m.BATCH_NORMAL)
                    await terminal.result(m.BATCH, batch)
                self.reported += len(fixes)
                fixes = None
            except (
                OSError,
                NoAnswer,
                Refused,
            ) as exc:  # the gateway is away: try again, keep the fixes
                log.warning("tracker %s: %s; reconnecting", device_id, exc)
                if terminal is not None:
                    await terminal.close()
                self.terminals.pop(device_id, None)
                await asyncio.sleep(1.0)

    def answer(self, device_id: str, header: Header, body: bytes) -> tuple[int, bytes] | None:
        """A tracker's answer to a platform command (message id and body)."""
        if header.msg_id == m.QUERY_LOCATION:
            fix = self.latest.get(device_id)
            if fix is None:
                return None  # nothing measured yet: no answer, the platform times out
            return m.LOCATION_ANSWER, m.build_location_answer(header.serial, location_body(fix))
        result = m.OK
        if header.msg_id == m.TRACK:
            track = m.parse_track(body)
            result = m.MESSAGE_ERROR if isinstance(track, m.Drop) else m.OK
            if not isinstance(track, m.Drop):
                self.tracking[device_id] = track
        elif header.msg_id == m.SET_PARAMS:
            params = m.parse_params(body)
            if isinstance(params, m.Drop) or any(len(v) != 4 for v in params.values()):
                result = m.MESSAGE_ERROR
            else:
                known = self.params.setdefault(device_id, {})
                known.update({k: int.from_bytes(v, "big") for k, v in params.items()})
        elif header.msg_id == m.TEXT:
            text = m.parse_text(body, header.version)
            result = m.MESSAGE_ERROR if isinstance(text, m.Drop) else m.OK
            if not isinstance(text, m.Drop):
                self.texts.setdefault(device_id, []).append(text)
        return m.TERMINAL_RESPONSE, m.build_general_response(header.serial, header.msg_id, result)

    async def _sign_in(self, device_id: str, terminal: Terminal, index: int) -> None:
        """Authenticate with the kept code; register first when there is none (or it was
        refused: an operator reset the terminal)."""
        code = self.codes.get(device_id)
        if code is not None and await terminal.authenticate(code) == m.OK:
            return
        self.codes[device_id] = code = await terminal.register(terminal_id(index))
        if await terminal.authenticate(code) != m.OK:
            raise NoAnswer(f"tracker {device_id}: its new code was refused")

    def stop(self) -> None:
        async def close() -> None:
            self.stopping = True
            for _ in range(3):  # Python 3.11's wait_for can swallow a cancellation: repeat
                for task in self.tasks:
                    task.cancel()
                _, pending = await asyncio.wait(self.tasks, timeout=1.0) if self.tasks else ((), ())
                if not pending:
                    break
            for terminal in self.terminals.values():
                await terminal.close()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class Router:
    """``publish(topic, payload, qos)`` for ``publish_plan``: trackers to JT/T 808, the rest
    to the MQTT client."""

    def __init__(self, mqtt: object, fleet: Fleet808, trackers: set[str]) -> None:
        self.mqtt = mqtt
        self.fleet = fleet
        self.trackers = trackers

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> object:
        device = topic.rsplit("/", 1)[1]
        if device in self.trackers:
            self.fleet.send(device, payload)
            return None
        return self.mqtt.publish(topic, payload, qos=qos)  # type: ignore[attr-defined]
