"""The benchmark: two nights of the pipeline at sizes S, M (and, opt-in, L); writes BENCHMARKS.md.

Per size, against a fresh state folder, each step its own process (wall time; peak memory = the
step's own ru_maxrss, through bench/own_peak.py; CPU seconds via os.wait4; /proc/loadavg before and
after; the other load on the machine while it ran, from /proc/stat less the step's own CPU):

    generate        two nightly full exports (night 1 = AS_OF - 1 day, night 2 = AS_OF)
    night 1         ingest, dbt build twice (first build, empty warehouse; then the other slot of
                    the marts, so that night 2 builds onto a slot holding a night), forecast (its
                    backtest ledger empty: every backtest cut-off and period fitted, as on a first
                    night or in the weekly full re-backtest), dbt parse with night 2's build vars
                    (bench/dbt_parse_next.py: dbt's parse state as an ordinary night finds it)
    night 2         ingest -> validate raw -> dbt build (incremental; the marts checkpoint on
                    tonight's slots runs inside it) -> forecast -> validate predictions -> report,
                    as the DAG runs them: "the night", the sum of these steps; its forecast finds
                    night 1's backtests in the ledger, as an ordinary night does
    lifecycle       bench/lifecycle_cost.py on night 2's export (hash, fingerprint, NUL checks, lifecycle
                    read, night lock) and, from night 2's build log, the marts checkpoint on tonight's
                    slot and the switch: the "Lifecycle and publishing cost" table
    extra           validate marts (the on-demand check of the published views, for its memory);
                    dbt build --full-refresh on the same data (two exports loaded); scoring of a
                    synthetic frame of open deals (default 1M at L, --score-deals N for any size)
    probe           the raw checkpoint on synthetic exports of 1M and 10M opportunities
                    (pipecast.validate.memory_probe; --probe-rows, 0 to skip): its peak memory as the
                    table grows tenfold

The forecast step runs `pipecast forecast` through bench/forecast_phases.py, which times the job's
phases (retraining, backtests, scoring, writing) in the same process. Timings live here, never as
limits in tests.

    python bench/run_bench.py                                  # S and M, writes BENCHMARKS.md
    python bench/run_bench.py --sizes S M L                    # adds L (1M opportunities)
    python bench/run_bench.py --sizes S --state /tmp/bench --output /tmp/bench/BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
from accuracy_by_dataset import kept_section
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
SIZES = {"S": 20_000, "M": 100_000, "L": 1_000_000}
AS_OF = date(2026, 11, 28)  # fixed, so runs are comparable
NIGHT1 = AS_OF - timedelta(days=1)
SYNTHETIC_DEALS_DEFAULT = {"L": 1_000_000}  # sizes that score a synthetic frame unless --score-deals
INGEST_GOAL_ROWS_PER_S = 1_000_000
NIGHT_GOAL_SECONDS = 600  # issue 14: the 1M-opportunity night in 10 minutes
SCORING_GOAL_SECONDS = 60  # issue 14: 1M open deals scored with drivers and ranges
SCORING_GOAL_DEALS = 1_000_000
VALIDATION_GOAL_SHARE = 0.20
CHART_DEFAULT = BENCH / "wall_times.png"
VALIDATION_STEPS = ("validate raw", "validate marts", "validate predictions")
# the night's own checkpoints as steps; the marts checkpoint runs inside `dbt build` (on tonight's
# slots, before the switch: its time is the build log's slot check), as in the DAG and `pipecast run`
NIGHT_VALIDATION_STEPS = ("validate raw", "validate predictions")
PROBE_ROWS_DEFAULT = [1_000_000, 10_000_000]
# Validation memory counts as flat when the largest probe's peak is within this share of the smallest's.
PROBE_FLAT_SHARE = 0.15
# Issue 14's goals: the night within this many DuckDB floors (bench/floor.py), a night's dbt build
# within this share of a full refresh, and every step's peak memory within this many MB.
FLOOR_GOAL_MULTIPLE = 5.0
DBT_INCREMENTAL_GOAL_SHARE = 0.15
PEAK_GOAL_MB = 4096.0
FLOOR_STEP = "floor (DuckDB: read the export once, write the marts once)"
LIFECYCLE_STEP = "lifecycle cost (hash, fingerprint, NUL checks, lifecycle read, night lock)"
COLD_FORECAST_STEP = "forecast (night 1, backtest ledger empty)"


# --------------------------------------------------------------------------- measuring one process


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages, as /proc/loadavg has them."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def cpu_busy_seconds() -> float | None:
    """CPU seconds all cores spent busy since boot (/proc/stat: every field but idle and iowait)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    ticks = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")


@dataclass
class ProcessRun:
    seconds: float
    peak_mb: float
    cpu_seconds: float
    other_cores: float | None  # average cores busy with other processes while it ran
    load_before: str
    load_after: str
    output: str


def run_process(argv: list[str], env: dict[str, str], log_path: Path) -> ProcessRun:
    """Run argv with stdout and stderr to log_path; raise SystemExit if it fails.

    argv runs under bench/own_peak.py, which reports argv's own peak memory (a child of this
    process would report this process's peak when that is the larger); CPU comes from os.wait4.
    """
    load_before = loadavg()
    busy_before = cpu_busy_seconds()
    peak_file = log_path.with_suffix(".peak.json")
    started = time.perf_counter()
    with open(log_path, "w") as log:
        log.write(f"$ {' '.join(argv)}\n")
        log.flush()
        launcher = [sys.executable, str(BENCH / "own_peak.py"), str(peak_file), "--", *argv]
        proc = subprocess.Popen(launcher, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    busy_after = cpu_busy_seconds()
    load_after = loadavg()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(argv)}: see {log_path}")
    cpu = usage.ru_utime + usage.ru_stime
    other = None
    if busy_before is not None and busy_after is not None and seconds > 0:
        other = max(0.0, (busy_after - busy_before - cpu) / seconds)
    peak_mb = json.loads(peak_file.read_text())["maxrss_kib"] / 1024
    return ProcessRun(seconds, peak_mb, cpu, other, load_before, load_after, log_path.read_text())


# --------------------------------------------------------------------------- results


@dataclass
class StepResult:
    size: str
    step: str
    stage: str  # "setup", "night" (night 2, the measured night) or "extra"
    seconds: float
    peak_mb: float
    rows: int
    cpu_seconds: float
    other_cores: float | None
    load_before: str
    load_after: str
    note: str = ""

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass
class SizeResult:
    size: str
    steps: list[StepResult] = field(default_factory=list)
    forecast_phases: dict[str, Any] = field(default_factory=dict)
    # night 1's forecast: every backtest cut-off and period fitted (the ledger was empty), as on a
    # first night or the weekly full re-backtest; night 2's (forecast_phases) finds them there
    forecast_phases_cold: dict[str, Any] = field(default_factory=dict)
    synthetic: dict[str, Any] | None = None
    dbt: dict[str, dict[str, Any]] = field(default_factory=dict)  # step name -> run_results summary
    ingest_loader_seconds: float = 0.0
    accuracy: dict[str, dict[str, float]] = field(default_factory=dict)
    # forecaster -> metric -> value, and "n": the forecasts pooled; at the period's start, and at
    # every cut-off (the period's start and each month-end within it)
    revenue_accuracy: dict[str, dict[str, float]] = field(default_factory=dict)
    revenue_all_cutoffs: dict[str, dict[str, float]] = field(default_factory=dict)
    floor: dict[str, Any] | None = None  # bench/floor.py's result for night 2's export and marts
    # the export lifecycle and atomic publishing: bench/lifecycle_cost.py's result for night 2's
    # export, and from night 2's build log the marts checkpoint on the slot and the switch
    lifecycle: dict[str, Any] | None = None

    def step(self, name: str) -> StepResult | None:
        return next((s for s in self.steps if s.step == name), None)

    @property
    def night(self) -> list[StepResult]:
        return [s for s in self.steps if s.stage == "night"]

    @property
    def night_seconds(self) -> float:
        return sum(s.seconds for s in self.night)

    @property
    def marts_check_seconds(self) -> float:
        """The marts checkpoint on tonight's slots, inside night 2's dbt build (its build log)."""
        return float((self.lifecycle or {}).get("slot_check_s") or 0.0)

    @property
    def validation_seconds(self) -> float:
        steps = sum(s.seconds for s in self.night if s.step in NIGHT_VALIDATION_STEPS)
        return steps + self.marts_check_seconds

    @property
    def data_seconds(self) -> float:
        """The night's ingest and dbt build: the steps the floor's work stands for."""
        return sum(s.seconds for s in self.night if s.step in ("ingest", "dbt build (incremental)"))


def query(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def scalar(warehouse: Path, sql: str, params: list | None = None) -> int:
    return int(query(warehouse, sql, params)[0][0] or 0)


def loaded_rows(warehouse: Path, day: date) -> tuple[int, float]:
    """Rows ingest loaded for an export (all entities) and the loader's own seconds (audit.loads)."""
    rows = query(
        warehouse, "select sum(row_count), sum(seconds) from audit.loads where export_date = ?", [day]
    )[0]
    return int(rows[0] or 0), float(rows[1] or 0.0)


def generated_rows(folder: Path) -> int:
    """Data rows of every CSV in an export folder (header lines left out)."""
    total = 0
    for path in sorted(folder.glob("*.csv")):
        with open(path, "rb") as fh:
            total += max(sum(1 for _ in fh) - 1, 0)
    return total


def dbt_summary(run_results: Path, manifest: Path | None = None) -> dict[str, Any]:
    """Nodes per type, the seconds dbt tests ran (summed, and wall: the union of their intervals, as
    dbt runs several threads), and the seconds spent in incremental models (materialization from
    manifest.json), from a dbt run_results.json."""
    data = json.loads(run_results.read_text())
    materialized: dict[str, str] = {}
    if manifest is not None and manifest.exists():
        nodes = json.loads(manifest.read_text()).get("nodes", {})
        materialized = {uid: (n.get("config") or {}).get("materialized", "") for uid, n in nodes.items()}
    counts: dict[str, int] = {}
    test_sum = model_sum = incremental_sum = 0.0
    incremental = 0
    intervals: list[tuple[datetime, datetime]] = []
    for result in data.get("results", []):
        uid = result["unique_id"]
        kind = uid.split(".", 1)[0]
        seconds = float(result.get("execution_time") or 0.0)
        counts[kind] = counts.get(kind, 0) + 1
        if kind in ("test", "unit_test"):
            test_sum += seconds
            times = [t for t in result.get("timing", []) if t.get("started_at") and t.get("completed_at")]
            if times:
                intervals.append(
                    (
                        datetime.fromisoformat(min(t["started_at"] for t in times).replace("Z", "+00:00")),
                        datetime.fromisoformat(max(t["completed_at"] for t in times).replace("Z", "+00:00")),
                    )
                )
        elif kind in ("model", "snapshot"):
            model_sum += seconds
            if materialized.get(uid) == "incremental":
                incremental += 1
                incremental_sum += seconds
    return {
        "counts": counts,
        "tests_sum_s": test_sum,
        "tests_wall_s": union_seconds(intervals),
        "models_sum_s": model_sum,
        "incremental_models": incremental,
        "incremental_sum_s": incremental_sum,
        "elapsed_s": float(data.get("elapsed_time") or 0.0),
    }


def union_seconds(intervals: list[tuple[datetime, datetime]]) -> float:
    total = 0.0
    end: datetime | None = None
    for start, stop in sorted(intervals):
        if end is None or start > end:
            total += (stop - start).total_seconds()
            end = stop
        elif stop > end:
            total += (stop - end).total_seconds()
            end = stop
    return total


# --------------------------------------------------------------------------- one size


def bench_size(
    label: str,
    state_root: Path,
    progress,
    synthetic_deals: int,
    driver_deals: int | None = None,
    score_threads: int = 2,
) -> SizeResult:
    size = SIZES[label]
    state = state_root / label
    shutil.rmtree(state, ignore_errors=True)
    (state / "logs").mkdir(parents=True)
    env = {
        **os.environ,
        "PIPECAST_STATE_DIR": str(state),
        "PIPECAST_LANDING_DIR": str(state / "landing"),
        "PIPECAST_WAREHOUSE_PATH": str(state / "warehouse.duckdb"),
    }
    env.pop("PIPECAST_TARGET", None)
    wh = state / "warehouse.duckdb"
    run_results = state / "dbt" / "target" / "run_results.json"
    out = SizeResult(label)

    def step(
        name: str, stage: str, argv: list[str], pipecast: bool = True, extra_env: dict[str, str] | None = None
    ) -> tuple[StepResult, ProcessRun]:
        index = len(out.steps) + 1
        progress(f"[{label}] {name}: started (loadavg {loadavg()})")
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        cmd = [sys.executable, "-m", "pipecast.cli", *argv] if pipecast else [sys.executable, *argv]
        run = run_process(cmd, {**env, **(extra_env or {})}, state / "logs" / f"{index:02d}-{slug}.log")
        result = StepResult(
            label,
            name,
            stage,
            run.seconds,
            run.peak_mb,
            0,
            run.cpu_seconds,
            run.other_cores,
            run.load_before,
            run.load_after,
        )
        out.steps.append(result)
        return result, run

    def done(result: StepResult) -> None:
        other = "n/a" if result.other_cores is None else f"{result.other_cores:.2f}"
        progress(
            f"[{label}] {result.step}: finished in {result.seconds:.1f} s, peak {result.peak_mb:,.0f} MB, "
            f"{result.rows:,} rows, CPU {result.cpu_seconds:.1f} s, other load {other} cores "
            f"(loadavg {result.load_before} -> {result.load_after})"
            + (f"; {result.note}" if result.note else "")
        )

    def expectations(text: str) -> str:
        found = re.findall(r"(\d+) expectations, (\d+) errors, (\d+) warnings", text)
        if not found:
            return ""
        n, errors, warnings = found[-1]
        return f"{n} expectations, {errors} errors, {warnings} warnings"

    def dbt_step(name: str, stage: str, argv: list[str]) -> ProcessRun:
        result, run = step(name, stage, argv)
        summary = dbt_summary(run_results, run_results.with_name("manifest.json"))
        out.dbt[name] = summary
        result.rows = scalar(
            wh,
            "select count(*) from raw.opportunity_stage_history where _export_date = "
            "(select max(_export_date) from raw.opportunity_stage_history)",
        )
        built = re.findall(r"dbt: (\d+) models built, (\d+) tests passed", run.output)
        result.note = (
            f"{built[-1][0]} models, {built[-1][1]} tests passed; " if built else ""
        ) + f"tests {summary['tests_wall_s']:.1f} s wall ({summary['tests_sum_s']:.1f} s summed)"
        done(result)
        return run

    def forecast_step(name: str, stage: str, day: date, suffix: str) -> tuple[StepResult, dict[str, Any]]:
        """`pipecast forecast` at ``day`` through forecast_phases.py: the step (rows = open deals
        scored, peak memory including the phases' own) and its phases."""
        phases_json = state / f"forecast_phases{'_' + suffix if suffix else ''}.json"
        result, _ = step(
            name,
            stage,
            [str(BENCH / "forecast_phases.py"), "--json", str(phases_json), "--as-of", day.isoformat()],
            pipecast=False,
        )
        phases = json.loads(phases_json.read_text())
        result.peak_mb = max(result.peak_mb, phases["process_peak_mb"])
        result.rows = scalar(wh, "select count(*) from ml.opportunity_scores where as_of = ?", [day])
        return result, phases

    # generate both nights
    result, _ = step(
        "generate", "setup", ["generate", "--size", str(size), "--nights", "2", "--as-of", AS_OF.isoformat()]
    )
    result.rows = sum(generated_rows(state / "landing" / d.isoformat()) for d in (NIGHT1, AS_OF))
    result.note = "two full exports"
    done(result)

    # night 1: load and build, so that night 2 is an ordinary incremental night
    # validated too: dbt serves validated exports only (the export lifecycle)
    result, _ = step("ingest (night 1)", "setup", ["ingest", "--date", NIGHT1.isoformat()])
    result.rows, _ = loaded_rows(wh, NIGHT1)
    done(result)
    dbt_step("dbt build (night 1, empty warehouse)", "setup", ["build"])
    # the marts live in two slots, a build writing the one not serving (pipecast.transform.publish):
    # night 1 built again fills the second, so that night 2 builds onto a slot holding a night, as
    # every night after the first two does (otherwise its incremental models start from scratch)
    dbt_step("dbt build (night 1 again, the other slot)", "setup", ["build"])
    # night 1's forecast fills the backtest ledger, so that night 2's forecast is an ordinary
    # night's: it refits only what changed since (pipecast.forecast.backtest_ledger)
    result, out.forecast_phases_cold = forecast_step(COLD_FORECAST_STEP, "setup", NIGHT1, "night1")
    cold_backtests = phase_categories(out.forecast_phases_cold).get("backtest", 0.0)
    result.note = f"rows = open deals scored; backtests {cold_backtests:.1f} s, all refit"
    done(result)

    # dbt's parse state for tonight's build vars, which an ordinary night finds (bench/dbt_parse_next.py)
    parse_next = [str(BENCH / "dbt_parse_next.py")]
    result, _ = step("dbt parse (tonight's slots)", "setup", parse_next, pipecast=False)
    result.note = "as the night two nights earlier leaves it"
    done(result)

    # night 2: the measured night
    result, _ = step("ingest", "night", ["ingest", "--date", AS_OF.isoformat(), "--no-validate"])
    result.rows, out.ingest_loader_seconds = loaded_rows(wh, AS_OF)
    if out.ingest_loader_seconds:
        result.note = (
            f"loader {out.ingest_loader_seconds:.1f} s = "
            f"{result.rows / out.ingest_loader_seconds:,.0f} rows/s (audit.loads)"
        )
    done(result)
    result, run = step("validate raw", "night", ["validate", "--stage", "raw", "--date", AS_OF.isoformat()])
    result.rows = loaded_rows(wh, AS_OF)[0]
    result.note = expectations(run.output)
    done(result)
    night_build = dbt_step("dbt build (incremental)", "night", ["build"])
    # not part of the night (the DAG checks tonight's slots inside dbt build): the on-demand check
    # of the published views, measured for its memory
    result, run = step("validate marts", "extra", ["validate", "--stage", "marts"])
    # marts.* are views onto the published slot schemas (pipecast.transform.publish): count those
    result.rows = scalar(
        wh,
        "select sum(estimated_size) from duckdb_tables() where schema_name in (select schema_name "
        "from audit.marts_publications qualify published_at = max(published_at) over (partition by unit))",
    )
    result.note = expectations(run.output)
    done(result)
    result, out.forecast_phases = forecast_step("forecast", "night", AS_OF, "")
    warm_backtests = phase_categories(out.forecast_phases).get("backtest", 0.0)
    result.note = (
        f"rows = open deals scored; backtests {warm_backtests:.1f} s with the ledger of night 1 "
        f"(night 1: {cold_backtests:.1f} s)"
    )
    done(result)
    result, run = step(
        "validate predictions", "night", ["validate", "--stage", "predictions", "--date", AS_OF.isoformat()]
    )
    result.rows = scalar(wh, "select count(*) from ml.opportunity_scores where as_of = ?", [AS_OF])
    result.note = expectations(run.output)
    done(result)
    result, _ = step("report", "night", ["report"])
    done(result)

    # DuckDB's floor on the same data: night 2's export read once, its marts written once
    floor_json = state / "floor.json"
    result, _ = step(
        FLOOR_STEP,
        "floor",
        [
            str(BENCH / "floor.py"),
            "--export",
            str(state / "landing" / AS_OF.isoformat()),
            "--warehouse",
            str(wh),
            "--work-dir",
            str(state / "floor"),
            "--json",
            str(floor_json),
        ],
        pipecast=False,
    )
    out.floor = json.loads(floor_json.read_text())
    result.rows = out.floor["export_rows"] + out.floor["mart_rows"]
    result.note = floor_note(out.floor)
    done(result)

    # the export lifecycle's additions on night 2's export (read-only), and publishing's share of
    # night 2's build
    lifecycle_json = state / "lifecycle_cost.json"
    result, _ = step(
        LIFECYCLE_STEP,
        "extra",
        [str(BENCH / "lifecycle_cost.py"), str(state), AS_OF.isoformat(), "--json", str(lifecycle_json)],
        pipecast=False,
    )
    out.lifecycle = {**json.loads(lifecycle_json.read_text()), **publishing_cost(night_build.output, wh)}
    result.rows = loaded_rows(wh, AS_OF)[0]
    result.note = lifecycle_note(out.lifecycle)
    done(result)

    # extra: a full refresh of the same data, and scoring a synthetic frame of open deals
    dbt_step("dbt build --full-refresh", "extra", ["build", "--full-refresh"])
    if synthetic_deals:
        synthetic_json = state / "score_synthetic.json"
        result, _ = step(
            f"score {synthetic_deals:,} synthetic open deals",
            "extra",
            [
                str(BENCH / "score_synthetic.py"),
                "--deals",
                str(synthetic_deals),
                "--as-of",
                AS_OF.isoformat(),
                "--json",
                str(synthetic_json),
                *(["--driver-deals", str(driver_deals)] if driver_deals is not None else []),
            ],
            pipecast=False,
            extra_env={"PIPECAST_FORECAST_THREADS": str(score_threads)},
        )
        out.synthetic = json.loads(synthetic_json.read_text())
        result.peak_mb = max(result.peak_mb, out.synthetic["process_peak_mb"])
        result.rows = out.synthetic["deals"]
        result.note = f"repeated from {out.synthetic['real_open_deals']:,} real open deals"
        done(result)

    out.accuracy, out.revenue_accuracy, out.revenue_all_cutoffs = accuracy(wh)
    return out


def accuracy(
    wh: Path,
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """Pooled deal metrics per forecaster, and revenue metrics per forecaster at the period's start
    and at all cut-offs (ml.backtests; each forecaster's dict also holds "n", the forecasts pooled)."""
    tables: dict[str, dict[str, dict[str, float]]] = {
        "deals_pooled": {},
        "revenue_at_period_start": {},
        "revenue_all_cutoffs": {},
    }
    for scope, forecaster, metric, value, n in query(
        wh,
        "select scope, forecaster, metric, value, n from ml.backtests "
        "where scope in ('deals_pooled', 'revenue_at_period_start', 'revenue_all_cutoffs') "
        "and cutoff is null",
    ):
        metrics = tables[scope].setdefault(forecaster, {})
        metrics[metric] = value
        metrics["n"] = n
    return tables["deals_pooled"], tables["revenue_at_period_start"], tables["revenue_all_cutoffs"]


# --------------------------------------------------------------------------- the report


def publishing_cost(build_log: str, warehouse: Path) -> dict[str, Any]:
    """From a `pipecast build` log: the marts checkpoint on tonight's slots and the switch (seconds,
    as pipecast.transform.publish logs them); from the warehouse: the marts' rows in the serving
    slots and in the others (the A/B slots' price in space)."""
    checks = re.findall(
        r"marts checkpoint on tonight's slots \(([^)]*)\): (\d+) suites, \w+ in ([\d.]+) s", build_log
    )
    switches = re.findall(r"published (.*) in ([\d.]+) s", build_log)
    rows = query(
        warehouse,
        "with serving as (select schema_name from audit.marts_publications "
        "qualify published_at = max(published_at) over (partition by unit)) "
        "select coalesce(sum(estimated_size) filter (where schema_name in (select * from serving)), 0), "
        "coalesce(sum(estimated_size) filter (where schema_name not in (select * from serving)), 0) "
        "from duckdb_tables() where schema_name like 'marts%\\_\\_%' escape '\\'",
    )
    serving, other = rows[0] if rows else (0, 0)
    return {
        "slot_check_s": float(checks[-1][2]) if checks else None,
        "slot_check_suites": int(checks[-1][1]) if checks else None,
        "switch_s": float(switches[-1][1]) if switches else None,
        "serving_slot_rows": int(serving),
        "other_slot_rows": int(other),
    }


def lifecycle_note(c: dict[str, Any]) -> str:
    return (
        f"hash {c['content_hash_s']:.2f} s for {c['export_mb']:,.0f} MB; "
        f"NUL checks {c['nul_checks_s']:.2f} s; "
        f"slot check {_num(c.get('slot_check_s'), '.1f')} s; switch {_num(c.get('switch_s'), '.2f')} s"
    )


def lifecycle_section(results: list[SizeResult]) -> list[str]:
    """The "lifecycle and publishing cost" table: what issue 13's guarantees cost per night."""
    measured = [r for r in results if r.lifecycle]
    if not measured:
        return []
    out = [
        "## Lifecycle and publishing cost",
        "",
        "What the export lifecycle (validated-or-nothing loads, resumable after a kill) and atomic "
        "publishing (marts built in a slot schema, checked there, then switched in one transaction) "
        "add to night 2, per size. Hash: the SHA-256 of the export's files (re-delivery by content); "
        "fingerprint: the stat check that decides whether to hash again; NUL checks: the load's scan "
        "for NUL bytes in every text column; lifecycle read: every export's current state, read at "
        "the start of each step; night lock: taken and released once (one night at a time); slot "
        "check: the marts checkpoint on tonight's slot schemas before the switch (part of `dbt build`, "
        "the night's only marts checkpoint); switch: every "
        "marts view repointed in one transaction; slot rows: the marts' rows in the serving slots "
        "and in the other slots (the A/B slots' disk: about twice the marts).",
        "",
        "| size | export MB | hash s (MB/s) | fingerprint ms | NUL checks s | lifecycle read ms "
        "| night lock ms | slot check s (suites) | switch s | slot rows serving / other "
        "| share of the night |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in measured:
        c = r.lifecycle or {}
        hashing = c["content_hash_s"]
        rate = c["export_mb"] / hashing if hashing else 0.0
        added = (
            hashing
            + c["stat_fingerprint_ms"] / 1000
            + c["nul_checks_s"]
            + c["lifecycle_read_ms"] / 1000
            + c["night_lock_ms"] / 1000
            + (c.get("slot_check_s") or 0.0)
            + (c.get("switch_s") or 0.0)
        )
        share = f"{_share(added, r.night_seconds):.1%}" if r.night_seconds else "n/a"
        suites = c.get("slot_check_suites")
        out.append(
            f"| {r.size} | {c['export_mb']:,.0f} | {hashing:.2f} ({rate:,.0f}) | "
            f"{c['stat_fingerprint_ms']:.2f} | {c['nul_checks_s']:.2f} | {c['lifecycle_read_ms']:.0f} | "
            f"{c['night_lock_ms']:.2f} | {_num(c.get('slot_check_s'), '.1f')}"
            + (f" ({suites})" if suites is not None else "")
            + f" | {_num(c.get('switch_s'), '.2f')} | {c['serving_slot_rows']:,} / {c['other_slot_rows']:,} "
            f"| {share} |"
        )
    out += [
        "",
        "Share of the night: these costs summed, over night 2's wall time (the slot check is inside "
        "`dbt build`, so it is counted in the night too). Rerun: `python bench/run_bench.py --sizes S M L` "
        "(or `python bench/lifecycle_cost.py <state> <date> --load` on one export).",
        "",
    ]
    return out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem_gb:.0f} GiB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, duckdb {duckdb.__version__}"
    )


def _num(value: float | None, fmt: str = ",.0f", missing: str = "n/a") -> str:
    return missing if value is None else format(value, fmt)


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def floor_note(floor: dict[str, Any]) -> str:
    return (
        f"read {floor['export_files']} files ({floor['export_rows']:,} rows) "
        f"in {floor['read_seconds']:.1f} s, "
        f"wrote {floor['marts']} marts ({floor['mart_rows']:,} rows) in {floor['write_seconds']:.1f} s"
    )


def floor_multiples(r: SizeResult) -> tuple[float, float] | None:
    """The night and its data steps (ingest + dbt build) as multiples of DuckDB's floor."""
    if not r.floor or not r.floor.get("seconds"):
        return None
    return r.night_seconds / r.floor["seconds"], r.data_seconds / r.floor["seconds"]


def floor_cpu_note(r: SizeResult) -> str:
    """The same multiple in CPU seconds (steadier than wall time on a shared machine)."""
    step = r.step(FLOOR_STEP)
    night_cpu = sum(s.cpu_seconds for s in r.night)
    if step is None or not step.cpu_seconds:
        return ""
    return (
        f"; in CPU seconds the night {night_cpu:.1f} s = {night_cpu / step.cpu_seconds:.1f}x the floor's "
        f"{step.cpu_seconds:.1f} s"
    )


def issue14_goals(results: list[SizeResult]) -> list[tuple[str, str, str, str]]:
    """Issue 14's rows: the night as a multiple of the floor, the dbt night's share of a full
    refresh, every step's peak memory."""
    rows: list[tuple[str, str, str, str]] = []
    for r in results:
        if r.size == "L" and r.night:
            forecast = r.step("forecast")
            rows.append(
                (
                    "14 night",
                    f"L: the night <= {NIGHT_GOAL_SECONDS:g} s",
                    f"{r.night_seconds:.1f} s (CPU {sum(s.cpu_seconds for s in r.night):.1f} s)"
                    + (f", of which the forecast {forecast.seconds:.1f} s" if forecast else ""),
                    "met" if r.night_seconds <= NIGHT_GOAL_SECONDS else "not met",
                )
            )
        multiples = floor_multiples(r)
        if multiples is not None:
            night, data = multiples
            rows.append(
                (
                    "14 floor",
                    f"{r.size}: the night <= {FLOOR_GOAL_MULTIPLE:g}x DuckDB's floor (read the export once, "
                    "write the marts once)",
                    f"the night {r.night_seconds:.1f} s = {night:.1f}x the floor of "
                    f"{r.floor['seconds']:.1f} s "
                    f"({floor_note(r.floor)}); ingest + dbt build {r.data_seconds:.1f} s = {data:.1f}x"
                    + floor_cpu_note(r),
                    "met" if night <= FLOOR_GOAL_MULTIPLE else "not met",
                )
            )
        inc, full = r.step("dbt build (incremental)"), r.step("dbt build --full-refresh")
        if inc is not None and full is not None and full.seconds:
            share = inc.seconds / full.seconds
            d_inc = r.dbt.get("dbt build (incremental)", {})
            d_full = r.dbt.get("dbt build --full-refresh", {})
            models = ""
            if d_inc.get("models_sum_s") and d_full.get("models_sum_s"):
                models = (
                    f"; models alone {d_inc['models_sum_s']:.1f} s of "
                    f"{d_full['models_sum_s']:.1f} s summed = "
                    f"{d_inc['models_sum_s'] / d_full['models_sum_s']:.0%}"
                )
            rows.append(
                (
                    "14 dbt",
                    f"{r.size}: a night's dbt build <= {DBT_INCREMENTAL_GOAL_SHARE:.0%} of a full refresh",
                    f"{inc.seconds:.1f} s of {full.seconds:.1f} s = {share:.0%} "
                    f"(CPU {inc.cpu_seconds:.1f} s of "
                    f"{full.cpu_seconds:.1f} s){models}",
                    "met" if share <= DBT_INCREMENTAL_GOAL_SHARE else "not met",
                )
            )
        if r.synthetic and r.synthetic.get("deals", 0) >= SCORING_GOAL_DEALS:
            total, _ = synthetic_total(r.synthetic)
            rows.append(
                (
                    "14 scoring",
                    f"{r.size}: {r.synthetic['deals']:,} open deals with win x timing x amount, ranges and "
                    f"top drivers <= {SCORING_GOAL_SECONDS:g} s on the machine's cores",
                    synthetic_summary(r.synthetic),
                    "met" if total <= SCORING_GOAL_SECONDS else "not met",
                )
            )
        if r.steps:
            top = max(r.steps, key=lambda s: s.peak_mb)
            rows.append(
                (
                    "14 memory",
                    f"{r.size}: every step's peak <= {PEAK_GOAL_MB:,.0f} MB",
                    f"largest: {top.step} {top.peak_mb:,.0f} MB",
                    "met" if top.peak_mb <= PEAK_GOAL_MB else "not met",
                )
            )
    return rows


def conditions(results: list[SizeResult], started_load: str, ended_load: str, threads: str) -> list[str]:
    others = [s.other_cores for r in results for s in r.steps if s.other_cores is not None]
    busy = [s for r in results for s in r.steps if s.other_cores is not None and s.other_cores >= 0.25]
    lines = [
        f"Load average (1, 5, 15 min) at the start of the run: {started_load}; at the end: {ended_load}. "
        f"OMP_NUM_THREADS={threads}.",
    ]
    if not others:
        lines.append("Other load on the machine: not measurable here (no /proc/stat).")
    elif busy:
        worst = max(busy, key=lambda s: s.other_cores or 0.0)
        lines.append(
            f"Other load was present: {len(busy)} of {len(others)} steps ran while other processes kept "
            f"at least a quarter of a core busy (the most: {worst.other_cores:.2f} cores during "
            f"{worst.size} {worst.step}). Numbers from a busy machine are slower than a quiet one's."
        )
    else:
        lines.append(
            f"No other load to speak of: other processes used at most {max(others):.2f} cores during "
            "any step."
        )
    return lines


def goals(results: list[SizeResult], probe: list[dict[str, Any]] | None = None) -> list[str]:
    by_size = {r.size: r for r in results}
    rows: list[tuple[str, str, str, str]] = []

    def sizes_for(required: tuple[str, ...]) -> list[str]:
        return [label for label in SIZES if label in by_size or label in required]

    # issue 3: ingest
    for label in sizes_for(("M", "L")):
        r = by_size.get(label)
        s = r.step("ingest") if r else None
        if r is None or s is None:
            rows.append(
                ("3 ingest", f"{label}: >= 1M CSV rows/s into DuckDB", f"{label} not run", "not measured")
            )
            continue
        loader = _share(s.rows, r.ingest_loader_seconds) if r.ingest_loader_seconds else None
        rows.append(
            (
                "3 ingest",
                f"{label}: >= 1M CSV rows/s into DuckDB, and peak memory",
                f"{s.rows_per_second:,.0f} rows/s for the step ({s.rows:,} rows, {s.seconds:.1f} s), "
                f"{_num(loader)} rows/s in the loader; peak {s.peak_mb:,.0f} MB",
                "met" if s.rows_per_second >= INGEST_GOAL_ROWS_PER_S else "not met",
            )
        )

    # issue 4: dbt
    for label in sizes_for(("M", "L")):
        r = by_size.get(label)
        inc = r.step("dbt build (incremental)") if r else None
        full = r.step("dbt build --full-refresh") if r else None
        if r is None or inc is None or full is None:
            rows.append(
                ("4 dbt", f"{label}: full refresh and incremental", f"{label} not run", "not measured")
            )
            continue
        rows.append(
            (
                "4 dbt",
                f"{label}: full refresh and incremental, with peak memory; a night processes its export, "
                "not all history",
                f"incremental {inc.seconds:.1f} s, peak {inc.peak_mb:,.0f} MB; full refresh "
                f"{full.seconds:.1f} s, peak {full.peak_mb:,.0f} MB (incremental = "
                f"{_share(inc.seconds, full.seconds):.0%} of full refresh)",
                "measured; incremental faster"
                if inc.seconds < full.seconds
                else "measured; incremental NOT faster",
            )
        )

    # issue 5: forecast scoring and retraining (the goal is at L)
    goal = "scoring time for 1M open deals, retraining time"
    for label in sizes_for(("L",)):
        r = by_size.get(label)
        fc = r.step("forecast") if r else None
        if r is None or fc is None or not r.forecast_phases:
            rows.append(("5 forecast", f"{label}: {goal}", f"{label} not run", "not measured"))
            continue
        cats = phase_categories(r.forecast_phases)
        cold = phase_categories(r.forecast_phases_cold) if r.forecast_phases_cold else {}
        score_s = cats.get("score", 0.0)
        text = (
            f"nightly job: scored {fc.rows:,} open deals in {score_s:.1f} s "
            f"({_num(_share(fc.rows, score_s))} deals/s, drivers and revenue ranges included); "
            f"retraining {cats.get('retrain', 0.0):.1f} s (backtests {cats.get('backtest', 0.0):.1f} s"
            + (f" from the ledger, {cold.get('backtest', 0.0):.1f} s with an empty one" if cold else "")
            + f", propensity and lead models {cats.get('optional', 0.0):.1f} s besides)"
        )
        if r.synthetic:
            text += "; " + synthetic_summary(r.synthetic)
        verdict = (
            "measured" if r.synthetic and r.synthetic["deals"] >= 1_000_000 else "measured, not at 1M deals"
        )
        rows.append(("5 forecast", f"{label}: {goal}", text, verdict))

    for r in results:
        model, true, base = (r.accuracy.get(k) for k in ("model", "true_probability", "stage_weighted"))
        if not model or not base:
            continue
        checks = []
        if true and "brier" in true:
            checks.append(
                ("Brier within 10% of the true probabilities'", model["brier"] <= 1.10 * true["brier"])
            )
        checks.append(("Brier >= 15% below stage-weighted", model["brier"] <= 0.85 * base["brier"]))
        if "ece" in model:
            checks.append(("ECE <= 0.03", model["ece"] <= 0.03))
        measured = f"Brier {model['brier']:.4f} (true {_num((true or {}).get('brier'), '.4f')}, "
        measured += f"stage-weighted {base['brier']:.4f}), ECE {_num(model.get('ece'), '.3f')}"
        rev_model, rev_base = (
            r.revenue_accuracy.get("model", {}),
            r.revenue_accuracy.get("stage_weighted", {}),
        )
        if "wape" in rev_model and "wape" in rev_base:
            checks.append(
                ("revenue WAPE <= half the baseline's", rev_model["wape"] <= 0.5 * rev_base["wape"])
            )
            measured += f"; revenue WAPE {rev_model['wape']:.3f} vs {rev_base['wape']:.3f}"
        every = r.revenue_all_cutoffs.get("model", {})
        if "coverage_p10_p90" in rev_model:
            measured += f", P10-P90 coverage {_coverage(rev_model)} of the forecasts at periods' starts"
        if "coverage_p10_p90" in every:
            cov = every["coverage_p10_p90"]
            checks.append(("P10-P90 covers 75-85% (all cut-offs)", 0.75 <= cov <= 0.85))
            measured += f", {_coverage(every)} of the forecasts at all cut-offs"
        verdict = "; ".join(f"{name}: {'met' if ok else 'not met'}" for name, ok in checks)
        rows.append(("5 accuracy", f"{r.size}: targets on generated data", measured, verdict))

    # issue 6: validation
    for r in results:
        share = _share(r.validation_seconds, r.night_seconds)
        per = ", ".join(
            [
                *(
                    f"{s.step.removeprefix('validate ')} {s.seconds:.1f} s / {s.peak_mb:,.0f} MB"
                    for s in r.night
                    if s.step in NIGHT_VALIDATION_STEPS
                ),
                f"marts inside dbt build {r.marts_check_seconds:.1f} s",
            ]
        )
        dbt_tests = r.dbt.get("dbt build (incremental)", {}).get("tests_wall_s", 0.0)
        with_tests = _share(r.validation_seconds + dbt_tests, r.night_seconds)
        rows.append(
            (
                "6 validation",
                f"{r.size}: all validation < 20% of the night",
                f"{r.validation_seconds:.1f} s of {r.night_seconds:.1f} s = {share:.0%} ({per}); "
                f"with the dbt tests inside dbt build ({dbt_tests:.1f} s): {with_tests:.0%}",
                "met" if share < VALIDATION_GOAL_SHARE else "not met",
            )
        )
    if len(results) > 1:
        parts = []
        for name in VALIDATION_STEPS:
            peaks = [(r.size, r.step(name)) for r in results]
            parts.append(
                f"{name.removeprefix('validate ')}: "
                + " -> ".join(f"{size} {s.peak_mb:,.0f} MB" for size, s in peaks if s)
            )
        rows.append(
            (
                "6 validation",
                "memory does not grow with table size (M -> L)",
                "; ".join(parts) + " (peak RSS: Python, GX and DuckDB's buffer pool, which "
                "validation_duckdb_memory_limit bounds)",
                "see the probe row",
            )
        )
    if probe and len(probe) > 1:
        rows.append(
            (
                "6 validation",
                "memory does not grow with table size (probe: the raw checkpoint, tenfold rows)",
                " -> ".join(f"{m['rows']:,} rows {m['peak_rss_mb']:,.0f} MB" for m in probe)
                + f" (validate_raw {probe[0]['seconds']:.1f} s -> {probe[-1]['seconds']:.1f} s)",
                "met" if probe_is_flat(probe) else "not met",
            )
        )
    rows += issue14_goals(results)
    out = ["| issue | goal | measured | verdict |", "|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return out


def _coverage(metrics: dict[str, float]) -> str:
    """The P10-P90 coverage, the outcomes behind it and the Clopper-Pearson interval of the true
    coverage they allow: "88% (7 of 8; 90% CI 53%-99%)". Forecasts of one period share its outcome,
    so the interval is if anything too narrow."""
    cov, n = metrics["coverage_p10_p90"], int(metrics.get("n", 0))
    if not n:
        return f"{cov:.0%}"
    hits = round(cov * n)
    low, high = stats.binomtest(hits, n).proportion_ci(0.9)
    return f"{cov:.0%} ({hits} of {n}; 90% CI {low:.0%}-{high:.0%})"


def probe_is_flat(probe: list[dict[str, Any]]) -> bool:
    """The largest table's peak is within PROBE_FLAT_SHARE of the smallest's."""
    ordered = sorted(probe, key=lambda m: m["rows"])
    return ordered[-1]["peak_rss_mb"] <= ordered[0]["peak_rss_mb"] * (1 + PROBE_FLAT_SHARE)


def validation_probe(rows: list[int], work_dir: Path, progress) -> list[dict[str, Any]]:
    """The raw checkpoint's time and peak memory on synthetic exports of ``rows`` opportunities."""
    from pipecast.validate import memory_probe

    work_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for n in rows:
        progress(f"[probe] validate raw on a synthetic export of {n:,} opportunities")
        measured = asdict(memory_probe.measure(n, work_dir=work_dir))
        progress(f"[probe] {n:,} rows: {measured['seconds']:.1f} s, peak {measured['peak_rss_mb']:,.0f} MB")
        out.append(measured)
    return out


def _validation_memory_limit() -> str | None:
    """The DuckDB memory_limit the validation steps run with (the bench's environment decides)."""
    from pipecast.config import Settings

    return Settings().validation_duckdb_memory_limit


def probe_section(probe: list[dict[str, Any]], memory_limit: str | None) -> list[str]:
    return [
        "## Validation memory as the table grows",
        "",
        "The raw checkpoint (`pipecast.validate.memory_probe`) on a warehouse holding two synthetic "
        "exports of N opportunities each, validated in a fresh process. DuckDB memory_limit of the "
        f"validation connections: {memory_limit or 'DuckDB default'} "
        "(`PIPECAST_VALIDATION_DUCKDB_MEMORY_LIMIT`).",
        "",
        "| opportunities per export | validate_raw s | peak RSS MB | RSS after imports MB | "
        "Python allocations peak MB | expectations |",
        "|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {m['rows']:,} | {m['seconds']:.1f} | {m['peak_rss_mb']:,.0f} | {m['rss_before_mb']:,.0f} | "
            f"{m['python_peak_mb']:.1f} | {m['expectations']} |"
            for m in probe
        ),
        "",
    ]


def _rest_of_step(step_seconds: float, phases: Iterable[dict[str, Any]]) -> float:
    """What the main thread's phases leave of a step's wall time: phases on the side thread (the
    independent models, ``beside``) overlap the main thread's."""
    return max(step_seconds - sum(p["seconds"] for p in phases if not p.get("beside")), 0.0)


def phase_categories(phases: dict[str, Any]) -> dict[str, float]:
    cats: dict[str, float] = {}
    for p in phases.get("phases", []):
        cats[p["category"]] = cats.get(p["category"], 0.0) + p["seconds"]
    return cats


def synthetic_total(syn: dict[str, Any]) -> tuple[float, float]:
    """(win x timing x amount + drivers + revenue ranges, drivers) seconds of the synthetic frame;
    drivers measured on fewer deals (--driver-deals) scaled to all of them."""
    cats = phase_categories(syn)
    deals, driver_deals = syn["deals"], syn.get("driver_deals", syn["deals"])
    scaled = cats.get("drivers", 0.0) * deals / driver_deals if driver_deals else 0.0
    return cats.get("score", 0.0) + cats.get("revenue", 0.0) + scaled, scaled


def synthetic_summary(syn: dict[str, Any]) -> str:
    """Scoring time of the synthetic frame: win x timing x amount, drivers and revenue ranges; drivers
    measured on fewer deals (--driver-deals) are scaled to all of them, and said so."""
    cats = phase_categories(syn)
    deals, driver_deals = syn["deals"], syn.get("driver_deals", syn["deals"])
    drivers = cats.get("drivers", 0.0)
    total, scaled = synthetic_total(syn)
    one_pass = syn.get("win_with_drivers", False)
    text = (
        f"synthetic {deals:,} open deals: {total:.1f} s ({_num(_share(deals, total))} deals/s) = "
        + (
            f"timing x amount {cats.get('score', 0.0):.1f} s + win probability with its drivers in one pass "
            if one_pass
            else f"win x timing x amount {cats.get('score', 0.0):.1f} s + drivers "
        )
    )
    if driver_deals < deals:
        text += f"{scaled:.1f} s (extrapolated from {drivers:.1f} s on {driver_deals:,} deals)"
    else:
        text += f"{drivers:.1f} s"
    threads = syn.get("threads", 1)
    return (
        text + f" + revenue ranges {cats.get('revenue', 0.0):.1f} s; peak {syn['process_peak_mb']:,.0f} MB; "
        f"{threads} thread{'s' if threads > 1 else ''}"
    )


def size_section(r: SizeResult) -> list[str]:
    opps = SIZES[r.size]
    out = [
        f"## {r.size}: {opps:,} opportunities",
        "",
        "| step | part | wall s | peak MB | rows | rows/s | CPU s | other load (cores) "
        "| loadavg before -> after | note |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for s in r.steps:
        out.append(
            f"| {s.step} | {s.stage} | {s.seconds:.1f} | {s.peak_mb:,.0f} | {s.rows:,} | "
            f"{s.rows_per_second:,.0f} | {s.cpu_seconds:.1f} | {_num(s.other_cores, '.2f')} | "
            f"{s.load_before} -> {s.load_after} | {s.note} |"
        )
    night_peak = max((s.peak_mb for s in r.night), default=0.0)
    out.append(f"| **the night** (night 2) | night | {r.night_seconds:.1f} | {night_peak:,.0f} | | | | | | |")
    out += [
        "",
        "Rows: generate = data rows of both exports; ingest and validate raw = rows of that export, all "
        "entities; dbt = stage-history rows of the newest export; validate marts = rows in marts.*; "
        "forecast and validate predictions = open deals scored.",
        "",
        f"Validation, night 2: raw and predictions checkpoints and the marts checkpoint inside dbt build "
        f"{r.validation_seconds:.1f} s = "
        f"{_share(r.validation_seconds, r.night_seconds):.1%} of the night ({r.night_seconds:.1f} s).",
        "",
    ]
    if r.dbt:
        out += [
            "| dbt build | wall s | peak MB | dbt elapsed s | nodes | models s | incremental models s "
            "| tests wall s | tests summed s |",
            "|---|---:|---:|---:|---|---:|---:|---:|---:|",
        ]
        for name, d in r.dbt.items():
            s = r.step(name)
            nodes = ", ".join(f"{v} {k}" for k, v in sorted(d["counts"].items()))
            out.append(
                f"| {name} | {s.seconds:.1f} | {s.peak_mb:,.0f} | {d['elapsed_s']:.1f} | {nodes} | "
                f"{d['models_sum_s']:.1f} | "
                f"{d['incremental_sum_s']:.1f} ({d['incremental_models']}) | {d['tests_wall_s']:.1f} | "
                f"{d['tests_sum_s']:.1f} |"
            )
        out += [
            "",
            "dbt elapsed s: dbt's own run time (the rest of the wall time is start-up and parsing); "
            "models s, tests summed s: execution times summed over nodes (dbt runs 2 threads); "
            "incremental models s: of those, the models materialized incrementally (their count); "
            "tests wall s: time during which at least one dbt test ran.",
            "",
        ]
    if r.forecast_phases:
        fc = r.step("forecast")
        phases = r.forecast_phases["phases"]
        cold = {p["name"]: p for p in r.forecast_phases_cold.get("phases", [])}
        cold_step = r.step(COLD_FORECAST_STEP)
        out += [
            "Forecast step, by phase (bench/forecast_phases.py times the job's own calls in its process); "
            "night 1's forecast, with the backtest ledger empty (a first night, or the weekly full "
            "re-backtest), beside it:",
            "",
            "| phase | category | wall s | peak MB | calls | night 1 wall s | night 1 peak MB |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for p in phases:
            c = cold.get(p["name"])
            night1 = f"{c['seconds']:.1f} | {c['peak_mb']:,.0f} |" if c else " | |"
            category = f"{p['category']}, beside" if p.get("beside") else p["category"]
            out.append(
                f"| {p['name']} | {category} | {p['seconds']:.1f} | {p['peak_mb']:,.0f} | {p['calls']} "
                f"| {night1}"
            )
        cold_rest = f"{_rest_of_step(cold_step.seconds, cold.values()):.1f}" if cold_step and cold else ""
        out.append(
            f"| start-up, imports, champion look-up (rest of the step) | other | "
            f"{_rest_of_step(fc.seconds, phases):.1f} | | | {cold_rest} | |"
        )
        cats = phase_categories(r.forecast_phases)
        out += [
            "",
            "By category: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(cats.items(), key=lambda kv: -kv[1]))
            + f"; scoring rate {_num(_share(fc.rows, cats.get('score', 0.0)))} open deals/s "
            f"({fc.rows:,} deals).",
            "",
        ]
        side = [p for p in phases if p.get("beside")]
        if side:
            out += [
                f"Category `beside`: on a thread of its own beside the others (forecast_models_beside), "
                f"{sum(p['seconds'] for p in side):.1f} s summed, overlapping the other phases' time; the "
                "rest of the step is the step's wall time less the other phases. Phases that overlap "
                "share one peak window (bench/phase_timer.py).",
                "",
            ]
        if not r.forecast_phases.get("peaks_per_phase", True):
            out += ["(Per-phase peaks are the process peak so far: /proc/self/clear_refs was refused.)", ""]
    if r.synthetic:
        syn = r.synthetic
        out += [
            f"Synthetic scoring: {syn['deals']:,} open deals (the {syn['real_open_deals']:,} deals open at "
            f"{AS_OF} repeated), tonight's models ({syn['win_model']}), through "
            "explain.predict_with_drivers/top_drivers, scoring.score_deals and scoring.period_forecast "
            "(bench/score_synthetic.py):",
            "",
            "| phase | wall s | peak MB | deals/s |",
            "|---|---:|---:|---:|",
        ]
        for p in syn["phases"]:
            n = syn.get("driver_deals", syn["deals"]) if p["category"] == "drivers" else syn["deals"]
            rate = _num(_share(n, p["seconds"])) if p["category"] != "prepare" else ""
            out.append(f"| {p['name']} | {p['seconds']:.1f} | {p['peak_mb']:,.0f} | {rate} |")
        out += ["", "In all: " + synthetic_summary(syn) + ".", ""]
    return out


def chart(results: list[SizeResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps: list[str] = []
    for r in results:
        for s in r.steps:
            if s.step not in steps:
                steps.append(s.step)
    width = 0.8 / max(len(results), 1)
    fig, ax = plt.subplots(figsize=(12, 5.5))
    for i, r in enumerate(results):
        xs, ys = [], []
        for j, name in enumerate(steps):
            s = r.step(name)
            if s is not None:
                xs.append(j + (i - (len(results) - 1) / 2) * width)
                ys.append(max(s.seconds, 0.01))
        bars = ax.bar(xs, ys, width, label=f"{r.size} ({SIZES[r.size]:,} opportunities)")
        ax.bar_label(bars, labels=[f"{y:.0f}" if y >= 10 else f"{y:.1f}" for y in ys], fontsize=7, padding=1)
    ax.set_yscale("log")
    ax.set_ylabel("wall time, s (log scale)")
    ax.set_xticks(range(len(steps)))
    ax.set_xticklabels([_wrap(name) for name in steps], fontsize=8)
    ax.set_title("pipecast benchmark: wall time per step per size")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _wrap(text: str, width: int = 14) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, line])


def render(
    results: list[SizeResult],
    chart_link: str | None,
    run: dict[str, str],
    probe: list[dict[str, Any]] | None = None,
) -> str:
    """The report; ``run``: started (ISO time), machine, started_load, ended_load, command and
    omp_num_threads."""
    sizes = [r.size for r in results]
    started_load, ended_load = run["started_load"], run["ended_load"]
    out = [
        "# pipecast benchmarks",
        "",
        f"Run {datetime.fromisoformat(run['started']):%Y-%m-%d %H:%M} UTC on: {run['machine']}.",
        f"Command: `{run['command']}`. Sizes: "
        + ", ".join(f"{s} = {SIZES[s]:,} opportunities" for s in sizes)
        + " (nightly full exports of three years of history).",
        "Per size: two nightly exports are generated; night 1 is loaded, built (twice: the marts' two "
        "slots each hold it, so that night 2 builds onto a slot holding a night as every later night "
        "does) and forecast (its "
        "backtest ledger empty: every backtest cut-off and period fitted, as on a first night or in the "
        "weekly full re-backtest), and dbt parses the project with night 2's build vars (the parse state "
        "an ordinary night finds: bench/dbt_parse_next.py); night 2, the measured night, runs ingest "
        "-> validate raw -> dbt build (incremental, the marts checkpoint on tonight's slots inside it) -> "
        "forecast -> validate predictions -> report, as the DAG runs them, its forecast "
        "finding night 1's backtests in the ledger as an ordinary night does; then "
        "`pipecast build --full-refresh` runs on the same data, and `pipecast validate --stage marts` "
        "(the on-demand check of the published views, not part of the night). "
        "Each step is its own process: peak memory is that process's maximum resident set size; "
        "other load = CPU the rest of the machine used while the step ran (/proc/stat less the step's "
        "own CPU), in cores.",
        "",
        *conditions(results, started_load, ended_load, run.get("omp_num_threads", "unset")),
        "",
        "## Goals",
        "",
        *goals(results, probe),
        "",
    ]
    if chart_link:
        out += [f"![wall time per step per size]({chart_link})", ""]
    for r in results:
        out += size_section(r)
    out += lifecycle_section(results)
    if probe:
        out += probe_section(probe, run.get("validation_duckdb_memory_limit") or _validation_memory_limit())
    out += [
        "## Forecast accuracy (backtest: deals open at past period-ends, pooled)",
        "",
        "| size | forecaster | Brier | log loss | AUC | ECE |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        for name, m in sorted(r.accuracy.items()):
            out.append(
                f"| {r.size} | {name} | {m.get('brier', float('nan')):.4f} | "
                f"{m.get('log_loss', float('nan')):.4f} | {m.get('auc', float('nan')):.3f} | "
                f"{m.get('ece', float('nan')):.3f} |"
            )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", nargs="+", default=["S", "M"], choices=list(SIZES))
    parser.add_argument("--state", type=Path, default=ROOT / ".state" / "bench")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument(
        "--chart",
        type=Path,
        help=f"PNG of wall time per step per size (default: {CHART_DEFAULT.relative_to(ROOT)} with the "
        "default --output, else beside --output)",
    )
    parser.add_argument(
        "--score-deals",
        type=int,
        help="score a synthetic frame of this many open deals at every size (0: none; default: "
        "1,000,000 at L only)",
    )
    parser.add_argument(
        "--driver-deals",
        type=int,
        help="with --score-deals: compute per-deal drivers for this many of the synthetic deals only and "
        "scale their time (default: all)",
    )
    parser.add_argument(
        "--score-threads",
        type=int,
        default=2,
        help="threads of the synthetic scoring (PIPECAST_FORECAST_THREADS; default 2, the machine's "
        "cores, as the goal of 1M deals in a minute states; the night's steps keep the environment's)",
    )
    parser.add_argument(
        "--probe-rows",
        type=int,
        nargs="+",
        default=PROBE_ROWS_DEFAULT,
        help="opportunities per synthetic export for the validation memory probe (0: skip it)",
    )
    parser.add_argument(
        "--rerender",
        action="store_true",
        help="run nothing: rewrite the report and chart from --state's results.json (after a change "
        "to how the report reads the numbers)",
    )
    parser.add_argument(
        "--combine",
        type=Path,
        nargs="+",
        help="with --rerender: the states of separate runs (e.g. one size each), whose results.json "
        "are joined into --state's first; each run's command is kept in the report",
    )
    args = parser.parse_args(argv)
    output = args.output.resolve()
    chart_path = args.chart or (
        CHART_DEFAULT
        if output == (ROOT / "BENCHMARKS.md")
        else output.with_name(output.stem + "_wall_times.png")
    )
    raw = args.state / "results.json"

    def progress(message: str) -> None:
        print(f"{datetime.now():%H:%M:%S} {message}", flush=True)

    if args.rerender and args.combine:
        results, probe, run = combine_results([state / "results.json" for state in args.combine])
        save_results(raw, results, probe, run)
    elif args.rerender:
        results, probe, run = load_results(raw)
    else:
        started_load = loadavg()
        started = datetime.now(UTC)
        progress(f"benchmark {' '.join(args.sizes)} on {machine()}; loadavg {started_load}")
        results = []
        for label in args.sizes:
            deals = (
                args.score_deals if args.score_deals is not None else SYNTHETIC_DEALS_DEFAULT.get(label, 0)
            )
            results.append(
                bench_size(label, args.state, progress, deals, args.driver_deals, args.score_threads)
            )
        probe_rows = [n for n in args.probe_rows if n > 0]
        probe = validation_probe(probe_rows, args.state / "probe", progress) if probe_rows else []
        command = "python bench/run_bench.py " + " ".join(argv if argv is not None else sys.argv[1:])
        run = {
            "started": started.isoformat(),
            "machine": machine(),
            "started_load": started_load,
            "ended_load": loadavg(),
            "command": command.strip(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
            "validation_duckdb_memory_limit": _validation_memory_limit(),
        }
        save_results(raw, results, probe, run)
    chart(results, chart_path)
    link = os.path.relpath(chart_path.resolve(), output.parent)
    text = render(results, link, run, probe)
    # the per-dataset accuracy section (bench/accuracy_by_dataset.py, its own run) is kept
    kept = kept_section(output.read_text()) if output.exists() else []
    if kept:
        text += "\n" + "\n".join(kept)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    progress(f"wrote {output}, {chart_path} and {raw}")
    print(text)
    return 0


def save_results(
    path: Path, results: list[SizeResult], probe: list[dict[str, Any]], run: dict[str, str]
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"run": run, "sizes": [asdict(r) for r in results], "probe": probe}
    path.write_text(json.dumps(data, indent=1, default=str))


def combine_results(paths: list[Path]) -> tuple[list[SizeResult], list[dict[str, Any]], dict[str, str]]:
    """Several runs' results as one: their sizes in S, M, L order, their probes, and run facts
    naming every command (the load and start of each size are in its own steps)."""
    loaded = [load_results(path) for path in paths]
    results = sorted((r for sizes, _, _ in loaded for r in sizes), key=lambda r: list(SIZES).index(r.size))
    runs = [run for _, _, run in loaded]
    run = {
        **runs[0],
        "started": min(r["started"] for r in runs),
        "ended_load": runs[-1]["ended_load"],
        "command": "`; `".join(r["command"] for r in runs),
    }
    return results, [p for _, probe, _ in loaded for p in probe], run


def load_results(path: Path) -> tuple[list[SizeResult], list[dict[str, Any]], dict[str, str]]:
    """The sizes, probe and run facts a benchmark run stored in its results.json."""
    data = json.loads(path.read_text())
    sizes = []
    for size in data["sizes"]:
        steps = [StepResult(**step) for step in size.pop("steps")]
        sizes.append(SizeResult(**size, steps=steps))
    return sizes, data.get("probe", []), data["run"]


if __name__ == "__main__":
    sys.exit(main())
