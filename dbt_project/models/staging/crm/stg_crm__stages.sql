with source as (
    {{ latest_export(source('crm', 'stages')) }}
)

select
    coalesce(pipeline, 'default') as pipeline,
    stage,
    sort_order,
    probability / 100.0 as default_probability,
    is_closed,
    is_won,
    forecast_category
from source
