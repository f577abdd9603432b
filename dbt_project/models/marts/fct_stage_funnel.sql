-- The stage funnel by creation cohort: how many opportunities reached each open stage, how many
-- advanced past it, and how many were won. A won deal counts as having reached every open stage;
-- a lost deal reached the furthest open stage its history shows. (fct_funnel_conversion adds lost
-- counts and time in stage, by funnel rank.)
with opportunities as (
    select * from {{ ref('fct_opportunities') }}
),

histories as (
    select * from {{ ref('int_opportunity_histories_summarised') }}
),

open_stages as (
    select stage, sort_order from {{ ref('stg_crm__stages') }} where not is_closed
),

furthest as (
    select
        opportunities.opportunity_id,
        {{ month_start('opportunities.created_date') }} as cohort_month,
        coalesce(opportunities.segment, 'Unknown') as segment,
        opportunities.outcome,
        case
            when opportunities.is_won then (select max(sort_order) from open_stages)
            else coalesce(histories.max_open_stage_sort_order, opportunities.stage_sort_order)
        end as furthest_sort_order
    from opportunities
    left join histories on opportunities.opportunity_id = histories.opportunity_id
),

reached as (
    select
        furthest.cohort_month,
        furthest.segment,
        open_stages.stage,
        open_stages.sort_order,
        count(*) as reached,
        sum(case when furthest.furthest_sort_order > open_stages.sort_order or furthest.outcome = 'won'
            then 1 else 0 end) as advanced,
        sum(case when furthest.outcome = 'won' then 1 else 0 end) as won,
        sum(case when furthest.outcome = 'lost' and furthest.furthest_sort_order = open_stages.sort_order
            then 1 else 0 end) as lost_here
    from furthest
    inner join open_stages on furthest.furthest_sort_order >= open_stages.sort_order
    group by furthest.cohort_month, furthest.segment, open_stages.stage, open_stages.sort_order
)

select
    {{ key(['cohort_month', 'segment', 'stage']) }} as funnel_key,
    cast(cohort_month as date) as cohort_month,
    cast(segment as {{ dbt.type_string() }}) as segment,
    cast(stage as {{ dbt.type_string() }}) as stage,
    cast(sort_order as bigint) as sort_order,
    cast(reached as bigint) as reached,
    cast(advanced as bigint) as advanced,
    cast(won as bigint) as won,
    cast(lost_here as bigint) as lost_here,
    {{ safe_divide('advanced', 'reached') }} as conversion_to_next,
    {{ safe_divide('won', 'reached') }} as conversion_to_won
from reached
