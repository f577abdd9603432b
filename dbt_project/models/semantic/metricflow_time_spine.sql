{{ config(materialized='view', schema='marts') }}
-- MetricFlow's time spine (dbt's semantic layer): one row per day, the calendar of dim_dates.
select cast(date_day as date) as date_day
from {{ ref('dim_dates') }}
