"""Debian's Chromium, headless, driven by Playwright: the live map's browser tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

CHROMIUM = os.environ.get("GRIDPATROL_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium_page() -> Iterator[tuple[Page, list[str]]]:
    """A 1600 x 900 page and the list its script errors (and Content-Security-Policy
    violations) are collected in; fails (never skips) without Chromium."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"the browser test needs Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
        )
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1600, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on(  # what the Content-Security-Policy blocks is an error of the page too
            "console",
            lambda msg: (
                errors.append(msg.text)
                if msg.type == "error" and "Content Security Policy" in msg.text
                else None
            ),
        )
        try:
            yield page, errors
        finally:
            browser.close()
