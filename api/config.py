"""API settings."""

from __future__ import annotations

from dataclasses import dataclass

from base.errors import ConfigError
from base.settings import setting

#: What supervisors see of the fixes outside a rostered worker's shifts (``--off-duty``).
OFF_DUTY_CHOICES = ("keep", "hide", "drop")

#: Datums a base map may be drawn in (``--tiles-datum``): docs/datums.md, "Base maps".
TILE_DATUMS = ("wgs84", "gcj02")

#: Where every route of the API is mounted.
API_PREFIX = "/api/v1"


@dataclass(frozen=True, kw_only=True)
class ApiSettings:
    max_window_days: float = setting(31.0, "longest report or track window a request may ask for")
    sse_keepalive_s: float = setting(
        15.0, "seconds between keep-alive comments on the alert stream"
    )
    tokens_reload_s: float = setting(
        2.0, "how often the tokens file is checked for changes (a revoked token's streams close)"
    )
    sse_max_streams: int = setting(200, "alert streams open at once, in all (more: 429)")
    sse_max_streams_per_token: int = setting(8, "alert streams open at once per token (more: 429)")
    command_timeout_s: float = setting(
        30.0,
        "how long a command to a device (and a roll call) waits for the answer "
        "before its outcome is timeout",
    )
    off_duty: str = setting(
        "hide",
        "fixes of a rostered device outside its shifts: hide (from supervisors' tracks, "
        "downloads and positions; admins see them), drop (not stored: rejected as off_duty, "
        "their payload not kept) or keep (shown to all)",
    )
    tiles: str = setting(
        "",
        "an intranet XYZ tile service under the live map, {z}/{x}/{y} in its URL (its key "
        "too): serve fetches the tiles, the browser never sees the URL",
    )
    tiles_file: str = setting(
        "", "an MBTiles or PMTiles file of raster tiles (PNG, JPEG, WebP) under the live map"
    )
    tiles_datum: str = setting(
        "wgs84",
        "the base map's datum: wgs84 (Tianditu, CGCS2000) or gcj02 (Amap, Tencent: the map "
        "draws grids, devices and tracks shifted onto it)",
    )

    def __post_init__(self) -> None:
        if self.off_duty not in OFF_DUTY_CHOICES:
            raise ConfigError(
                f"off_duty: {self.off_duty!r} is not one of {', '.join(OFF_DUTY_CHOICES)}"
            )
        if self.tiles_datum not in TILE_DATUMS:
            raise ConfigError(
                f"tiles_datum: {self.tiles_datum!r} is not one of {', '.join(TILE_DATUMS)}"
            )
