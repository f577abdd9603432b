-- Stage conversion by creation cohort and segment: of the opportunities created in a month, how
-- many reached each open stage, advanced past it, were won or lost, and how long they stayed in it.
-- One row per cohort month x segment x open stage (pipeline and stage).
--
-- Reached: the furthest open stage an opportunity's history shows is at or past the stage; a won
-- deal reached every open stage of its pipeline (skipped stages count as passed). Advanced: reached
-- it and went further (or won). Lost: reached it and was lost later, anywhere; lost_at_stage: lost
-- with this as its furthest stage. Median days in stage: over the opportunities that left the
-- stage, the whole days they spent in it (summed over re-entries).
with opportunities as (
    select
        opportunity_id,
        pipeline,
        {{ month_start('created_date') }} as cohort_month,
        coalesce(segment, 'Unknown') as segment,
        outcome,
        coalesce(furthest_open_funnel_rank, stage_funnel_rank) as furthest_open_funnel_rank
    from {{ ref('fct_opportunities') }}
),

stages as (
    select pipeline, stage, funnel_rank, sort_order, stage_type
    from {{ ref('dim_stages') }}
),

open_stages as (
    select pipeline, stage, funnel_rank, sort_order from stages where stage_type = 'open'
),

last_open_ranks as (
    select pipeline, max(funnel_rank) as last_open_rank from open_stages group by pipeline
),

furthest as (
    select
        opportunities.*,
        case
            when opportunities.outcome = 'won' then last_open_ranks.last_open_rank
            else opportunities.furthest_open_funnel_rank
        end as furthest_rank
    from opportunities
    left join last_open_ranks on opportunities.pipeline = last_open_ranks.pipeline
),

time_in_stage as (
    select opportunity_id, stage, sum(duration_days) as days_in_stage
    from {{ ref('fct_opportunity_stage_transitions') }}
    where exited_at is not null
    group by opportunity_id, stage
),

reached as (
    select
        furthest.cohort_month,
        furthest.segment,
        open_stages.pipeline,
        open_stages.stage,
        open_stages.funnel_rank,
        open_stages.sort_order,
        furthest.outcome,
        furthest.furthest_rank,
        time_in_stage.days_in_stage
    from furthest
    inner join open_stages
        on furthest.pipeline = open_stages.pipeline and furthest.furthest_rank >= open_stages.funnel_rank
    left join time_in_stage
        on furthest.opportunity_id = time_in_stage.opportunity_id and open_stages.stage = time_in_stage.stage
),

aggregated as (
    select
        cohort_month,
        segment,
        pipeline,
        stage,
        funnel_rank,
        sort_order,
        count(*) as reached,
        {{ count_if("furthest_rank > funnel_rank or outcome = 'won'") }} as advanced,
        {{ count_if("outcome = 'won'") }} as won,
        {{ count_if("outcome = 'lost'") }} as lost,
        {{ count_if("outcome = 'lost' and furthest_rank = funnel_rank") }} as lost_at_stage,
        {{ count_if("outcome = 'open'") }} as still_open,
        {{ median('days_in_stage') }} as median_days_in_stage
    from reached
    group by cohort_month, segment, pipeline, stage, funnel_rank, sort_order
)

select
    {{ key(['cohort_month', 'segment', 'pipeline', 'stage']) }} as funnel_conversion_key,
    cast(cohort_month as date) as cohort_month,
    cast(segment as {{ dbt.type_string() }}) as segment,
    cast(pipeline as {{ dbt.type_string() }}) as pipeline,
    cast(stage as {{ dbt.type_string() }}) as stage,
    cast(funnel_rank as bigint) as funnel_rank,
    cast(sort_order as bigint) as sort_order,
    cast(reached as bigint) as reached,
    cast(advanced as bigint) as advanced,
    cast(won as bigint) as won,
    cast(lost as bigint) as lost,
    cast(lost_at_stage as bigint) as lost_at_stage,
    cast(still_open as bigint) as still_open,
    {{ safe_divide('advanced', 'reached') }} as conversion_to_next,
    {{ safe_divide('won', 'reached') }} as conversion_to_won,
    cast(median_days_in_stage as {{ type_double() }}) as median_days_in_stage
from aggregated
