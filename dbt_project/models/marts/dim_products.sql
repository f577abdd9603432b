-- Products with family and list price. Products the opportunities or line items name but the
-- product export lacks (or a CRM without a product list) appear too, with no list price, so every
-- product_id of the facts joins here.
with products as (
    select * from {{ ref('stg_crm__products') }}
),

named as (
    select distinct product_id from {{ ref('int_opportunity_products_allocated') }}
    where product_id not in (select product_id from products)
)

select
    cast(product_id as {{ dbt.type_string() }}) as product_id,
    cast(product_name as {{ dbt.type_string() }}) as product_name,
    cast(product_family as {{ dbt.type_string() }}) as product_family,
    cast(list_price as {{ type_double() }}) as list_price,
    true as is_in_product_list
from products
union all
select
    cast(product_id as {{ dbt.type_string() }}),
    cast(product_id as {{ dbt.type_string() }}),
    cast(null as {{ dbt.type_string() }}),
    cast(null as {{ type_double() }}),
    false
from named
