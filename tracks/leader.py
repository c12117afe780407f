"""Who leads the stage: a PostgreSQL advisory lock held on the lake's catalog database.

One stage process holds the session-level lock :data:`STAGE_LOCK` on a connection of its own
(psycopg, autocommit). While that connection lives, no other session can take the lock; when
the process dies (SIGKILL included) PostgreSQL ends its session and frees the lock, and a
standby's next try takes it. A leader checks its connection before each step: a connection
gone (PostgreSQL restarted, the network cut) means the lock may be someone else's, and it
steps down.
"""

from __future__ import annotations

import contextlib
import logging

import psycopg

from tracks.errors import one_line

log = logging.getLogger("gridpatrol.leader")

#: The advisory lock's key (any bigint, the same for every gridpatrol process of a lake;
#: advisory locks are per database, so each lake's catalog database has its own).
STAGE_LOCK = 0x67726964_7374  # "gridst"

#: Seconds to wait for PostgreSQL when connecting.
CONNECT_TIMEOUT_S = 5


class Leadership:
    """``try_lead()`` takes the lock if free; ``leads()`` checks it is still held."""

    def __init__(self, catalog: str) -> None:
        # catalog: the lake's "postgres:<libpq connection string>"
        self.conninfo = catalog.removeprefix("postgres:")
        self._con: psycopg.Connection[tuple[object, ...]] | None = None
        self.last_error = ""

    def try_lead(self) -> bool:
        """Take the lock if no other session holds it; True when this process leads."""
        if self._con is not None and self.leads():
            return True
        try:
            con = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            self.last_error = one_line(exc)
            return False
        try:
            row = con.execute("SELECT pg_try_advisory_lock(%s)", [STAGE_LOCK]).fetchone()
        except psycopg.Error as exc:
            self.last_error = one_line(exc)
            con.close()
            return False
        if not (row and row[0]):
            con.close()
            return False
        self._con = con
        self.last_error = ""
        return True

    def leads(self) -> bool:
        """Whether the lock is still held: its session answers."""
        if self._con is None:
            return False
        try:
            self._con.execute("SELECT 1").fetchone()
            return True
        except psycopg.Error as exc:
            self.last_error = one_line(exc)
            log.error("lost the stage lock's connection: %s", self.last_error)
            self.release()
            return False

    def release(self) -> None:
        if self._con is not None:
            with contextlib.suppress(psycopg.Error):
                self._con.close()
            self._con = None
