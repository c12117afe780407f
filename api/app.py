"""``create_app(context)``: the FastAPI application of ``serve --http``."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from api.access import RecordAccess
from api.config import API_PREFIX
from api.context import ApiContext
from api.errors import install_error_handlers
from api.middleware import LoopbackHostOnly, SecurityHeaders
from api.models import ERROR_RESPONSES
from api.polls import PollCache
from api.positions import PositionFeed
from api.routes import (
    access,
    alerts,
    attendance,
    backup,
    commands,
    devices,
    grids,
    reports,
    system,
    tiles,
)

STATIC = Path(__file__).parent / "static"


def create_app(context: ApiContext) -> FastAPI:
    app = FastAPI(
        title="gridpatrol",
        version="1",
        description="Patrol facts for grid-management command centres: live status, "
        "compliance with the 30-minute rule, coverage, presence and alerts.",
        docs_url=None,  # Swagger UI and ReDoc load their scripts from a CDN: /openapi.json only
        redoc_url=None,
    )
    app.state.context = context
    app.state.polls = PollCache()  # the polls' bodies, serialised once per version
    app.state.feed = PositionFeed(context, app.state.polls)  # GET /devices/stream
    install_error_handlers(app)
    app.add_middleware(RecordAccess, recorder=context.access)  # inside the Host check
    if context.tokens is None:  # no token asked: only a loopback Host (DNS rebinding)
        app.add_middleware(LoopbackHostOnly)
    app.add_middleware(SecurityHeaders)  # the outermost: on the 421 too
    for module in (
        grids,
        devices,
        reports,
        attendance,
        alerts,
        system,
        backup,
        access,
        commands,
        tiles,
    ):
        app.include_router(module.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    return app
