"""Acknowledging an alert through a real serve (tests/api/conftest.py): recorded once in
``alert_acks`` with the token's name and note, shown by GET /alerts, pushed on the alert
streams of those who see its grid, and published on MQTT; outside the token's grids, 403;
a second acknowledgement, 409; an unknown alert, 404."""

from __future__ import annotations

import json
import threading

import httpx

from tests.api.conftest import Served
from tests.mqtt_helpers import connect, subscribe, wait_for


class AlertStream:
    """An alert stream read in a thread: the ``ack`` events' data, in arrival order."""

    def __init__(self, served: Served, token: str) -> None:
        self.acks: list[dict[str, object]] = []
        self.opened = threading.Event()
        self.stop = False
        self.url = served.url + "/api/v1/alerts/stream"
        self.headers = {"Authorization": f"Bearer {token}"}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        with httpx.stream("GET", self.url, headers=self.headers, timeout=30) as response:
            event = ""
            for line in response.iter_lines():
                self.opened.set()
                if line.startswith("event: "):
                    event = line[7:]
                if line.startswith("data: ") and event == "ack":
                    self.acks.append(json.loads(line[6:]))
                if self.stop:
                    return


def ack(served: Served, token: str, alert_id: str, note: str) -> httpx.Response:
    return httpx.post(
        f"{served.url}/api/v1/alerts/{alert_id}/ack",
        headers={"Authorization": f"Bearer {token}"},
        json={"note": note},
        timeout=30,
    )


def grid_alert(served: Served, grid_id: str) -> str:
    def find() -> str | None:
        alerts = served.get("/api/v1/alerts", served.admin).json()
        return next((a["alert_id"] for a in alerts if a["grid_id"] == grid_id), None)

    found: str = wait_for(find, what=f"an alert of grid {grid_id}")
    return found


def test_an_acknowledgement_is_recorded_streamed_and_published(served: Served, broker):
    in_a, in_c = grid_alert(served, "A"), grid_alert(served, "C")
    messages: list[tuple[str, dict[str, object]]] = []
    client = connect(broker)
    client.on_message = lambda c, u, m: messages.append((m.topic, json.loads(m.payload)))
    subscribe(client, "gridpatrol/v1/alerts/ack/#")
    admin, supervisor = AlertStream(served, served.admin), AlertStream(served, served.supervisor)
    assert admin.opened.wait(10) and supervisor.opened.wait(10)

    refused = ack(served, served.supervisor, in_a, "not mine")  # the supervisor sees C only
    assert refused.status_code == 403 and "outside your grids" in refused.text
    assert ack(served, served.supervisor, "overdue:nowhere:0", "x").status_code == 404

    done = ack(served, served.supervisor, in_c, "巡查员已到场")
    assert done.status_code == 201, done.text
    event = done.json()
    assert event["alert_id"] == in_c and event["grid_id"] == "C" and event["kind"] == "overdue"
    assert event["ack"]["by"] == "Zhao" and event["ack"]["note"] == "巡查员已到场"

    wait_for(lambda: admin.acks and supervisor.acks, what="the ack on both streams")
    assert admin.acks == [event] and supervisor.acks == [event]
    wait_for(lambda: messages, what="the ack on MQTT")
    assert messages == [("gridpatrol/v1/alerts/ack/overdue/C", event)]

    again = ack(served, served.admin, in_c, "twice")
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    assert "acknowledged by Zhao" in again.json()["error"]["message"]

    # an admin's ack of A's alert: on the admin's stream, never on the supervisor's
    assert ack(served, served.admin, in_a, "").status_code == 201
    wait_for(lambda: len(admin.acks) == 2, what="the second ack on the admin's stream")
    assert admin.acks[1]["alert_id"] == in_a and admin.acks[1]["ack"]["by"] == "ops"
    listed = {a["alert_id"]: a for a in served.get("/api/v1/alerts", served.admin).json()}
    assert listed[in_c]["ack"] == event["ack"]
    assert listed[in_a]["ack"]["note"] == "" and listed[in_a]["ack"]["by"] == "ops"
    scoped = served.get("/api/v1/alerts", served.supervisor).json()
    assert [a["ack"] for a in scoped if a["alert_id"] == in_c] == [event["ack"]]
    assert len(supervisor.acks) == 1
    rows = (
        served.service.store.cursor()
        .execute("SELECT alert_id, operator, note FROM alert_acks ORDER BY acked_at")
        .fetchall()
    )
    assert rows == [(in_c, "Zhao", "巡查员已到场"), (in_a, "ops", "")]
    admin.stop = supervisor.stop = True
    client.disconnect()
    client.loop_stop()
