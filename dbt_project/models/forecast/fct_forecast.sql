{#- The revenue forecast per period (this and next) and segment (and All), from the newest night:
    the model's expected revenue and P10/P50/P90 beside the CRM's stage-weighted, commit and best
    case forecasts, the revenue closed to date and the target. -#}
{%- set ml = source('ml', 'revenue_forecast_segments') -%}
{%- set columns = {
    'as_of': 'date',
    'period': dbt.type_string(),
    'period_start': 'date',
    'period_end': 'date',
    'horizon': dbt.type_string(),
    'segment': dbt.type_string(),
    'closed_won_to_date': type_double(),
    'stage_weighted': type_double(),
    'commit': type_double(),
    'best_case': type_double(),
    'open_pipeline_expected': type_double(),
    'new_business_expected': type_double(),
    'expected': type_double(),
    'p10': type_double(),
    'p50': type_double(),
    'p90': type_double(),
    'target': type_double(),
    'open_deals': 'bigint',
    'model_version': dbt.type_string(),
    'run_id': dbt.type_string(),
} -%}

with forecast as (
    {{ ml_rows(ml, columns) }}
)

select
    {{ dbt.concat(["period", "'|'", "segment"]) }} as forecast_key,
    {{- typed_columns(columns, trailing_comma=true) }}
    cast(case when target > 0 then p50 / target end as {{ type_double() }}) as p50_attainment
from forecast
