with source as (
    {{ latest_export(source('crm', 'opportunity_stage_history')) }}
)

select
    opportunity_id,
    changed_at,
    stage,
    amount,
    close_date,
    probability / 100.0 as crm_probability,
    forecast_category
from source
