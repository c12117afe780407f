"""Seeded synthetic data: towns of irregular grids and days of patrol tracks in DuckDB."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import shapely

from geofence.assign import assign_ids
from geofence.generate import irregular_town
from geofence.grids import GridSet, build_grid_set, check_grids, load_grids
from geofence.shapes import Grid
from gridpatrol.simulate import patrol_loop
from patrol.grids import save_grids
from tracks.queries import import_devices
from tracks.schema import PINGS, REJECTED, SCHEMA_VERSION
from tracks.store import Store


@dataclass(frozen=True)
class Town:
    name: str
    grids: int
    devices: int
    radius_m: float
    hours: float = 12.0
    period_s: float = 5.0


#: The seeds' town (Zhangjiawo: 76 grids, 70 devices) and a Dongcheng-sized district
#: (1,652 unit grids over 25.38 km², here 2,000 devices).
TOWN = Town("town", grids=76, devices=70, radius_m=2500.0)
CITY = Town("city", grids=1652, devices=2000, radius_m=2842.0)


def town_grid_file(town: Town, folder: Path) -> Path:
    path = folder / f"{town.name}-{town.grids}.geojson"
    if not path.exists():
        fc = irregular_town(
            117.16, 39.06, grids=town.grids, radius_m=town.radius_m, seed=7, service_hours=None
        )
        path.write_text(json.dumps(fc))
    return path


#: A second irregular district for assignment: 1,652 Voronoi unit grids of uniformly random
#: seeds (no spacing, so cell sizes vary as real grids do) under 17 parents, over 25.38 km².
VORONOI_GRIDS = 1652
VORONOI_AREAS = 17


def voronoi_grid_file(folder: Path, grids: int = VORONOI_GRIDS, areas: int = VORONOI_AREAS) -> Path:
    """Voronoi cells (shapely.voronoi_polygons) of ``grids`` seeded uniform points in a square
    of 25.38 km² (scaled by grids / 1,652) around Tianjin, clipped to the square; each
    grid's parent is its seed's vertical band of ``areas``, and leaves are listed by parent."""
    path = folder / f"voronoi-{grids}g{areas}a.geojson"
    if path.exists():
        return path
    lon, lat = 117.16, 39.06
    kx = 6_371_008.8 * np.pi / 180 * np.cos(np.radians(lat))
    ky = 6_371_008.8 * np.pi / 180
    half = 0.5 * np.sqrt(25.38e6 * grids / VORONOI_GRIDS)
    square = shapely.box(lon - half / kx, lat - half / ky, lon + half / kx, lat + half / ky)
    rng = np.random.default_rng(17)
    seeds = np.column_stack(
        [lon + rng.uniform(-half, half, grids) / kx, lat + rng.uniform(-half, half, grids) / ky]
    )
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=square)
    )
    # voronoi_polygons does not keep the seeds' order: each seed finds its cell
    tree = shapely.STRtree(cells)
    seed_i, cell_i = tree.query(shapely.points(seeds), predicate="within")
    cell_of = np.empty(grids, dtype=np.int64)
    cell_of[seed_i] = cell_i
    band = np.minimum(areas - 1, ((seeds[:, 0] - square.bounds[0]) / (2 * half / kx) * areas))
    order = np.lexsort((np.arange(grids), band.astype(np.int64)))
    leaves = []
    for n, i in enumerate(order, start=1):
        geom = shapely.set_precision(shapely.intersection(cells[cell_of[i]], square), 1e-7)
        props = {"id": f"V{n:04d}", "name": f"Grid {n}", "parent": f"B{int(band[i]) + 1:02d}"}
        leaves.append({**props, "geometry": geom})
    features = []
    for a in range(areas):
        members = [g["geometry"] for g in leaves if g["parent"] == f"B{a + 1:02d}"]
        area = shapely.set_precision(shapely.union_all(members), 1e-7)
        features.append(_feature({"id": f"B{a + 1:02d}", "name": f"Band {a + 1}"}, area))
    for leaf in leaves:
        geom = leaf.pop("geometry")
        features.append(_feature(leaf, geom))
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _feature(props: dict[str, object], geom: shapely.Geometry) -> dict[str, object]:
    return {"type": "Feature", "properties": props, "geometry": shapely.geometry.mapping(geom)}


def patrol_day(grid_set: GridSet, town: Town, start: float, seed: int = 1) -> pl.DataFrame:
    """Every device rides a loop of its own grid (about 30 min a loop), a fix every period."""
    rng = np.random.default_rng(seed)
    steps = int(town.hours * 3600 / town.period_s)
    t = start + np.arange(steps) * town.period_s
    frames = []
    leaves = grid_set.leaves
    for d in range(town.devices):
        grid = leaves[d % len(leaves)].geometry
        assert grid is not None
        loop = patrol_loop(grid, None, rng, waypoints=6)
        seg = np.hypot(np.diff(loop[:, 0]) * 86_000, np.diff(loop[:, 1]) * 111_000)
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        dist = (rng.uniform(0, cum[-1]) + (t - start) * cum[-1] / 1800.0) % cum[-1]
        lon = np.interp(dist, cum, loop[:, 0]) + rng.normal(0, 3e-5, steps)
        lat = np.interp(dist, cum, loop[:, 1]) + rng.normal(0, 3e-5, steps)
        frames.append(pl.DataFrame({"device_id": f"dev-{d:04d}", "t": t, "lon": lon, "lat": lat}))
    return pl.concat(frames)


def build_day_db(town: Town, folder: Path, start: float) -> tuple[Path, Path, int]:
    """A DuckDB file holding one patrol day of the town; reused when present."""
    grids = town_grid_file(town, folder)
    db = folder / f"{town.name}-day.db"
    marker = folder / f"{town.name}-day.rows"
    if db.exists() and marker.exists():
        return db, grids, int(marker.read_text())
    db.unlink(missing_ok=True)
    grid_set = load_grids(grids)
    day = patrol_day(grid_set, town, start)
    with Store(db) as store:
        from geofence.grids import check_grids

        save_grids(store, check_grids(grids)[0])
        devices = pl.DataFrame(
            {
                "device_id": [f"dev-{d:04d}" for d in range(town.devices)],
                "kind": ["tracker"] * town.devices,
                "worker": [f"Worker {d}" for d in range(town.devices)],
                "grid_id": [grid_set.ids[d % len(grid_set.ids)] for d in range(town.devices)],
            }
        )
        chunk = 2_000_000
        for lo in range(0, day.height, chunk):
            part = day.slice(lo, chunk)
            grid_id = assign_ids(grid_set, part["lon"].to_numpy(), part["lat"].to_numpy())
            rows = part.with_columns(
                ts=(pl.col("t") * 1e6).cast(pl.Int64).cast(pl.Datetime("us", "UTC")),
                grid_id=grid_id,
            )
            with store.transaction() as con:
                con.register("day", rows)
                con.execute(
                    "INSERT INTO pings (device_id, ts, lat, lon, flags, grid_id, received_at) "
                    "SELECT device_id, ts, lat, lon, 0, grid_id, ts FROM day"
                )
                con.unregister("day")
        with store.transaction() as con:
            con.register("devs", devices)
            con.execute("INSERT INTO devices SELECT * FROM devs")
            con.unregister("devs")
    marker.write_text(str(day.height))
    return db, grids, day.height


#: Bump when the month's movement model changes: cached stores are keyed by it.
#: 2: workers roam up to ``roam_m`` around their leaf (issue 21).
DISTRICT_MODEL = 2
#: Rows per write_batch: ingest's default --batch-rows, serve's flush size.
DISTRICT_BATCH_ROWS = 40_000


@dataclass(frozen=True)
class District:
    """A district's month: leaf grids under parent areas, workers with phones or e-bike
    trackers assigned to a leaf, and one supervisor per area assigned to the area (a parent),
    a fix every ``period_s`` during service hours (Asia/Shanghai) for ``days`` days.

    Workers roam: half of each day's waypoints lie within ``roam_m`` of their leaf (a leaf
    is about 125 m across), as supervisors' fleets of e-bike patrols do; 0 keeps each
    worker's loop inside its leaf (sometimes through a neighbour)."""

    name: str = "district"
    grids: int = 1652
    areas: int = 17
    radius_m: float = 2842.0
    devices: int = 500  # supervisors included
    days: int = 31
    period_s: float = 30.0
    first_day: dt.date = dt.date(2026, 10, 1)
    service_hours: str = "08:00-20:00"
    timezone: str = "Asia/Shanghai"
    seed: int = 13
    roam_m: float = 300.0

    @property
    def supervisors(self) -> int:
        return min(self.areas, max(1, self.devices // 25))

    @property
    def key(self) -> str:
        """The cache key: every parameter, the movement model and the schema version."""
        return (
            f"{self.name}-{self.grids}g{self.areas}a-{self.devices}d-{self.days}x"
            f"{self.period_s:g}s-r{self.roam_m:g}m-{self.first_day:%Y%m%d}-s{self.seed}"
            f"-m{DISTRICT_MODEL}-v{SCHEMA_VERSION}"
        )

    def window(self, first: int = 0, days: int | None = None) -> tuple[dt.datetime, dt.datetime]:
        """[start, end) of ``days`` whole local days from day ``first`` (default: all)."""
        tz = ZoneInfo(self.timezone)
        day = self.first_day + dt.timedelta(days=first)
        start = dt.datetime(day.year, day.month, day.day, tzinfo=tz)
        days = self.days - first if days is None else days
        end_day = day + dt.timedelta(days=days)
        return start, dt.datetime(end_day.year, end_day.month, end_day.day, tzinfo=tz)


@dataclass(frozen=True)
class DistrictStore:
    db: Path
    grids: Path
    devices: Path
    pings: int
    build_s: float  # how long building took (when it was built, cached or not)
    cached: bool

    @property
    def bytes(self) -> int:
        return self.db.stat().st_size


def district_grid_file(district: District, folder: Path) -> Path:
    path = folder / f"{district.name}-{district.grids}g{district.areas}a-grids.geojson"
    if not path.exists():
        fc = irregular_town(
            117.16,
            39.06,
            grids=district.grids,
            areas=district.areas,
            radius_m=district.radius_m,
            seed=7,
            service_hours=district.service_hours,
        )
        path.write_text(json.dumps(fc))
    return path


@dataclass(frozen=True)
class _Walker:
    device_id: str
    grid: Grid  # assigned: a leaf, or a parent area for a supervisor
    speed: float  # m/s along the loop
    neighbours: list[shapely.Geometry]  # leaves touching the assigned leaf
    stops: list[np.ndarray]  # a supervisor's waypoints: points in the area's leaves
    roam: shapely.Geometry | None = None  # a roaming worker's ground: the leaf and around it


def _walkers(district: District, grid_set: GridSet) -> list[_Walker]:
    """Workers spread evenly over the leaves (a third ride e-bikes), then supervisors."""
    rng = np.random.default_rng([district.seed, 0])
    leaves = grid_set.leaves
    tree = shapely.STRtree([g.geometry for g in leaves])
    workers = district.devices - district.supervisors
    walkers = []
    for d in range(workers):
        leaf = leaves[d * len(leaves) // workers]
        assert leaf.geometry is not None
        near = tree.query(leaf.geometry, predicate="intersects")
        neighbours = [leaves[i].geometry for i in near if leaves[i].id != leaf.id]
        speed = rng.uniform(3.0, 4.5) if d % 3 == 2 else rng.uniform(0.9, 1.4)
        roam = _around(leaf.geometry, district.roam_m) if district.roam_m > 0 else None
        walkers.append(_Walker(f"w{d:04d}", leaf, speed, neighbours, [], roam))
    leaf_ids = set(grid_set.ids)
    parents = [g for g in grid_set.grids if g.id not in leaf_ids]
    for s, area in enumerate(parents[: district.supervisors]):
        members = [g.geometry for g in leaves if g.parent == area.id and g.geometry is not None]
        points = shapely.get_coordinates(shapely.point_on_surface(members))
        walkers.append(_Walker(f"s{s:02d}", area, rng.uniform(3.5, 5.0), [], list(points)))
    return walkers


def _around(leaf: shapely.Geometry, metres: float) -> shapely.Geometry:
    """The leaf grown by ``metres`` (lon, lat degrees scaled to metres at its latitude)."""
    kx = 111_195.0 * np.cos(np.radians(shapely.centroid(leaf).y))
    scaled = shapely.transform(leaf, lambda c: c * [kx, 111_195.0])
    return shapely.transform(scaled.buffer(metres), lambda c: c / [kx, 111_195.0])


def _loop(walker: _Walker, rng: np.random.Generator) -> np.ndarray:
    """Today's closed loop (lon, lat): inside the leaf, sometimes through a neighbour, or
    for a roamer half of it around the leaf; a supervisor's round of eight of the area's
    leaves."""
    if walker.stops:
        pick = rng.choice(len(walker.stops), min(8, len(walker.stops)), replace=False)
        points = np.array([walker.stops[i] for i in pick])
        c = points.mean(axis=0)
        points = points[np.argsort(np.arctan2(points[:, 1] - c[1], points[:, 0] - c[0]))]
        return np.vstack([points, points[:1]])
    assert walker.grid.geometry is not None
    if walker.roam is not None:
        inside = patrol_loop(walker.grid.geometry, None, rng, waypoints=3)[:-1]
        outside = patrol_loop(walker.roam, None, rng, waypoints=3)[:-1]
        points = np.vstack([inside, outside])
        c = points.mean(axis=0)
        points = points[np.argsort(np.arctan2(points[:, 1] - c[1], points[:, 0] - c[0]))]
        return np.vstack([points, points[:1]])
    neighbour = (
        walker.neighbours[rng.integers(len(walker.neighbours))] if walker.neighbours else None
    )
    return patrol_loop(walker.grid.geometry, neighbour, rng, waypoints=6)


def _walk_day(walker: _Walker, district: District, day: int, start: float) -> dict[str, np.ndarray]:
    """One device's fixes of one service day (``start``: its local 08:00 in epoch s).

    Loops around its grid at its pace from a few minutes before the start to a few after
    the end; lunch 12:00-13:00 at a spot near its loop; dead zones: about one device-day in
    seven loses 10-50 min of fixes (no GPS), one in five uploads 5-40 min of fixes late (no
    signal), one in a hundred is off all day, one in twenty runs flat in the afternoon; 0.3 %
    of fixes are poor (50-200 m accuracy, flagged, as ingest flags them)."""
    rng = np.random.default_rng(
        [district.seed, day, int(walker.device_id[1:]), ord(walker.device_id[0])]
    )
    hours = 12.0
    if rng.random() < 0.01:
        return {}
    begin = start + rng.uniform(-300, 600)
    finish = start + hours * 3600 + rng.uniform(-600, 300)
    if rng.random() < 0.05:
        finish = start + rng.uniform(7, 11.5) * 3600
    t = np.arange(begin + rng.uniform(0, district.period_s), finish, district.period_s)
    t = t + rng.normal(0, 0.3, len(t)).clip(-2, 2)
    loop = _loop(walker, rng)
    kx = 111_195.0 * np.cos(np.radians(loop[0, 1]))
    seg = np.hypot(np.diff(loop[:, 0]) * kx, np.diff(loop[:, 1]) * 111_195.0)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    lunch = (t >= start + 4 * 3600) & (t < start + 5 * 3600)
    moving = np.where(lunch, 0.0, walker.speed * district.period_s)
    dist = (rng.uniform(0, cum[-1]) + np.cumsum(moving)) % cum[-1]
    lon, lat = np.interp(dist, cum, loop[:, 0]), np.interp(dist, cum, loop[:, 1])
    if lunch.any():
        spot = loop[rng.integers(len(loop) - 1)] + rng.normal(0, 4e-4, 2)  # maybe outside
        lon[lunch], lat[lunch] = spot[0], spot[1]
    acc = rng.gamma(4.0, 2.0, len(t)).astype(np.float32)
    poor = rng.random(len(t)) < 0.003
    acc[poor] = rng.uniform(50.5, 200.0, poor.sum())
    noise = np.where(poor, 30.0, 4.0) / 111_195.0
    lon = lon + rng.normal(0, 1, len(t)) * noise * 111_195.0 / kx
    lat = lat + rng.normal(0, 1, len(t)) * noise
    received = t + rng.uniform(0.2, 3.0, len(t))
    if rng.random() < 0.2:  # no signal: the phone keeps its fixes and uploads them after
        lo = rng.uniform(begin, finish)
        hidden = (t >= lo) & (t < lo + rng.uniform(300, 2400))
        if hidden.any():
            received[hidden] = t[hidden].max() + rng.uniform(5, 60)
    keep = np.ones(len(t), dtype=bool)
    if rng.random() < 0.15:  # no GPS: no fixes at all
        lo = rng.uniform(begin, finish)
        keep &= (t < lo) | (t >= lo + rng.uniform(600, 3000))
    speed = np.full(len(t), walker.speed, dtype=np.float32)
    speed[lunch] = 0.0
    battery = np.linspace(100, rng.uniform(15, 60), len(t)).astype(np.float32)
    out = {
        "t": t,
        "lon": lon,
        "lat": lat,
        "acc": acc,
        "spd": speed,
        "bat": battery,
        "flags": poor.astype(np.uint8),
        "received": received,
    }
    return {k: v[keep] for k, v in out.items()}


def district_day(
    district: District, walkers: list[_Walker], grid_set: GridSet, day: int
) -> pl.DataFrame:
    """Every device's fixes of day ``day``, a frame of the pings schema in arrival order."""
    start, _ = district.window(day, 1)
    first = start.replace(hour=int(district.service_hours[:2])).timestamp()
    parts, index = [], []
    for i, walker in enumerate(walkers):
        fixes = _walk_day(walker, district, day, first)
        if fixes:
            parts.append(fixes)
            index.append(np.full(len(fixes["t"]), i, dtype=np.int64))
    columns = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    names = pl.Series("device_id", [w.device_id for w in walkers], dtype=pl.String)
    us = (columns["t"] * 1e6).astype(np.int64)
    frame = pl.DataFrame(
        {
            "device_id": names.gather(np.concatenate(index)),
            "ts": us,
            "lat": columns["lat"],
            "lon": columns["lon"],
            "acc": columns["acc"],
            "spd": columns["spd"],
            "bat": columns["bat"],
            "flags": columns["flags"],
            "grid_id": assign_ids(grid_set, columns["lon"], columns["lat"]),
            "sent_at": us,
            "received_at": (columns["received"] * 1e6).astype(np.int64),
        }
    )
    frame = frame.with_columns(
        pl.col("ts", "sent_at", "received_at").cast(pl.Datetime("us", "UTC"))
    )
    missing = [pl.lit(None, PINGS.schema[c]).alias(c) for c in PINGS.names if c not in frame]
    return frame.with_columns(missing).select(PINGS.names).cast(PINGS.schema).sort("received_at")


def build_district_month(district: District, folder: Path) -> DistrictStore:
    """The district's month in a DuckDB file, through serve's write path: grids through
    ``patrol.grids.save_grids``, the registry through the devices CSV import, and each
    day's pings in arrival order, flush by flush (DISTRICT_BATCH_ROWS, each sorted by device
    and time as ingest sorts it) through ``Store.write_batch``. Kept in ``folder`` under the
    parameters' key: a second call returns it as built."""
    db = folder / f"{district.key}.db"
    marker = folder / f"{district.key}.json"
    grids = district_grid_file(district, folder)
    devices = folder / f"{district.key}-devices.csv"
    if db.exists() and marker.exists() and devices.exists():
        info = json.loads(marker.read_text())
        return DistrictStore(db, grids, devices, info["pings"], info["build_s"], cached=True)
    for stale in (db, Path(f"{db}.wal"), marker):
        stale.unlink(missing_ok=True)
    t0 = time.perf_counter()
    grid_list = check_grids(grids)[0]
    grid_set = build_grid_set(grid_list)
    walkers = _walkers(district, grid_set)
    devices.write_text(
        "device_id,kind,worker,grid_id\n"
        + "".join(
            f"{w.device_id},{'tracker' if w.speed > 2 else 'phone'},"
            f"{'Supervisor' if w.stops else 'Worker'} {w.device_id[1:]},{w.grid.id}\n"
            for w in walkers
        )
    )
    pings = 0
    with Store(db) as store:
        save_grids(store, grid_list)
        import_devices(store, devices)
        for day in range(district.days):
            frame = district_day(district, walkers, grid_set, day)
            for lo in range(0, frame.height, DISTRICT_BATCH_ROWS):
                batch = frame.slice(lo, DISTRICT_BATCH_ROWS).sort("device_id", "ts")
                result = store.write_batch(batch, REJECTED.empty(), {"received": batch.height})
                pings += result.stored
    build_s = time.perf_counter() - t0
    marker.write_text(json.dumps({"pings": pings, "build_s": build_s}))
    return DistrictStore(db, grids, devices, pings, build_s, cached=False)
