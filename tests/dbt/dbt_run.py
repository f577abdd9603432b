"""dbt commands for the tests, through pipecast's in-process runner, failing with dbt's messages."""

from __future__ import annotations

from pipecast.config import Settings
from pipecast.transform.dbt_runner import dbt_invoke

WITHOUT_TESTS = ["--exclude-resource-type", "test", "unit_test"]


def run_dbt(settings: Settings, *args: str, dbt_vars: dict | None = None) -> list:
    """Invoke dbt (e.g. "build", "--full-refresh") with ``dbt_vars`` beside the settings' vars;
    return its node results, raise on failure."""
    result = dbt_invoke(list(args), settings, dbt_vars)
    if result.exception is not None:
        raise RuntimeError(f"dbt {' '.join(args)} could not run: {result.exception}") from result.exception
    nodes = list(getattr(result.result, "results", None) or [])  # node results of build/run
    failures = [
        f"{r.node.resource_type} {r.node.name}: {r.status}: {r.message}"
        for r in nodes
        if str(r.status) in ("error", "fail")
    ]
    if not result.success or failures:
        raise AssertionError(f"dbt {' '.join(args)} failed:\n  " + "\n  ".join(failures))
    return nodes
