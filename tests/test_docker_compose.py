"""docker-compose.yml, checked without a Docker engine: it is valid against the Compose Specification
(the JSON schema check-jsonschema vendors), and it wires the deployment Airflow's own compose file
describes. Its PostgreSQL init script runs on a real server in tests/orchestration."""

from __future__ import annotations

import copy
import json
import re
from importlib import resources
from pathlib import Path

import pytest
import yaml
from pipecast.config import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}
EXPECTED = AIRFLOW_SERVICES | {"postgres", "redis", "metabase"}
VARIABLE = re.compile(r"(?<!\$)\$\{(\w+)(:?[-?][^}]*)?\}")  # $${X} is escaped: not a variable


@pytest.fixture(scope="module")
def spec() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def compose_schema() -> dict:
    vendor = pytest.importorskip(
        "check_jsonschema.builtin_schemas.vendor",
        reason="the Compose Specification schema ships with check-jsonschema (a dev dependency)",
    )
    return json.loads((resources.files(vendor) / "compose-spec.json").read_text())


def schema_errors(spec: dict, schema: dict) -> list[str]:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(spec)]


def test_compose_file_is_valid_against_the_compose_specification(spec, compose_schema):
    assert schema_errors(spec, compose_schema) == []


def test_the_schema_check_catches_a_broken_service(spec, compose_schema):
    broken = copy.deepcopy(spec)
    broken["services"]["redis"]["healthcheck"]["intervall"] = "10s"  # a typo
    broken["services"]["airflow-scheduler"]["depends_on"] = "postgres"  # not a list or mapping
    errors = schema_errors(broken, compose_schema)
    assert any("intervall" in e for e in errors) and any("depends_on" in e for e in errors), errors


def test_compose_declares_the_airflow_deployment(spec):
    services = spec["services"]
    assert set(services) == EXPECTED
    for name, service in services.items():
        assert "image" in service, name
        if name != "airflow-init":
            assert service["healthcheck"]["test"], f"{name} has no healthcheck"
            assert service["restart"] == "always", name
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
    airflow = {n: services[n] for n in AIRFLOW_SERVICES}
    envs = [s["environment"] for s in airflow.values()]
    for key in (
        "AIRFLOW__CORE__EXECUTOR",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW__API_AUTH__JWT_SECRET",
    ):
        assert len({e[key] for e in envs}) == 1, f"{key} differs between the Airflow services"
    assert envs[0]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert "@postgres/airflow" in envs[0]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert envs[0]["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    assert envs[0]["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    for name, service in airflow.items():
        assert any(v.endswith(":/opt/pipecast/landing") for v in service["volumes"]), name
        if name != "airflow-init":
            assert service["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    assert services["airflow-worker"]["command"] == "airflow celery worker"
    assert "airflow pools set duckdb_writer 1" in " ".join(services["airflow-init"]["command"])
    assert services["metabase"]["environment"]["MB_DB_HOST"] == "postgres"
    used_volumes = {
        v.split(":")[0]
        for s in services.values()
        for v in s.get("volumes", [])
        if not v.startswith(("$", "."))
    }
    assert used_volumes == set(spec["volumes"])


def test_pipecast_variables_are_settings_and_every_variable_has_an_example(spec):
    env = spec["services"]["airflow-scheduler"]["environment"]
    dbt_reads = set(re.findall(r"env_var\('(\w+)'", (ROOT / "dbt_project" / "profiles.yml").read_text()))
    known = {f"PIPECAST_{f.upper()}" for f in Settings.model_fields} | dbt_reads
    unknown = [k for k in env if k.startswith("PIPECAST_") and k not in known]
    assert unknown == []  # a typo would be silently ignored
    example = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    required = {m.group(1) for m in VARIABLE.finditer(COMPOSE.read_text()) if m.group(2) in (None, ":?")}
    assert required <= example, f"variables without default missing from .env.example: {required - example}"
    referenced = {m.group(1) for m in VARIABLE.finditer(COMPOSE.read_text())}
    assert example <= referenced, f".env.example sets variables compose never reads: {example - referenced}"


def test_dockerfile_copies_what_exists():
    copied = re.findall(r"^COPY (.+) \S+$", (ROOT / "Dockerfile").read_text(), flags=re.MULTILINE)
    sources = [s.rstrip("/") for line in copied for s in line.split()]
    assert sources and all((ROOT / s).exists() for s in sources), sources
