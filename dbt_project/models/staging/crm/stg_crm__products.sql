with source as (
    {{ latest_export(source('crm', 'products')) }}
)

select
    product_id,
    name as product_name,
    family as product_family,
    list_price
from source
