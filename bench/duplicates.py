"""The duplicate check's cost per batch as the stored table grows (1 M, 10 M, 100 M rows).

The table is built straight in DuckDB as a replayed backlog leaves it: device after device,
fixes 30 s apart, the even devices a whole month, the odd ones half of it (replays that
have got further than others), so every row group spans the month and neighbouring devices,
and neither the time nor the device range of a batch lets DuckDB skip row groups. Then
batches of 40,000 pings go through ``Store.write_batch``:

- fresh: eight odd devices spread over the table, their next fixes from mid-month on (a
  backlog's next messages);
- repeated: the same batch again (a redelivery);
- late: fixes of one stored device in the gaps between its stored ones (a blind-area
  upload).

The reference is the check every batch paid before: the whole batch anti-joined over its
time range, on the same fresh batch, rolled back.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import polars as pl

from ingest.schema import PING_SCHEMA
from tracks.store import REJECTED_SCHEMA, Store

BATCH = 40_000
PERIOD_S = 30.0
PER_DEVICE = int(31 * 86400 / PERIOD_S)  # a month of fixes
T0 = 1_760_000_000.0


def build_table(path: Path, rows: int) -> int:
    """About ``rows`` fixes, device by device (d00000, d00001, ...), each in time order;
    returns the number of devices."""
    devices = max(16, round(rows / (0.75 * PER_DEVICE)))
    with Store(path) as store, store.transaction() as con:
        con.execute(
            "INSERT INTO pings (device_id, ts, lat, lon, flags, received_at) "
            "SELECT 'd' || lpad(d::VARCHAR, 5, '0'), to_timestamp(? + k * ?), 39.06, 117.16, "
            "0, to_timestamp(? + k * ?) FROM range(?) a(d), range(?) b(k) "
            "WHERE k < CASE WHEN d % 2 = 0 THEN ? ELSE ? END ORDER BY d, k",
            [T0, PERIOD_S, T0, PERIOD_S, devices, PER_DEVICE, PER_DEVICE, PER_DEVICE // 2],
        )
    return devices


def batch_of(devices: list[int], seconds: np.ndarray) -> pl.DataFrame:
    """``seconds`` for each of ``devices``."""
    us = np.tile((seconds * 1e6).round().astype(np.int64), len(devices))
    n = len(us)
    return pl.DataFrame(
        {
            "device_id": np.repeat([f"d{d:05d}" for d in devices], len(seconds)),
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


def write_seconds(store: Store, batch: pl.DataFrame) -> tuple[float, int]:
    t0 = time.perf_counter()
    result = store.write_batch(batch, pl.DataFrame(schema=REJECTED_SCHEMA), {})
    return time.perf_counter() - t0, result.stored


def old_check_seconds(store: Store, batch: pl.DataFrame) -> float:
    """The check before: the whole batch anti-joined over its time range (rolled back)."""
    con = store.cursor()
    con.register("batch_pings", batch)
    t0 = time.perf_counter()
    con.execute("BEGIN TRANSACTION")
    con.execute(
        "INSERT INTO pings SELECT * FROM batch_pings b WHERE NOT EXISTS (SELECT 1 FROM pings p "
        "WHERE p.ts BETWEEN ? AND ? AND p.device_id = b.device_id AND p.ts = b.ts)",
        [batch["ts"].min(), batch["ts"].max()],
    )
    elapsed = time.perf_counter() - t0
    con.execute("ROLLBACK")
    con.unregister("batch_pings")
    return elapsed


def measure(folder: Path, rows: int) -> dict[str, float]:
    """Seconds per batch at this table size, by kind of batch; and the rows stored."""
    path = folder / f"dups-{rows}.db"
    path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    devices = build_table(path, rows)
    out: dict[str, float] = {"build_s": time.perf_counter() - t0}
    odd = [d for d in np.linspace(1, devices - 1, 8).astype(int) // 2 * 2 + 1 if d < devices]
    half = PER_DEVICE // 2
    with Store(path) as store:
        out["rows"] = store.cursor().execute("SELECT count(*) FROM pings").fetchone()[0]  # type: ignore[index]
        fresh = batch_of(odd, T0 + (half + np.arange(BATCH // len(odd))) * PERIOD_S)
        out["reference_s"] = old_check_seconds(store, fresh)
        out["fresh_first_s"], stored = write_seconds(store, fresh)  # reads newest fixes once
        assert stored == fresh.height
        fresh = batch_of(odd, T0 + (half + BATCH + np.arange(BATCH // len(odd))) * PERIOD_S)
        out["fresh_s"], stored = write_seconds(store, fresh)
        assert stored == fresh.height
        out["repeated_s"], stored = write_seconds(store, fresh.clone())
        assert stored == 0
        late = batch_of([0], T0 + PERIOD_S / 2 + np.arange(half) * PERIOD_S)
        out["late_s"], stored = write_seconds(store, late)
        assert stored == late.height
    path.unlink(missing_ok=True)
    Path(f"{path}.wal").unlink(missing_ok=True)
    return out
