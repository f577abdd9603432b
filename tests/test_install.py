"""`make install` leaves the installed packages compiled to bytecode (uv pip sync --compile-bytecode).

uv, unlike pip, does not compile at install, and where PYTHONDONTWRITEBYTECODE is set no import
writes a .pyc either: every process of the night (each Airflow task, dbt, the checkpoints) would
compile every module it imports from source again, 16 s for Great Expectations alone on a 2-core
machine instead of 6 s. The Makefile's comment has the measurements.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import pytest

# The heavy imports of the night's processes: validation, dbt, Airflow, the forecast, MLflow.
PACKAGES = ["great_expectations", "dbt.cli.main", "airflow.models", "sklearn.ensemble", "mlflow", "duckdb"]


@pytest.mark.parametrize("name", PACKAGES)
def test_installed_packages_carry_their_bytecode(name: str) -> None:
    module = importlib.import_module(name)
    source = Path(module.__file__)
    cached = Path(importlib.util.cache_from_source(str(source)))
    assert cached.is_file(), f"{name}: no bytecode beside {source} (install with --compile-bytecode)"
    # and not only the module's own file: the package's other modules too
    modules = [p for p in source.parent.glob("*.py")]
    compiled = [p for p in modules if Path(importlib.util.cache_from_source(str(p))).is_file()]
    assert len(compiled) == len(modules), sorted({str(p) for p in modules} - {str(p) for p in compiled})[:5]
