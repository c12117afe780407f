"""Track storage: the DuckDB file (one writer, cursors for readers) and named queries."""

from tracks.store import Store, StoreError, WriteResult

__all__ = ["Store", "StoreError", "WriteResult"]
