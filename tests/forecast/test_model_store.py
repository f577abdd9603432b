"""Model artefacts: a champion is unpickled only from the model store (state_dir/models) and only
when its sha256 is the one ml.model_runs recorded at training."""

from __future__ import annotations

import hashlib
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import joblib
import pytest
from pipecast.errors import IntegrityError
from pipecast.forecast import registry
from pipecast.forecast.job import run_forecast

from tests.forecast.conftest import AS_OF


class _Payload:
    """Unpickling this runs code (it writes a file): what a tampered model file could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code ran"))


def _champion(path: Path, sha: str | None) -> registry.Champion:
    return registry.Champion("win_probability", "v1", {}, None, str(path), date(2026, 1, 1), sha)


def test_a_model_in_the_store_with_its_recorded_hash_loads(settings):
    path = registry.save_model(settings, "win_probability", "v1", {"coef": [1.0, 2.0]})
    assert path.is_relative_to(settings.state_dir / "models")
    sha = registry.file_sha256(path)
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    assert _champion(path, sha).load(settings) == {"coef": [1.0, 2.0]}


def test_a_tampered_model_file_is_refused_before_any_code_runs(settings, tmp_path):
    path = registry.save_model(settings, "win_probability", "v1", {"coef": [1.0]})
    sha = registry.file_sha256(path)
    marker = tmp_path / "pwned"
    joblib.dump(_Payload(marker), path)  # same path, other content
    with pytest.raises(IntegrityError, match=r"sha256 [0-9a-f]{64} is not .* recorded at training") as err:
        _champion(path, sha).load(settings)
    assert err.value.file == str(path)
    assert not marker.exists()


def test_a_path_outside_the_store_is_refused_even_with_the_right_hash(settings, tmp_path):
    inside = registry.save_model(settings, "win_probability", "v1", {"coef": [1.0]})
    sha = registry.file_sha256(inside)
    outside = tmp_path / "elsewhere" / "v1.joblib"
    outside.parent.mkdir()
    shutil.copy(inside, outside)
    sneaky = settings.state_dir / "models" / ".." / ".." / "elsewhere" / "v1.joblib"
    linked = settings.state_dir / "models" / "win_probability" / "link.joblib"
    linked.symlink_to(outside)
    for path in (outside, sneaky, linked):
        with pytest.raises(IntegrityError, match="outside the model store"):
            _champion(path, sha).load(settings)


def test_a_model_without_a_recorded_hash_is_refused(settings):
    path = registry.save_model(settings, "win_probability", "v1", {"coef": [1.0]})
    with pytest.raises(IntegrityError, match="records no sha256"):
        _champion(path, None).load(settings)


def test_the_forecast_records_each_models_hash_and_the_champion_verifies_it(demo_warehouse, tmp_path):
    settings = demo_warehouse.copy(tmp_path / "state")
    run_forecast(AS_OF, settings)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        runs = con.execute("select model_path, model_sha256 from ml.model_runs").fetchall()
        stored = [(p, sha) for p, sha in runs if p]  # skipped and rule-based rows store no file
        assert stored and all(sha == registry.file_sha256(Path(p)) for p, sha in stored)
        assert all(not sha for p, sha in runs if not p)
        champion = registry.current_champion(con, "win_probability", AS_OF + timedelta(days=1))
        assert champion is not None and champion.model_sha256
        assert champion.load(settings).recipe is not None

        Path(champion.model_path).write_bytes(Path(champion.model_path).read_bytes() + b"\0")
        with pytest.raises(IntegrityError, match="the file changed after training"):
            champion.load(settings)

        # whoever can write ml.model_runs points it elsewhere: refused
        evil = tmp_path / "evil.joblib"
        joblib.dump(_Payload(tmp_path / "pwned"), evil)
        con.execute(
            "update ml.model_runs set model_path = ?, model_sha256 = ?",
            [str(evil), registry.file_sha256(evil)],
        )
        champion = registry.current_champion(con, "win_probability", AS_OF + timedelta(days=1))
        with pytest.raises(IntegrityError, match="outside the model store"):
            champion.load(settings)
        assert not (tmp_path / "pwned").exists()
