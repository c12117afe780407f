"""The duplicate check: fixes newer than their device's newest stored one skip it; late and
repeated fixes are checked against the table; the answer is the same after a reopen."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from ingest.schema import PING_SCHEMA
from tracks.store import REJECTED_SCHEMA, Store

T0 = 1_700_000_000


def pings(device: str, seconds: list[int]) -> pl.DataFrame:
    n = len(seconds)
    us = (T0 + np.asarray(seconds, dtype=np.int64)) * 1_000_000
    return pl.DataFrame(
        {
            "device_id": [device] * n,
            "ts": us,
            "lat": np.full(n, 39.06),
            "lon": np.full(n, 117.16),
            "acc": None,
            "spd": None,
            "hdg": None,
            "alt": None,
            "bat": None,
            "flags": np.zeros(n, dtype=np.uint8),
            "grid_id": None,
            "sent_at": None,
            "received_at": us,
            "sat": None,
            "alarm": None,
        },
        schema=PING_SCHEMA,
    )


def write(store: Store, *frames: pl.DataFrame) -> tuple[int, int]:
    result = store.write_batch(pl.concat(frames), pl.DataFrame(schema=REJECTED_SCHEMA), {})
    return result.stored, result.duplicates


def test_new_late_and_repeated_fixes(tmp_path: Path):
    with Store(tmp_path / "gp.db") as store:
        assert write(store, pings("a", [10, 20, 30]), pings("b", [10])) == (4, 0)
        # a's 40 is new; 25 is late (a gap filled); 20 repeats; b's 10 repeats, 5 is late
        assert write(store, pings("a", [20, 25, 40]), pings("b", [5, 10])) == (3, 2)
        # a device never seen: everything new, whatever its times
        assert write(store, pings("c", [1, 2])) == (2, 0)
    with Store(tmp_path / "gp.db") as store:  # the newest fixes are read again on open
        assert write(store, pings("a", [40, 41]), pings("b", [10]), pings("c", [2, 3])) == (2, 3)
        rows = (
            store.cursor()
            .execute(
                "SELECT device_id, count(*), count(DISTINCT ts) FROM pings GROUP BY 1 ORDER BY 1"
            )
            .fetchall()
        )
    assert rows == [("a", 6, 6), ("b", 2, 2), ("c", 3, 3)]
