select
    pipeline,
    stage,
    sort_order,
    default_probability,
    is_closed,
    is_won,
    forecast_category
from {{ ref('stg_crm__stages') }}
