"""One headless Chromium (Debian's, never a downloaded one) for the browser tests.

Module scope, not session: Playwright's sync API holds an event loop on the main thread while it runs, and the
rest of the suite calls asyncio.run(); the browser must be gone before they start.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: the dashboard tests need Debian's chromium (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where the run's screenshots go (the test's temporary folder, never the repository)."""
    folder = tmp_path / "artifacts"
    folder.mkdir()
    return folder
