"""What a broker crash loses, and what saving more often costs (issue 22: broker durability).

Serve down (an outage, a restart), devices publishing: every QoS 1 message the broker has
acknowledged waits in serve's persistent session. Mosquitto keeps that queue in memory and
writes all of it to ``mosquitto.db`` at each save; a crash (kill -9, power) loses what came
after the last save, though the devices were told it was received and dropped it.

For each persistence setting: a queue of ``backlog`` messages is built (serve's session
offline), then ``burst`` more are published and acknowledged, and the broker is killed with
SIGKILL right after the last PUBACK; restarted on the same files, the session's messages are
counted (the backlog is built under the cheapest setting, saved by a clean stop, and the
broker restarted with the setting measured). The figures: messages per second acknowledged during the burst (the cost) and
messages lost (the risk). One save writes the whole queue, so its cost grows with the queue.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench.result import Result
from gridpatrol.broker import Mosquitto, mosquitto_config

TOPIC = "bench/durability"
SESSION = "bench-durable-session"

#: The settings measured: name and the persistence lines of the config.
SETTINGS: dict[str, tuple[str, ...]] = {
    "autosave_interval 10 (every 10 s)": ("autosave_interval 10",),
    "autosave_interval 1 (every second)": ("autosave_interval 1",),
    "autosave_on_changes, every 1,000 changes": (
        "autosave_on_changes true",
        "autosave_interval 1000",
    ),
    "autosave_on_changes, every 100 changes": (
        "autosave_on_changes true",
        "autosave_interval 100",
    ),
}

_ids = itertools.count()


def _client(broker: Mosquitto, client_id: str, *, clean: bool) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    client.max_inflight_messages_set(1000)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0 if clean else 3600
    client.connect("127.0.0.1", broker.port, clean_start=clean, properties=props)
    client.loop_start()
    return client


def _open_session(broker: Mosquitto) -> None:
    """Serve's persistent session, subscribed and then gone (the outage)."""
    done = threading.Event()
    client = _client(broker, SESSION, clean=False)
    client.on_subscribe = lambda *a: done.set()
    client.subscribe(TOPIC, qos=1)
    if not done.wait(10):
        raise RuntimeError("no SUBACK from the bench's broker")
    client.disconnect()
    client.loop_stop()


def _publish(broker: Mosquitto, count: int) -> float:
    """Publish ``count`` QoS 1 messages; seconds until the last PUBACK."""
    client = _client(broker, f"bench-device-{next(_ids)}", clean=True)
    payload = b'{"ts":1765000000.0,"lat":39.06,"lon":117.2,"acc":5}'
    t0 = time.perf_counter()
    for lo in range(0, count, 20_000):  # paho's packet ids wrap at 65,535
        infos = [client.publish(TOPIC, payload, qos=1) for _ in range(min(20_000, count - lo))]
        for info in infos:
            info.wait_for_publish(300)
    elapsed = time.perf_counter() - t0
    client.disconnect()
    client.loop_stop()
    return elapsed


def _count_queued(broker: Mosquitto, expected: int) -> int:
    """Reconnect the session and count what it receives until 2 s pass without a message."""
    received = [0]
    last = [time.monotonic()]

    def on_message(client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        received[0] += 1
        last[0] = time.monotonic()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=SESSION, protocol=paho.MQTTv5)
    client.on_message = on_message
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", broker.port, clean_start=False, properties=props)
    client.loop_start()
    while received[0] < expected and time.monotonic() - last[0] < 2.0:
        time.sleep(0.05)
    client.disconnect()
    client.loop_stop()
    return received[0]


def crash_case(name: str, autosave: tuple[str, ...], backlog: int, burst: int) -> list[Result]:
    broker = Mosquitto().start()  # the backlog is built under the cheapest setting
    try:
        _open_session(broker)
        _publish(broker, backlog)
        broker.stop()  # a clean stop saves the queue
        broker.config.write_text(mosquitto_config(broker.port, broker.dir, autosave=autosave))
        broker.start()
        elapsed = _publish(broker, burst)
        assert broker.process is not None
        broker.process.kill()  # the crash, right after the last PUBACK
        broker.process.wait()
        broker.process = None
        broker.start()
        survived = _count_queued(broker, backlog + burst)
    finally:
        broker.cleanup()
    lost = backlog + burst - survived
    case = f"{name}, queue {backlog:,} + {burst:,}"
    return [
        Result("broker-durability", f"{case}: acknowledged", burst / elapsed, "msg/s"),
        Result(
            "broker-durability",
            f"{case}: lost in a crash after the last PUBACK",
            lost,
            "msgs",
            note=f"{survived:,} of {backlog + burst:,} delivered after the restart",
        ),
    ]


def scenario(n: int, smoke: bool) -> list[Result]:
    burst = 2_000 if smoke else min(n, 20_000)
    backlogs = (0,) if smoke else (0, 200_000)
    settings = dict(itertools.islice(SETTINGS.items(), 2)) if smoke else SETTINGS
    results: list[Result] = []
    for backlog in backlogs:
        for name, autosave in settings.items():
            print(f"  {name}, queue {backlog:,} ...", file=sys.stderr, flush=True)
            results += crash_case(name, autosave, backlog, burst)
    return results
