"""The access log: every read of a track, the positions, an export or a report, on record.

Personal Information Protection Law art. 28 counts movement tracks as sensitive; 等保 level 3
asks for the audit of who read them. A route is recorded when it depends on
:data:`RECORDED` (the devices and reports routers do, whole). Each request of such a route
leaves one ``access_log`` row: the token's name and id (never the token), the route, its
declared parameters (a parameter the route does not declare is never stored, so a token put
in a URL by mistake is not either), the time, the client's address and the status answered,
401 and 403 included.

The guarantee: a request is answered only while its record can be kept. The middleware
(:class:`RecordAccess`) hands the record to :class:`AccessRecorder`, a buffer written in
one transaction every :data:`FLUSH_EVERY_S` by a thread of its own (never a write on the
event loop, nor one per request: a lake commit is a Parquet file and a catalog transaction);
``stop()`` writes what is left, so a clean stop loses nothing. A failed write keeps the
records and is tried again each second (``/health`` names the problem); once
:data:`MAX_PENDING` records wait, recorded routes answer 503 until the log is written: no
read without its record. A crash loses at most the last second's records.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import logging
import threading
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.config import API_PREFIX
from api.errors import ApiError
from base.health import Reading, measure
from tracks.access import write_access
from tracks.errors import StoreError
from tracks.schema import ACCESS_LOG
from tracks.store import Store

log = logging.getLogger("gridpatrol.api.access")

#: How often the buffered records are written (the most a crash can lose).
FLUSH_EVERY_S = 1.0
#: Records waiting (a write failing) past which recorded routes answer 503. A record is
#: about 0.5 KB: 50,000 hold 25 MB, and at the API's pace many minutes of reads.
MAX_PENDING = 50_000
#: A parameter's value is stored up to this many characters.
VALUE_CHARS = 256

#: Where the middleware leaves the request's record for the dependencies to fill.
SCOPE_KEY = "gridpatrol.access"

ACCESS_PENDING = Reading(
    "gauge",
    "access records not written yet (503 on recorded routes past 50,000)",
    "gridpatrol_access_pending",
)
ACCESS_WRITE_FAILURES = Reading(
    "counter",
    "access log writes that failed (the records are kept and tried again)",
    "gridpatrol_access_write_failures",
)


@dataclass
class AccessSlot:
    """One request's record as the request goes: the middleware opens it, :func:`recorded`
    marks the route as recorded, :func:`note_principal` names who asked."""

    at: dt.datetime
    route: str | None = None  # None: not a recorded route
    params: dict[str, Any] = field(default_factory=dict)
    token: str | None = None
    token_id: str | None = None
    role: str | None = None


def note_principal(request: Request, name: str, token_id: str | None, role: str) -> None:
    """Name who asked on the request's record (from the token check)."""
    slot = request.scope.get(SCOPE_KEY)
    if isinstance(slot, AccessSlot):
        slot.token, slot.token_id, slot.role = name, token_id, role


#: Every recorder whose writing thread may run: ended at interpreter exit (below).
_RUNNING: weakref.WeakSet[AccessRecorder] = weakref.WeakSet()


@atexit.register
def _end_writing_threads() -> None:
    """A writing thread still inside DuckDB while the interpreter tears down aborts the
    process ("terminate called without an active exception"): end each one first (a
    recorder never stopped, as an app built in a test's process)."""
    for recorder in list(_RUNNING):
        recorder.end_thread()


class AccessRecorder:
    """The buffer between requests and ``access_log``; one per API process.

    ``store``: where the records go (the API's own store, or on ``--role api`` a lake opened
    for writing these records only, which ``owns_store`` closes on stop)."""

    def __init__(self, store: Store, *, owns_store: bool = False) -> None:
        self.store = store
        self.owns_store = owns_store
        self._lock = threading.Lock()
        self._pending: deque[tuple[object, ...]] = deque()
        self._failures = 0
        self._last_error = ""
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._flushing = threading.Lock()

    def accepting(self) -> bool:
        with self._lock:
            return len(self._pending) < MAX_PENDING

    def record(self, row: tuple[object, ...]) -> None:
        """Keep one record (the ``access_log`` columns, in order) for the next write."""
        with self._lock:
            self._pending.append(row)
            if self._thread is None and not self._stopping.is_set():
                self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
                self._thread.start()
                _RUNNING.add(self)

    @measure(ACCESS_PENDING)
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    @measure(ACCESS_WRITE_FAILURES)
    def write_failures(self) -> int:
        return self._failures

    def problems(self) -> list[str]:
        if not self._last_error:
            return []
        return [f"access log not written ({self.pending()} records wait): {self._last_error}"]

    def flush(self) -> int:
        """Write every record waiting, in one transaction; how many were written. On a
        failure they wait for the next flush, in their order."""
        with self._flushing:
            with self._lock:
                rows = list(self._pending)
                self._pending.clear()
            if not rows:
                return 0
            frame = pl.DataFrame(rows, schema=ACCESS_LOG.schema, orient="row")
            try:
                write_access(self.store, frame)
            except StoreError as exc:
                with self._lock:
                    self._pending.extendleft(reversed(rows))
                self._failures += 1
                if str(exc) != self._last_error:
                    log.error("access log not written, will retry: %s", exc)
                self._last_error = str(exc)
                return 0
            self._last_error = ""
            return len(rows)

    def _run(self) -> None:
        while not self._stopping.wait(FLUSH_EVERY_S):
            self.flush()

    def start(self) -> None:
        """Nothing to do: the writing thread starts with the first record."""

    def end_thread(self) -> None:
        """End the writing thread (what waits stays for :meth:`flush`)."""
        self._stopping.set()
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join()

    def stop(self) -> None:
        """Write what is left (after the HTTP server stopped: no request comes after)."""
        self.end_thread()
        self.flush()
        lost = self.pending()
        if lost:
            log.error("access log: %d records could not be written: %s", lost, self._last_error)
        if self.owns_store:
            self.store.close()


def _values(values: list[str]) -> str | list[str]:
    cut = [v[:VALUE_CHARS] for v in values]
    return cut[0] if len(cut) == 1 else cut


_DECLARED: dict[int, tuple[str, ...]] = {}


def _declared_query(route: APIRoute) -> tuple[str, ...]:
    """The query parameters a route declares (its dependencies' too), by their names in URLs."""
    names = _DECLARED.get(id(route))
    if names is None:
        names = tuple(dict.fromkeys(_query_names(route.dependant)))
        _DECLARED[id(route)] = names
    return names


def _query_names(dependant: Dependant) -> list[str]:
    names = [p.alias for p in dependant.query_params]
    for sub in dependant.dependencies:
        names += _query_names(sub)
    return names


def recorded(request: Request) -> None:
    """The dependency of a recorded route: the request's record is kept when it ends, and
    the route answers 503 while the access log cannot take it."""
    slot = request.scope.get(SCOPE_KEY)
    route = request.scope.get("route")
    if not isinstance(slot, AccessSlot) or not isinstance(route, APIRoute):
        return
    if not request.app.state.context.access.accepting():
        raise ApiError(503, "the access log cannot be written: reads are held until it is")
    params: dict[str, Any] = {k: str(v)[:VALUE_CHARS] for k, v in request.path_params.items()}
    for name in _declared_query(route):
        values = request.query_params.getlist(name)
        if values:
            params[name] = _values(values)
    # the route as the router declares it (FastAPI 0.165 keeps it without the prefix)
    path = route.path if route.path.startswith(API_PREFIX + "/") else API_PREFIX + route.path
    slot.route, slot.params = path, params


RECORDED = Depends(recorded)


class RecordAccess:
    """Opens each request's record and keeps it, with the status answered, once the
    response is sent (pure ASGI: streams pass through unbuffered)."""

    def __init__(self, app: ASGIApp, recorder: AccessRecorder) -> None:
        self.app = app
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        slot = AccessSlot(at=dt.datetime.now(dt.UTC))
        scope[SCOPE_KEY] = slot
        status = 500  # an exception answered by the outermost handler

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            if slot.route is not None:
                client = scope.get("client")
                self.recorder.record(
                    (
                        slot.at,
                        slot.token,
                        slot.token_id,
                        slot.role,
                        scope["method"],
                        slot.route,
                        json.dumps(slot.params, ensure_ascii=False, sort_keys=True),
                        str(client[0]) if client else None,
                        status,
                    )
                )
