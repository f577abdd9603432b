"""Data Docs that render with no network.

Great Expectations 1.24.1's Data Docs pages load Bootstrap, jQuery, bootstrap-table, Vega and Font
Awesome from CDNs, and their logo from GX's web-assets bucket, so offline the index is a blank page.
After each build, ``make_offline`` copies those files from the npm packages pinned in
``data_docs_assets/package-lock.json`` (installed by ``make install``: ``npm ci``) into the site's
``static/vendor/`` and points the pages just written at them, relative to each page (the site can be
opened from disk or moved whole). The logo comes from the site's own ``static/images/``.

An asset URL this module does not know (a GX upgrade changed its templates) raises
``UnvendoredAsset`` naming it, rather than leaving docs that silently need the network.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

ASSETS_DIR = Path(__file__).resolve().parent / "data_docs_assets" / "node_modules"
VENDOR = Path("static") / "vendor"

# Each URL GX 1.24.1's templates load, and the file of the pinned npm package that serves it. The
# filter-control CSS is named at 1.19.0 by GX beside bootstrap-table 1.19.1's JS; popper.js is
# 1.16.1, the release Bootstrap 4.3.1 declares (GX names 1.12.9).
_BOOTSTRAP = "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/"
_BOOTSTRAP_JS = "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/"
_TABLE = "https://unpkg.com/bootstrap-table@1.19.1/dist/"
_TABLE_1190 = "https://unpkg.com/bootstrap-table@1.19.0/dist/"
_FILTER = "extensions/filter-control/bootstrap-table-filter-control"
_CDNJS = "https://cdnjs.cloudflare.com/ajax/libs/"
_JSDELIVR = "https://cdn.jsdelivr.net/npm/"
VENDORED: dict[str, str] = {
    f"{_BOOTSTRAP}css/bootstrap.min.css": "bootstrap/dist/css/bootstrap.min.css",
    f"{_BOOTSTRAP_JS}js/bootstrap.min.js": "bootstrap/dist/js/bootstrap.min.js",
    f"{_TABLE}bootstrap-table.min.css": "bootstrap-table/dist/bootstrap-table.min.css",
    f"{_TABLE}bootstrap-table.min.js": "bootstrap-table/dist/bootstrap-table.min.js",
    f"{_TABLE_1190}{_FILTER}.css": f"bootstrap-table/dist/{_FILTER}.css",
    f"{_TABLE_1190}{_FILTER}.min.css": f"bootstrap-table/dist/{_FILTER}.min.css",
    f"{_TABLE}{_FILTER}.min.js": f"bootstrap-table/dist/{_FILTER}.min.js",
    f"{_CDNJS}bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        "bootstrap-datepicker/dist/css/bootstrap-datepicker.min.css"
    ),
    f"{_CDNJS}bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        "bootstrap-datepicker/dist/js/bootstrap-datepicker.min.js"
    ),
    f"{_JSDELIVR}@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": (
        "@forevolve/bootstrap-dark/dist/css/bootstrap-prefers-dark.css"
    ),
    f"{_CDNJS}font-awesome/6.6.0/css/all.min.css": "@fortawesome/fontawesome-free/css/all.min.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/dist/jquery.min.js",
    f"{_CDNJS}popper.js/1.12.9/umd/popper.min.js": "popper.js/dist/umd/popper.min.js",
    f"{_JSDELIVR}vega@5": "vega/build/vega.min.js",
    f"{_JSDELIVR}vega-lite@5": "vega-lite/build/vega-lite.min.js",
    f"{_JSDELIVR}vega-embed@6": "vega-embed/build/vega-embed.min.js",
}
# Folders a vendored stylesheet reads relative to itself (Font Awesome's ../webfonts/).
VENDORED_DIRS = ("@fortawesome/fontawesome-free/webfonts",)
WEB_ASSETS = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
# The logos GX's pages and inline styles take from its bucket; the site ships logo-long.png.
SITE_LOGO = "logo-long.png"

_TAG = re.compile(r"<(?:script|link|img)\b[^>]*>", re.IGNORECASE)
_URL_ATTR = re.compile(r'\b(src|href)="([^"]*)"')
_SRI = re.compile(r'\s+(?:integrity|crossorigin)="[^"]*"')
_WEB_ASSET = re.compile(re.escape(WEB_ASSETS) + r"([\w.-]+)(?:\?[^\"')\s]*)?")
# The site's own images, however many ../ GX put before them: its favicon link on validation pages
# is one level short (GX 1.24.1 counts the suite name's dots + 3, its navbar + 4).
_SITE_IMAGE = re.compile(r'\b(src|href)="(?:\.\./|\./)*static/images/')


class UnvendoredAsset(RuntimeError):
    """A Data Docs page loads something from another host that no vendored file replaces."""

    def __init__(self, page: Path, urls: list[str]) -> None:
        super().__init__(f"{page}: loads {', '.join(urls)} from the network; add it to VENDORED")
        self.page = page
        self.urls = urls


def assets_installed(assets_dir: Path = ASSETS_DIR) -> bool:
    return all((assets_dir / path).is_file() for path in VENDORED.values())


def vendor_assets(site_dir: Path, assets_dir: Path = ASSETS_DIR) -> None:
    """Copy the vendored files into ``site_dir/static/vendor`` (a file already there with the same
    size is kept)."""
    files = [Path(p) for p in set(VENDORED.values())]
    for folder in VENDORED_DIRS:
        files += [f.relative_to(assets_dir) for f in (assets_dir / folder).iterdir() if f.is_file()]
    for relative in files:
        source, target = assets_dir / relative, site_dir / VENDOR / relative
        if target.is_file() and target.stat().st_size == source.stat().st_size:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def offline_html(html: str, page: Path, site_dir: Path) -> str:
    """``html`` of ``page`` (a file of the site) with every CDN asset pointed at the vendored copy."""
    root = Path(os.path.relpath(site_dir, page.parent)).as_posix()
    images = site_dir / "static" / "images"

    def local_image(match: re.Match) -> str:
        name = match.group(1) if (images / match.group(1)).is_file() else SITE_LOGO
        return f"{root}/static/images/{name}"

    def tag(match: re.Match) -> str:
        original = match.group(0)

        def attribute(attr: re.Match) -> str:
            vendored = VENDORED.get(attr.group(2))
            return f'{attr.group(1)}="{root}/{VENDOR.as_posix()}/{vendored}"' if vendored else attr.group(0)

        rewritten = _URL_ATTR.sub(attribute, original)
        # Subresource-integrity hashes name the CDN's bytes; the vendored file is served locally.
        return _SRI.sub("", rewritten) if rewritten != original else original

    html = _WEB_ASSET.sub(local_image, _TAG.sub(tag, html))
    html = _SITE_IMAGE.sub(lambda m: f'{m.group(1)}="{root}/static/images/', html)
    remote = [
        url
        for element in _TAG.findall(html)
        for _, url in _URL_ATTR.findall(element)
        if url.startswith(("http://", "https://", "//"))
    ]
    if remote:
        raise UnvendoredAsset(page, remote)
    return html


def make_offline(site_dir: Path, pages: Iterable[Path], assets_dir: Path = ASSETS_DIR) -> int:
    """Vendor the assets into the site and rewrite ``pages``; returns how many pages changed.

    Without the installed npm packages the pages keep their CDN links (a warning says how to
    install them): Data Docs are a report of the night, not a reason to fail it."""
    pages = list(pages)
    if not assets_installed(assets_dir):
        log.warning(
            "Data Docs keep their CDN links (they need the network): the vendored assets are not "
            "installed in %s (make install runs npm ci there)",
            assets_dir,
        )
        return 0
    vendor_assets(site_dir, assets_dir)
    changed = 0
    for page in pages:
        html = page.read_text(encoding="utf-8")
        offline = offline_html(html, page, site_dir)
        if offline != html:
            page.write_text(offline, encoding="utf-8")
            changed += 1
    return changed


def pages_written_since(site_dir: Path, since: float) -> list[Path]:
    """The site's HTML pages written at or after ``since`` (a ``time.time()``), the index included."""
    return [p for p in site_dir.rglob("*.html") if p.stat().st_mtime >= since]
