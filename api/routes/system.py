"""Health, ingest counters and Prometheus metrics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from api.context import ApiContext
from api.deps import Context, Monitor, find_principal
from api.models import Health, HealthStatus, Stats
from base.health import Reading, problems_of, readings, shown_by
from tracks.queries import read_stats

router = APIRouter(tags=["system"])

#: The ping counters, read from the store's counters table (``gridpatrol stats``).
PING_COUNTERS = {
    key: Reading("counter", f"pings {key}", f"gridpatrol_pings_{key}")
    for key in ("received", "stored", "duplicates")
}
PINGS_REJECTED = Reading("counter", "pings rejected, by reason", "gridpatrol_pings_rejected")

#: What /health shows of a part a process does not run (no ingest: nothing waits).
IDLE: dict[str, object] = {
    "writes": "ok",
    "broker_connected": True,
    "queue_depth": 0,
    "backlog": {"messages": 0, "oldest_age_s": 0.0, "stalled_s": 0.0},
    "live_stage": None,
}


@router.get(
    "/stats",
    response_model=Stats,
    summary="Ingest counters (same keys as `gridpatrol stats --format json`)",
)
def stats(context: Context, principal: Monitor) -> dict[str, object]:
    counts = read_stats(context.store)
    return {k: counts[k] for k in ("received", "stored", "duplicates", "rejected")}


def health_body(context: ApiContext) -> tuple[int, dict[str, object]]:
    """The status, the problems each part names, and what each part shows (base/health.py)."""
    problems: list[str] = []
    database = "ok"
    try:
        context.store.probe()
    except Exception as exc:  # the point of a health check: report, don't raise
        database = f"error: {exc}"
        problems.append("database unreadable")
    parts = context.health_parts()
    problems += problems_of(parts)
    body: dict[str, object] = {
        "status": "ok" if not problems else "degraded",
        "problems": problems,
        "database": database,
        **IDLE,
        "role": context.role,
        "stage": None,
        **shown_by(parts),
    }
    return (200 if not problems else 503), body


#: The roles that read /health's detail (and /metrics, /stats): deployment-wide figures.
MONITORS = ("admin", "metrics")


@router.get(
    "/health",
    summary="200 when storing and connected, 503 when not; the causes and the detail for "
    "an admin or metrics token, the status alone for anyone else",
    response_model=Health | HealthStatus,
    responses={
        503: {"model": Health | HealthStatus, "description": "degraded: the problems say why"}
    },
)
def health(request: Request, context: Context) -> JSONResponse:
    status, body = health_body(context)
    principal = find_principal(request, context)  # no token needed: never a 401 here
    if principal is None or principal.role not in MONITORS:
        return JSONResponse({"status": body["status"]}, status)
    return JSONResponse(body, status)


class _Collector:
    def __init__(self, context: ApiContext) -> None:
        self.context = context

    def collect(self) -> Iterator[Metric]:
        counts = read_stats(self.context.store)
        for key, reading in PING_COUNTERS.items():
            value = counts[key]
            assert isinstance(value, int)
            yield CounterMetricFamily(reading.metric, reading.help, value=value)
        rejected = CounterMetricFamily(
            PINGS_REJECTED.metric, PINGS_REJECTED.help, labels=["reason"]
        )
        for reason, value in counts["rejected"].items():  # type: ignore[attr-defined]
            rejected.add_metric([reason], value)
        yield rejected
        for reading, value in self._values():
            family = CounterMetricFamily if reading.kind == "counter" else GaugeMetricFamily
            if not reading.label:
                yield family(reading.metric, reading.help, value=reading.number(value))
                continue
            labelled = family(reading.metric, reading.help, labels=[reading.label])
            for label, number in value.items():
                labelled.add_metric([label], reading.number(number))
            yield labelled

    def _values(self) -> list[tuple[Reading, Any]]:
        """(reading, value) of every metric the parts declare."""
        return [
            (reading, value)
            for part in self.context.health_parts()
            for reading, value in readings(part)
            if reading.metric
        ]


@router.get("/metrics", summary="Prometheus text format", response_class=PlainTextResponse)
def metrics(context: Context, principal: Monitor) -> Response:
    registry = CollectorRegistry()
    registry.register(_Collector(context))
    return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")
