"""Turn a list of MQTT messages into one storable batch: pings, rejections, counters."""

from __future__ import annotations

import collections
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from base.datum import Datum, to_wgs84
from ingest.config import IngestSettings
from ingest.decode import Decoder
from ingest.message import Message
from ingest.rejections import MessageRejections
from ingest.schema import pings_from_columns
from ingest.validate import CODES, describe, find_bad_pings
from tracks.store import EVENTS_SCHEMA, REJECTED_SCHEMA

#: (lon, lat) -> index of the leaf grid holding each point (int32, -1 outside every grid).
GridAssigner = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class PreparedBatch:
    pings: pl.DataFrame
    rejected: pl.DataFrame
    events: pl.DataFrame
    counters: dict[str, int]
    grid: np.ndarray  # int32 leaf index per ping row (-1 outside every grid, or no grids)
    rejected_by_device: dict[str, int] = field(default_factory=dict)  # pings, for /metrics


class Preparer:
    """Decodes, validates and assigns grids: a list of messages in, a batch out. Flags are
    the writer's (tracks.writer.PingWriter), set in the write transaction."""

    def __init__(
        self,
        settings: IngestSettings,
        *,
        assign: GridAssigner | None = None,
        grid_ids: Sequence[str] = (),
        known_devices: set[str] | None = None,
        datums: Mapping[str, Datum] | None = None,
    ) -> None:
        self.settings = settings
        # the devices whose pings are GCJ-02 or BD-09 (the registry's device_datums)
        self.datums = dict(datums or {})
        self.assign = assign
        # a grid id per leaf index, then null for -1 (outside)
        self._grid_names = pl.Series("grid_id", [*grid_ids, None], dtype=pl.String)
        self.known_devices = known_devices
        self.decoder = Decoder(
            max_payload_bytes=settings.max_payload_bytes,
            max_batch_items=settings.max_batch_items,
        )

    def prepare(self, messages: list[Message]) -> PreparedBatch:
        decoded = self.decoder.decode([(m.topic, m.payload) for m in messages])
        msg_index = np.asarray(decoded.message, dtype=np.int64)
        arrival = np.fromiter((m.received_at for m in messages), np.float64, len(messages))
        received_at = arrival[msg_index] if len(msg_index) else np.empty(0)
        ts = np.asarray(decoded.ts, dtype=np.float64)
        lat = np.asarray(decoded.lat, dtype=np.float64)
        lon = np.asarray(decoded.lon, dtype=np.float64)
        known = None
        if self.settings.strict_devices and self.known_devices is not None:
            names, known_set = decoded.device_names, self.known_devices
            known = np.fromiter((d in known_set for d in names), bool, len(names))
            known = known[decoded.device_code]
        codes = find_bad_pings(
            ts=ts,
            lat=lat,
            lon=lon,
            received_at=received_at,
            known_device=known,
            max_future_s=self.settings.max_future_s,
            max_age_s=self.settings.max_age_s,
        )
        rejections = MessageRejections()
        for r in decoded.rejections:
            rejections.add(r.message, r.item, r.reason, r.detail, r.count)
        for row in np.flatnonzero(codes):
            reason = CODES[codes[row]]
            assert reason is not None
            values = (float(c[row]) for c in (ts, lat, lon, received_at))
            rejections.add(
                int(msg_index[row]),
                int(decoded.item[row]),
                reason,
                functools.partial(describe, reason, *values),
            )
        rejected_rows = rejections.rows([m.payload for m in messages])
        by_device: collections.Counter[str] = collections.Counter()
        for index, n in rejections.pings().items():
            found = self.decoder.device(messages[index].topic)
            if found is not None:
                by_device[found[0]] += n

        good = codes == 0
        if self.datums:
            lon, lat = self._to_wgs84(decoded.device_names, decoded.device_code, good, lon, lat)
        columns: dict[str, np.ndarray] = {
            "device_code": decoded.device_code[good],
            "ts": ts[good],
            "lat": lat[good],
            "lon": lon[good],
            "received_at": received_at[good],
        }
        for name in ("acc", "spd", "hdg", "alt", "bat", "sent_at", "sat", "alarm"):
            columns[name] = np.asarray(getattr(decoded, name), dtype=np.float64)[good]
        codes_sorted, names = self._sort_dedupe(columns, decoded.device_names)
        duplicates = int(good.sum()) - len(columns["ts"])
        # set at commit, in the write transaction (tracks.writer.PingWriter): in fix-time
        # order with the device's stored fixes, whatever the arrival order
        columns["flags"] = np.zeros(len(codes_sorted), dtype=np.uint8)
        strings = {"device_id": pl.Series(names.tolist(), dtype=pl.String).gather(codes_sorted)}
        if self.assign is not None:
            grid = self.assign(columns["lon"], columns["lat"])
        else:
            grid = np.full(len(codes_sorted), -1, dtype=np.int32)
        strings["grid_id"] = self._grid_names.gather(
            np.where(grid < 0, len(self._grid_names) - 1, grid)
        )

        counters = rejections.counters()  # pings, not rows (ingest/rejections.py)
        counters["received"] = len(decoded) + sum(r.count for r in decoded.rejections)
        counters["duplicates"] = duplicates
        counters.update(f"other.{kind}" for _, _, kind in decoded.other)
        events = pl.DataFrame(
            {
                "device_id": [d for _, d, _ in decoded.other],
                "event": [k for _, _, k in decoded.other],
                "received_at": [int(messages[i].received_at * 1e6) for i, _, _ in decoded.other],
            },
            schema_overrides={"received_at": pl.Int64},
        ).with_columns(pl.col("received_at").cast(EVENTS_SCHEMA["received_at"]))
        rejected = pl.DataFrame(
            {
                "topic": [messages[r[0]].topic for r in rejected_rows],
                "payload": [r[1] for r in rejected_rows],
                "item": [r[2] for r in rejected_rows],
                "reason": [r[3] for r in rejected_rows],
                "detail": [r[4] for r in rejected_rows],
                "received_at": [int(messages[r[0]].received_at * 1e6) for r in rejected_rows],
            },
            schema_overrides={"received_at": pl.Int64, "payload": pl.Binary, "item": pl.Int32},
        ).with_columns(pl.col("received_at").cast(REJECTED_SCHEMA["received_at"]))
        return PreparedBatch(
            pings=pings_from_columns({**columns, **strings}),
            rejected=rejected.select(list(REJECTED_SCHEMA.names())),
            events=events,
            counters=dict(counters),
            grid=grid,
            rejected_by_device=dict(by_device),
        )

    def _to_wgs84(
        self,
        names: np.ndarray,
        device_code: np.ndarray,
        good: np.ndarray,
        lon: np.ndarray,
        lat: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The good pings of GCJ-02 and BD-09 devices as WGS-84, before they are placed in
        grids and stored (rejected ones keep what was sent, for their detail)."""
        order = list(Datum)  # 0: WGS-84, left as it is
        of_name = np.fromiter(
            (order.index(self.datums.get(str(n), Datum.WGS84)) for n in names), np.int8, len(names)
        )
        of_row = np.where(good, of_name[device_code], 0)
        if not of_row.any():
            return lon, lat
        lon, lat = lon.copy(), lat.copy()
        for code, datum in enumerate(order[1:], start=1):
            rows = np.flatnonzero(of_row == code)
            lon[rows], lat[rows] = to_wgs84(datum, lon[rows], lat[rows])
        return lon, lat

    @staticmethod
    def _sort_dedupe(
        columns: dict[str, np.ndarray], device_names: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sort by (device, ts) in place, fix times to the microsecond, and drop rows that
        repeat a (device, ts) of this batch. Returns each row's device code and the names
        the codes index (the devices with rows left)."""
        if len(columns["ts"]) == 0:
            return np.zeros(0, dtype=np.int64), np.empty(0, dtype=object)
        columns["ts"] = np.round(columns["ts"] * 1e6) / 1e6
        used = np.bincount(columns["device_code"], minlength=len(device_names)) > 0
        codes = (np.cumsum(used) - 1)[columns["device_code"]]
        order = np.lexsort((columns["ts"], codes))
        codes = codes[order]
        ts = columns["ts"][order]
        keep = np.ones(len(ts), dtype=bool)
        keep[1:] = (codes[1:] != codes[:-1]) | (ts[1:] != ts[:-1])
        order = order[keep]
        for key in list(columns):
            columns[key] = columns[key][order]
        return np.ascontiguousarray(codes[keep], dtype=np.int64), device_names[used]
