"""The Superset dashboards (bi/superset/) provisioned from the repository's files on a real night's
warehouse, served by Superset, and opened in headless Chromium: every chart queries the marts without
error and returns rows, renders, and the page asks nothing of any other host. The numbers shown are
checked against the marts. Both warehouses: the DuckDB file (`make bi`) and the same marts on
PostgreSQL (the compose deployment). Screenshots (DuckDB) are kept in
.state/test-artifacts/bi_<dashboard>.png.

Superset lives in its own venv (`make bi-install`, which `make test` runs)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
import yaml
from pipecast.config import PROJECT_ROOT, Settings
from pipecast.pg_transfer import pg_connect, push

from tests.browser import keep_artifact
from tests.dbt.postgres_server import running_server, unavailable_reason

BI_DIR = PROJECT_ROOT / "bi" / "superset"
BI_BIN = BI_DIR / ".venv" / "bin"
DASHBOARDS = ("pipeline", "forecast", "funnel")
ADMIN = "admin"


def _spec(dashboard: str) -> dict:
    return yaml.safe_load((BI_DIR / "dashboards" / f"{dashboard}.yaml").read_text())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Superset:
    url: str
    password: str
    warehouse: Path  # the DuckDB file the marts come from (the PostgreSQL warehouse is its copy)
    backend: str


@contextmanager
def _warehouse_uri(backend: str, warehouse: Path, tmp: Path) -> Iterator[str]:
    """The SQLAlchemy URI Superset reads the marts from: the DuckDB file itself, or a PostgreSQL
    server holding the same marts tables."""
    if backend == "duckdb":
        yield f"duckdb:///{warehouse}?access_mode=read_only"
        return
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    datasets = yaml.safe_load((BI_DIR / "dashboards" / "datasets.yaml").read_text())["datasets"]
    tables = [dataset["table"] for dataset in datasets.values()]
    with running_server() as server:
        settings = Settings(state_dir=tmp / "postgres", target="postgres", **server.settings_fields)
        duck = duckdb.connect(str(warehouse), read_only=True)
        try:
            with pg_connect(settings) as pg, pg.cursor() as cursor:
                for table in tables:
                    assert push(duck, cursor, "marts", table) > 0, table
        finally:
            duck.close()
        yield f"postgresql+psycopg2://{server.user}@{server.host}:{server.port}/{server.database}"


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def superset(request, night: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Superset]:
    if not (BI_BIN / "python").exists():
        message = f"{BI_BIN} missing: `make bi-install` (run by `make test`) installs Superset"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    home = tmp_path_factory.mktemp(f"superset-{request.param}")
    # Superset's own copy: the night's file stays free for the other report tests' connections.
    warehouse = home / "warehouse.duckdb"
    shutil.copyfile(night.warehouse_path, warehouse)
    with _warehouse_uri(request.param, warehouse, home) as uri:
        yield from _serve(home, uri, warehouse, request.param)


def _serve(home: Path, warehouse_uri: str, warehouse: Path, backend: str) -> Iterator[Superset]:
    password = secrets.token_urlsafe(12)
    env = {
        **os.environ,
        "SUPERSET_CONFIG_PATH": str(BI_DIR / "superset_config.py"),
        "SUPERSET_HOME": str(home),
        "SUPERSET_SECRET_KEY": secrets.token_urlsafe(42),
        "SUPERSET_ADMIN_PASSWORD": password,
    }
    provisioned = subprocess.run(
        [str(BI_BIN / "python"), str(BI_DIR / "provision.py"),
         "--warehouse-uri", warehouse_uri],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert provisioned.returncode == 0, provisioned.stderr[-4000:]
    assert all(f"/superset/dashboard/{d}/" in provisioned.stdout for d in DASHBOARDS), provisioned.stdout

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (home / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [str(BI_BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "8",
         "--timeout", "120", "superset.app:create_app()"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            assert server.poll() is None, (home / "gunicorn.log").read_text()[-4000:]
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                    if response.read() == b"OK":
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "Superset did not answer /health within 300 s"
            time.sleep(1)
        yield Superset(url, password, warehouse, backend)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def superset_page(superset: Superset, browser_context):
    page = browser_context.new_page()
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{superset.url}/login/")
    page.fill("#username", ADMIN)
    page.fill("#password", superset.password)
    page.press("#password", "Enter")
    # logged in once the redirect to the welcome page commits; its page load (the whole app's
    # bundle) took over 60 s in a CI rehearsal with other work on both cores, and is not under test
    page.wait_for_url("**/superset/welcome/**", wait_until="commit", timeout=180_000)
    try:
        yield page
    finally:
        page.close()


def _marts(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@dataclass(frozen=True)
class Shown:
    """What the dashboard shows at one moment, read in one pass of the page's script: Superset's grid
    can re-mount its charts after they first appear (seen in CI: the titles were there, then read
    back as none), so the assertions read one render, not pieces of two."""

    title: str | None
    chart_titles: list[str]
    charts: list[dict]  # per chart container: alert (bool), drawn (canvas/table/big-number count), text

    def complete(self, expected_titles: list[str]) -> bool:
        return (
            sorted(self.chart_titles) == expected_titles
            and len(self.charts) == len(expected_titles)
            and all(chart["drawn"] > 0 and not chart["alert"] for chart in self.charts)
        )

    def same_render(self, other: Shown | None) -> bool:
        def layout(shown: Shown) -> tuple:
            return shown.title, shown.chart_titles, [(c["alert"], c["drawn"]) for c in shown.charts]

        return other is not None and layout(self) == layout(other)


_READ_DASHBOARD = """() => ({
    title: document.querySelector("[data-test='editable-title-input']")?.value ?? null,
    chart_titles: [...document.querySelectorAll("[data-test='editable-title']")].map(e => e.innerText),
    charts: [...document.querySelectorAll(".chart-container")].map(c => ({
        alert: c.querySelector('[role="alert"]') !== null,
        drawn: c.querySelectorAll("canvas, table, .header-line").length,
        text: c.innerText.slice(0, 200),
    })),
})"""


def _settled(page, expected_titles: list[str], timeout_s: float = 120) -> Shown:
    """The dashboard once every chart has mounted and drawn, and two reads a second apart agree
    (or, at the deadline, the last read, for the assertions to report)."""
    deadline = time.monotonic() + timeout_s
    previous: Shown | None = None
    while True:
        shown = Shown(**page.evaluate(_READ_DASHBOARD))
        if shown.complete(expected_titles) and shown.same_render(previous):
            return shown
        if time.monotonic() > deadline:
            return shown
        previous = shown
        page.wait_for_timeout(1000)


# One figure per dashboard: the chart whose rows have exactly these columns, its metric summed over
# its rows, against the same figure computed from the marts.
EXPECTED = {
    "pipeline": (
        {"pipeline"},
        "pipeline",
        "select sum(amount) from marts.fct_opportunities where not is_closed",
    ),
    "forecast": (
        {"forecast_attainment"},
        "forecast_attainment",
        "select sum(p50) / sum(target) from marts.fct_forecast where horizon = 'current' and segment = 'All'",
    ),
    "funnel": ({"stage_label", "reached"}, "reached", "select sum(reached) from marts.fct_funnel_conversion"),
}


@pytest.mark.parametrize("dashboard", DASHBOARDS)
def test_dashboard_renders_every_chart_from_the_marts(
    superset: Superset, superset_page, dashboard: str, tmp_path: Path
) -> None:
    spec = _spec(dashboard)
    page = superset_page
    external: list[str] = []
    console_errors: list[str] = []
    results: list[tuple[int, dict]] = []

    def on_request(request) -> None:
        if not request.url.startswith((superset.url, "data:", "blob:")):
            external.append(request.url)

    def on_response(response) -> None:
        if "/api/v1/chart/data" in response.url:
            results.append((response.status, json.loads(response.body())))

    def on_console(message) -> None:
        if message.type == "error":
            console_errors.append(message.text)

    page.on("request", on_request)
    page.on("response", on_response)
    page.on("console", on_console)
    try:
        page.goto(f"{superset.url}/superset/dashboard/{spec['slug']}/?standalone=1")
        deadline = time.monotonic() + 180
        while len(results) < len(spec["charts"]) and time.monotonic() < deadline:
            page.wait_for_timeout(500)
        page.wait_for_load_state("networkidle")
        shown = _settled(page, sorted(chart["title"] for chart in spec["charts"].values()))
        page.wait_for_timeout(1500)  # echarts' entry animation, for the screenshot
        shot = tmp_path / f"bi_{dashboard}.png"
        page.screenshot(path=str(shot), full_page=True)
        if superset.backend == "duckdb":
            keep_artifact(shot, f"bi_{dashboard}.png")
    finally:
        page.remove_listener("request", on_request)
        page.remove_listener("response", on_response)
        page.remove_listener("console", on_console)

    assert shown.title == spec["title"]
    assert sorted(shown.chart_titles) == sorted(chart["title"] for chart in spec["charts"].values())
    assert len(results) == len(spec["charts"]), f"{len(results)} queries for {len(spec['charts'])} charts"
    for status, body in results:
        assert status == 200, body
        for result in body["result"]:
            assert not result.get("error"), result["error"]
            assert result["rowcount"] > 0, f"empty chart: {result.get('query', '')[:500]}"
    assert len(shown.charts) == len(spec["charts"])
    for i, chart in enumerate(shown.charts):
        assert not chart["alert"], chart["text"]
        assert chart["drawn"] > 0, f"chart {i} of {dashboard} drew nothing: {chart['text']}"
    assert external == [], f"requests to other hosts: {external}"
    assert console_errors == []

    columns, metric, sql = EXPECTED[dashboard]
    charts = [r["data"] for _, body in results for r in body["result"] if set(r["data"][0]) == columns]
    assert len(charts) == 1, f"{len(charts)} charts of {dashboard} return exactly {sorted(columns)}"
    (expected,) = _marts(superset.warehouse, sql)[0]
    assert sum(row[metric] for row in charts[0]) == pytest.approx(float(expected), rel=1e-9)


def test_dbt_exposures_name_the_marts_each_dashboard_reads() -> None:
    """dbt docs' lineage shows the dashboards: each exposure lists exactly its charts' tables."""
    datasets = yaml.safe_load((BI_DIR / "dashboards" / "datasets.yaml").read_text())["datasets"]
    exposures = yaml.safe_load((PROJECT_ROOT / "dbt_project" / "models" / "_exposures.yml").read_text())
    by_name = {e["name"]: e for e in exposures["exposures"]}
    for dashboard in DASHBOARDS:
        spec = _spec(dashboard)
        exposure = by_name[f"{dashboard}_dashboard"]
        assert exposure["url"].endswith(f"/superset/dashboard/{spec['slug']}/")
        read = {f"ref('{datasets[chart['dataset']]['table']}')" for chart in spec["charts"].values()}
        assert set(exposure["depends_on"]) == read, dashboard
