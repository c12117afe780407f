"""Named reads of pings and counters, returning polars DataFrames (or plain maps for the
live state's start-up and the counters). The registry's reads are in :mod:`tracks.devices`,
the grids' in :mod:`tracks.grids`, the alerts' in :mod:`tracks.alerts`. Each goes through
the store's read path (:mod:`tracks.reader`): a failure is a StoreError."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import polars as pl

from base.devicefile import check_datums, check_device_ids, read_devices_csv
from base.errors import ConfigError
from tracks.reflag import previous_params, previous_sql
from tracks.schema import DEVICE_KINDS
from tracks.store import Store


def read_stats(store: Store) -> dict[str, object]:
    """The ingest counters: received = stored + duplicates + sum(rejected), in pings."""
    # summed: the lake keeps one increment row per commit (tracks/lake.py), the file one row
    counts: dict[str, int] = dict(
        store.read_rows("SELECT name, sum(value) FROM counters GROUP BY name")
    )
    rejected = {
        name.removeprefix("rejected."): value
        for name, value in sorted(counts.items())
        if name.startswith("rejected.")
    }
    other = {
        name.removeprefix("other."): value
        for name, value in sorted(counts.items())
        if name.startswith("other.")
    }
    return {
        "received": counts.get("received", 0),
        "stored": counts.get("stored", 0),
        "duplicates": counts.get("duplicates", 0),
        "rejected": rejected,
        "other": other,
    }


def read_track(store: Store, device_id: str, start: dt.datetime, end: dt.datetime) -> pl.DataFrame:
    """One device's pings with start <= ts < end, in fix-time order."""
    return store.read(
        "SELECT * FROM pings WHERE device_id = ? AND ts >= ? AND ts < ? ORDER BY ts",
        [device_id, start, end],
    )


#: Usable (unflagged) fixes with start <= ts < end, sorted by (device_id, ts).
FIXES_SQL = (
    "SELECT device_id, epoch_us(ts) AS us, lon, lat FROM pings "
    "WHERE flags = 0 AND ts >= ? AND ts < ? ORDER BY device_id, ts"
)


def read_fixes(store: Store, start: dt.datetime, end: dt.datetime) -> pl.DataFrame:
    """Usable (unflagged) fixes with start <= ts < end, sorted by (device_id, ts).

    Columns: device_id, us (fix time, epoch microseconds), lon, lat.
    """
    return store.read(FIXES_SQL, [start, end])


def fix_time_range(store: Store) -> tuple[float, float] | None:
    """The first and last stored fix time (epoch seconds), or None without pings."""
    row = store.read_one("SELECT epoch_us(min(ts)), epoch_us(max(ts)) FROM pings")
    if row is None or row[0] is None:
        return None
    return row[0] / 1e6, row[1] / 1e6


def count_pings(store: Store) -> int:
    """Rows in ``pings``."""
    row = store.read_one("SELECT count(*) FROM pings")
    return int(row[0]) if row else 0


def read_previous_fixes(
    store: Store, first: pl.DataFrame, lookback_s: float, upto_rowid: int | None = None
) -> pl.DataFrame:
    """Per device of ``first`` (device_id, ts): its last unflagged stored fix before ``ts``.

    Looks back at most ``lookback_s`` (and, given ``upto_rowid``, at rows up to it: the ones
    the lake's stage has handled); returns device_id, ts (epoch s), lat, lon.
    """
    return store.read(
        previous_sql(upto_rowid),
        previous_params(first, lookback_s),
        frames={"first_fix": first},
    )


def previous_good_fixes(
    store: Store,
    names: list[str],
    first_ts: np.ndarray,
    lookback_s: float,
    upto_rowid: int | None = None,
) -> list[tuple[str, float, float, float]]:
    """:func:`read_previous_fixes` for devices ``names`` before ``first_ts`` (epoch s each),
    as (device_id, ts, lat, lon) rows: what a ``geofence.flags.FixFlagger`` used outside a
    write asks its ``previous`` for (the write's walk reads them in its transaction)."""
    first = pl.DataFrame(
        {"device_id": names, "ts": (np.asarray(first_ts) * 1e6).astype(np.int64)}
    ).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
    found = read_previous_fixes(store, first, lookback_s, upto_rowid)
    return [(d, float(t), float(la), float(lo)) for d, t, la, lo in found.iter_rows()]


def read_last_visits(store: Store) -> dict[str, float]:
    """Per grid: the newest usable fix inside it (epoch seconds)."""
    rows = store.read_rows(
        "SELECT grid_id, epoch(max(ts)) FROM pings "
        "WHERE flags = 0 AND grid_id IS NOT NULL GROUP BY grid_id"
    )
    return {grid_id: float(ts) for grid_id, ts in rows}


def read_last_fixes(store: Store) -> dict[str, tuple[float, float, float, str | None]]:
    """Per device: its newest usable fix as (epoch seconds, lon, lat, grid id)."""
    rows = store.read_rows(
        "SELECT device_id, epoch(max(ts)), arg_max(lon, ts), arg_max(lat, ts), "
        "arg_max([grid_id], ts)[1] FROM pings WHERE flags = 0 GROUP BY device_id"
    )
    return {d: (float(ts), float(lon), float(lat), grid) for d, ts, lon, lat, grid in rows}


def read_latest_alerts(
    store: Store, families: Mapping[str, str] | None = None
) -> list[tuple[str, str, float]]:
    """Per subject (grid or device): the kind and event time of its newest alert; with
    ``families`` (kind -> the condition it raises or ends, e.g. ``alarm_sos_ended`` ->
    ``alarm_sos``; kinds not named are one family), its newest alert of each family."""
    pairs = list((families or {}).items())
    family = "CASE kind " + "WHEN ? THEN ? " * len(pairs) + "ELSE '' END" if pairs else "''"
    rows = store.read_rows(
        "SELECT arg_max(kind, raised_at), coalesce(grid_id, device_id), "
        f"epoch(arg_max(ts, raised_at)) FROM alerts GROUP BY grid_id, device_id, {family}",
        [value for pair in pairs for value in pair],
    )
    return [(kind, subject, float(at)) for kind, subject, at in rows]


def import_devices(store: Store, path: Path) -> int:
    """Load a CSV with header ``device_id,kind,worker,grid_id`` and an optional ``datum``
    column (upsert of the registry and the devices' datums); returns rows."""
    frame = read_devices_csv(path)  # text columns, UTF-8 or GBK (base/devicefile.py)
    expected = ["device_id", "kind", "worker", "grid_id"]
    if frame.columns not in (expected, [*expected, "datum"]):
        raise ConfigError(
            f"{path}: header must be {','.join(expected)}[,datum], got {','.join(frame.columns)}"
        )
    bad_kind = frame.filter(~pl.col("kind").is_in(DEVICE_KINDS))
    if bad_kind.height:
        row = bad_kind.row(0, named=True)
        raise ConfigError(
            f"{path}: device {row['device_id']!r}: kind must be {' or '.join(DEVICE_KINDS)}"
        )
    check_device_ids(path, frame["device_id"].to_list())
    if frame["device_id"].null_count() or frame["device_id"].is_duplicated().any():
        raise ConfigError(f"{path}: device_id must be present and unique on every row")
    values = frame["datum"].to_list() if "datum" in frame.columns else [None] * frame.height
    datums = check_datums(path, values)
    # every imported device's datum is written, WGS-84 too: a re-import resets a device
    store.upsert_device_datums(
        pl.DataFrame({"device_id": frame["device_id"], "datum": [d.value for d in datums]})
    )
    store.upsert_devices(frame.select(expected))
    return frame.height


def known_device_ids(store: Store) -> set[str]:
    return {r[0] for r in store.read_rows("SELECT device_id FROM devices")}


#: Fixes a datum check reads at most: a reservoir sample of the window (seeded: the same
#: store gives the same shares), enough for shares to a tenth of a percent.
DATUM_SAMPLE_ROWS = 200_000


def sample_recent_fixes(store: Store, days: int) -> pl.DataFrame:
    """Usable fixes of the ``days`` before the newest one (a sample of at most
    :data:`DATUM_SAMPLE_ROWS`): lon, lat."""
    return store.read(
        "SELECT lon, lat FROM (SELECT lon, lat FROM pings WHERE flags = 0 AND ts >= "
        "(SELECT max(ts) FROM pings WHERE flags = 0) - to_days(?)) "
        f"USING SAMPLE reservoir({DATUM_SAMPLE_ROWS} ROWS) REPEATABLE (1)",
        [days],
    )


def count_outside_before(store: Store) -> tuple[int, int]:
    """(usable fixes, of them outside every grid) in the day before the newest stored fix."""
    row = store.read_one(
        "SELECT count(*), count(*) FILTER (WHERE grid_id IS NULL) FROM pings "
        "WHERE flags = 0 AND ts >= (SELECT max(ts) FROM pings) - INTERVAL 1 DAY"
    )
    return (int(row[0]), int(row[1])) if row else (0, 0)


def read_open_alerts(
    store: Store, ended_by: dict[str, str], subject: str = "device_id"
) -> list[tuple[str, str, float]]:
    """Per subject (``device_id`` or ``grid_id``) and condition (a kind of ``ended_by`` and
    the kind that ends it): the kind, subject and event time of its newest alert, where that
    one began the condition (still open)."""
    column = {"device_id": "a.device_id", "grid_id": "a.grid_id"}[subject]
    rows = store.read_rows(
        f"SELECT arg_max(a.kind, a.raised_at), {column}, epoch(arg_max(a.ts, a.raised_at)) "
        "FROM alerts a JOIN (SELECT unnest(?) AS kind, unnest(?) AS opens) c USING (kind) "
        f"WHERE {column} IS NOT NULL GROUP BY {column}, c.opens",
        [[*ended_by, *ended_by.values()], [*ended_by, *ended_by]],
    )
    return [(kind, device, float(at)) for kind, device, at in rows if kind in ended_by]
