"""A backup of the store, taken by serve on its own connection (``gridpatrol backup
--from-serve``): DuckDB lets no other process open a file serve writes, not even read-only."""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from api.access import RECORDED
from api.deps import Auth, Context
from api.errors import ApiError
from tracks.backup import backup_store

router = APIRouter(tags=["system"], dependencies=[RECORDED])  # every track in it: on record


@router.get(
    "/backup",
    summary="Admins: every table from one snapshot, as a tar of Parquet files and a manifest",
    response_class=FileResponse,
)
def backup(context: Context, principal: Auth) -> FileResponse:
    if principal.role != "admin":
        raise ApiError(403, "backups are for admin tokens")
    folder = Path(tempfile.mkdtemp(prefix="gridpatrol-backup-"))
    try:
        backup_store(context.store, folder / "backup")
        archive = folder / "backup.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(folder / "backup", arcname=".")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        archive,
        media_type="application/x-tar",
        filename="gridpatrol-backup.tar",
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )
