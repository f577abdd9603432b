"""Load the suite modules kept as reviewable code in ``expectations/`` (Settings.expectations_dir).

Only ``jobs/`` is installed as a package, so ``expectations/`` is mounted, without touching
``sys.path``, as the package ``pipecast_expectations``: ``load("raw_suites")`` imports
``expectations/raw_suites.py`` as ``pipecast_expectations.raw_suites`` (relative imports between
suite modules work). Changing ``expectations_dir`` within a process re-mounts the package.
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path

from pipecast.config import Settings, get_settings

PACKAGE = "pipecast_expectations"


def load(module: str, settings: Settings | None = None) -> types.ModuleType:
    """Import ``<expectations_dir>/<module>.py``."""
    settings = settings or get_settings()
    directory = Path(settings.expectations_dir).resolve()
    if not (directory / f"{module}.py").is_file():
        raise FileNotFoundError(f"no suite module {module}.py in {directory}")
    _mount(directory)
    return importlib.import_module(f"{PACKAGE}.{module}")


def _mount(directory: Path) -> None:
    package = sys.modules.get(PACKAGE)
    if package is not None and list(getattr(package, "__path__", [])) == [str(directory)]:
        return
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]
    package = types.ModuleType(PACKAGE, f"Suite modules from {directory}")
    package.__path__ = [str(directory)]
    sys.modules[PACKAGE] = package
    importlib.invalidate_caches()
