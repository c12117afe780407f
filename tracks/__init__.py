"""Storage: every table (tracks.schema), the DuckDB store (one writer) and the named reads.

The interface the rest of gridpatrol uses is described at the top of tracks/store.py.
"""

from tracks.store import Store, StoreError
from tracks.writer import PingWriter, StoredBatch

__all__ = ["PingWriter", "Store", "StoreError", "StoredBatch"]
