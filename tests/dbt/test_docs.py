"""`dbt docs generate` works on the built warehouse and documents every mart and column."""

from __future__ import annotations

import json

from tests.dbt.conftest import NightlyWarehouse
from tests.dbt.dbt_run import run_dbt
from tests.dbt.test_nightly_build import marts_of


def test_docs_generate_catalogs_every_mart(nightly: NightlyWarehouse):
    run_dbt(nightly.settings, "docs", "generate")
    target = nightly.settings.state_dir / "dbt" / "target"
    catalog = json.loads((target / "catalog.json").read_text(encoding="utf-8"))
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    assert (target / "index.html").exists()
    assert not catalog.get("errors")
    cataloged = {node["metadata"]["name"]: node for node in catalog["nodes"].values()}
    for mart in marts_of(nightly):
        node = next(n for n in manifest["nodes"].values() if n["name"] == mart)
        assert set(cataloged[mart]["columns"]) == set(node["columns"]), mart
        assert all(c["description"] for c in node["columns"].values()), mart
