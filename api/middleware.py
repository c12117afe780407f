"""ASGI middleware around every route: security headers, and the Host check of the API
without tokens.

Pure ASGI (not Starlette's ``BaseHTTPMiddleware``), so the alert stream passes through
unbuffered.
"""

from __future__ import annotations

import re

from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


#: The map is its own files (api/static/: no inline script or style, no CDN) and talks only to
#: its own origin; no page may frame it (clickjacking). Base-map tiles come from serve too
#: (/api/v1/tiles): fetched with the token ('self', connect-src) and drawn from blob: URLs
#: the page makes of them, so no other origin can put an image on the map.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers without CSP level 2
    "Referrer-Policy": "no-referrer",
}
#: API data and exports (positions, tracks, reports) are kept in no cache, the browser's
#: or a proxy's; the map's own files may be.
NO_STORE_PREFIXES = ("/api/",)


class SecurityHeaders:
    """:data:`HEADERS` on every response, and ``Cache-Control: no-store`` on API data."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        no_store = str(scope["path"]).startswith(NO_STORE_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name] = value
                if no_store:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
