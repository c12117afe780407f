"""The rules' shared scene (tests/geofence/scene.py) as a fixture."""

from tests.geofence.scene import scene

__all__ = ["scene"]
