-- Unit prices in the reporting currency, at the opportunity's rate (stg_crm__opportunities).
with source as (
    {{ latest_export(source('crm', 'line_items')) }}
),

opportunities as (
    select opportunity_id, exchange_rate from {{ ref('stg_crm__opportunities') }}
)

select
    source.line_item_id,
    source.opportunity_id,
    source.product_id,
    source.quantity,
    -- a line item of an opportunity the export lacks has no currency: kept as it is
    case
        when opportunities.opportunity_id is null then source.unit_price
        else source.unit_price / opportunities.exchange_rate
    end as unit_price,
    source.unit_price as unit_price_original
from source
left join opportunities on opportunities.opportunity_id = source.opportunity_id
