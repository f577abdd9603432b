"""Provision pipecast's Superset: metadata database, admin user, the warehouse connection and the
pipeline, forecast and funnel dashboards, all from the files beside this one.

Run it with the Superset venv's Python (``make bi`` does), with ``SUPERSET_CONFIG_PATH`` pointing at
``bi/superset/superset_config.py``::

    bi/superset/.venv/bin/python bi/superset/provision.py --warehouse-uri 'duckdb:///abs/warehouse.duckdb'

``dashboards/datasets.yaml`` lists the datasets (tables of the marts schema and their saved metrics);
each other ``dashboards/*.yaml`` is one dashboard: its charts (Superset's own ``viz_type`` and
``params``) and their layout in rows. This script turns them into Superset's import bundle (the
format of Superset's dashboard export, with stable UUIDs derived from the names) and imports it with
overwrite, so running it again updates the dashboards in place. Columns are read from the warehouse
after the import, so the files name only what a reviewer needs to see.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
DASHBOARDS_DIR = HERE / "dashboards"
DATABASE_NAME = "pipecast warehouse"
WAREHOUSE_SCHEMA = "marts"
GRID_WIDTH = 12
NAMESPACE = uuid.UUID("8f6d2c52-5a53-4f0e-9a0e-3c1d6f0b7a11")

def stable_uuid(kind: str, name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{name}"))


def _dump(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def load_specs(spec_dir: Path = DASHBOARDS_DIR) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The datasets and the dashboards (by file stem) as written in ``spec_dir``."""
    datasets = yaml.safe_load((spec_dir / "datasets.yaml").read_text())["datasets"]
    dashboards = {
        path.stem: yaml.safe_load(path.read_text())
        for path in sorted(spec_dir.glob("*.yaml"))
        if path.name != "datasets.yaml"
    }
    return datasets, dashboards


def _database(warehouse_uri: str) -> dict[str, Any]:
    return {
        "database_name": DATABASE_NAME,
        "sqlalchemy_uri": warehouse_uri,
        "cache_timeout": None,
        "expose_in_sqllab": True,
        "allow_run_async": False,
        "allow_ctas": False,
        "allow_cvas": False,
        "allow_dml": False,
        "allow_file_upload": False,
        "extra": {"allows_virtual_table_explore": True},
        "uuid": stable_uuid("database", DATABASE_NAME),
        "version": "1.0.0",
    }


def _dataset(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    metrics = [
        {
            "metric_name": metric,
            "verbose_name": m.get("label"),
            "metric_type": None,
            "expression": m["expression"],
            "description": m.get("description"),
            "d3format": m.get("d3format"),
            "extra": {},
            "warning_text": None,
        }
        for metric, m in spec.get("metrics", {}).items()
    ]
    columns = [
        {
            "column_name": column,
            "verbose_name": c.get("label"),
            "is_dttm": bool(c.get("is_dttm", False)),
            "is_active": True,
            "type": c.get("type", "VARCHAR"),
            "advanced_data_type": None,
            "groupby": True,
            "filterable": True,
            "expression": c["expression"],
            "description": c.get("description"),
            "python_date_format": None,
            "extra": {},
        }
        for column, c in spec.get("columns", {}).items()
    ]
    return {
        "table_name": spec["table"],
        "main_dttm_col": spec.get("main_dttm_col"),
        "description": spec.get("description"),
        "default_endpoint": None,
        "offset": 0,
        "cache_timeout": None,
        "catalog": None,
        "schema": WAREHOUSE_SCHEMA,
        "sql": None,
        "params": None,
        "template_params": None,
        "filter_select_enabled": True,
        "fetch_values_predicate": None,
        "extra": None,
        "normalize_columns": False,
        "always_filter_main_dttm": False,
        "uuid": stable_uuid("dataset", name),
        "metrics": metrics,
        "columns": columns,
        "version": "1.0.0",
        "database_uuid": stable_uuid("database", DATABASE_NAME),
    }


def _chart(dashboard: str, name: str, spec: dict[str, Any], datasets: dict[str, Any]) -> dict[str, Any]:
    if spec["dataset"] not in datasets:
        raise ValueError(f"chart {dashboard}.{name}: unknown dataset {spec['dataset']!r}")
    params = {"viz_type": spec["viz_type"], **spec.get("params", {})}
    params.setdefault("adhoc_filters", [])
    where = [
        {"expressionType": "SQL", "clause": "WHERE", "sqlExpression": sql} for sql in spec.get("where", [])
    ]
    params["adhoc_filters"] = where + params["adhoc_filters"]
    return {
        "slice_name": spec["title"],
        "description": spec.get("description"),
        "certified_by": None,
        "certification_details": None,
        "viz_type": spec["viz_type"],
        "params": params,
        "query_context": None,
        "cache_timeout": None,
        "uuid": stable_uuid("chart", f"{dashboard}.{name}"),
        "version": "1.0.0",
        "dataset_uuid": stable_uuid("dataset", spec["dataset"]),
    }


def _position(dashboard: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Superset's layout tree: ROOT > GRID > one ROW per spec row > its charts and markdown."""
    position: dict[str, Any] = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
        "HEADER_ID": {"type": "HEADER", "id": "HEADER_ID", "meta": {"text": spec["title"]}},
    }
    for r, row in enumerate(spec["rows"]):
        row_id = f"ROW-{dashboard}-{r}"
        position["GRID_ID"]["children"].append(row_id)
        children = []
        if sum(cell["width"] for cell in row) > GRID_WIDTH:
            raise ValueError(f"dashboard {dashboard}: row {r} is wider than {GRID_WIDTH}")
        for c, cell in enumerate(row):
            parents = ["ROOT_ID", "GRID_ID", row_id]
            if "markdown" in cell:
                cell_id = f"MARKDOWN-{dashboard}-{r}-{c}"
                position[cell_id] = {
                    "type": "MARKDOWN",
                    "id": cell_id,
                    "children": [],
                    "parents": parents,
                    "meta": {"code": cell["markdown"], "width": cell["width"], "height": cell["height"]},
                }
            else:
                chart = spec["charts"][cell["chart"]]
                cell_id = f"CHART-{dashboard}-{cell['chart']}"
                position[cell_id] = {
                    "type": "CHART",
                    "id": cell_id,
                    "children": [],
                    "parents": parents,
                    "meta": {
                        # chartId is the exporting instance's id; the import replaces it by uuid.
                        "chartId": len(position),
                        "uuid": stable_uuid("chart", f"{dashboard}.{cell['chart']}"),
                        "sliceName": chart["title"],
                        "width": cell["width"],
                        "height": cell["height"],
                    },
                }
            children.append(cell_id)
        position[row_id] = {
            "type": "ROW",
            "id": row_id,
            "children": children,
            "parents": ["ROOT_ID", "GRID_ID"],
            "meta": {"background": "BACKGROUND_TRANSPARENT"},
        }
    placed = {cell["chart"] for row in spec["rows"] for cell in row if "chart" in cell}
    if missing := set(spec["charts"]) - placed:
        raise ValueError(f"dashboard {dashboard}: charts not placed in any row: {sorted(missing)}")
    return position


def _dashboard(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "dashboard_title": spec["title"],
        "description": spec.get("description"),
        "css": "",
        "slug": spec["slug"],
        "certified_by": "",
        "certification_details": "",
        "published": True,
        "uuid": stable_uuid("dashboard", name),
        "position": _position(name, spec),
        "metadata": {
            "color_scheme": "supersetColors",
            "refresh_frequency": 0,
            "expanded_slices": {},
            "timed_refresh_immune_slices": [],
            "cross_filters_enabled": False,
            "native_filter_configuration": [],
            "default_filters": "{}",
        },
        "version": "1.0.0",
    }


def build_bundle(warehouse_uri: str, spec_dir: Path = DASHBOARDS_DIR) -> dict[str, str]:
    """Superset's import bundle (file name -> YAML text) for every dashboard in ``spec_dir``."""
    datasets, dashboards = load_specs(spec_dir)
    contents = {
        "metadata.yaml": _dump(
            {"version": "1.0.0", "type": "Dashboard", "timestamp": datetime.now(UTC).isoformat()}
        ),
        "databases/pipecast_warehouse.yaml": _dump(_database(warehouse_uri)),
    }
    for name, spec in datasets.items():
        contents[f"datasets/pipecast_warehouse/{name}.yaml"] = _dump(_dataset(name, spec))
    for dashboard, spec in dashboards.items():
        for name, chart in spec["charts"].items():
            contents[f"charts/{dashboard}_{name}.yaml"] = _dump(_chart(dashboard, name, chart, datasets))
        contents[f"dashboards/{dashboard}.yaml"] = _dump(_dashboard(dashboard, spec))
    return contents


def provision(warehouse_uri: str, admin_user: str, admin_password: str) -> list[str]:
    """Migrate Superset's metadata database, sync its roles, make the admin, import the bundle and
    read the datasets' columns from the warehouse. Returns the dashboards' slugs."""
    from flask import g
    from flask_migrate import upgrade
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        # Superset's models can be imported only once the app exists.
        from superset import db, security_manager
        from superset.commands.dashboard.importers.v1 import ImportDashboardsCommand
        from superset.connectors.sqla.models import SqlaTable
        from superset.extensions import appbuilder

        upgrade()
        appbuilder.add_permissions(update_perms=True)
        security_manager.sync_role_definitions()
        db.session.commit()
        user = security_manager.find_user(username=admin_user)
        if user is None:
            user = security_manager.add_user(
                admin_user, "pipecast", "admin", f"{admin_user}@localhost",
                security_manager.find_role("Admin"), password=admin_password,
            )
            if not user:
                raise RuntimeError(f"could not create the Superset user {admin_user!r}")
        else:
            security_manager.reset_password(user.id, admin_password)
        db.session.commit()
        g.user = user

        # The bundle stays in memory, so it carries the URI whole: Superset's import stores the
        # password encrypted (SECRET_KEY) and the URI masked.
        ImportDashboardsCommand(build_bundle(warehouse_uri), overwrite=True).run()

        datasets, dashboards = load_specs()
        uuids = [uuid.UUID(stable_uuid("dataset", name)) for name in datasets]
        tables = db.session.query(SqlaTable).filter(SqlaTable.uuid.in_(uuids)).all()
        if len(tables) != len(datasets):
            raise RuntimeError(f"imported {len(tables)} datasets of {len(datasets)}")
        for table in tables:
            table.fetch_metadata()  # raises when the table is not in the warehouse
        db.session.commit()
        return [spec["slug"] for spec in dashboards.values()]


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--warehouse-uri",
        default=os.environ.get("PIPECAST_BI_WAREHOUSE_URI"),
        help="SQLAlchemy URI of the warehouse (duckdb:///path or postgresql://...); "
        "default: $PIPECAST_BI_WAREHOUSE_URI",
    )
    parser.add_argument("--admin-user", default=os.environ.get("SUPERSET_ADMIN_USER", "admin"))
    args = parser.parse_args(argv)
    password = os.environ.get("SUPERSET_ADMIN_PASSWORD")
    if not args.warehouse_uri:
        print("error: set --warehouse-uri or PIPECAST_BI_WAREHOUSE_URI", file=sys.stderr)
        return 2
    if not password:
        print("error: set SUPERSET_ADMIN_PASSWORD", file=sys.stderr)
        return 2
    slugs = provision(args.warehouse_uri, args.admin_user, password)
    print("provisioned dashboards:", ", ".join(f"/superset/dashboard/{s}/" for s in slugs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
