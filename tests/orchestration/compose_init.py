"""docker-compose.yml's warehouse init script, run natively against a test server."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def run_init_script(server) -> None:
    spec = yaml.safe_load(COMPOSE.read_text())
    script = spec["configs"]["warehouse-init"]["content"].replace("$$", "$")  # compose's unescaping
    postgres_env = spec["services"]["postgres"]["environment"]
    env = {
        **os.environ,
        "PGHOST": server.host,
        "PGPORT": str(server.port),
        "POSTGRES_USER": server.user,  # the superuser, as POSTGRES_USER is in the image
        "POSTGRES_DB": "postgres",
        **{k: f"{k.lower()}-secret" for k in postgres_env if k.endswith("_PASSWORD")},
    }
    assert shutil.which("psql"), "psql (PostgreSQL client) is needed to run the init script"
    subprocess.run(["bash", "-c", script], env=env, check=True, capture_output=True, text=True)
