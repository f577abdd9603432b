-- Each opportunity's products and the share of its amount each carries: from line items where the
-- CRM exports them (the opportunity's current amount split by line value, so product totals add up
-- to opportunity totals), else the opportunity's own product at quantity 1. list_amount is what
-- the same quantity costs at list price: realised vs list price compares the two.
with opportunities as (
    select opportunity_id, product_id, amount from {{ ref('stg_crm__opportunities') }}
),

lines as (
    select
        opportunity_id,
        product_id,
        sum(quantity) as quantity,
        sum(quantity * unit_price) as line_value
    from {{ ref('stg_crm__line_items') }}
    group by opportunity_id, product_id
),

line_totals as (
    select opportunity_id, sum(line_value) as total_line_value, count(*) as product_count
    from lines
    group by opportunity_id
),

allocated as (
    select
        lines.opportunity_id,
        lines.product_id,
        lines.quantity,
        case
            when line_totals.total_line_value > 0
                then opportunities.amount * lines.line_value / line_totals.total_line_value
            else opportunities.amount / line_totals.product_count
        end as allocated_amount,
        'line_items' as allocation_source
    from lines
    inner join line_totals on lines.opportunity_id = line_totals.opportunity_id
    inner join opportunities on lines.opportunity_id = opportunities.opportunity_id
    union all
    select
        opportunities.opportunity_id,
        opportunities.product_id,
        1.0 as quantity,
        opportunities.amount as allocated_amount,
        'opportunity' as allocation_source
    from opportunities
    where not exists (select 1 from lines where lines.opportunity_id = opportunities.opportunity_id)
)

select
    allocated.opportunity_id,
    coalesce(allocated.product_id, 'Unknown') as product_id,
    allocated.quantity,
    allocated.allocated_amount,
    allocated.allocation_source,
    products.list_price,
    allocated.quantity * products.list_price as list_amount
from allocated
left join {{ ref('stg_crm__products') }} as products on allocated.product_id = products.product_id
