"""The Maven Analytics CRM sample (../shared/datasets/maven_crm_pipeline) as a landing-zone export.

The files are read where they are and copied into the test's temporary landing zone (ingest refuses
symlinks that leave the export folder); nothing is copied into the repository. Ingest maps them
with mappings/maven_crm_pipeline.yml.
"""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

from pipecast.canonical import COMPLETION_MARKER
from pipecast.config import PROJECT_ROOT

# ../shared/datasets from the project's root; PIPECAST_TEST_DATASETS points elsewhere (a git worktree)
DATASETS = Path(os.environ.get("PIPECAST_TEST_DATASETS", PROJECT_ROOT.parent / "shared" / "datasets"))
MAVEN = DATASETS / "maven_crm_pipeline"
EXPORT_DATE = date(2017, 12, 31)  # the day after the last close date
FILES = ("sales_pipeline.csv", "accounts.csv", "products.csv", "sales_teams.csv")
MAPPING = PROJECT_ROOT / "mappings" / "maven_crm_pipeline.yml"


def unavailable_reason() -> str | None:
    if not all((MAVEN / name).exists() for name in FILES):
        return f"the Maven CRM sample is not at {MAVEN}"
    if not MAPPING.exists():
        return f"no mapping for the Maven layout at {MAPPING}"
    return None


def write_maven_export(landing: Path) -> Path:
    folder = landing / EXPORT_DATE.isoformat()
    folder.mkdir(parents=True)
    for name in FILES:
        shutil.copyfile(MAVEN / name, folder / name)
    (folder / COMPLETION_MARKER).write_text("")
    return folder
