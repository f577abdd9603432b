"""Forecast accuracy per dataset: real CRM data and generated shapes that look like real CRMs.

Each case runs the whole night as a user would (`pipeline.run_all`: ingest with raw validation ->
dbt build -> marts validation -> forecast -> predictions validation -> report) on its own state
folder, then reads what the night published: the win-probability champion, the pooled deal backtest
of every forecaster (Brier, AUC, ECE with their deal counts), the backtest cut-offs the horizons
chose, and the revenue range's P10-P90 coverage with its counts. Generated cases also score the
generator's true probabilities on the same deals (the floor no model can beat).

Cases:
- maven: ../shared/datasets/maven_crm_pipeline through mappings/maven_crm_pipeline.yml, one export
  (it has no history: stage history is derived from its engage and close dates);
- the generator's shapes (pipecast.demo.shapes.PRESETS): short history, weekly exports, fast
  funnel, sparse owners, a history file without close dates, and all of them at once.

Usage:
    python bench/accuracy_by_dataset.py                       # every case, prints the table
    python bench/accuracy_by_dataset.py --cases maven fast_funnel --size 5000
    python bench/accuracy_by_dataset.py --rerender            # the section again from results.json

It replaces its own section of BENCHMARKS.md (``--output``; bench/run_bench.py keeps that section
when it rewrites the file) and keeps the raw numbers in ``--work``/results.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("PIPECAST_TEST_DATASETS", ROOT.parent / "shared" / "datasets"))
MAVEN = DATASETS / "maven_crm_pipeline"
MAVEN_FILES = ("sales_pipeline.csv", "accounts.csv", "products.csv", "sales_teams.csv")
MAVEN_EXPORT = date(2017, 12, 31)  # the day after its last close date
AS_OF = date(2026, 11, 27)
SHAPES = (
    "short_history",
    "weekly_exports",
    "fast_funnel",
    "sparse_owners",
    "history_without_close_dates",
    "real_crm",
)
CASES = ("maven", *SHAPES)
# the rows of a case, in this order: the champion, the CRM's number, the calibrated stage model
# (its candidate row, unless it is the champion), the other candidates, the true probabilities
FIRST = ("model", "stage_weighted", "candidate_stage_calibrated")
TRUTH = "true_probability"  # the generator's probabilities (pipecast.forecast.backtests.TRUTH)
SECTION = "## Forecast accuracy per dataset (real CRM data and CRM-like generated shapes)"


@dataclass
class CaseResult:
    case: str
    source: str
    deals: int
    open_deals: int
    champion: str
    fallback: str | None
    cutoffs: list[str]
    # forecaster -> metric -> value; "n" is the deal count of the pooled backtest
    deals_pooled: dict[str, dict[str, float]] = field(default_factory=dict)
    coverage: float | None = None
    coverage_inside: int | None = None
    coverage_n: int | None = None
    wall_seconds: float = 0.0
    error: str | None = None


def _settings(state: Path, **overrides: Any):
    from pipecast.config import Settings

    return Settings(
        state_dir=state, landing_dir=state / "landing", warehouse_path=state / "warehouse.duckdb", **overrides
    )


def _write_case(case: str, settings, size: int, seed: int) -> str:
    """Write the case's exports into the landing zone; returns where the data came from."""
    from pipecast.canonical import COMPLETION_MARKER
    from pipecast.demo.generator import generate_demo_exports
    from pipecast.demo.shapes import preset

    landing = settings.resolved_landing_dir
    if case == "maven":
        folder = landing / MAVEN_EXPORT.isoformat()
        folder.mkdir(parents=True)
        for name in MAVEN_FILES:
            shutil.copyfile(MAVEN / name, folder / name)  # ingest refuses links out of the export
        (folder / COMPLETION_MARKER).write_text("")
        return f"{MAVEN.relative_to(DATASETS.parent)} (one export, {MAVEN_EXPORT})"
    shape = preset(case)
    nights = 8 if shape.export_interval_days > 1 else 1
    generate_demo_exports(
        landing_dir=landing,
        truth_path=settings.ground_truth_path,
        size=size,
        seed=seed,
        as_of=AS_OF,
        nights=nights,
        shape=shape,
    )
    return f"generated `{case}` ({size:,} deals, {nights} export{'s' if nights > 1 else ''})"


def run_case(case: str, work: Path, size: int, seed: int = 42) -> CaseResult:
    """One night of the case on a fresh state folder, and what it published."""
    from pipecast.pipeline import run_all

    state = work / case
    shutil.rmtree(state, ignore_errors=True)
    settings = _settings(state)
    source = _write_case(case, settings, size, seed)
    started = time.perf_counter()
    error = None
    try:
        run_all(settings, generate_demo=False)
    except Exception as exc:  # the table says which case failed and why; the others still run
        error = f"{type(exc).__name__}: {exc}"
        logging.getLogger(__name__).exception("case %s failed", case)
    result = read_published(case, source, settings)
    result.wall_seconds = time.perf_counter() - started
    result.error = error
    return result


def read_published(case: str, source: str, settings) -> CaseResult:
    from pipecast.warehouse import connect

    with connect(settings) as con:
        deals, open_deals = con.execute(
            "select count(*), count(*) filter (where not is_closed) from staging.stg_crm__opportunities"
        ).fetchone()
        run = con.execute(
            "select model_version, fallback_reason, horizons from ml.model_runs "
            "where model_name = 'win_probability' order by trained_at desc limit 1"
        ).fetchone()
        pooled = con.execute(
            "select forecaster, metric, value, n from ml.backtests where scope = 'deals_pooled' "
            "and cutoff is null and as_of = (select max(as_of) from ml.backtests)"
        ).fetchall()
        coverage = con.execute(
            "select value, n from ml.backtests where scope = 'revenue_all_cutoffs' "
            "and forecaster = 'model' and metric = 'coverage_p10_p90' and cutoff is null "
            "and as_of = (select max(as_of) from ml.backtests)"
        ).fetchone()
    version, fallback, horizons = run if run else ("none", None, None)
    by_forecaster: dict[str, dict[str, float]] = {}
    for forecaster, metric, value, n in pooled:
        by_forecaster.setdefault(forecaster, {})[metric] = float(value) if value is not None else float("nan")
        by_forecaster[forecaster]["n"] = float(n)
    cutoffs = json.loads(horizons).get("backtest_cutoffs", []) if horizons else []
    result = CaseResult(
        case=case,
        source=source,
        deals=int(deals),
        open_deals=int(open_deals),
        champion=str(version).split(".")[1].split("-")[0] if "." in str(version) else str(version),
        fallback=fallback,
        cutoffs=list(cutoffs),
        deals_pooled=by_forecaster,
    )
    if coverage is not None and coverage[0] is not None:
        result.coverage, result.coverage_n = float(coverage[0]), int(coverage[1])
        result.coverage_inside = round(result.coverage * result.coverage_n)
    return result


def _short(reason: str, width: int = 100) -> str:
    """The first of a run's fallback reasons, cut to ``width`` (all of them: ml.model_runs)."""
    first = reason.split(" | ")[0]
    more = " (and more)" if " | " in reason else ""
    return (first if len(first) <= width else first[: width - 1] + "…") + more


def _cell(metrics: dict[str, float] | None, metric: str, fmt: str) -> str:
    if not metrics or metric not in metrics or metrics[metric] != metrics[metric]:
        return "–"
    return format(metrics[metric], fmt)


def table(results: list[CaseResult]) -> list[str]:
    """The markdown section: one row per case and forecaster."""
    out = [
        SECTION,
        "",
        "Command: `python bench/accuracy_by_dataset.py` (each case is a whole `pipecast run` night on a "
        "fresh warehouse). Deal backtest pooled over the cut-offs the horizons chose from the data; "
        "`model` is the published champion (named in the champion column), `candidate_*` the other "
        "recipes the backtest compared, `true_probability` the generator's true probabilities on the "
        "same deals. "
        "Coverage: how many of the revenue backtest's P10-P90 ranges (all cut-offs) held the actual.",
        "",
        "| case | data | champion | cut-offs | forecaster | deals | Brier | AUC | ECE "
        "| vs stage-weighted | P10-P90 coverage |",
        "|---|---|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        if r.error and not r.deals_pooled:
            out.append(f"| {r.case} | {r.source} | failed: {r.error[:120]} | | | | | | | | |")
            continue
        base = r.deals_pooled.get("stage_weighted", {}).get("brier")
        cutoffs = ", ".join(r.cutoffs) if r.cutoffs else "none (no backtest)"
        coverage = (
            f"{r.coverage:.0%} ({r.coverage_inside} of {r.coverage_n})" if r.coverage is not None else "–"
        )
        champion = r.champion + (f" (fallback: {_short(r.fallback)})" if r.fallback else "")
        first = True
        names = [n for n in FIRST if n in r.deals_pooled]
        names += sorted(n for n in r.deals_pooled if n not in FIRST and n != TRUTH)
        names += [TRUTH] if TRUTH in r.deals_pooled else []
        for name in names:
            m = r.deals_pooled[name]
            gain = f"{(m['brier'] / base - 1):+.1%}" if base and name != "stage_weighted" else ""
            head = [r.case, r.source, champion, cutoffs] if first else ["", "", "", ""]
            cells = [
                *head,
                name,
                f"{int(m.get('n', 0)):,}",
                _cell(m, "brier", ".4f"),
                _cell(m, "auc", ".3f"),
                _cell(m, "ece", ".3f"),
                gain,
                coverage if first else "",
            ]
            out.append("| " + " | ".join(cells) + " |")
            first = False
    out.append("")
    return out


def _section_span(text: str) -> tuple[int, int] | None:
    """Where this script's section lies in a BENCHMARKS.md: its heading to the next heading."""
    start = text.find(SECTION)
    if start < 0:
        return None
    end = text.find("\n## ", start + len(SECTION))
    return start, end + 1 if end >= 0 else len(text)


def replace_section(text: str, section: list[str]) -> str:
    """``text`` (a BENCHMARKS.md) with this script's section replaced, or appended."""
    span = _section_span(text)
    if span is None:
        return text.rstrip("\n") + "\n\n" + "\n".join(section)
    start, end = span
    rest = text[end:]
    return text[:start] + "\n".join(section) + ("\n" + rest if rest else "")


def kept_section(text: str) -> list[str]:
    """This script's section of a BENCHMARKS.md (empty if none): run_bench keeps it on a rewrite."""
    span = _section_span(text)
    if span is None:
        return []
    return text[span[0] : span[1]].rstrip("\n").split("\n") + [""]


def run_cases(cases: list[str], work: Path, size: int, progress=print) -> list[CaseResult]:
    results = []
    for case in cases:
        if case == "maven" and not all((MAVEN / n).exists() for n in MAVEN_FILES):
            progress(f"accuracy: {case}: the Maven sample is not at {MAVEN}: skipped")
            continue
        progress(f"accuracy: {case} ...")
        result = run_case(case, work, size)
        model = result.deals_pooled.get("model", {}).get("brier")
        base = result.deals_pooled.get("stage_weighted", {}).get("brier")
        progress(
            f"accuracy: {case}: champion {result.champion}, model Brier {model}, stage-weighted {base} "
            f"({result.wall_seconds:.0f} s){' ERROR ' + result.error if result.error else ''}"
        )
        results.append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--size", type=int, default=5000, help="deals per generated case")
    parser.add_argument("--work", type=Path, default=ROOT / ".state" / "bench-accuracy")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md", help="its section is replaced")
    parser.add_argument("--no-output", action="store_true", help="print the table only")
    parser.add_argument(
        "--rerender", type=Path, nargs="?", const=True, help="from results.json (or this file)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    raw = args.work / "results.json"
    if args.rerender:
        source = raw if args.rerender is True else args.rerender
        results = [CaseResult(**r) for r in json.loads(source.read_text())]
    else:
        results = run_cases(args.cases, args.work, args.size)
        args.work.mkdir(parents=True, exist_ok=True)
        raw.write_text(json.dumps([asdict(r) for r in results], indent=1, default=str))
    section = table(results)
    if not args.no_output:
        old = args.output.read_text() if args.output.exists() else "# pipecast benchmarks\n"
        args.output.write_text(replace_section(old, section))
    print("\n".join(section))
    return 0 if all(r.error is None for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
