"""The dbt project as dbt parses it (target/manifest.json): the one list of the marts.

A mart is a model of the project's ``models/marts`` folder (dbt's fqn ``[project, "marts", ...]``).
Everything that needs the list (the marts checkpoint's suites, the tests) derives it from here, so
adding a mart is its SQL and its yml. The manifest is the one dbt wrote last into the state
folder (every dbt run does); when there is none, or a file of the project is newer, ``dbt parse``
writes it first.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipecast.config import Settings
from pipecast.errors import DbtError

log = logging.getLogger(__name__)

MARTS_FOLDER = "marts"  # models/marts: the marts BI reads
# A mart's yml ``config: meta:`` key naming the column whose newest value is the rows the marts
# checkpoint validates (older rows were validated on their night), e.g. fct_pipeline_daily.
VALIDATE_NEWEST = "pipecast_validate_newest"


@dataclass(frozen=True)
class Mart:
    name: str
    columns: dict[str, str] = field(default_factory=dict)  # declared column -> data_type
    validate_newest: str | None = None


def manifest_path(settings: Settings) -> Path:
    return settings.state_dir / "dbt" / "target" / "manifest.json"


def _project_changed_since(settings: Settings, mtime: float) -> bool:
    project = settings.dbt_project_dir
    files = [project / "dbt_project.yml", *project.glob("models/**/*"), *project.glob("macros/**/*")]
    return any(f.is_file() and f.stat().st_mtime > mtime for f in files)


def load(settings: Settings) -> dict[str, Any]:
    """The parsed project (manifest.json), parsed again when missing or older than the project."""
    path = manifest_path(settings)
    if not path.exists() or _project_changed_since(settings, path.stat().st_mtime):
        from pipecast.transform.dbt_runner import dbt_invoke

        log.info("dbt parse: %s is missing or older than the project", path)
        result = dbt_invoke(["parse"], settings)
        if not result.success or not path.exists():
            raise DbtError(f"dbt parse failed: {result.exception}")
    return json.loads(path.read_text(encoding="utf-8"))


def marts(settings: Settings) -> list[Mart]:
    """Every mart of the project, by name."""
    found = []
    for node in load(settings)["nodes"].values():
        fqn = node.get("fqn") or []
        if node["resource_type"] != "model" or len(fqn) < 3 or fqn[1] != MARTS_FOLDER:
            continue
        meta = {**(node.get("meta") or {}), **((node.get("config") or {}).get("meta") or {})}
        columns = {name: c.get("data_type") or "" for name, c in node.get("columns", {}).items()}
        found.append(Mart(node["name"], columns, meta.get(VALIDATE_NEWEST)))
    return sorted(found, key=lambda m: m.name)
