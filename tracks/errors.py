"""The storage's one exception, and the one way an engine error becomes it.

Every read and write of ``tracks/`` that fails in the engine (DuckDB, or PostgreSQL under a
DuckLake: gone, restarted, refusing) raises :class:`StoreError`, whose text is one line and
never carries a password: callers catch ``StoreError`` only, log it and show it on /health.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from base.errors import GridpatrolError


class StoreError(GridpatrolError):
    """The database cannot be opened, read or written (disk full, read-only, locked, corrupt,
    the lake's PostgreSQL away)."""


#: A password in a libpq connection string (``password=x``, ``password = 'x y'``, also
#: ``sslpassword=`` and ``PGPASSWORD=``): the keyword in any case, the value quoted or up to
#: the next blank.
PASSWORD = re.compile(r"(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)")

#: A password in a URI (``postgresql://user:pw@host``, or any other scheme): what lies
#: between the user's colon and the last ``@`` before a blank.
URI_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]*):\S*@")


def redact(text: str) -> str:
    """``text`` with every password of a connection string or URI replaced by ``***``."""
    return URI_PASSWORD.sub(r"\1:***@", PASSWORD.sub(r"\1***", text))


def one_line(exc: BaseException) -> str:
    """An exception's text as one redacted line (DuckDB's messages span several)."""
    return redact(" ".join(str(exc).split()))


@contextmanager
def engine_errors(what: str) -> Iterator[None]:
    """Turn an engine error in the block into a :class:`StoreError` ``"{what}: {error}"``."""
    try:
        yield
    except duckdb.Error as exc:
        raise StoreError(f"{redact(what)}: {one_line(exc)}") from exc
