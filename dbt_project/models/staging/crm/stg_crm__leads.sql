with source as (
    {{ latest_export(source('crm', 'leads')) }}
)

select
    lead_id,
    created_at,
    source as lead_source,
    campaign,
    status,
    converted_at,
    converted_opportunity_id,
    owner_id
from source
