"""docker-compose.yml is checked statically: there is no Docker engine on these machines."""

from __future__ import annotations

from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"
EXPECTED = {
    "postgres",
    "redis",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "metabase",
}


def test_compose_file_declares_the_deployment():
    spec = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    assert EXPECTED <= set(services)
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        if name != "airflow-init":
            assert "healthcheck" in service, f"{name} has no healthcheck"
    airflow = [s for n, s in services.items() if n.startswith("airflow-")]
    assert all(s["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor" for s in airflow)
    assert all("/opt/pipecast/landing" in " ".join(s["volumes"]) for s in airflow)
