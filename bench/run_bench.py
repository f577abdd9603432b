"""The benchmark: run every pipeline step at sizes S, M (and, opt-in, L) and write BENCHMARKS.md.

Each step runs as its own process (`pipecast <step>`) against a fresh state folder, so its wall
time and peak memory (the child's ru_maxrss, via os.wait4) are its own. Timings live here, never
as limits in tests.

    python bench/run_bench.py                  # S and M
    python bench/run_bench.py --sizes S M L    # adds L (1M opportunities)
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"S": 20_000, "M": 100_000, "L": 1_000_000}
AS_OF = date(2026, 11, 28)  # fixed, so runs are comparable


@dataclass
class StepResult:
    size: str
    step: str
    seconds: float
    peak_mb: float
    rows: int

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def run_step(args: list[str], env: dict[str, str], log_path: Path) -> tuple[float, float]:
    """Run `pipecast <args>` and return (seconds, peak RSS in MB) of that process."""
    started = time.perf_counter()
    with open(log_path, "a") as log:
        log.write(f"\n$ pipecast {' '.join(args)}\n")
        log.flush()
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipecast.cli", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"step {' '.join(args)} failed: see {log_path}")
    return seconds, usage.ru_maxrss / 1024


def count(warehouse: Path, sql: str) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return int(con.execute(sql).fetchone()[0] or 0)


def bench_size(label: str, state_root: Path, progress) -> list[StepResult]:
    size = SIZES[label]
    state = state_root / label
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    env = {
        **os.environ,
        "PIPECAST_STATE_DIR": str(state),
        "PIPECAST_LANDING_DIR": str(state / "landing"),
        "PIPECAST_WAREHOUSE_PATH": str(state / "warehouse.duckdb"),
    }
    env.pop("PIPECAST_TARGET", None)
    log_path = state / "bench.log"
    wh = state / "warehouse.duckdb"
    export = AS_OF.isoformat()
    results: list[StepResult] = []

    def step(name: str, args: list[str], rows_sql: str | None = None, rows: int = 0) -> None:
        progress(f"[{label}] {name} ...")
        seconds, peak = run_step(args, env, log_path)
        n = count(wh, rows_sql) if rows_sql else rows
        results.append(StepResult(label, name, seconds, peak, n))
        progress(f"[{label}] {name}: {seconds:.1f} s, peak {peak:.0f} MB, {n:,} rows")

    loaded = (
        "select (select count(*) from raw.opportunities) + "
        "(select count(*) from raw.opportunity_stage_history)"
    )
    step("generate", ["generate", "--size", str(size), "--nights", "1", "--as-of", export])
    results[-1].rows = _generated_rows(state / "landing" / export)
    step("ingest", ["ingest", "--date", export, "--no-validate"], loaded)
    step("validate raw", ["validate", "--date", export], "select count(*) from raw.opportunities")
    step("dbt build", ["build"], "select count(*) from raw.opportunity_stage_history")
    step("forecast", ["forecast"], "select count(*) from marts.fct_opportunities")
    step("report", ["report"], rows=0)
    return results


def _generated_rows(folder: Path) -> int:
    total = 0
    for name in ("opportunities.csv", "opportunity_stage_history.csv", "leads.csv"):
        path = folder / name
        if path.exists():
            with open(path, "rb") as fh:
                total += sum(1 for _ in fh) - 1
    return total


def accuracy(state_root: Path, label: str) -> dict[str, dict[str, float]]:
    wh = state_root / label / "warehouse.duckdb"
    with duckdb.connect(str(wh), read_only=True) as con:
        rows = con.execute(
            "select forecaster, metric, value from ml.backtests where scope = 'deals_pooled'"
        ).fetchall()
    table: dict[str, dict[str, float]] = {}
    for forecaster, metric, value in rows:
        table.setdefault(forecaster, {})[metric] = value
    return table


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


def render(results: list[StepResult], acc: dict[str, dict], sizes: list[str]) -> str:
    out = [
        "# pipecast benchmarks",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on: {machine()}.",
        'Reproduce with `make bench` (S, M) or `make bench BENCH_ARGS="--sizes S M L"`.',
        "Each step is its own process; peak memory is that process's maximum resident set size.",
        "Sizes: "
        + ", ".join(f"{s} = {SIZES[s]:,} opportunities" for s in sizes)
        + " (one nightly export of three years of history).",
        "",
        "| size | step | wall s | peak MB | rows | rows/s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        out.append(
            f"| {r.size} | {r.step} | {r.seconds:.1f} | {r.peak_mb:.0f} | {r.rows:,} | "
            f"{r.rows_per_second:,.0f} |"
        )
    for s in sizes:
        total = sum(r.seconds for r in results if r.size == s)
        out.append(
            f"| {s} | **total** | {total:.1f} | {max(r.peak_mb for r in results if r.size == s):.0f} | | |"
        )
    out += [
        "",
        "Rows: generate = opportunities + history + leads written; ingest = rows loaded; "
        "validate = opportunities validated; dbt = history rows modelled; forecast = opportunities.",
        "",
    ]
    out += [
        "## Forecast accuracy (backtest: deals open at the last three mature quarter-ends)",
        "",
        "| size | forecaster | Brier | log loss | AUC | ECE | deals |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for s in sizes:
        for name, m in sorted(acc.get(s, {}).items()):
            out.append(
                f"| {s} | {name} | {m.get('brier', float('nan')):.4f} | "
                f"{m.get('log_loss', float('nan')):.4f} | {m.get('auc', float('nan')):.3f} | "
                f"{m.get('ece', float('nan')):.3f} | |"
            )
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", nargs="+", default=["S", "M"], choices=list(SIZES))
    parser.add_argument("--state", type=Path, default=ROOT / ".state" / "bench")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()

    def progress(message: str) -> None:
        print(message, flush=True)

    results: list[StepResult] = []
    acc: dict[str, dict] = {}
    for label in args.sizes:
        results += bench_size(label, args.state, progress)
        acc[label] = accuracy(args.state, label)
    text = render(results, acc, args.sizes)
    args.output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
