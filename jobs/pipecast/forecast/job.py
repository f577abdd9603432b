"""The nightly forecast job: a short chain over the registered models.

context -> horizons -> for each model of ``MODELS``: backtest, select, fit, score -> one write-back
transaction -> report.

1. Context (``model_spec.night_context``): the night's horizons from the cycle lengths in the
   warehouse, the training cut-offs, point-in-time snapshots of the deals open at each.
2. Each model, in the order of ``MODELS`` (``model_spec.ForecastModel``): win probability
   (champion/challenger on the deal backtest, the CRM's probability and the calibrated stage model
   among the candidates), close timing, the deal amount (the per-deal scores with their drivers),
   new business, the period revenue forecast (P10/P50/P90 per segment; its backtest is the forecast
   ledger), product propensity and lead conversion. The last two read only the warehouse
   (``independent``) and run on a second thread beside the others (``run_models``).
3. One write-back: every model's rows, ml.backtests and ml.model_runs (model files, MLflow), in the
   workspace's one transaction; the dbt forecast marts rebuilt.

Small or young warehouses degrade with a logged warning (a model falls back to class frequencies,
a backtest or an optional model is skipped); the night does not fail for lack of data. Adding a
model: one module (a ``ForecastModel``) and one line in ``MODELS``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from functools import partial

import duckdb
import pandas as pd

from pipecast.config import Settings
from pipecast.forecast import parallel, win_models
from pipecast.forecast.backtest_ledger import Publish
from pipecast.forecast.model_runs import record_versions
from pipecast.forecast.model_spec import (
    ForecastModel,
    ModelVersion,
    Night,
    SkippedModel,
    empty_metrics,
    night_context,
    skipped_version,
    with_rows,
)
from pipecast.forecast.models.close_timing import CloseTiming
from pipecast.forecast.models.deal_amount import DealAmount
from pipecast.forecast.models.lead_conversion import LeadConversion
from pipecast.forecast.models.new_business import NewBusiness
from pipecast.forecast.models.product_propensity import ProductPropensity
from pipecast.forecast.models.revenue_forecast import RevenueForecast
from pipecast.forecast.models.win_probability import WinProbability
from pipecast.forecast.sources import SOURCES
from pipecast.forecast.writeback import ML_TABLES, ensure_ml_tables, replace_night, table_columns
from pipecast.warehouse import workspace

log = logging.getLogger(__name__)

# Every model of the night, in the order they run: a model reads what the ones before it publish.
MODELS: list[type[ForecastModel]] = [
    WinProbability,
    CloseTiming,
    DealAmount,
    NewBusiness,
    RevenueForecast,
    ProductPropensity,
    LeadConversion,
]


@dataclass
class ForecastResult:
    as_of: date
    run_id: str
    model_version: str
    open_deals_scored: int
    train_rows: int
    revenue: pd.DataFrame = field(default_factory=pd.DataFrame)
    backtest: pd.DataFrame = field(default_factory=pd.DataFrame)
    ledger: pd.DataFrame = field(default_factory=pd.DataFrame)
    decisions: dict[str, str] = field(default_factory=dict)


@dataclass
class ModelRun:
    """One model's night: its backtest rows, its rows per ml table and its ml.model_runs row."""

    model: ForecastModel
    metrics: pd.DataFrame
    rows: dict[str, pd.DataFrame]
    version: ModelVersion | None = None
    skipped: bool = False


def run_forecast(
    as_of: date | None,
    settings: Settings,
    models: Sequence[type[ForecastModel]] | None = None,
    full_backtest: bool = False,
) -> ForecastResult:
    models = MODELS if models is None else models
    tables = night_tables(models)
    run_id = uuid.uuid4().hex
    with parallel.forecast_limits(settings), workspace(settings, pulls=SOURCES, atomic=True) as ws:
        con = ws.con
        ensure_ml_tables(con, tables)
        if as_of is None:
            as_of = con.execute("select max(export_date) from staging.stg_crm__opportunities").fetchone()[0]
        if as_of is None:
            raise RuntimeError("no opportunities in the warehouse: ingest and build first")
        result = _run(con, as_of, settings, run_id, models, tables, ws.publish, full_backtest)
        for table in tables:
            if table != "model_runs":
                ws.publish("ml", table, "where as_of = $1", [as_of])
        ws.publish("ml", "model_runs")  # all nights: is_current moves to the newest champion
    if settings.forecast_build_marts:
        from pipecast.forecast.marts import build_forecast_marts

        build_forecast_marts(settings)
    return result


def night_tables(models: Sequence[type[ForecastModel]]) -> dict[str, str]:
    """ML_TABLES and the tables the models declare (name -> columns); a model that declares one of
    ML_TABLES with other columns is a programming error, named."""
    tables = dict(ML_TABLES)
    for model in models:
        for table, ddl in model.tables.items():
            if tables.setdefault(table, ddl) != ddl:
                raise ValueError(f"model {model.name} declares ml.{table} with columns other than its own")
    return tables


def _run(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    settings: Settings,
    run_id: str,
    models: Sequence[type[ForecastModel]],
    tables: dict[str, str],
    publish: Publish,
    full_backtest: bool = False,
) -> ForecastResult:
    night = night_context(con, as_of, settings, run_id, datetime.now(UTC).replace(tzinfo=None))
    night.publish = publish
    night.reuse_backtests = not full_backtest
    runs = run_models([model() for model in models], night)
    night.metrics = _metrics(runs)
    for run in runs:
        if not run.skipped:
            _guarded(night, run, partial(_record_version, run, night))
    metrics = _metrics(runs)
    headline = night.versions.get(win_models.MODEL_NAME, "")
    for run in runs:
        for table, frame in run.rows.items():
            replace_night(con, table, as_of, frame, tables[table], settings=settings)
    replace_night(
        con,
        "backtests",
        as_of,
        metrics.assign(run_id=run_id, as_of=as_of, model_version=headline),
        settings=settings,
    )
    versions = [run.version for run in runs if run.version is not None]
    decisions = record_versions(con, settings, as_of, run_id, night.now, versions, night.notes, night.hz)
    return _report(night, runs, metrics, headline, decisions)


def run_models(models: Sequence[ForecastModel], night: Night) -> list[ModelRun]:
    """Each model's run, in the order of ``models``.

    With ``forecast_models_beside``, the ``independent`` ones (they read only the warehouse, and
    no model reads what they set) run in turn on a thread of their own, on their own connection
    (a cursor of the night's: the same database; the night's transaction writes only ml.*, which
    they do not read), while the others run here. Both threads' work is mostly single-threaded
    fits and scoring, so the second core does the side thread's; OpenMP there is held to
    ``forecast_openmp_threads`` as it is here. The rows are the same as in turn: each model's fits
    have their own seeds (tests/forecast/test_job.py). At L the night's forecast took 15% less
    wall time for 0.4 GB more peak memory (README, "Benchmark")."""
    beside = [m for m in models if m.independent] if night.settings.forecast_models_beside else []
    if not beside:
        return [run_model(model, night) for model in models]
    side_con = night.con.cursor()
    side_night = replace(night, con=side_con)  # the same notes, versions and settings
    log.info("%s on a thread beside the other models", ", ".join(m.name for m in beside))
    pool = parallel.side_thread(night.settings, "forecast-beside")
    try:
        pending = {id(model): pool.submit(run_model, model, side_night) for model in beside}
        here = {id(model): run_model(model, night) for model in models if id(model) not in pending}
        return [pending[id(m)].result() if id(m) in pending else here[id(m)] for m in models]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # a failed night stops the side thread's queue
        side_con.close()


def run_model(model: ForecastModel, night: Night) -> ModelRun:
    """backtest, select, fit, score; an optional model that fails is skipped (visibly)."""
    run = ModelRun(model, empty_metrics(), {})

    def steps() -> None:
        rows = model.backtest(night)
        chosen = model.select(night)
        run.metrics = rows if chosen is None else chosen
        model.fit(night)
        rows = model.score(night)
        undeclared = set(rows) - set(model.tables)
        if undeclared:
            raise ValueError(
                f"model {model.name} wrote ml.{', ml.'.join(sorted(undeclared))}, not in its tables"
            )
        # only the table's columns wait for the write-back (a score frame carries its features too:
        # 190 MB of product propensity's at L held through the models after it)
        run.rows = {
            table: frame[table_columns(frame, table, model.tables[table])].copy()
            for table, frame in rows.items()
        }

    _guarded(night, run, steps)
    return run


def _record_version(run: ModelRun, night: Night) -> None:
    run.version = run.model.version(night)


def _guarded(night: Night, run: ModelRun, step: Callable[[], None]) -> None:
    """Run ``step``; an optional model's error skips the model: a note, a skipped row, no rows."""
    try:
        step()
    except Exception as exc:  # noqa: BLE001 - an optional model must not fail the night
        if not run.model.optional:
            raise
        if not isinstance(exc, SkippedModel) and log.isEnabledFor(logging.DEBUG):
            log.debug("%s failed", run.model.name, exc_info=True)
        night.notes.add(run.model.name, f"skipped: {exc}")
        run.metrics, run.rows, run.skipped = empty_metrics(), {}, True
        run.version = skipped_version(run.model.name, night.as_of)


def _metrics(runs: list[ModelRun]) -> pd.DataFrame:
    metrics = empty_metrics()
    for run in runs:
        metrics = with_rows(metrics, run.metrics)
    return metrics


def _report(
    night: Night, runs: list[ModelRun], metrics: pd.DataFrame, headline: str, decisions: dict[str, str]
) -> ForecastResult:
    scored = night.scored if night.scored is not None else pd.DataFrame()
    win = night.win
    log.info("scored %d open deals as of %s with %s", len(scored), night.as_of, headline)
    return ForecastResult(
        night.as_of,
        night.run_id,
        headline,
        len(scored),
        win.model.train_rows if win is not None else 0,
        night.revenue_rows if night.revenue_rows is not None else pd.DataFrame(),
        metrics,
        night.ledger if night.ledger is not None else pd.DataFrame(),
        decisions,
    )
