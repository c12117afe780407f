"""The live map's base map: raster tiles from a tile file serve reads (MBTiles, PMTiles v3) or
from an intranet XYZ tile service serve fetches for the browser (``--tiles``), so that the
service's key stays on the server and the browser talks to serve only.

Every source answers :meth:`TileSource.get` with a :class:`Tile` (bytes and their media type)
or None when the tile does not exist. A file that is neither format is refused at start
(:func:`open_tiles`, one line); a tile the upstream service cannot give is None (404), an
upstream that cannot be reached is :class:`TileUpstreamError` (502).
"""

from __future__ import annotations

import mmap
import sqlite3
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from base.errors import ConfigError, GridpatrolError

#: Raster formats the map draws, by their MBTiles ``format`` name.
MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}
#: The deepest zoom a request may name (the web maps' 0.01 m per pixel); deeper is 404.
MAX_ZOOM = 24
#: Seconds serve waits for the upstream tile service before answering 502.
UPSTREAM_TIMEOUT_S = 10.0
SQLITE_MAGIC = b"SQLite format 3\x00"
PMTILES_MAGIC = b"PMTiles"


class TileUpstreamError(GridpatrolError):
    """The upstream tile service could not be reached or answered an error."""


@dataclass(frozen=True)
class Tile:
    data: bytes
    media_type: str


class TileSource(Protocol):
    kind: str  # "file" or "proxy"
    min_zoom: int
    max_zoom: int

    def get(self, z: int, x: int, y: int) -> Tile | None: ...

    def close(self) -> None: ...


def sniff(data: bytes) -> str | None:
    """A raster tile's media type from its first bytes (None: not one the map draws)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def in_range(z: int, x: int, y: int) -> bool:
    return 0 <= z <= MAX_ZOOM and 0 <= x < 2**z and 0 <= y < 2**z


class MBTiles:
    """An MBTiles file (SQLite, rows in TMS order: y counted from the south), read-only."""

    kind = "file"

    def __init__(self, path: Path) -> None:
        try:
            self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
            names = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
            if "tiles" not in names:
                raise ConfigError(f"--tiles-file {path}: an SQLite file without a tiles table")
            meta = dict(self._db.execute("SELECT name, value FROM metadata").fetchall())
        except sqlite3.Error as exc:
            raise ConfigError(f"--tiles-file {path}: not a readable MBTiles file ({exc})") from None
        fmt = str(meta.get("format", "png")).lower()
        if fmt not in MEDIA_TYPES:
            raise ConfigError(f"--tiles-file {path}: format {fmt!r} is not PNG, JPEG or WebP")
        self.media_type = MEDIA_TYPES[fmt]
        self.min_zoom = int(meta.get("minzoom", 0))
        self.max_zoom = int(meta.get("maxzoom", 18))
        self._lock = threading.Lock()  # one connection, requests from the server's threads

    def get(self, z: int, x: int, y: int) -> Tile | None:
        with self._lock:
            row = self._db.execute(
                "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? "
                "AND tile_row = ?",
                [z, x, 2**z - 1 - y],
            ).fetchone()
        return None if row is None else Tile(bytes(row[0]), self.media_type)

    def close(self) -> None:
        self._db.close()


class PMTilesFile:
    """A PMTiles v3 archive of raster tiles (the ``pmtiles`` package's reader)."""

    kind = "file"

    def __init__(self, path: Path) -> None:
        from pmtiles.reader import Reader
        from pmtiles.tile import Compression, TileType

        self._file = path.open("rb")
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        reader = Reader(lambda offset, length: self._map[offset : offset + length])
        try:
            header = reader.header()
        except Exception as exc:  # a damaged archive: the reader's own error, shown in one line
            self.close()
            raise ConfigError(f"--tiles-file {path}: not a readable PMTiles file ({exc})") from None
        media = {
            TileType.PNG: "image/png",
            TileType.JPEG: "image/jpeg",
            TileType.WEBP: "image/webp",
        }.get(header["tile_type"])
        if media is None:
            self.close()
            raise ConfigError(f"--tiles-file {path}: PMTiles of {header['tile_type']}, not raster")
        if header["tile_compression"] not in (Compression.NONE, Compression.UNKNOWN):
            self.close()
            raise ConfigError(f"--tiles-file {path}: compressed raster tiles are not supported")
        self.media_type = media
        self.min_zoom, self.max_zoom = int(header["min_zoom"]), int(header["max_zoom"])
        self._reader = reader
        self._lock = threading.Lock()

    def get(self, z: int, x: int, y: int) -> Tile | None:
        with self._lock:
            data = self._reader.get(z, x, y)
        return None if data is None else Tile(data, self.media_type)

    def close(self) -> None:
        self._map.close()
        self._file.close()


class TileProxy:
    """An XYZ tile service (``{z}``, ``{x}``, ``{y}`` in its URL, a key if it needs one),
    fetched by serve: the browser sees ``/api/v1/tiles/...`` only, never the URL or key."""

    kind = "proxy"
    min_zoom = 0
    max_zoom = 18

    def __init__(self, template: str) -> None:
        if not template.startswith(("http://", "https://")) or any(
            part not in template for part in ("{z}", "{x}", "{y}")
        ):
            raise ConfigError("--tiles: an http(s) URL with {z}, {x} and {y} in it")
        self.template = template

    def get(self, z: int, x: int, y: int) -> Tile | None:
        url = self.template.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))
        try:
            with urllib.request.urlopen(url, timeout=UPSTREAM_TIMEOUT_S) as response:
                data = response.read()
                declared = response.headers.get_content_type()
        except urllib.error.HTTPError as exc:
            if exc.code in (204, 404):
                return None
            raise TileUpstreamError(f"the tile service answered {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise TileUpstreamError(f"the tile service cannot be reached ({exc})") from None
        media = sniff(data) or (declared if declared in MEDIA_TYPES.values() else None)
        if media is None:
            raise TileUpstreamError(f"the tile service answered {declared}, not an image")
        return Tile(data, media)

    def close(self) -> None:
        """Nothing to let go: each tile is fetched on a connection of its own."""


def open_tiles(url: str, file: str) -> TileSource | None:
    """The base map of ``--tiles URL`` or ``--tiles-file FILE`` (None: neither); a file that
    is not MBTiles or PMTiles v3 is refused (:class:`ConfigError`, one line)."""
    if url and file:
        raise ConfigError("--tiles and --tiles-file: give one of them")
    if url:
        return TileProxy(url)
    if not file:
        return None
    path = Path(file)
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError as exc:
        raise ConfigError(f"--tiles-file {path}: {exc.strerror}") from None
    if head.startswith(SQLITE_MAGIC):
        return MBTiles(path)
    if head.startswith(PMTILES_MAGIC):
        if head[7] != 3:
            raise ConfigError(f"--tiles-file {path}: PMTiles version {head[7]}, not 3")
        return PMTilesFile(path)
    raise ConfigError(f"--tiles-file {path}: neither MBTiles (SQLite) nor PMTiles v3")
