-- Each opportunity's attributes as the newest export shows them, the forecast's deal features
-- (segment, industry, region, company size, product family, realised vs list price), the number
-- of open stages in its pipeline, and its outcome (the final_* columns, labels, never features).
-- The canonical model keeps no history of these attributes: CRMs set them when the deal is created.
with opportunities as (
    select * from {{ ref('stg_crm__opportunities') }}
),

line_prices as (
    select
        line_items.opportunity_id,
        sum(line_items.quantity * line_items.unit_price)
            / nullif(sum(line_items.quantity * products.list_price), 0) as price_ratio
    from {{ ref('stg_crm__line_items') }} as line_items
    inner join {{ ref('stg_crm__products') }} as products on line_items.product_id = products.product_id
    group by line_items.opportunity_id
),

open_stage_counts as (
    select pipeline, max(funnel_rank) as open_stages
    from {{ ref('int_stages_ranked') }}
    where stage_type = 'open'
    group by pipeline
)

select
    opportunities.opportunity_id,
    opportunities.account_id,
    opportunities.owner_id,
    opportunities.pipeline,
    opportunities.lead_source,
    opportunities.opportunity_type,
    opportunities.product_id,
    products.product_family,
    accounts.segment,
    accounts.industry,
    cast(ln(1 + greatest(coalesce(accounts.employees, 0), 0)) as {{ type_double() }}) as log_employees,
    owners.region,
    cast(line_prices.price_ratio as {{ type_double() }}) as price_ratio,
    open_stage_counts.open_stages,
    opportunities.is_closed as final_is_closed,
    opportunities.is_won as final_is_won,
    case when opportunities.is_closed then opportunities.close_date end as final_close_date,
    opportunities.amount as final_amount
from opportunities
left join {{ ref('stg_crm__accounts') }} as accounts on opportunities.account_id = accounts.account_id
left join {{ ref('stg_crm__owners') }} as owners on opportunities.owner_id = owners.owner_id
left join {{ ref('stg_crm__products') }} as products on opportunities.product_id = products.product_id
left join line_prices on opportunities.opportunity_id = line_prices.opportunity_id
left join open_stage_counts on opportunities.pipeline = open_stage_counts.pipeline
