-- Amounts are in the reporting currency (macros/currency.sql), converted at the rate of the
-- deal's close date (else its creation date); amount_original and currency keep what the CRM says.
with source as (
    {{ latest_export(source('crm', 'opportunities')) }}
),

dated as (
    select
        *,
        coalesce(close_date, cast(created_at as date), _export_date) as conversion_date
    from source
)

select
    dated.opportunity_id,
    dated.account_id,
    dated.owner_id,
    dated.name as opportunity_name,
    coalesce(dated.pipeline, 'default') as pipeline,
    dated.created_at,
    dated.stage,
    dated.amount / {{ exchange_rate('rates', 'dated.currency') }} as amount,
    dated.currency,
    dated.amount as amount_original,
    {{ exchange_rate('rates', 'dated.currency') }} as exchange_rate,
    dated.conversion_date,
    dated.close_date,
    dated.is_closed,
    dated.is_won,
    dated.probability / 100.0 as crm_probability,
    dated.forecast_category,
    dated.lead_source,
    dated.type as opportunity_type,
    dated.product_id,
    dated.last_modified_at,
    -- model features the mapping declares, as JSON text ({"name": value}); null when none
    dated.features,
    dated._export_date as export_date,
    -- the export date as a timestamp: the opportunities snapshot dates its versions with it
    cast(dated._export_date as timestamp) as exported_at
from dated
{{ join_exchange_rate('rates', 'dated.currency', 'dated.conversion_date') }}
