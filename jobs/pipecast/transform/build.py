"""The night's `dbt build`: run it (pipecast.transform.dbt_runner), then validate and publish the
marts it built in one switch (pipecast.transform.publish).

It sits above dbt_runner: publishing runs the marts checkpoint, whose mart list comes from dbt's
manifest, which runs `dbt parse` when it is stale; so the build imports the runner, never the
other way round.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from pipecast.config import Settings
from pipecast.errors import DbtError
from pipecast.transform import publish
from pipecast.transform.dbt_runner import dbt_invoke, import_dbt

log = logging.getLogger(__name__)

# What the marts checkpoint after the build imports: Great Expectations and what it pulls in
# (pandas, SciPy, SQLAlchemy, Altair) take 14 s of one core to import on a slow 2-core machine,
# the largest fixed cost of a night's build at L.
CHECKPOINT_MODULE = "pipecast.validate.marts"


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
    args = ["build"]
    if select:
        args += ["--select", select]
    if full_refresh:
        args.append("--full-refresh")
    import_dbt()
    with imported_meanwhile(CHECKPOINT_MODULE) as start_import:
        res = dbt_invoke(args, settings, dbt_vars=dbt_vars, callbacks=[start_import.on_first_node])
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


class _Import:
    """Import a module in a thread, started by dbt's first node (pipecast.transform.build)."""

    def __init__(self, module: str) -> None:
        self.module = module
        self.thread = threading.Thread(target=self._run, name=f"import {module}", daemon=True)
        self._starting = threading.Lock()  # dbt calls back from each of its threads

    def on_first_node(self, event) -> None:
        """A dbt event callback: start the import when the first node starts (parsing is over)."""
        if event.info.name == "NodeStart" and self.thread.ident is None:
            with self._starting:
                if self.thread.ident is None:
                    self.thread.start()

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            importlib.import_module(self.module)
        except Exception:  # raised again, and reported, by the import that needs the module
            log.debug("importing %s beside the build failed", self.module, exc_info=True)
            return
        log.debug("imported %s beside the build in %.1f s", self.module, time.perf_counter() - started)


@contextmanager
def imported_meanwhile(module: str) -> Iterator[_Import]:
    """Import ``module`` in a thread once dbt runs its first node, and wait for it on leaving.

    dbt spends a build's nodes waiting on the database (DuckDB and PostgreSQL run the SQL without
    Python's lock), so the checkpoint's imports made meanwhile take wall time that was idle:
    at L on 2 cores they had added 10-14 s after dbt finished. Not during dbt's start-up and
    parsing, which hold Python's lock: an import beside them slowed both. An import that fails
    here is left to fail again, with its own error, where the module is used."""
    warm = _Import(module)
    try:
        yield warm
    finally:
        if warm.thread.ident is not None:
            warm.thread.join()
