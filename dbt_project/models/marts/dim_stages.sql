-- The stage configuration BI uses to order and label stages, with each stage's funnel rank.
select
    cast(pipeline as {{ dbt.type_string() }}) as pipeline,
    cast(stage as {{ dbt.type_string() }}) as stage,
    cast(sort_order as bigint) as sort_order,
    cast(default_probability as {{ type_double() }}) as default_probability,
    cast(is_closed as boolean) as is_closed,
    cast(is_won as boolean) as is_won,
    cast(forecast_category as {{ dbt.type_string() }}) as forecast_category,
    {{ key(['pipeline', 'stage']) }} as stage_key,
    cast(funnel_rank as bigint) as funnel_rank,
    cast(stage_type as {{ dbt.type_string() }}) as stage_type
from {{ ref('int_stages_ranked') }}
