"""One error base class: what it says, how the CLI reports it (one line, exit 2, no traceback) and
how a DAG task fails on it (at once, without retries)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException
from pipecast import pipeline
from pipecast.errors import ConfigurationError, DbtError, InputError, IntegrityError, PipecastError
from pipecast.ingest import IngestError
from pipecast.orchestration.failures import fail_without_retry

PIPECAST = Path(sys.executable).with_name("pipecast")


def test_the_error_names_file_line_and_column_where_known():
    full = PipecastError("bad amount", "a.csv", 12, "amount")
    assert str(full) == "file a.csv, line 12, column 'amount': bad amount"
    assert str(PipecastError("bad amount", "a.csv")) == "file a.csv: bad amount"
    assert str(PipecastError("no file")) == "no file"


def test_every_pipecast_error_shares_the_base_class():
    assert issubclass(IngestError, InputError) and issubclass(pipeline.ValidationFailed, InputError)
    assert issubclass(ConfigurationError, PipecastError) and issubclass(IntegrityError, PipecastError)
    assert issubclass(DbtError, PipecastError) and not issubclass(DbtError, InputError)
    err = IngestError("unparseable date", "opportunities.csv", 3, "close_date")
    assert (err.file, err.line, err.column) == ("opportunities.csv", 3, "close_date")


def _cli(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PIPECAST_STATE_DIR": str(tmp_path / "state"), **env}
    return subprocess.run([str(PIPECAST), *args], capture_output=True, text=True, env=environ, timeout=120)


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["ingest", "--date", "2026-01-01"], {}, "no export for 2026-01-01 in the landing zone"),
        (["build"], {"PIPECAST_TARGET": "oracle"}, "PIPECAST_TARGET: Input should be 'duckdb' or 'postgres'"),
        (["report"], {"PIPECAST_PG_PORT": "five"}, "PIPECAST_PG_PORT: Input should be a valid integer"),
    ],
)
def test_cli_prints_one_line_without_traceback_and_exits_2(tmp_path, args, env, expected):
    done = _cli(args, tmp_path, **env)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pipecast: error: ") and expected in lines[0]
    assert "Traceback" not in done.stderr


def test_cli_keeps_the_traceback_of_an_operational_failure(tmp_path, monkeypatch):
    """Not input or configuration: the traceback is what an engineer needs (and exit is not 2)."""
    from pipecast import cli

    monkeypatch.setenv("PIPECAST_STATE_DIR", str(tmp_path / "state"))

    def broken(*_a, **_k):
        raise DbtError("dbt could not run: connection refused")

    monkeypatch.setattr(pipeline, "build", broken)
    with pytest.raises(DbtError, match="connection refused"):
        cli.main(["build"])


def test_a_task_fails_at_once_on_bad_input_and_is_retried_otherwise():
    @fail_without_retry
    def bad_input() -> None:
        raise pipeline.ValidationFailed("raw validation failed: between(amount)")

    @fail_without_retry
    def database_down() -> None:
        raise DbtError("connection refused")

    @fail_without_retry
    def fine(x: int, **context) -> int:
        return x + len(context)

    with pytest.raises(AirflowFailException, match="ValidationFailed: raw validation failed"):
        bad_input()
    with pytest.raises(DbtError):  # left for Airflow's retries
        database_down()
    assert fine(1, a=1) == 2
