"""The terminal progress filter over `airflow dags test` output (lines as Airflow 3.3 prints them)."""

from __future__ import annotations

import io
import itertools

from pipecast.orchestration.progress import RunProgress, follow, main

LOG = """\
2026-12-02T04:39:39.595752Z [info     ] [DAG TEST] starting task_id=ingest map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1501
2026-12-02T04:39:39.687430Z [info     ] Task started                   [airflow.api_fastapi.execution_api.routes.task_instances] correlation_id=x hostname=vm loc=task_instances.py:226 previous_state=queued ti_id=y
2026-12-02T04:39:42.324973Z [info     ] loaded export 2026-11-29 (generic layout): 28,000 rows in 1.76 s [pipecast.ingest.loader] loc=loader.py:1
2026-12-02T04:39:45.697376Z [info     ] Task instance state updated    [airflow.api_fastapi.execution_api.routes.task_instances] correlation_id=z loc=task_instances.py:485 new_state=success rows_affected=1 ti_id=y
2026-12-02T04:39:45.765693Z [info     ] [DAG TEST] end task task_id=ingest map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1563
2026-12-02T04:39:45.824757Z [info     ] [DAG TEST] starting task_id=validate_raw map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1501
2026-12-02T04:39:46.000000Z [error    ] Task failed with exception     [task] loc=task_runner.py:1
2026-12-02T04:39:46.100000Z [info     ] Task instance state updated    [airflow.api_fastapi.execution_api.routes.task_instances] correlation_id=z loc=task_instances.py:485 new_state=failed rows_affected=1 ti_id=w
2026-12-02T04:39:46.200000Z [info     ] [DAG TEST] end task task_id=validate_raw map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1563
not a structured line: kept in the log only
"""


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
