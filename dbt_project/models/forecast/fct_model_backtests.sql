{#- Backtest scores of every night (so BI can chart forecast accuracy over time): per scope
    (deals pooled or per cut-off, won next period, revenue at the period's start or in it, product
    propensity, lead conversion), forecaster (the model, the stage-weighted baseline, the CRM's
    commit and best case, the generator's true probabilities on demo data) and metric. -#}
{%- set ml = source('ml', 'backtests') -%}
{%- set columns = {
    'as_of': 'date',
    'cutoff': 'date',
    'period': dbt.type_string(),
    'scope': dbt.type_string(),
    'forecaster': dbt.type_string(),
    'metric': dbt.type_string(),
    'value': type_double(),
    'n': 'bigint',
    'model_version': dbt.type_string(),
    'run_id': dbt.type_string(),
} -%}

with backtests as (
    {{ ml_rows(ml, columns, newest_night=false) }}
)

select
    {{ dbt.concat([
        "cast(as_of as " ~ dbt.type_string() ~ ")", "'|'",
        "coalesce(cast(cutoff as " ~ dbt.type_string() ~ "), '')", "'|'", "coalesce(period, '')", "'|'",
        "scope", "'|'", "forecaster", "'|'", "metric"]) }} as backtest_key,
    {{- typed_columns(columns) }}
from backtests
