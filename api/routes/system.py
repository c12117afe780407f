"""Health, ingest counters and Prometheus metrics."""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from api.context import ApiContext
from api.deps import Auth, Context
from api.models import Health, Stats
from tracks.queries import read_stats

router = APIRouter(tags=["system"])

#: Messages waiting and no commit for this long: /health reports a stall.
STALL_AFTER_S = 30.0

#: A live-stage failure this recent makes /health report it.
LIVE_FAILURE_SHOWN_S = 300.0


@router.get(
    "/stats",
    response_model=Stats,
    summary="Ingest counters (same keys as `gridpatrol stats --format json`)",
)
def stats(context: Context, principal: Auth) -> dict[str, object]:
    counts = read_stats(context.store)
    return {k: counts[k] for k in ("received", "stored", "duplicates", "rejected")}


def health_body(context: ApiContext) -> tuple[int, dict[str, object]]:
    problems: list[str] = []
    database = "ok"
    try:
        context.store.probe()
    except Exception as exc:  # the point of a health check: report, don't raise
        database = f"error: {exc}"
        problems.append("database unreadable")
    state = context.batcher_state
    writes = "ok"
    if state is not None and state.failing_since is not None:
        writes = f"failing since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(state.failing_since))}: {state.last_error}"
        problems.append("database writes failing; messages are not acknowledged")
    broker = context.broker_connected()
    if not broker:
        problems.append("not connected to the broker")
    backlog = context.backlog()
    if backlog.stalled_s > STALL_AFTER_S:
        problems.append(
            f"stalled: no commit for {backlog.stalled_s:.0f} s while "
            f"{backlog.messages} messages wait"
        )
    live: dict[str, object] | None = None
    if context.live is not None:
        stage, outbox = context.live.health, context.live.outbox
        live = {
            "batches": stage.batches,
            "failures": stage.failures,
            "last_error": stage.last_error,
            "pending": context.live.pending(),
            "alerts_unstored": outbox.unstored(),
            "alerts_unacked": outbox.unacked(),
            "alert_store_failures": outbox.health.store_failures,
        }
        if (
            stage.last_error_at is not None
            and time.time() - stage.last_error_at < LIVE_FAILURE_SHOWN_S
        ):
            problems.append(f"live stage failing: {stage.last_error}")
        if outbox.unstored():
            problems.append(
                f"{outbox.unstored()} alert(s) not stored, so not published yet: "
                f"{outbox.health.last_error}"
            )
    role: dict[str, object] | None = None
    if context.stage is not None:
        st = context.stage
        role = {
            "leading": st.leading,
            "position": st.position,
            "lake_snapshot": st.lake_snapshot,
            "lag_snapshots": st.lag_snapshots,
            "lag_s": round(st.lag_s, 3),
            "last_error": st.last_error,
        }
        if not st.leading:
            problems.append("standby: another stage process leads")
    body: dict[str, object] = {
        "status": "ok" if not problems else "degraded",
        "problems": problems,
        "database": database,
        "writes": writes,
        "broker_connected": broker,
        "queue_depth": context.queue_depth(),
        "backlog": {
            "messages": backlog.messages,
            "oldest_age_s": round(backlog.oldest_age_s, 3),
            "stalled_s": round(backlog.stalled_s, 3),
        },
        "live_stage": live,
        "role": context.role,
        "stage": role,
    }
    return (200 if not problems else 503), body


@router.get(
    "/health",
    summary="200 when storing and connected, 503 with the causes when not",
    response_model=Health,
    responses={503: {"model": Health, "description": "degraded: the problems say why"}},
)
def health(context: Context) -> JSONResponse:
    status, body = health_body(context)
    return JSONResponse(body, status)


class _Collector:
    def __init__(self, context: ApiContext) -> None:
        self.context = context

    def collect(self):
        counts = read_stats(self.context.store)
        for key in ("received", "stored", "duplicates"):
            value = counts[key]
            assert isinstance(value, int)
            yield CounterMetricFamily(f"gridpatrol_pings_{key}", f"pings {key}", value=value)
        rejected = CounterMetricFamily(
            "gridpatrol_pings_rejected", "pings rejected, by reason", labels=["reason"]
        )
        for reason, value in counts["rejected"].items():  # type: ignore[attr-defined]
            rejected.add_metric([reason], value)
        yield rejected
        for kind, name, help_line, value in self._values():
            family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            yield family(name, help_line, value=value)

    def _values(self) -> list[tuple[str, str, str, float]]:
        """(counter or gauge, name, help, value) of everything but the ping counters."""
        context = self.context
        values: list[tuple[str, str, str, float]] = []
        state = context.batcher_state
        if state is not None:
            values += [
                ("counter", "gridpatrol_batches", "batches committed", state.batches),
                (
                    "gauge",
                    "gridpatrol_batch_seconds_last",
                    "prepare-to-ack time of the last batch",
                    state.last_flush_s,
                ),
                (
                    "gauge",
                    "gridpatrol_write_failing",
                    "1 while database writes fail",
                    1.0 if state.failing_since is not None else 0.0,
                ),
                (
                    "counter",
                    "gridpatrol_read_throughs",
                    "times a full queue gave way to keep the connection",
                    state.read_throughs,
                ),
                (
                    "counter",
                    "gridpatrol_commits_retried",
                    "batch commits retried whole after a failure (nothing acknowledged before)",
                    state.retries,
                ),
            ]
        backlog = context.backlog()
        values += [
            (
                "gauge",
                "gridpatrol_queue_depth",
                "messages received, not yet batched",
                context.queue_depth(),
            ),
            (
                "gauge",
                "gridpatrol_backlog_messages",
                "messages received, not yet acknowledged",
                backlog.messages,
            ),
            (
                "gauge",
                "gridpatrol_backlog_oldest_seconds",
                "age of the oldest message not yet acknowledged",
                backlog.oldest_age_s,
            ),
            (
                "gauge",
                "gridpatrol_stalled_seconds",
                "seconds without a commit while messages wait",
                backlog.stalled_s,
            ),
            (
                "counter",
                "gridpatrol_mqtt_connects",
                "connections to the broker (1 while never reconnected)",
                context.mqtt_connects(),
            ),
        ]
        if context.live is not None:
            stage, live = context.live.health, context.live.snapshot()
            values += [
                (
                    "counter",
                    "gridpatrol_live_failures",
                    "live-stage steps that failed (ingest went on)",
                    stage.failures,
                ),
                (
                    "gauge",
                    "gridpatrol_alerts_unstored",
                    "alerts raised, not stored yet, so not published (the write is retried every tick)",
                    context.live.outbox.unstored(),
                ),
                (
                    "gauge",
                    "gridpatrol_alerts_unacked",
                    "alerts published, not acknowledged by the broker yet (so not recorded as published)",
                    context.live.outbox.unacked(),
                ),
                (
                    "counter",
                    "gridpatrol_alert_store_failures",
                    "alert writes (and outbox reads) that failed; retried, nothing published meanwhile",
                    context.live.outbox.health.store_failures,
                ),
                (
                    "counter",
                    "gridpatrol_alerts_published",
                    "alerts published after being stored",
                    context.live.outbox.health.published,
                ),
                (
                    "counter",
                    "gridpatrol_alerts_republished",
                    "stored alerts published at start or takeover, never recorded as published before",
                    context.live.outbox.health.republished,
                ),
                (
                    "counter",
                    "gridpatrol_live_batches_dropped",
                    "batches the live stage could not take (it then rebuilt)",
                    stage.dropped,
                ),
                (
                    "gauge",
                    "gridpatrol_live_pending",
                    "committed batches waiting for the live stage",
                    context.live.pending(),
                ),
                ("gauge", "gridpatrol_grids_overdue", "grids overdue now", len(live.overdue)),
                ("gauge", "gridpatrol_devices_offline", "devices offline now", len(live.offline)),
                (
                    "counter",
                    "gridpatrol_derived_days",
                    "days (or today's part) derived from the pings",
                    context.live.upkeep.health.days_derived,
                ),
                (
                    "counter",
                    "gridpatrol_derive_seconds",
                    "time spent deriving them",
                    context.live.upkeep.health.seconds,
                ),
                (
                    "counter",
                    "gridpatrol_derive_failures",
                    "derivations that failed (retried)",
                    context.live.upkeep.health.failures,
                ),
            ]
        if context.stage is not None:
            st = context.stage
            values += [
                (
                    "gauge",
                    "gridpatrol_stage_leading",
                    "1 while this stage leads",
                    float(st.leading),
                ),
                (
                    "gauge",
                    "gridpatrol_stage_lag_snapshots",
                    "lake snapshots not handled yet",
                    st.lag_snapshots,
                ),
                (
                    "gauge",
                    "gridpatrol_stage_lag_seconds",
                    "age of the oldest lake snapshot not handled yet",
                    st.lag_s,
                ),
                (
                    "counter",
                    "gridpatrol_stage_takeovers",
                    "times this process took the lead",
                    st.takeovers,
                ),
                (
                    "counter",
                    "gridpatrol_stage_duplicates_dropped",
                    "repeated pings the stage deleted",
                    st.duplicates_dropped,
                ),
                (
                    "counter",
                    "gridpatrol_stage_flags_changed",
                    "pings whose speed flag the stage set otherwise than their worker",
                    st.flags_changed,
                ),
                (
                    "counter",
                    "gridpatrol_stage_files_merged",
                    "data files merged away",
                    st.files_merged,
                ),
                (
                    "counter",
                    "gridpatrol_stage_snapshots_expired",
                    "lake snapshots expired",
                    st.snapshots_expired,
                ),
                (
                    "counter",
                    "gridpatrol_stage_failures",
                    "stage steps that failed (retried)",
                    st.failures,
                ),
            ]
        return values


@router.get("/metrics", summary="Prometheus text format", response_class=PlainTextResponse)
def metrics(context: Context, principal: Auth) -> Response:
    registry = CollectorRegistry()
    registry.register(_Collector(context))
    return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")
