"""Headless Chromium for the browser tests: Debian's browser driven by Playwright, network off.

Playwright's own browser download cannot work offline, so it is pointed at the system
Chromium (``apt-get install chromium``); without it the browser tests skip and say so.
Every request to a host other than 127.0.0.1 is refused by the browser's resolver, and
recorded as a failed request by the tests.
"""

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = ["CHROMIUM", "chromium_browser", "screenshot"]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
    # the network is off: only the local server resolves
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


@contextmanager
def chromium_browser(height=900):
    """A Playwright browser context on the system Chromium with a fresh profile, 1280 pixels wide."""
    if CHROMIUM is None:
        pytest.skip("no Chromium: install Debian's `chromium` package (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright missing: pip install -e '.[test]'")
    profile = tempfile.mkdtemp(prefix="lmm-chromium-")
    try:
        with sync_api.sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=ARGS,
                viewport={"width": 1280, "height": height},
            )
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(page, folder: Path, name: str, shots: list, element=None):
    """Save a screenshot of the page (or one element) and remember its path for failure reports."""
    path = folder / f"{len(shots):02d}_{name}.png"
    (element or page).screenshot(path=str(path))
    shots.append(path)
    return path
