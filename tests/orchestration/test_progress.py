"""The terminal progress filter over `airflow dags test` output (lines as Airflow 3.3 prints them)."""

from __future__ import annotations

import io
import itertools

from pipecast.orchestration.progress import RunProgress, follow, main

DAG = "[airflow.sdk.definitions.dag] loc=dag.py:1501"
API = "[airflow.api_fastapi.execution_api.routes.task_instances] correlation_id=z loc=task_instances.py:485"


def _line(second: str, level: str, text: str) -> str:
    return f"2026-12-02T04:39:{second}Z [{level:<9}] {text}\n"


LOG = "".join(
    [
        _line("39.595752", "info", f"[DAG TEST] starting task_id=ingest map_index=-1 {DAG}"),
        _line("39.687430", "info", f"Task started                   {API} previous_state=queued ti_id=y"),
        _line(
            "42.324973",
            "info",
            "loaded export 2026-11-29 (generic layout): 28,000 rows in 1.76 s "
            "[pipecast.ingest.loader] loc=loader.py:1",
        ),
        _line("45.697376", "info", f"Task instance state updated    {API} new_state=success ti_id=y"),
        _line("45.765693", "info", f"[DAG TEST] end task task_id=ingest map_index=-1 {DAG}"),
        _line("45.824757", "info", f"[DAG TEST] starting task_id=validate_raw map_index=-1 {DAG}"),
        _line("46.000000", "error", "Task failed with exception     [task] loc=task_runner.py:1"),
        _line("46.100000", "info", f"Task instance state updated    {API} new_state=failed ti_id=w"),
        _line("46.200000", "info", f"[DAG TEST] end task task_id=validate_raw map_index=-1 {DAG}"),
        "not a structured line: kept in the log only\n",
    ]
)


def _run(text: str) -> tuple[list[str], RunProgress, str]:
    ticks = itertools.count(0.0, 1.5)
    progress = RunProgress(clock=lambda: next(ticks))
    log = io.StringIO()
    shown = list(follow(io.StringIO(text), log, io.StringIO(), progress))
    return shown, progress, log.getvalue()


def test_shows_tasks_with_seconds_and_pipecast_messages_only() -> None:
    shown, progress, log = _run(LOG)
    assert log == LOG  # every line kept
    assert [line.split("]", 1)[1].strip() for line in shown] == [
        "> ingest",
        "loaded export 2026-11-29 (generic layout): 28,000 rows in 1.76 s",
        "ok ingest (6.0 s)",
        "> validate_raw",
        "Task failed with exception",
        "FAILED validate_raw (4.5 s)",
    ]
    assert progress.failed()
    assert progress.summary().startswith("DAG run FAILED: 1 of 2 tasks succeeded")


def test_a_successful_run_exits_zero(tmp_path, monkeypatch, capsys) -> None:
    ok_only = "".join(LOG.splitlines(keepends=True)[:5])
    monkeypatch.setattr("sys.stdin", io.StringIO(ok_only))
    assert main(["--log", str(tmp_path / "run.log")]) == 0
    out = capsys.readouterr().out
    assert "ok ingest" in out and "DAG run finished: 1 of 1 tasks succeeded" in out
    assert (tmp_path / "run.log").read_text() == ok_only
    monkeypatch.setattr("sys.stdin", io.StringIO(LOG))
    assert main(["--log", str(tmp_path / "run2.log")]) == 1
