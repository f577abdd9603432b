"""The validation stage: Great Expectations suites run in the warehouse, results audited.

- ``runner``: ``validate_raw`` and the general ``run_checkpoint`` later stages reuse.
- ``severity``: how a suite marks each expectation as an error (blocks) or a warning.
- ``suites``: loads the suite modules that live in ``expectations/`` as reviewable code.
- ``audit``: writes every expectation result into ``audit.validation_results``.
- ``gx_duckdb_fix``: the one patch that makes GX's SQL datasource work on DuckDB.

Nothing is imported here: Great Expectations takes seconds to import, so callers (DAG tasks,
the CLI) import ``pipecast.validate.runner`` where they run it, never at DAG parse time.
"""
