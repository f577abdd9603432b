with source as (
    {{ latest_export(source('crm', 'line_items')) }}
)

select
    line_item_id,
    opportunity_id,
    product_id,
    quantity,
    unit_price
from source
