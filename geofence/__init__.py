"""Geofence: grids, assignment of pings to grids, visits, coverage and the interval rule.

The modules are imported one by one (``from geofence.assign import assign``): importing the
package loads none of them, so a report from derived data loads no Numba kernel.
"""
