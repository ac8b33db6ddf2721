"""A real headless browser for the pages' tests: Debian's chromium driven by Playwright (its wheel
carries the driver; no browser is ever downloaded). One browser per test module; a test skips with
the reason when there is no chromium on the machine (`.ci/run` installs Debian's package)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

# Without the background-networking flags chromium tries to reach its own services, which a
# closed network refuses; headless with no sandbox runs as root in CI.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP = {"width": 1366, "height": 768}


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def launch() -> tuple[Any, Any]:
    """(playwright, browser), or the test skips saying what is missing."""
    path = chromium_path()
    if path is None:
        pytest.skip("no chromium on this machine (Debian package `chromium`; .ci/run installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install -e '.[dev]')")
    driver = sync_playwright().start()
    try:
        browser = driver.chromium.launch(executable_path=path, args=ARGS)
    except Exception:
        driver.stop()
        raise
    return driver, browser


class Console:
    """The page's script errors and console errors, to assert there were none."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        # A refused request (a wrong token's 401) is logged by the browser itself; the page's
        # own script logs nothing as an error.
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.errors.append(f"console: {message.text}")


def shot(page: Any, name: str) -> None:
    """A screenshot into $DIALBOX_SHOTS (when set), for the closing note."""
    folder = os.environ.get("DIALBOX_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))
