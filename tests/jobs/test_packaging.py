"""The project installs two import packages: pipecast (jobs/pipecast) and the Great Expectations
suites, pipecast_expectations (the folder expectations/). pyproject.toml lists them because a folder
installed under another name is not found by setuptools' package discovery: a package missing
from the list would import in an editable install and be missing from the wheel and the image."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"pipecast": ROOT / "jobs" / "pipecast", "pipecast_expectations": ROOT / "expectations"}


def _packages_on_disk() -> set[str]:
    found = set()
    for name, folder in FOLDERS.items():
        for init in folder.rglob("__init__.py"):
            if "node_modules" not in init.parts:
                found.add(".".join((name, *init.parent.relative_to(folder).parts)))
    return found


def test_pyproject_lists_every_package_of_both_folders():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(setuptools["packages"]) == _packages_on_disk()
    assert setuptools["package-dir"] == {"": "jobs", "pipecast_expectations": "expectations"}


def test_the_suites_import_from_the_expectations_folder():
    """The installed package is the folder itself (editable install): an edited suite runs."""
    spec = importlib.util.find_spec("pipecast_expectations.raw_suites")
    assert spec is not None and spec.origin is not None
    assert Path(spec.origin) == FOLDERS["pipecast_expectations"] / "raw_suites.py"
