{#- Every open lead (newest night) with its probability of converting within 90 days, beside its
    source's historical conversion rate. -#}
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
{%- set ready = execute and load_relation(ml) is not none -%}

with leads as (
    {%- if ready %}
    select * from {{ ml }} where as_of = (select max(as_of) from {{ ml }})
    {%- else %}
    select {% for name, type in columns.items() %}cast(null as {{ type }}) as {{ name }}{{ ", " if not loop.last }}{% endfor %}
    where 1 = 0
    {%- endif %}
)

select
    {%- for name, type in columns.items() %}
    cast({{ name }} as {{ type }}) as {{ name }}{{ "," if not loop.last }}
    {%- endfor %}
from leads
