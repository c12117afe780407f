"""The authentication key's file: the owner's alone, or refused in one line."""

from __future__ import annotations

import logging

import pytest

from base.errors import ConfigError
from ingest.jt808.gateway import read_secret

KEY = b"k" * 32


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_secret_file_of_the_owner_alone_is_read_in_silence(tmp_path, caplog, mode):
    path = tmp_path / "jt808.secret"
    path.write_bytes(KEY + b"\n")
    path.chmod(mode)
    with caplog.at_level(logging.WARNING):
        assert read_secret(str(path)) == KEY
    assert caplog.records == []


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o620, 0o666, 0o602])
def test_a_secret_file_others_may_read_or_change_is_refused(tmp_path, mode):
    path = tmp_path / "jt808.secret"
    path.write_bytes(KEY)
    path.chmod(mode)
    with pytest.raises(ConfigError, match=rf"mode {mode:04o} .* chmod 600 "):
        read_secret(str(path))


def test_a_secret_file_its_group_may_read_is_used_with_a_warning(tmp_path, caplog):
    path = tmp_path / "jt808.secret"
    path.write_bytes(KEY)
    path.chmod(0o640)
    with caplog.at_level(logging.WARNING):
        assert read_secret(str(path)) == KEY
    assert ["its group may read it (mode 0640)" in r.getMessage() for r in caplog.records] == [True]
