"""Data Docs render with no network: every asset GX's templates load from a CDN is vendored from a
pinned npm package, and the index and a validation page written by a real raw checkpoint open in
headless Chromium from disk, styled and scripted, without one request off the file system."""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

import pytest
from pipecast.config import Settings
from pipecast.validate import data_docs_offline
from pipecast.validate.runner import data_docs_dir, validate_raw
from raw_warehouse import EXPORT_DATE, PREVIOUS_EXPORT_DATE, LoadExport, good_export

from tests.browser import keep_artifact

ASSET = re.compile(r'<(?:script|link|img)\b[^>]*\b(?:src|href)="(https?://[^"{]+)"', re.IGNORECASE)


def test_every_cdn_asset_of_gx_templates_is_vendored() -> None:
    templates = resources.files("great_expectations") / "render" / "view" / "templates"
    loaded = {
        url for template in templates.iterdir() if template.name.endswith(".j2")
        for url in ASSET.findall(template.read_text())
    }
    assert loaded, "no CDN asset found: the templates moved"
    assert loaded <= set(data_docs_offline.VENDORED), loaded - set(data_docs_offline.VENDORED)


def test_a_page_loading_an_unknown_host_fails_loudly(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    html = '<link href="https://cdn.jsdelivr.net/npm/vega@5"><script src="https://cdn.example.org/new.js"></script>'
    with pytest.raises(data_docs_offline.UnvendoredAsset, match="cdn.example.org/new.js"):
        data_docs_offline.offline_html(html, page, tmp_path)


def test_rewritten_links_are_relative_to_each_page_and_drop_cdn_integrity(tmp_path: Path) -> None:
    page = tmp_path / "validations" / "raw" / "x" / "run" / "page.html"
    html = (
        '<script src="https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js" '
        'integrity="sha384-x" crossorigin="anonymous"></script>'
        '<img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=1&x=2">'
        '<a href="https://greatexpectations.io">GX</a>'
    )
    assert data_docs_offline.offline_html(html, page, tmp_path) == (
        '<script src="../../../../static/vendor/bootstrap/dist/js/bootstrap.min.js"></script>'
        '<img src="../../../../static/images/logo-long.png">'
        '<a href="https://greatexpectations.io">GX</a>'  # a link to follow, not an asset to load
    )


def _open_offline(context, path: Path, color_scheme: str) -> tuple[object, list[str], list[str]]:
    page = context.new_page()
    remote: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: remote.append(r.url) if not r.url.startswith(("file://", "data:")) else None)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"{r.url}: {r.failure}"))
    page.emulate_media(color_scheme=color_scheme)
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, remote, errors


def test_data_docs_of_a_night_render_offline(
    settings: Settings, load_export: LoadExport, browser_context
) -> None:
    if not data_docs_offline.assets_installed():
        message = f"{data_docs_offline.ASSETS_DIR} missing: `make install` runs npm ci there"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    load_export(good_export(), export_date=PREVIOUS_EXPORT_DATE)
    load_export(good_export())
    validate_raw(EXPORT_DATE, settings, today=EXPORT_DATE)
    site = data_docs_dir(settings)
    index = site / "index.html"
    assert "https://cdn" not in index.read_text() and "unpkg.com" not in index.read_text()

    for scheme in ("light", "dark"):
        page, remote, errors = _open_offline(browser_context, index, scheme)
        try:
            # bootstrap-table (jQuery + its script) turned the index into a table of this night's runs
            page.wait_for_selector(".bootstrap-table", timeout=30_000)
            rows = page.locator(".bootstrap-table tbody tr")
            assert rows.count() > 0
            assert "raw.opportunities" in " ".join(page.locator(".bootstrap-table").all_inner_texts())
            # Bootstrap's stylesheet applies (its navbar is a flex box) and Font Awesome's font loads
            assert page.evaluate("getComputedStyle(document.querySelector('nav.navbar')).display") == "flex"
            if scheme == "light":
                shot = settings.state_dir / "data_docs_index.png"
                page.screenshot(path=str(shot), full_page=True)
                keep_artifact(shot, "data_docs_index.png")
            assert remote == [], remote
            assert errors == [], errors
        finally:
            page.close()

    [validation] = (site / "validations" / "raw" / "opportunities").rglob("*.html")
    page, remote, errors = _open_offline(browser_context, validation, "light")
    try:
        page.wait_for_load_state("networkidle")
        text = page.locator("body").inner_text()
        assert "Expectation Validation Result" in text and "opportunity_id" in text
        shot = settings.state_dir / "data_docs_validation.png"
        page.screenshot(path=str(shot), full_page=False)
        keep_artifact(shot, "data_docs_validation.png")
        assert page.evaluate("typeof vegaEmbed") == "function"  # Vega, Vega-Lite and vega-embed ran
        assert page.evaluate("document.fonts.check('900 16px \"Font Awesome 6 Free\"')")
        assert remote == [], remote
        assert errors == [], errors
    finally:
        page.close()
