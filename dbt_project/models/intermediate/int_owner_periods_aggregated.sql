{{ config(materialized='table') }}
-- What each owner did and had in each period, split by team (a target names its own team; a deal
-- counts for its owner's team): pipeline created (by creation date), deals won and lost (by close
-- date), open and stage-weighted pipeline now (by expected close date), open pipeline at the
-- period's start (from the history, int_pipeline_moves_classified) and the target, prorated by
-- days when a target's period and the reporting period differ (a quarterly target is a third of
-- each month). One row per owner x team x period; fct_owner_performance and fct_pipeline_coverage
-- add these up by owner and by team.
with opportunities as (
    select
        opportunities.opportunity_id,
        coalesce(opportunities.owner_id, 'Unknown') as owner_id,
        coalesce(owners.team, 'Unknown') as team,
        cast(opportunities.created_at as date) as created_date,
        opportunities.close_date,
        opportunities.is_closed,
        opportunities.is_won,
        coalesce(opportunities.amount, 0) as amount,
        coalesce(opportunities.amount * opportunities.crm_probability, 0) as weighted_amount,
        case when opportunities.is_closed
            then {{ days_between('opportunities.created_at', 'opportunities.close_date') }}
        end as cycle_days
    from {{ ref('stg_crm__opportunities') }} as opportunities
    left join {{ ref('stg_crm__owners') }} as owners on opportunities.owner_id = owners.owner_id
),

periods as (
    select period_type, period_start, period_end from {{ ref('int_periods_generated') }}
),

period_types as (
    {{ period_types() }}
),

created as (
    select
        period_types.period_type,
        {{ period_start('period_types.period_type', 'opportunities.created_date') }} as period_start,
        opportunities.owner_id,
        opportunities.team,
        count(*) as created_count,
        sum(opportunities.amount) as created_amount,
        0 as won_count, 0 as won_amount, 0 as lost_count, 0 as won_cycle_days,
        0 as open_count, 0 as open_amount, 0 as weighted_open_amount, 0 as open_amount_at_start,
        0 as target_amount, 0 as target_count
    from opportunities
    cross join period_types
    where opportunities.created_date is not null
    group by 1, 2, 3, 4
),

closed as (
    select
        period_types.period_type,
        {{ period_start('period_types.period_type', 'opportunities.close_date') }},
        opportunities.owner_id,
        opportunities.team,
        0, 0,
        {{ count_if('opportunities.is_won') }},
        {{ sum_if('opportunities.is_won', 'opportunities.amount') }},
        {{ count_if('not opportunities.is_won') }},
        {{ sum_if('opportunities.is_won', 'opportunities.cycle_days') }},
        0, 0, 0, 0, 0, 0
    from opportunities
    cross join period_types
    where opportunities.is_closed and opportunities.close_date is not null
    group by 1, 2, 3, 4
),

open_now as (
    select
        period_types.period_type,
        {{ period_start('period_types.period_type', 'opportunities.close_date') }},
        opportunities.owner_id,
        opportunities.team,
        0, 0, 0, 0, 0, 0,
        count(*),
        sum(opportunities.amount),
        sum(opportunities.weighted_amount),
        0, 0, 0
    from opportunities
    cross join period_types
    where not opportunities.is_closed and opportunities.close_date is not null
    group by 1, 2, 3, 4
),

at_start as (
    select
        pipeline.period_type,
        pipeline.period_start,
        opportunities.owner_id,
        opportunities.team,
        0, 0, 0, 0, 0, 0, 0, 0, 0,
        sum(pipeline.open_amount_at_start),
        0, 0
    from {{ ref('int_pipeline_moves_classified') }} as pipeline
    inner join opportunities on pipeline.opportunity_id = opportunities.opportunity_id
    where pipeline.open_count_at_start > 0
    group by 1, 2, 3, 4
),

targets as (
    select
        periods.period_type,
        periods.period_start,
        coalesce(targets.owner_id, 'Unknown'),
        coalesce(targets.team, owners.team, 'Unknown'),
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        sum(
            targets.target_amount
            * ({{ days_between(
                'case when targets.period_start > periods.period_start then targets.period_start else periods.period_start end',
                'case when targets.period_end < periods.period_end then targets.period_end else periods.period_end end'
            ) }} + 1)
            / ({{ days_between('targets.period_start', 'targets.period_end') }} + 1)
        ),
        count(*)
    from {{ ref('stg_crm__targets') }} as targets
    left join {{ ref('stg_crm__owners') }} as owners on targets.owner_id = owners.owner_id
    inner join periods
        on targets.period_start <= periods.period_end and targets.period_end >= periods.period_start
    where targets.period_end >= targets.period_start
    group by 1, 2, 3, 4
),

combined as (
    select * from created
    union all select * from closed
    union all select * from open_now
    union all select * from at_start
    union all select * from targets
)

select
    combined.period_type,
    combined.period_start,
    combined.owner_id,
    combined.team,
    sum(created_count) as created_count,
    sum(created_amount) as created_amount,
    sum(won_count) as won_count,
    sum(won_amount) as won_amount,
    sum(lost_count) as lost_count,
    sum(won_cycle_days) as won_cycle_days,
    sum(open_count) as open_count,
    sum(open_amount) as open_amount,
    sum(weighted_open_amount) as weighted_open_amount,
    sum(open_amount_at_start) as open_amount_at_start,
    sum(target_amount) as target_amount,
    sum(target_count) as target_count
from combined
inner join periods
    on combined.period_type = periods.period_type and combined.period_start = periods.period_start
group by combined.period_type, combined.period_start, combined.owner_id, combined.team
