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
    owner_id,
    -- model features the mapping declares, as JSON text ({"name": value}); null when none
    features,
    _export_date as export_date
from source
