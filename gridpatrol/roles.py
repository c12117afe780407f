"""``gridpatrol serve --role``: what each role is, and what it may be asked to do.

* ``all`` (the default): ingest, the live updater and (with ``--http``) the API in one process,
  on a DuckDB file or a lake;
* ``ingest``: ingest without the live updater, subscribed on the shared subscription
  ``$share/{--share-group}/...``; any number of them append to one lake;
* ``stage``: the lake's change feed into live state, alerts and maintenance, one leading and
  the others standing by; with ``--http`` the whole API (a standby answers ``/health`` 503);
* ``api``: the API over the lake, read-only, any number.

Each role is assembled in :mod:`gridpatrol.compose` from the shared parts of
:mod:`gridpatrol.parts`; docs/operations.md, "Roles", says how they fit together. This module
imports nothing heavy: the command line builds ``--role`` from :class:`Role`.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from pathlib import Path

from base.errors import ConfigError
from ingest.config import IngestSettings


class Role(enum.StrEnum):
    ALL = "all"
    INGEST = "ingest"
    STAGE = "stage"
    API = "api"

    @property
    def on_a_lake_only(self) -> bool:
        """Roles that share a DuckLake with other processes (a DuckDB file has one writer)."""
        return self is not Role.ALL

    @property
    def imports(self) -> bool:
        """Roles that may import ``--grids`` and ``--devices`` at start."""
        return self in (Role.ALL, Role.STAGE)


#: ``serve --help`` for ``--role``.
ROLE_HELP = (
    "all: one process; on a lake also ingest (any number, shared subscription), "
    "stage (one leads, others stand by), api (read-only)"
)

#: The shared-subscription group of ingest workers when --share-group is not given.
DEFAULT_SHARE_GROUP = "gridpatrol"


@dataclass(frozen=True)
class ServeOptions:
    db: str | Path  # a DuckDB file, or a DuckLake attach string (tracks.engines)
    data_path: Path | None = None  # a DuckLake's Parquet folder
    devices: Path | None = None
    grids: Path | None = None
    http: str | None = None  # HOST:PORT of the API and map
    tokens: Path | None = None
    role: Role = Role.ALL
    lake_commit_retries: int | None = None  # a lake's ducklake_max_retry_count (None: 10)


def check_role(options: ServeOptions, ingest: IngestSettings) -> IngestSettings:
    """Refuse what a role cannot do (one line, exit 2); the ingest settings it runs with."""
    try:
        role = Role(options.role)
    except ValueError:
        roles = ", ".join(Role)
        raise ConfigError(f"--role must be one of {roles}, got {options.role!r}") from None
    from tracks.engines import is_lake  # here: the command line imports this module early

    lake = is_lake(options.db)
    if options.lake_commit_retries is not None and (options.lake_commit_retries < 0 or not lake):
        raise ConfigError("--lake-commit-retries is 0 or more, for a DuckLake --db")
    if role.on_a_lake_only and not lake:
        raise ConfigError(
            f"--role {role} needs a DuckLake --db (ducklake:postgres:...), "
            f"which several processes share; a DuckDB file has one writer"
        )
    if not role.imports and (options.grids is not None or options.devices is not None):
        raise ConfigError(
            f"--role {role} imports nothing: give --grids and --devices to the "
            "stage (or use gridpatrol grids import / devices import)"
        )
    if role is Role.API and options.http is None:
        raise ConfigError("--role api serves the API: give --http HOST:PORT")
    if role is Role.INGEST:
        return dataclasses.replace(ingest, share_group=ingest.share_group or DEFAULT_SHARE_GROUP)
    return ingest
