"""What the Airflow DAGs need beyond the pipeline steps: which export a run waits for, schedules and
task defaults, alerts, Assets.

The DAG files import from here at parse time, so nothing in this package imports the warehouse,
dbt, Great Expectations or pandas at module level: parsing stays fast and free of I/O. The steps
themselves live in pipecast.pipeline and are imported inside the tasks.
"""
