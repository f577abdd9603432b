"""Headless Chromium for the browser tests (the HTML report, the Superset dashboards, the Data Docs):
Debian's /usr/bin/chromium driven by Playwright; no browser is downloaded. The fixture is registered
once, in tests/conftest.py, so that every test of a session shares one Playwright instance."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipecast.config import PROJECT_ROOT

CHROMIUM = Path(os.environ.get("PIPECAST_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# Screenshots kept after the run (git-ignored): the pages as their readers see them.
ARTIFACTS = PROJECT_ROOT / ".state" / "test-artifacts"


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} missing: `make test` installs Debian's chromium when run as root")
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


def keep_artifact(path: Path, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    kept = ARTIFACTS / name
    shutil.copyfile(path, kept)
    return kept
