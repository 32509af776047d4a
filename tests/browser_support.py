"""Shared by the browser tests: Debian's Chromium, headless, driven by Playwright (the `chromium`
fixture in conftest.py launches it once per test process)."""

import os
import shutil

import pytest

CHROMIUM = os.environ.get("WFAPP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
needs_chromium = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian's chromium is not installed")
