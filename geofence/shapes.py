"""A grid as read from its file, and the local plane distances are measured in."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from shapely.geometry.base import BaseGeometry

EARTH_RADIUS_M = 6371008.8


@dataclass(frozen=True)
class Grid:
    id: str
    name: str
    parent: str | None
    interval_s: int
    service_hours: str | None
    geometry: BaseGeometry | None


@dataclass(frozen=True)
class Plane:
    """Local equirectangular metres around (lon0, lat0)."""

    lon0: float
    lat0: float

    @property
    def kx(self) -> float:
        return EARTH_RADIUS_M * math.radians(1.0) * math.cos(math.radians(self.lat0))

    @property
    def ky(self) -> float:
        return EARTH_RADIUS_M * math.radians(1.0)

    def to_xy(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky

    def to_lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x / self.kx + self.lon0, y / self.ky + self.lat0
