{#- Every deal open on the newest night with its calibrated win probability beside the CRM's,
    close timing (if won: this period, next period), the probability of being won in each, and its
    top three drivers (log-odds effects; the full set is JSON in drivers). -#}
{%- set ml = source('ml', 'opportunity_scores') -%}
{%- set columns = {
    'opportunity_id': dbt.type_string(),
    'as_of': 'date',
    'segment': dbt.type_string(),
    'owner_id': dbt.type_string(),
    'account_id': dbt.type_string(),
    'stage': dbt.type_string(),
    'forecast_category': dbt.type_string(),
    'amount': type_double(),
    'close_date': 'date',
    'win_probability': type_double(),
    'crm_probability': type_double(),
    'expected_amount': type_double(),
    'p_close_this_period_if_won': type_double(),
    'p_close_next_period_if_won': type_double(),
    'p_won_this_period': type_double(),
    'p_won_next_period': type_double(),
    'this_period': dbt.type_string(),
    'next_period': dbt.type_string(),
} -%}
{%- do columns.update(driver_columns()) -%}
{%- do columns.update({'model_version': dbt.type_string(), 'run_id': dbt.type_string()}) -%}

with scores as (
    {{ ml_rows(ml, columns) }}
)

select
    {{- typed_columns(columns) }}
from scores
