"""Geofence: grids, assignment of pings to grids, visits, coverage and the interval rule.

Importing the package imports none of its modules. The Numba kernels (``_rings``,
``_raster``, ``_tracks``, ``index``, ``assign``) are imported where they run, inside the
functions that call them: a report from derived data places no point in a grid and so
loads no Numba at all (a cold ``gridpatrol report`` of a day stays under a second).
"""
