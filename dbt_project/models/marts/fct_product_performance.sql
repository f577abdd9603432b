-- The sales potential of each product per period: pipeline created, open pipeline, wins, win rate,
-- realised vs list price and cycle length. One row per product x period (month, fiscal quarter,
-- fiscal year). A deal with several products counts for each, with the share of its amount its
-- line items carry (int_opportunity_products_allocated); deal counts therefore add up per product, amounts
-- add up across products. Pipeline created is by creation date, wins and losses by close date,
-- open pipeline (as of the newest export) by expected close date.
with lines as (
    select
        products.opportunity_id,
        products.product_id,
        products.allocated_amount,
        products.list_amount,
        opportunities.created_date,
        opportunities.close_date,
        opportunities.is_closed,
        opportunities.is_won,
        opportunities.cycle_days,
        opportunities.crm_probability
    from {{ ref('int_opportunity_products_allocated') }} as products
    inner join {{ ref('fct_opportunities') }} as opportunities
        on products.opportunity_id = opportunities.opportunity_id
),

period_types as (
    {{ period_types() }}
),

created as (
    select
        period_types.period_type,
        {{ period_start('period_types.period_type', 'lines.created_date') }} as period_start,
        lines.product_id,
        count(*) as created_count,
        sum(coalesce(lines.allocated_amount, 0)) as created_amount,
        0 as won_count, 0 as won_amount, 0 as lost_count, 0 as lost_amount,
        0 as won_amount_at_list, 0 as won_amount_priced, 0 as won_cycle_days, 0 as open_count,
        0 as open_amount, 0 as weighted_open_amount
    from lines
    cross join period_types
    where lines.created_date is not null
    group by 1, 2, 3
),

closed as (
    select
        period_types.period_type,
        {{ period_start('period_types.period_type', 'lines.close_date') }} as period_start,
        lines.product_id,
        0, 0,
        {{ count_if('lines.is_won') }},
        {{ sum_if('lines.is_won', 'lines.allocated_amount') }},
        {{ count_if('not lines.is_won') }},
        {{ sum_if('not lines.is_won', 'lines.allocated_amount') }},
        {{ sum_if('lines.is_won and lines.list_amount > 0', 'lines.list_amount') }},
        {{ sum_if('lines.is_won and lines.list_amount > 0', 'lines.allocated_amount') }},
        {{ sum_if('lines.is_won', 'lines.cycle_days') }},
        0, 0, 0
    from lines
    cross join period_types
    where lines.is_closed and lines.close_date is not null
    group by 1, 2, 3
),

open_now as (
    select
        period_types.period_type,
        {{ period_start('period_types.period_type', 'lines.close_date') }} as period_start,
        lines.product_id,
        0, 0, 0, 0, 0, 0, 0, 0, 0,
        count(*),
        sum(coalesce(lines.allocated_amount, 0)),
        sum(coalesce(lines.allocated_amount * lines.crm_probability, 0))
    from lines
    cross join period_types
    where not lines.is_closed and lines.close_date is not null
    group by 1, 2, 3
),

combined as (
    select * from created
    union all
    select * from closed
    union all
    select * from open_now
),

aggregated as (
    select
        period_type,
        period_start,
        product_id,
        sum(created_count) as created_count,
        sum(created_amount) as created_amount,
        sum(won_count) as won_count,
        sum(won_amount) as won_amount,
        sum(lost_count) as lost_count,
        sum(lost_amount) as lost_amount,
        sum(won_amount_at_list) as won_amount_at_list,
        sum(won_amount_priced) as won_amount_priced,
        sum(won_cycle_days) as won_cycle_days,
        sum(open_count) as open_count,
        sum(open_amount) as open_amount,
        sum(weighted_open_amount) as weighted_open_amount
    from combined
    group by period_type, period_start, product_id
)

select
    {{ key(['aggregated.product_id', 'aggregated.period_type', 'aggregated.period_start']) }}
        as product_performance_key,
    cast(aggregated.product_id as {{ dbt.type_string() }}) as product_id,
    cast(products.product_name as {{ dbt.type_string() }}) as product_name,
    cast(products.product_family as {{ dbt.type_string() }}) as product_family,
    cast(aggregated.period_type as {{ dbt.type_string() }}) as period_type,
    cast(aggregated.period_start as date) as period_start,
    cast(periods.period_end as date) as period_end,
    cast(periods.period_label as {{ dbt.type_string() }}) as period_label,
    cast(aggregated.created_count as bigint) as created_count,
    cast(aggregated.created_amount as {{ type_double() }}) as created_amount,
    cast(aggregated.open_count as bigint) as open_count,
    cast(aggregated.open_amount as {{ type_double() }}) as open_amount,
    cast(aggregated.weighted_open_amount as {{ type_double() }}) as weighted_open_amount,
    cast(aggregated.won_count as bigint) as won_count,
    cast(aggregated.won_amount as {{ type_double() }}) as won_amount,
    cast(aggregated.lost_count as bigint) as lost_count,
    cast(aggregated.lost_amount as {{ type_double() }}) as lost_amount,
    {{ safe_divide('aggregated.won_count', 'aggregated.won_count + aggregated.lost_count') }} as win_rate,
    {{ safe_divide('aggregated.won_amount', 'aggregated.won_amount + aggregated.lost_amount') }} as win_rate_by_amount,
    {{ safe_divide('aggregated.won_amount', 'aggregated.won_count') }} as average_won_amount,
    cast(aggregated.won_amount_at_list as {{ type_double() }}) as won_amount_at_list_price,
    {{ safe_divide('aggregated.won_amount_priced', 'aggregated.won_amount_at_list') }} as realised_price_ratio,
    {{ safe_divide('aggregated.won_cycle_days', 'aggregated.won_count') }} as average_cycle_days
from aggregated
inner join {{ ref('dim_periods') }} as periods
    on aggregated.period_type = periods.period_type and aggregated.period_start = periods.period_start
left join {{ ref('dim_products') }} as products on aggregated.product_id = products.product_id
