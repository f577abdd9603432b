"""`pipecast`: one command whose subcommands are the pipeline's steps."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date
from pathlib import Path

from pipecast.config import get_settings
from pipecast.errors import NOT_RETRIABLE, ConfigurationError

# Exit codes: 0 a fresh night, 1 a failure, 2 a bad export or input (quarantined, or a failed
# validation), 3 stale: no new export, nothing rebuilt (the report says since when), 4 busy:
# another night holds the warehouse (pipecast.ingest.night_lock), nothing done.
EXIT_STALE = 3
EXIT_BUSY = 4


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pipecast")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown (not installed)"


def _date(value: str) -> date:
    return date.fromisoformat(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pipecast", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write the demo company's CRM exports into the landing zone")
    gen.add_argument("--size", type=int, help="opportunities (default: PIPECAST_DEMO_SIZE or 20000)")
    gen.add_argument("--seed", type=int)
    gen.add_argument("--as-of", type=_date, help="date of the newest export (default: yesterday)")
    gen.add_argument("--nights", type=int, help="how many nightly exports to write")
    gen.add_argument(
        "--shape",
        default="default",
        help="a CRM shape: default, short_history, weekly_exports, fast_funnel, sparse_owners, "
        "history_without_close_dates or real_crm (all of them; see pipecast.demo.shapes)",
    )

    ing = sub.add_parser("ingest", help="load an export (or every pending one) into raw.* and validate it")
    ing.add_argument("--date", type=_date, help="export date (default: every pending export in order)")
    ing.add_argument("--no-validate", action="store_true", help="load only; run `validate` after")

    val = sub.add_parser("validate", help="run a stage's checkpoint (raw export, marts or predictions)")
    val.add_argument("--stage", choices=["raw", "marts", "predictions"], default="raw")
    val.add_argument("--date", type=_date, help="raw: the export date (required); predictions: as_of")

    acc = sub.add_parser(
        "accept",
        help="accept a quarantined export's drift on purpose (audited); the next run loads it",
    )
    acc.add_argument("export_date", type=_date, metavar="EXPORT_DATE")
    acc.add_argument("--by", required=True, help="who accepts it (recorded in audit.accepted_exports)")
    acc.add_argument("--reason", required=True, help="why the drift is real")

    bld = sub.add_parser("build", help="dbt build: staging, intermediate and marts, with tests")
    bld.add_argument("--full-refresh", action="store_true")

    fc = sub.add_parser("forecast", help="backtest, retrain and score; write ml.*")
    fc.add_argument("--as-of", type=_date, help="default: the newest export")
    fc.add_argument(
        "--full-backtest",
        action="store_true",
        help="refit every backtest cut-off and period instead of reusing the ledger's (the weekly retrain)",
    )

    mp = sub.add_parser("mapping", help="mapping files (mappings/*.yml)")
    mp_sub = mp.add_subparsers(dest="mapping_command", required=True)
    chk = mp_sub.add_parser(
        "check", help="validate a mapping file without loading anything (exit 2 on errors)"
    )
    chk.add_argument("file", type=Path, help="the mapping file (YAML)")
    chk.add_argument(
        "--export", type=Path, help="an export folder to check the mapping against (headers only)"
    )

    sub.add_parser("report", help="write the report and print the summary")
    sub.add_parser("docs", help="generate the dbt docs site (catalog from the warehouse)")
    run = sub.add_parser("run", help="the whole night without a scheduler")
    run.add_argument("--no-generate", action="store_true", help="do not generate demo data if empty")
    return parser


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _settings():
    """The settings, or a ConfigurationError naming the variables that are wrong."""
    from pydantic import ValidationError

    try:
        return get_settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"PIPECAST_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(f"invalid settings: {problems}") from exc


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. Input, configuration and integrity errors (pipecast.errors.NOT_RETRIABLE)
    print one line on stderr, without a traceback, and exit 2; any other failure raises."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command == "mapping":
        return _mapping_check(args.file, args.export)
    from pipecast import pipeline
    from pipecast.ingest.night_lock import NightRunning

    try:
        settings = _settings()
        if args.command == "generate":
            from pipecast.demo.shapes import preset

            try:
                shape = preset(args.shape)
            except ValueError as exc:
                logging.getLogger("pipecast").error("%s", exc)
                return 2
            s = pipeline.generate(settings, args.size, args.seed, args.as_of, args.nights, shape=shape)
            print(f"wrote exports {', '.join(map(str, s.export_dates))} to {settings.resolved_landing_dir}")
        elif args.command == "ingest":
            for r in pipeline.ingest(args.date, settings, validate=not args.no_validate):
                print(f"{r.export_date}: " + ", ".join(f"{k}={v:,}" for k, v in r.rows.items()))
        elif args.command == "validate":
            if args.stage == "raw":
                if args.date is None:
                    parser.error("validate --stage raw needs --date")
                outcome = pipeline.validate_raw(args.date, settings)
            elif args.stage == "marts":
                outcome = pipeline.validate_marts(settings)
            else:
                outcome = pipeline.validate_predictions(args.date, settings)
            print(
                f"{outcome.suite}: {outcome.n_expectations} expectations, "
                f"{outcome.n_failed_errors} errors, {outcome.n_failed_warnings} warnings"
            )
        elif args.command == "accept":
            from pipecast.ingest.night_lock import night_lock
            from pipecast.validate.acceptance import accept

            with night_lock(settings, "accept"):  # never beside a night that may quarantine it again
                a = accept(args.export_date, args.by, args.reason, settings)
            print(
                f"export {a.export_date} accepted {a.label}; drift checks downgraded for this export "
                f"only: {', '.join(a.checks)}" + (f"; moved back to {a.restored_to}" if a.restored_to else "")
            )
        elif args.command == "build":
            r = pipeline.build(settings, full_refresh=args.full_refresh)
            print(f"dbt: {r.models_built} models built, {r.tests_passed} tests passed")
        elif args.command == "forecast":
            r = pipeline.forecast(args.as_of, settings, full_backtest=args.full_backtest)
            print(f"{r.model_version}: scored {r.open_deals_scored:,} open deals as of {r.as_of}")
        elif args.command == "report":
            print(pipeline.report(settings).summary_text)
        elif args.command == "docs":
            from pipecast.transform import dbt_invoke

            if not dbt_invoke(["docs", "generate"], settings).success:
                return 1
            print(f"dbt docs: {settings.state_dir / 'dbt' / 'target' / 'index.html'}")
        elif args.command == "run":
            print(pipeline.run_all(settings, generate_demo=not args.no_generate).summary_text)
    except pipeline.StaleData as exc:
        print(f"STALE: {exc}")
        return EXIT_STALE
    except NightRunning as exc:
        print(f"pipecast: busy: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BUSY
    except NOT_RETRIABLE as exc:
        print(f"pipecast: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    return 0


def _mapping_check(file: Path, export: Path | None) -> int:
    """One line per problem on stderr, no traceback; 2 when the mapping has errors."""
    from pipecast.ingest.mapping_check import check_mapping

    layout, problems = check_mapping(file, export)
    errors = [p for p in problems if not p.startswith("warning: ")]
    for problem in problems:
        print(problem, file=sys.stderr)
    if errors:
        return 2
    assert layout is not None
    against = f" against {export}" if export else ""
    print(f"{file}: layout {layout.layout} is valid{against} (entities: {', '.join(layout.entities)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
