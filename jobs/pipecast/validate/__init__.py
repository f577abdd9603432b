"""The validation stage: Great Expectations suites run in the warehouse, results audited.

- ``runner``: the public API (``validate_raw``, ``validate_marts``, ``validate_predictions``,
  ``run_checkpoint``), one checkpoint per stage.
- ``raw``, ``marts``, ``predictions``: what each stage validates and against what context.
- ``checkpoint``: runs a stage's suites as one GX checkpoint, builds Data Docs, audits results.
- ``expect``: builders for the expectations the suites share. The suites themselves are the
  package ``pipecast_expectations`` (the folder ``expectations/``, installed with the project).
- ``severity``: how a suite marks each expectation as an error (blocks) or a warning.
- ``audit``: writes every expectation result into ``audit.validation_results``.
- ``target``: the warehouse as SQLAlchemy sees it (DuckDB or PostgreSQL).
- ``gx_duckdb_fix``: the one patch that makes GX's SQL datasource work on DuckDB.
- ``memory_probe``: time and peak memory of the raw checkpoint at any table size.

Nothing is imported here: Great Expectations takes seconds to import, so callers (DAG tasks,
the CLI) import ``pipecast.validate.runner`` where they run it, never at DAG parse time.

Great Expectations logs routine steps at INFO, some 200 lines while it imports (its public-API
registry): its logger is set to WARNING here, before any module of this package imports it, unless
the logging configuration gave it a level.
"""

import logging

_gx_log = logging.getLogger("great_expectations")
if _gx_log.level == logging.NOTSET:
    _gx_log.setLevel(logging.WARNING)
