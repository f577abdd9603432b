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
EXPECTED = AIRFLOW_SERVICES | {"postgres", "redis", "superset"}
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
    superset = services["superset"]
    assert "@postgres/superset" in superset["environment"]["SUPERSET_METADATA_URI"]
    assert superset["environment"]["PIPECAST_BI_WAREHOUSE_URI"].startswith("postgresql+psycopg2://bi_reader:")
    # The image provisions the dashboards from the repository's files: the same ones `make bi` uses.
    dockerfile = (ROOT / superset["build"]["dockerfile"]).read_text()
    assert "COPY bi/superset/ " in dockerfile and "provision.py" in dockerfile
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
    required = {
        m.group(1)
        for m in VARIABLE.finditer(COMPOSE.read_text())
        if m.group(2) is None or m.group(2).startswith((":?", "?"))
    }
    assert required <= example, f"variables without default missing from .env.example: {required - example}"
    referenced = {m.group(1) for m in VARIABLE.finditer(COMPOSE.read_text())}
    assert example <= referenced, f".env.example sets variables compose never reads: {example - referenced}"


def test_dockerfile_copies_what_exists():
    # COPY --from copies out of another build stage, not from the repository.
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", (ROOT / "Dockerfile").read_text(), flags=re.MULTILINE)
    sources = [s.rstrip("/") for line in copied for s in line.split()]
    assert sources and all((ROOT / s).exists() for s in sources), sources


# -- secrets, roles and exposure (issue 13, case 8) -----------------------------------------------

SECRET = re.compile(r"PASSWORD|SECRET|FERNET")


class MissingVariable(Exception):
    pass


def interpolate(text: str, env: dict[str, str]) -> str:
    """The Compose Specification's interpolation: ${V}, ${V:-d}, ${V-d}, ${V:?err}, ${V?err}, $$."""

    def one(match: re.Match) -> str:
        name, rest = match.group(1), match.group(2) or ""
        value = env.get(name)
        if rest.startswith(":?") and not value or rest.startswith("?") and value is None:
            raise MissingVariable(f"{name}: {rest.lstrip(':?')}")
        if rest.startswith(":-") and not value:
            return rest[2:]
        if rest.startswith("-") and value is None:
            return rest[1:]
        return value or ""

    return VARIABLE.sub(one, text).replace("$$", "$")


def example_env() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_no_secret_has_a_default_and_compose_refuses_to_start_without_one():
    text = COMPOSE.read_text()
    secrets = {m.group(1): m.group(2) for m in VARIABLE.finditer(text) if SECRET.search(m.group(1))}
    assert {"AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_DB_PASSWORD", "WAREHOUSE_PASSWORD"} <= set(
        secrets
    )
    for match in VARIABLE.finditer(text):
        if SECRET.search(match.group(1)):
            assert (match.group(2) or "").startswith(":?") and len(match.group(2)) > 10, match.group(0)
    assert all(not example_env()[name] for name in secrets), "the example must not ship a secret"

    with pytest.raises(MissingVariable, match=r"AIRFLOW_FERNET_KEY: set AIRFLOW_FERNET_KEY in \.env"):
        interpolate(text, {**example_env(), **dict.fromkeys(secrets, "s3cret"), "AIRFLOW_FERNET_KEY": ""})
    filled = yaml.safe_load(interpolate(text, {**example_env(), **dict.fromkeys(secrets, "s3cret")}))
    env = filled["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__FERNET_KEY"] == "s3cret" and env["PIPECAST_PG_PASSWORD"] == "s3cret"
    assert "s3cret@postgres/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://:s3cret@redis:6379/0"


def test_postgres_is_published_on_localhost_only_by_default():
    secrets = {m.group(1): "x" for m in VARIABLE.finditer(COMPOSE.read_text()) if SECRET.search(m.group(1))}
    spec = yaml.safe_load(interpolate(COMPOSE.read_text(), secrets))  # nothing else set: the defaults
    assert spec["services"]["postgres"]["ports"] == ["127.0.0.1:5432:5432"]
    assert "ports" not in spec["services"]["redis"]


def test_every_service_logs_in_with_its_own_least_privileged_role(spec):
    postgres = spec["services"]["postgres"]["environment"]
    superuser = postgres["POSTGRES_USER"]
    airflow = spec["services"]["airflow-scheduler"]["environment"]
    superset_env = spec["services"]["superset"]["environment"]
    logins = {
        "airflow": re.match(
            r"postgresql\+psycopg2://(\w+):", airflow["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        ).group(1),
        "pipecast": airflow["PIPECAST_PG_USER"],
        "superset": re.match(
            r"postgresql\+psycopg2://(\w+):", superset_env["SUPERSET_METADATA_URI"]
        ).group(1),
    }
    assert logins == {"airflow": "airflow", "pipecast": "pipecast", "superset": "superset"}
    assert superuser not in logins.values()
    script = spec["configs"]["warehouse-init"]["content"]
    for role in (*logins.values(), "bi_reader"):
        assert re.search(rf"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE ", script), role
    assert "SUPERUSER" not in script.replace("NOSUPERUSER", "")
