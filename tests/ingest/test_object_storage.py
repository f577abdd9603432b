"""The landing zone in S3: a real S3 API (moto's server on a free local port) reached through
s3fs with the endpoint and credentials of settings.landing_storage_options, as a deployment
points pipecast at its bucket. DuckDB reads the files through the same fsspec filesystem."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import s3fs
from moto.server import ThreadedMotoServer
from pipecast.canonical import COMPLETION_MARKER, ENTITIES, MANIFEST_FILE
from pipecast.demo.generator import generate_demo_exports
from pipecast.ingest import IngestError, ingest_export
from pipecast.ingest.schedule import LOAD, VALIDATE, plan
from pipecast.pipeline import pending_exports

from tests.ingest.conftest import query
from tests.lifecycle_steps import mark_validated

BUCKET = "crm-exports"
GOOD, TRUNCATED = date(2026, 11, 27), date(2026, 11, 28)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def s3_endpoint(monkeypatch) -> Iterator[str]:
    # Talk to the local server directly, whatever proxy or AWS profile the machine has.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _upload(fs: s3fs.S3FileSystem, folder: Path, prefix: str) -> None:
    """Upload an export folder as a CRM's sync would: data files first, the marker last."""
    files = sorted(p for p in folder.iterdir() if p.name != COMPLETION_MARKER)
    for path in files:
        fs.put_file(str(path), f"{prefix}/{path.name}")
    fs.pipe(f"{prefix}/{COMPLETION_MARKER}", b"")


def test_demo_export_in_s3_loads_through_s3fs(settings, tmp_path, s3_endpoint):
    local = tmp_path / "generated"
    generate_demo_exports(local, tmp_path / "truth.csv", size=300, as_of=TRUNCATED, nights=2)
    # The second night arrives cut short: its manifest's row count gives it away.
    history = local / TRUNCATED.isoformat() / "opportunity_stage_history.csv"
    lines = history.read_bytes().splitlines(keepends=True)
    history.write_bytes(b"".join(lines[: len(lines) // 2]))

    options = {"endpoint_url": s3_endpoint, "key": "testing", "secret": "testing"}
    remote = settings.model_copy(
        update={"landing_url": f"s3://{BUCKET}/exports", "landing_storage_options": options}
    )
    fs = s3fs.S3FileSystem(**options)
    fs.mkdir(BUCKET)
    for day in (GOOD, TRUNCATED):
        _upload(fs, local / day.isoformat(), f"{BUCKET}/exports/{day.isoformat()}")

    assert pending_exports(remote) == [GOOD, TRUNCATED]
    result = ingest_export(GOOD, remote)
    manifest = json.loads((local / GOOD.isoformat() / MANIFEST_FILE).read_text())
    expected = {
        name.removesuffix(".csv"): info["rows"]
        for name, info in manifest["files"].items()
        if name.removesuffix(".csv") in ENTITIES
    }
    assert result.rows == expected and expected["opportunities"] > 0
    [(source_file, loaded)] = query(
        remote,
        "select any_value(_source_file), count(*) from raw.opportunity_stage_history where _export_date = ?",
        [GOOD],
    )
    assert source_file == f"s3://{BUCKET}/exports/{GOOD.isoformat()}/opportunity_stage_history.csv"
    assert loaded == expected["opportunity_stage_history"]
    # Archived byte for byte from the bucket; the export stays in the bucket and is not pending.
    archived = remote.archive_dir / GOOD.isoformat()
    for path in (local / GOOD.isoformat()).iterdir():
        assert (archived / path.name).read_bytes() == path.read_bytes(), path.name
    assert fs.exists(f"{BUCKET}/exports/{GOOD.isoformat()}/opportunities.csv")
    # Loaded, not validated: pending to validate; once validated, done (its files unchanged).
    assert plan(remote) == [(GOOD, VALIDATE), (TRUNCATED, LOAD)]
    mark_validated(remote, GOOD)
    assert pending_exports(remote) == [TRUNCATED]

    with pytest.raises(IngestError) as caught:
        ingest_export(TRUNCATED, remote)
    assert "truncated" in caught.value.message
    assert caught.value.file == f"s3://{BUCKET}/exports/{TRUNCATED.isoformat()}/opportunity_stage_history.csv"
    fs.invalidate_cache()
    assert not fs.exists(f"{BUCKET}/exports/{TRUNCATED.isoformat()}")
    [quarantined] = remote.quarantine_dir.glob(f"{TRUNCATED.isoformat()}_*")
    assert (quarantined / "opportunity_stage_history.csv").read_bytes() == history.read_bytes()
    # The good night's rows stay as they were.
    assert query(remote, "select count(*) from raw.opportunities where _export_date = ?", [GOOD]) == [
        (expected["opportunities"],)
    ]
