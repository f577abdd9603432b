"""The night's `dbt build`: run it (pipecast.transform.dbt_runner), then validate and publish the
marts it built in one switch (pipecast.transform.publish).

It sits above dbt_runner: publishing runs the marts checkpoint, whose mart list comes from dbt's
manifest, which runs `dbt parse` when it is stale; so the build imports the runner, never the
other way round.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from pipecast.config import Settings
from pipecast.errors import DbtError
from pipecast.transform import publish
from pipecast.transform.dbt_runner import dbt_invoke

# dbt's unit tests check the models' SQL on fixed inputs, so a night, whose SQL is the one CI
# tested, has nothing to learn from them (dbt's docs: run them in development and CI, not in
# production). The suite runs them (tests/dbt: every `dbt build` there is dbt's own, unit tests
# included); the night leaves them out, 7 nodes, about 2 s of a 20k-deal build on 2 cores.
NIGHTLY_EXCLUDES = ["--exclude-resource-type", "unit_test"]


@dataclass
class DbtBuildResult:
    success: bool
    statuses: dict[str, Counter] = field(default_factory=dict)  # resource type -> status counts
    failures: list[str] = field(default_factory=list)
    published: dict[str, str] = field(default_factory=dict)  # unit -> slot schema now serving
    publish_seconds: float = 0.0

    @property
    def models_built(self) -> int:
        return self.statuses.get("model", Counter()).get("success", 0)

    @property
    def tests_passed(self) -> int:
        return self.statuses.get("test", Counter()).get("pass", 0)

    @property
    def tests_failed(self) -> int:
        c = self.statuses.get("test", Counter())
        return c.get("fail", 0) + c.get("error", 0)


def build_vars(settings: Settings, units: Sequence[str]) -> dict[str, dict[str, str]]:
    """The dbt vars of a build of ``units``: the slot schema each unit's marts are written to
    (publish.next_schemas). dbt keeps a parse state per set of vars (dbt_runner)."""
    return {"publish_schemas": publish.next_schemas(settings, units)}


def dbt_build(
    settings: Settings,
    select: str | None = None,
    full_refresh: bool = False,
    units: Sequence[str] | None = None,
) -> DbtBuildResult:
    """`dbt build` (models, snapshots, seeds and tests in DAG order); raise DbtError on failure.

    The marts of ``units`` (default: every unit, pipecast.transform.publish.UNITS; ``select``
    must then cover each unit whole) are built into their unpublished slot schemas and published
    in one transaction once every model and test has passed and the marts checkpoint has validated
    the slots (publish.check_slots); on any failure nothing is published
    and the previous night's marts keep serving."""
    units = list(publish.UNITS) if units is None else list(units)
    dbt_vars = build_vars(settings, units)
    schemas = dbt_vars["publish_schemas"]
    args = ["build", *NIGHTLY_EXCLUDES]
    if select:
        args += ["--select", select]
    if full_refresh:
        args.append("--full-refresh")
    res = dbt_invoke(args, settings, dbt_vars=dbt_vars)
    result = DbtBuildResult(success=bool(res.success))
    if res.exception is not None:
        raise DbtError(f"dbt could not run: {res.exception}") from res.exception
    built: dict[str, list[str]] = {unit: [] for unit in units}
    for node_result in res.result or []:
        node = node_result.node
        status = str(node_result.status)
        result.statuses.setdefault(node.resource_type, Counter())[status] += 1
        if status in ("error", "fail"):
            result.failures.append(f"{node.resource_type} {node.name}: {status}: {node_result.message}")
        if node.resource_type == "model" and node.schema in schemas.values():
            built[node.fqn[1]].append(node.alias or node.name)
    if not result.success:
        raise DbtError(
            "dbt build failed (nothing published: the previous night's marts still serve):\n  "
            + "\n  ".join(result.failures)
        )
    to_publish = {unit: (schemas[unit], sorted(models)) for unit, models in built.items() if models}
    if to_publish:
        publish.check_slots(settings, to_publish)  # a mart failing its suite is never published
        result.publish_seconds = publish.publish(settings, to_publish)
        result.published = {unit: schema for unit, (schema, _) in to_publish.items()}
    return result
