"""ASGI middleware around every route: the Host check of the API without tokens.

Pure ASGI (not Starlette's ``BaseHTTPMiddleware``), so the alert stream passes through
unbuffered.
"""

from __future__ import annotations

import re

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_body

#: The Host names a browser sends to a loopback listener: 127.0.0.1, localhost, [::1],
#: with any port. A DNS name an attacker controls (DNS rebinding) never matches.
_LOOPBACK_HOST = re.compile(r"(127\.0\.0\.1|localhost|\[::1\])(:[0-9]{1,5})?", re.IGNORECASE)


def is_loopback_host(host: str) -> bool:
    """Whether a Host header names the loopback interface."""
    return _LOOPBACK_HOST.fullmatch(host) is not None


class LoopbackHostOnly:
    """Without ``--tokens`` the API asks for no token and listens on loopback only; a page
    of another site can still reach it through DNS rebinding (its own name resolved to
    127.0.0.1), and its requests then carry that name in Host. Such a request is answered
    421 in the one error shape, before any route runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            hosts = [v for k, v in scope["headers"] if k == b"host"]
            host = hosts[0].decode("latin-1") if len(hosts) == 1 else ""
            if not is_loopback_host(host):
                message = (
                    f"Host {host[:64]!r} is not a loopback name: without --tokens the API "
                    "answers only 127.0.0.1, localhost or [::1]"
                )
                await JSONResponse(error_body(421, message), 421)(scope, receive, send)
                return
        await self.app(scope, receive, send)
