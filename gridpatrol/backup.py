"""``gridpatrol backup`` and ``gridpatrol restore`` (docs/operations.md, "Backup and
restore").

``backup --db`` reads the store itself: a lake from any process, a file when no serve holds
it. A file serve is writing is locked to every other process, so ``--from-serve URL`` asks
that serve for the backup (``GET /api/v1/backup``, an admin token in ``GRIDPATROL_TOKEN``
when serve has ``--tokens``), which it takes on its own connection while pings flow.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from base.errors import GridpatrolError
from tracks.backup import backup_store, read_manifest, restore_store
from tracks.engines import open_store

#: The variable holding the admin token for ``--from-serve``.
TOKEN_VARIABLE = "GRIDPATROL_TOKEN"


def backup_from_store(db: str, data_path: Path | None, out: Path) -> dict[str, int]:
    try:
        store = open_store(db, data_path, read_only=True)
    except GridpatrolError as exc:
        if "lock" in str(exc).lower():
            raise GridpatrolError(
                f"{exc}; a running serve holds the file: gridpatrol backup --from-serve "
                f"http://HOST:PORT --out {out} (admin token in {TOKEN_VARIABLE})"
            ) from exc
        raise
    with store:
        return backup_store(store, out)


def backup_from_serve(url: str, out: Path, *, timeout_s: float = 3600.0) -> dict[str, int]:
    """Download serve's backup into ``out`` (which must not exist or be empty)."""
    if out.exists() and any(out.iterdir()):
        raise GridpatrolError(f"{out}: not empty; a backup goes into a new folder")
    request = urllib.request.Request(url.rstrip("/") + "/api/v1/backup")
    token = os.environ.get(TOKEN_VARIABLE)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with tempfile.TemporaryDirectory(prefix="gridpatrol-backup-") as folder:
        archive = Path(folder) / "backup.tar"
        try:
            with (
                urllib.request.urlopen(request, timeout=timeout_s) as answer,
                archive.open("wb") as file,
            ):
                while chunk := answer.read(1 << 20):
                    file.write(chunk)
        except urllib.error.HTTPError as exc:
            raise GridpatrolError(f"{url}: backup refused: {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise GridpatrolError(f"{url}: {exc}") from exc
        out.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as tar:
            tar.extractall(out, filter="data")  # no path outside out, no links
    manifest = read_manifest(out)
    tables = manifest["tables"]
    assert isinstance(tables, dict)
    return {str(k): int(v) for k, v in tables.items()}


def restore(src: Path, db: str, data_path: Path | None) -> dict[str, int]:
    read_manifest(src)  # before anything is created
    with open_store(db, data_path) as store:
        return restore_store(store, src)
