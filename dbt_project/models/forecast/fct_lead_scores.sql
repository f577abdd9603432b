{#- Every open lead (newest night) with its probability of converting within 90 days, beside its
    source's historical conversion rate, and its top three drivers (log-odds effects; the full set
    is JSON in drivers), as fct_opportunity_scores has a deal's. -#}
{%- set ml = source('ml', 'lead_scores') -%}
{%- set columns = {
    'as_of': 'date',
    'lead_id': dbt.type_string(),
    'lead_source': dbt.type_string(),
    'campaign': dbt.type_string(),
    'owner_id': dbt.type_string(),
    'created_at': dbt.type_timestamp(),
    'age_days': 'bigint',
    'conversion_probability': type_double(),
    'source_baseline': type_double(),
    'model_version': dbt.type_string(),
    'run_id': dbt.type_string(),
} -%}
{%- do columns.update(driver_columns()) -%}

with leads as (
    {{ ml_rows(ml, columns) }}
)

select
    {{- typed_columns(columns) }}
from leads
