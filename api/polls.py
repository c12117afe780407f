"""The map's polls answered from cached bytes, with ``ETag`` and ``304 Not Modified``.

GET /devices and GET /grids are a function of the live snapshot (replaced after each change,
never changed), the registry, the token's scope and the service day. Each body is serialised
once per such version and scope; every other poll of that version and scope is answered
with the same bytes, or a 304 when the client already has them (``If-None-Match``).

The ETag is a hash of the bytes, so the same answer has the same tag in every process (api
processes behind one address) and after a restart.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Hashable
from typing import NamedTuple

import msgspec
from fastapi import Request
from fastapi.responses import Response

from patrol.positions import Registered, read_registry
from tracks.store import Store

#: How long the registry read from storage is used before it is read again: a device
#: imported on a lake by another process shows within this (2,000 rows read in about 3 ms).
REGISTRY_TTL_S = 5.0

#: Bodies kept: one per route, scope and geometry flag (an entry is replaced when its
#: version changes), so this bounds the scopes served at once, not the history.
MAX_BODIES = 512

#: JSON as the routes' response models have it (keys in order, floats as Python's repr).
encode = msgspec.json.Encoder().encode


class Body(NamedTuple):
    etag: str
    content: bytes


class _Entry(NamedTuple):
    version: tuple[object, ...]  # compared by identity: its objects are kept alive here
    body: Body


def body_of(content: bytes) -> Body:
    return Body(f'"{hashlib.blake2b(content, digest_size=12).hexdigest()}"', content)


class PollCache:
    """Serialised bodies per (route, scope) and version; the registry, read at most every
    :data:`REGISTRY_TTL_S`. Used from the HTTP worker threads."""

    def __init__(
        self,
        registry_ttl_s: float = REGISTRY_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry_ttl_s = registry_ttl_s
        self.clock = clock
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()
        self._registry: tuple[Registered, ...] | None = None
        self._registry_at = -float("inf")
        self._bodies: dict[Hashable, _Entry] = {}

    def registry(self, store: Store) -> tuple[Registered, ...]:
        """The registry; the same object while it has not changed (a version's part)."""
        with self._lock:
            fresh = self.clock() - self._registry_at < self.registry_ttl_s
            if fresh and self._registry is not None:
                return self._registry
        rows = read_registry(store)  # a StoreError goes to the client as a 503
        with self._lock:
            if rows != self._registry:
                self._registry = rows
            self._registry_at = self.clock()
            assert self._registry is not None
            return self._registry

    def body(self, key: Hashable, version: tuple[object, ...], build: Callable[[], bytes]) -> Body:
        """The body of ``key`` at ``version``, built and serialised once per version."""
        with self._lock:
            entry = self._bodies.get(key)
        if entry is not None and _same(entry.version, version):
            return entry.body
        with self._build_lock:  # one build at a time: concurrent polls wait for it
            with self._lock:
                entry = self._bodies.get(key)
            if entry is not None and _same(entry.version, version):
                return entry.body
            body = body_of(build())
            with self._lock:
                self._bodies.pop(key, None)
                while len(self._bodies) >= MAX_BODIES:
                    del self._bodies[next(iter(self._bodies))]
                self._bodies[key] = _Entry(version, body)
            return body


def _same(a: tuple[object, ...], b: tuple[object, ...]) -> bool:
    """Objects (a snapshot, the registry) are the same one; plain values are equal."""
    return len(a) == len(b) and all(
        x is y or (isinstance(x, str | int | float) and x == y) for x, y in zip(a, b, strict=True)
    )


def answer(request: Request, body: Body) -> Response:
    """The body with its ETag, or ``304 Not Modified`` when ``If-None-Match`` names it."""
    headers = {"ETag": body.etag}
    if _matches(request.headers.get("if-none-match"), body.etag):
        return Response(status_code=304, headers=headers)
    return Response(body.content, media_type="application/json", headers=headers)


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags
