"""Which files the settings read: `pipecast.env`, never docker compose's `.env`."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipecast.config import Settings


def test_compose_env_file_does_not_change_a_local_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PIPECAST_TARGET", raising=False)
    (tmp_path / ".env").write_text("PIPECAST_TARGET=postgres\nPIPECAST_DEMO_SIZE=5\n")
    settings = Settings()
    assert settings.target == "duckdb" and settings.demo_size == 20_000


def test_pipecast_env_file_is_read_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pipecast.env").write_text("PIPECAST_DEMO_SIZE=500\nPIPECAST_DEMO_NIGHTS=2\n")
    monkeypatch.setenv("PIPECAST_DEMO_NIGHTS", "4")
    settings = Settings()
    assert settings.demo_size == 500 and settings.demo_nights == 4
