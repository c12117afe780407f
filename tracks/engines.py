"""Which store a ``--db`` names: a DuckDB file, or a DuckLake attach string with a data path.

``open_store`` is the one place that chooses; the command line and serve call it, and get a
:class:`tracks.store.Store` either way (docs/storage.md, "The DuckLake engine").
"""

from __future__ import annotations

from pathlib import Path

from tracks.lake import LakeStore, migrate_lake
from tracks.store import Store, StoreError

#: A ``--db`` starting with this is a DuckLake attach string, e.g.
#: ``ducklake:postgres:dbname=town host=127.0.0.1 port=5432 user=gridpatrol``.
LAKE_PREFIX = "ducklake:"


def is_lake(db: str | Path) -> bool:
    return isinstance(db, str) and db.startswith(LAKE_PREFIX)


def open_store(
    db: str | Path,
    data_path: Path | None,
    *,
    read_only: bool = False,
    commit_retries: int | None = None,
) -> Store:
    """Open (or, for writing, create) the store ``db`` names.

    A lake needs ``data_path`` (the folder of its Parquet files, the same one it was created
    with); a file takes none. A file opened read-only must exist. ``commit_retries``: how
    often a lake commit that conflicts with another writer's is tried again before it fails
    (None: DuckLake's default; a file has one writer and never conflicts).
    """
    if is_lake(db):
        assert isinstance(db, str)
        return LakeStore(*_lake(db, data_path), read_only=read_only, commit_retries=commit_retries)
    if data_path is not None:
        raise StoreError(f"--data-path is for a DuckLake --db (ducklake:postgres:...), not {db}")
    if read_only and not Path(db).exists():
        raise StoreError(f"{db}: no such database")
    return Store(db, read_only=read_only)


def _lake(db: str, data_path: Path | None) -> tuple[str, Path]:
    """The catalog (what follows ``ducklake:``) and the absolute data path of a lake's --db."""
    catalog = db.removeprefix(LAKE_PREFIX)
    if not catalog.startswith("postgres:"):
        raise StoreError(f"{db}: a lake's catalog must be ducklake:postgres:<connection>")
    if data_path is None:
        raise StoreError(f"{db}: a lake needs --data-path (the folder of its Parquet files)")
    # absolute: the catalog records it, and other processes start elsewhere
    return catalog, data_path.absolute()


def migrate_store(db: str | Path, data_path: Path | None) -> str | None:
    """Bring the lake ``db`` names to this DuckDB's DuckLake format (one way); returns the
    format it had, or None when it needed nothing (docs/storage.md, "Upgrading a lake")."""
    if not is_lake(db):
        raise StoreError(f"{db}: only a DuckLake (--db ducklake:postgres:...) is migrated")
    assert isinstance(db, str)
    return migrate_lake(*_lake(db, data_path))
