with source as (
    {{ latest_export(source('crm', 'opportunities')) }}
)

select
    opportunity_id,
    account_id,
    owner_id,
    name as opportunity_name,
    coalesce(pipeline, 'default') as pipeline,
    created_at,
    stage,
    amount,
    currency,
    close_date,
    is_closed,
    is_won,
    probability / 100.0 as crm_probability,
    forecast_category,
    lead_source,
    type as opportunity_type,
    product_id,
    last_modified_at,
    -- model features the mapping declares, as JSON text ({"name": value}); null when none
    features,
    _export_date as export_date,
    -- the export date as a timestamp: the opportunities snapshot dates its versions with it
    cast(_export_date as timestamp) as exported_at
from source
