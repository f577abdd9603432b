"""The marts checkpoint's imports run beside the build: in a thread started by dbt's first node,
joined before the checkpoint needs them (pipecast.transform.build.imported_meanwhile)."""

from __future__ import annotations

import inspect
import sys
import threading
from types import SimpleNamespace

from pipecast.transform import publish
from pipecast.transform.build import CHECKPOINT_MODULE, imported_meanwhile


def _event(name: str):
    return SimpleNamespace(info=SimpleNamespace(name=name))


def test_the_module_is_imported_in_a_thread_from_the_first_node_and_ready_on_leaving(tmp_path, monkeypatch):
    (tmp_path / "warm_probe.py").write_text(
        "import threading\nTHREAD = threading.current_thread().name\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "warm_probe", raising=False)

    with imported_meanwhile("warm_probe") as warm:
        warm.on_first_node(_event("MainReportVersion"))  # dbt starting up and parsing: not yet
        assert warm.thread.ident is None and "warm_probe" not in sys.modules
        node_start = _event("NodeStart")
        starters = [threading.Thread(target=warm.on_first_node, args=(node_start,)) for _ in range(4)]
        for starter in starters:  # dbt's threads each report a node start: one import
            starter.start()
        for starter in starters:
            starter.join()

    assert sys.modules["warm_probe"].THREAD == "import warm_probe"
    assert not warm.thread.is_alive()


def test_a_failing_import_is_left_to_the_code_that_needs_the_module(tmp_path, monkeypatch):
    (tmp_path / "broken_probe.py").write_text("raise ImportError('no such library')\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))

    with imported_meanwhile("broken_probe") as warm:
        warm.on_first_node(_event("NodeStart"))

    assert "broken_probe" not in sys.modules


def test_a_build_that_fails_before_its_first_node_imports_nothing():
    with imported_meanwhile("module_that_does_not_exist") as warm:
        pass
    assert warm.thread.ident is None


def test_the_module_warmed_is_the_one_the_marts_checkpoint_imports():
    assert f"from {CHECKPOINT_MODULE} import" in inspect.getsource(publish.check_slots)
