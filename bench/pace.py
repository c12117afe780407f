"""A paced publisher in its own process: ``python -m bench.pace PORT RATE SECONDS``.

Each ping's fix time is its publish time, so the writer can measure publish-to-commit latency
without this loop competing for serve's interpreter lock.
"""

from __future__ import annotations

import json
import sys
import time

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion


def main() -> int:
    port, rate, seconds = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-pace", protocol=paho.MQTTv5)
    client.max_inflight_messages_set(2000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    total = int(rate * seconds)
    started = time.time()
    infos = []
    for i in range(total):
        due = started + i / rate
        now = time.time()
        if due > now:
            time.sleep(due - now)
        body = json.dumps({"ts": round(time.time(), 6), "lat": 39.06, "lon": 117.16})
        infos.append(client.publish(f"gridpatrol/v1/ping/steady-{i % 20}", body, qos=1))
    for info in infos:
        info.wait_for_publish(30)
    client.disconnect()
    client.loop_stop()
    print(total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
