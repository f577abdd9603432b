{#- The forecast ledger of the newest night's backtest: each past period's revenue as forecast at
    its start (horizon next) and from each month-end in it (horizon current) by the model and by
    the CRM's methods, beside what was actually won. Error and whether the actual fell inside the
    model's P10-P90 range. -#}
{%- set ml = source('ml', 'forecast_ledger') -%}
{%- set columns = {
    'as_of': 'date',
    'cutoff': 'date',
    'period': dbt.type_string(),
    'period_start': 'date',
    'period_end': 'date',
    'horizon': dbt.type_string(),
    'segment': dbt.type_string(),
    'forecaster': dbt.type_string(),
    'expected': type_double(),
    'p10': type_double(),
    'p50': type_double(),
    'p90': type_double(),
    'closed_won_to_date': type_double(),
    'actual': type_double(),
    'abs_error': type_double(),
    'within_p10_p90': 'boolean',
    'model_version': dbt.type_string(),
    'run_id': dbt.type_string(),
} -%}

with ledger as (
    {{ ml_rows(ml, columns) }}
)

select
    {{ dbt.concat(["cast(cutoff as " ~ dbt.type_string() ~ ")", "'|'", "period", "'|'", "segment", "'|'", "forecaster"]) }}
        as ledger_key,
    {{- typed_columns(columns, trailing_comma=true) }}
    cast(case when actual <> 0 then (expected - actual) / actual end as {{ type_double() }}) as pct_error
from ledger
