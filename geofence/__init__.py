"""Geofence: grids, assignment of pings to grids, visits, coverage and the interval rule."""

from geofence.assign import assign
from geofence.grids import GridFileError, GridSet, load_grids

__all__ = ["GridFileError", "GridSet", "assign", "load_grids"]
