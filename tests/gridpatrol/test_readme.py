"""The README documents every setting (flag and environment variable)."""

from __future__ import annotations

from pathlib import Path

from api.config import ApiSettings
from base.settings import build_settings, describe_settings
from geofence.config import GeofenceSettings
from ingest.config import IngestSettings
from patrol.config import LIVE_SETTINGS_PREFIX, LiveSettings, RetentionSettings, StageSettings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_in_the_readme():
    for cls, prefix in (
        (IngestSettings, "ingest"),
        (GeofenceSettings, "geofence"),
        (LiveSettings, LIVE_SETTINGS_PREFIX),
        (ApiSettings, "api"),
        (StageSettings, "stage"),
        (RetentionSettings, "retention"),
    ):
        for env, default, help_line in describe_settings(cls, prefix):
            assert f"`{env}`" in README, env
            assert help_line in README, help_line
            assert f"`{default}`" in README, (env, default)


def test_environment_variables_and_flags_override_defaults():
    env = {"GRIDPATROL_INGEST_BATCH_ROWS": "77", "GRIDPATROL_INGEST_STRICT_DEVICES": "yes"}
    settings = build_settings(IngestSettings, "ingest", {"batch_age_ms": 9}, env)
    assert (settings.batch_rows, settings.strict_devices, settings.batch_age_ms) == (77, True, 9)


def test_the_layout_table_names_every_package_and_the_import_contracts():
    import tomllib

    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    packages = pyproject["tool"]["importlinter"]["root_packages"]
    layout = README.split("## Layout", 1)[1].split("\n## ", 1)[0]
    for package in packages:
        assert f"| `{package}/` |" in layout, package


def test_every_jt808_setting_is_in_its_doc():
    from ingest.jt808.config import Jt808Settings

    doc = (Path(__file__).resolve().parents[2] / "docs" / "jt808.md").read_text()
    for env, default, help_line in describe_settings(Jt808Settings, "jt808"):
        assert f"`{env}`" in doc, env
        assert help_line in doc, help_line
        assert f"`{default}`" in doc, (env, default)
