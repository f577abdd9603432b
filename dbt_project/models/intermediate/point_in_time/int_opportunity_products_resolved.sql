-- Each opportunity's products for the product propensity model: the distinct products of its line
-- items where the CRM exports them, else the opportunity's own product, with the product's family
-- and list price, the account, when the deal was created, and its outcome as the newest export
-- shows it. Opportunities without an account or a product are left out. The forecast counts, per
-- cut-off, the deals created and won by then (pipecast.forecast.propensity).
with line_products as (
    select distinct opportunity_id, product_id
    from {{ ref('stg_crm__line_items') }}
),

resolved as (
    select
        opportunities.opportunity_id,
        opportunities.account_id,
        coalesce(line_products.product_id, opportunities.product_id) as product_id,
        cast(opportunities.created_at as date) as created_on,
        opportunities.is_won,
        opportunities.is_closed,
        opportunities.close_date
    from {{ ref('stg_crm__opportunities') }} as opportunities
    left join line_products on opportunities.opportunity_id = line_products.opportunity_id
)

select
    resolved.*,
    products.product_family,
    products.list_price
from resolved
left join {{ ref('stg_crm__products') }} as products on resolved.product_id = products.product_id
where resolved.account_id is not null and resolved.product_id is not null
