{#- Each account's most likely next products (newest night): the probability it buys the product
    within 180 days, its rank for the account, and the segment's base rate for comparison. -#}
{%- set ml = source('ml', 'product_propensity') -%}
{%- set columns = {
    'as_of': 'date',
    'account_id': dbt.type_string(),
    'product_id': dbt.type_string(),
    'product_family': dbt.type_string(),
    'propensity': type_double(),
    'propensity_rank': 'bigint',
    'segment_baseline': type_double(),
    'model_version': dbt.type_string(),
    'run_id': dbt.type_string(),
} -%}

with propensity as (
    {{ ml_rows(ml, columns) }}
)

select
    {{ dbt.concat(["account_id", "'|'", "product_id"]) }} as propensity_key,
    {{- typed_columns(columns) }}
from propensity
