-- The stage funnel by creation cohort: how many opportunities reached each open stage, how many
-- advanced past it, and how many were won. A won deal counts as having reached every open stage;
-- a lost deal reached the furthest open stage its history shows.
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
        {{ dbt.date_trunc("month", "opportunities.created_date") }} as cohort_month,
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
    {{ dbt.concat(["cast(cohort_month as " ~ dbt.type_string() ~ ")", "'|'", "segment", "'|'", "stage"]) }} as funnel_key,
    cast(cohort_month as date) as cohort_month,
    segment,
    stage,
    sort_order,
    reached,
    advanced,
    won,
    lost_here,
    cast(advanced as {{ dbt.type_float() }}) / reached as conversion_to_next,
    cast(won as {{ dbt.type_float() }}) / reached as conversion_to_won
from reached
