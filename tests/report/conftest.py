"""Fixtures of the report tests: a real night (demo warehouse, forecast with its dbt marts) and a
headless Chromium driven by Playwright (the system's /usr/bin/chromium; no browser is downloaded)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipecast.config import PROJECT_ROOT, Settings

from tests.forecast.conftest import one_thread  # noqa: F401

CHROMIUM = Path(os.environ.get("PIPECAST_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# Screenshots kept after the run (git-ignored): the page as a sales leader sees it.
ARTIFACTS = PROJECT_ROOT / ".state" / "test-artifacts"


@pytest.fixture(scope="session")
def night(forecast_night) -> Settings:
    """The session's forecast night with the dbt forecast marts and MLflow, as the pipeline runs it
    (tests/conftest.py; read it only: the report, semantic-layer, model-registry and forecast job
    tests share it)."""
    settings, _ = forecast_night
    return settings


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
