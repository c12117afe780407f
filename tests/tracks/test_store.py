"""The DuckDB store keeps its write-ahead log bounded while readers are busy."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import tracks.store
from ingest.schema import PING_SCHEMA
from tracks.store import REJECTED_SCHEMA, Store

ROWS = 20_000


def batch(k: int) -> pl.DataFrame:
    n = np.arange(ROWS)
    return pl.DataFrame(
        {
            "device_id": [f"dev-{k % 7}"] * ROWS,
            "ts": (1_700_000_000_000_000 + (k * ROWS + n) * 1000),
            "lat": 39.06 + n * 1e-7,
            "lon": 117.16 + n * 1e-7,
            "acc": np.full(ROWS, 5.0),
            "spd": None,
            "hdg": None,
            "alt": None,
            "bat": None,
            "flags": np.zeros(ROWS, dtype=np.uint8),
            "grid_id": None,
            "sent_at": None,
            "received_at": (1_700_000_000_000_000 + (k * ROWS + n) * 1000),
            "sat": None,
            "alarm": None,
        },
        schema=PING_SCHEMA,
    )


def test_wal_is_checkpointed_while_readers_keep_transactions_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    limit = 2 * 1024 * 1024
    monkeypatch.setattr(tracks.store, "WAL_FORCE_CHECKPOINT_BYTES", limit)
    wal = tmp_path / "gp.db.wal"
    stop = threading.Event()
    with Store(tmp_path / "gp.db") as store:

        def read_all_the_time() -> None:  # like the API and the live state do
            cur = store.cursor()
            while not stop.is_set():
                cur.execute("SELECT count(*) FROM pings").fetchone()

        reader = threading.Thread(target=read_all_the_time)
        reader.start()
        largest = 0
        try:
            for k in range(40):
                store.write_batch(batch(k), pl.DataFrame(schema=REJECTED_SCHEMA), {})
                largest = max(largest, wal.stat().st_size if wal.exists() else 0)
        finally:
            stop.set()
            reader.join()
        rows = store.cursor().execute("SELECT count(*) FROM pings").fetchone()
    assert rows == (40 * ROWS,)
    # one batch's log (about 1 MB) may come on top of the limit, never more
    assert largest < limit + 2 * 1024 * 1024, largest
