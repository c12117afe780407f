"""scripts/system-deps.sh: what make test needs, installed or named with the exact command."""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "system-deps.sh"


def run(target: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", str(SCRIPT), target],
        capture_output=True,
        text=True,
        env={"PATH": "/nonexistent", **env},
        timeout=30,
    )


def test_without_apt_get_it_stops_at_once_naming_the_packages():
    done = run("test", GRIDPATROL_CHROMIUM="/nonexistent/chromium")
    assert done.returncode == 1
    assert "chromium" in done.stderr and "no apt-get" in done.stderr
    assert "fonts-noto-cjk" in done.stderr  # the Chinese map's screenshots need a CJK font


def test_make_demo_needs_no_browser_and_no_font():
    done = run("demo")
    assert done.returncode == 1
    assert "chromium" not in done.stderr and "fonts-noto-cjk" not in done.stderr


def test_an_unknown_target_is_refused():
    assert run("nope").returncode == 2


def test_make_test_and_make_demo_call_it():
    makefile = (SCRIPT.parents[1] / "Makefile").read_text()
    assert "scripts/system-deps.sh test" in makefile
    assert "scripts/system-deps.sh demo" in makefile
    ci = (SCRIPT.parents[1] / ".ci" / "run").read_text()
    assert [line for line in ci.splitlines() if line.startswith("make ")] == [
        "make lint",
        "make test",
        "make bench-smoke",
    ]
