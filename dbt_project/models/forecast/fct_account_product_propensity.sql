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
{%- set ready = execute and load_relation(ml) is not none -%}

with propensity as (
    {%- if ready %}
    select * from {{ ml }} where as_of = (select max(as_of) from {{ ml }})
    {%- else %}
    select {% for name, type in columns.items() %}cast(null as {{ type }}) as {{ name }}{{ ", " if not loop.last }}{% endfor %}
    where 1 = 0
    {%- endif %}
)

select
    {{ dbt.concat(["account_id", "'|'", "product_id"]) }} as propensity_key,
    {%- for name, type in columns.items() %}
    cast({{ name }} as {{ type }}) as {{ name }}{{ "," if not loop.last }}
    {%- endfor %}
from propensity
