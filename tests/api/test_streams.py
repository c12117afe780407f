"""The alert stream within limits: streams counted per token and in all (429 past either),
a revoked token's stream closed within the reload period, the registry read per alert."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import httpx
import polars as pl
import pytest

from api.tokens import add_token, revoke_token
from geofence.alerts import Alert, AlertKind
from tests.api.conftest import Served
from tests.mqtt_helpers import wait_for


@contextlib.contextmanager
def stream(served: Served, token: str) -> Iterator[httpx.Response]:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.stream(
        "GET", served.url + "/api/v1/alerts/stream", headers=headers, timeout=30
    ) as response:
        yield response


#: Each open stream's line iterator, kept: one dropped may close its connection.
KEPT: list[Iterator[str]] = []


def first_line(response: httpx.Response) -> str:
    lines = response.iter_lines()
    KEPT.append(lines)
    return next(lines)


def new_token(served: Served, role: str, grids: list[str], name: str) -> tuple[str, str]:
    entry, token = add_token(served.tokens, role, grids, name)
    wait_for(
        lambda: served.get("/api/v1/alerts/kinds", token).status_code == 200,
        timeout_s=10,
        what="the new token accepted",
    )
    return entry.id, token


def test_streams_are_limited_per_token_and_in_all(served: Served, monkeypatch):
    assert served.service.http is not None
    hub = served.service.http.context.hub
    monkeypatch.setattr(hub, "max_per_token", 3)
    _, token = new_token(served, "supervisor", ["C"], "many-tabs")
    with contextlib.ExitStack() as stack:
        for _ in range(3):
            opened = stack.enter_context(stream(served, token))
            assert opened.status_code == 200 and first_line(opened).startswith(":")
        assert hub.clients() == 3
        with stream(served, token) as refused:
            assert refused.status_code == 429
            refused.read()
            error = refused.json()["error"]
            assert error["code"] == "too_many_requests" and "close one" in error["message"]
        with stream(served, served.admin) as other:  # another token still may
            assert other.status_code == 200 and first_line(other).startswith(":")
            assert hub.clients() == 4
            monkeypatch.setattr(hub, "max_streams", 4)
            with stream(served, served.admin) as full:
                assert full.status_code == 429
    KEPT.clear()  # closed streams give their places back
    wait_for(lambda: hub.clients() == 0, timeout_s=10, what="the streams released")
    with stream(served, token) as again:
        assert again.status_code == 200
    metrics = served.get("/api/v1/metrics", served.admin).text
    assert "gridpatrol_alert_streams_refused_total 2.0" in metrics


def test_a_revoked_tokens_stream_ends_within_the_reload_period(served: Served):
    token_id, token = new_token(served, "supervisor", ["C"], "leaving")
    reload_s = served.service.http.context.settings.tokens_reload_s  # type: ignore[union-attr]
    with stream(served, token) as response:
        lines = response.iter_lines()
        assert next(lines).startswith(":")
        revoke_token(served.tokens, token_id)
        revoked_at = time.monotonic()
        rest = []
        for line in lines:  # until the server ends the stream (or the test gives up)
            rest.append(line)
            if time.monotonic() - revoked_at > 10 * reload_s:
                break
        took = time.monotonic() - revoked_at
    assert rest[-2:] == [": token revoked", ""] or ": token revoked" in rest
    assert took < 2 * reload_s + 1.0, took
    assert served.get("/api/v1/alerts/stream", token).status_code == 401


@pytest.mark.parametrize("assigned", ["C", "A"])
def test_a_device_alert_reaches_who_sees_the_devices_grid_now(served: Served, assigned):
    """The registry is read per alert (no copy per stream): a device assigned after the
    stream opened is judged by its grid now."""
    assert served.service.http is not None
    hub = served.service.http.context.hub
    device = f"late-{assigned}"
    with stream(served, served.supervisor) as response:  # the supervisor of C
        lines = response.iter_lines()
        assert next(lines).startswith(":")
        served.service.store.upsert_devices(
            pl.DataFrame(
                {"device_id": [device], "kind": ["tracker"], "worker": ["x"], "grid_id": [assigned]}
            )
        )
        now = time.time()
        hub.publish(Alert(AlertKind.DEVICE_OFFLINE, now, now, device_id=device))
        hub.publish(Alert(AlertKind.OVERDUE, now, now, grid_id="C"))  # always seen: the end
        seen = []
        for line in lines:
            if line.startswith("data: "):
                seen.append(line)
                if '"overdue"' in line:
                    break
    assert any(device in line for line in seen) == (assigned == "C")
