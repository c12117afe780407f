"""GET /api/v1/backup: admins only; a tar of one Parquet file per table and the manifest."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from tests.api.conftest import Served

pytestmark = pytest.mark.broker


def test_backup_is_for_admins_and_holds_every_table(served: Served):
    assert served.get("/api/v1/backup", served.supervisor).status_code == 403
    assert served.get("/api/v1/backup").status_code == 401
    answer = served.get("/api/v1/backup", served.admin)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/x-tar"
    assert answer.headers["cache-control"] == "no-store"
    with tarfile.open(fileobj=io.BytesIO(answer.content)) as tar:
        names = {name.removeprefix("./") for name in tar.getnames()}
        manifest = tar.extractfile("./manifest.json")
        assert manifest is not None
        tables = json.loads(manifest.read())["tables"]
    assert tables["pings"] > 0
    assert {f"{table}.parquet" for table in tables} <= names
