"""pipecast's Great Expectations suites, one module per stage: ``raw_suites`` (one CRM export as
loaded into raw.*), ``mart_suites`` (the marts BI reads, what their dbt yml does not declare) and
``prediction_suites`` (the forecast job's ml.* rows), with ``accepted_values`` (reference values
edited per tenant).

The folder ``expectations/`` is installed with the project as the package
``pipecast_expectations`` (pyproject.toml maps it), so the runners in ``pipecast.validate`` import
the suites like any module: ``from pipecast_expectations import raw_suites``. An editable install
(``make install``) reads the files in place: an edited suite runs on the next import.

Nothing is imported here: the suite modules import Great Expectations, which takes seconds.
"""
