-- Sales velocity per period and segment: how much revenue the pipeline turns into per day,
--   velocity = opportunities x win rate x average deal size / average cycle length.
-- opportunities: deals open at any time in the period (created by its end, not closed before its
-- start); win rate, average deal size (won amount / won deals) and cycle length (days from
-- creation to close of the deals won) come from the deals closed in the period. One row per
-- period (month, fiscal quarter, fiscal year; started by the newest export) x segment.
with opportunities as (
    select
        opportunity_id,
        coalesce(segment, 'Unknown') as segment,
        created_date,
        close_date,
        is_closed,
        is_won,
        amount,
        cycle_days
    from {{ ref('fct_opportunities') }}
),

periods as (
    select period_type, period_start, period_end, period_label, period_end_to_date, days_in_period
    from {{ ref('dim_periods') }}
    where period_end_to_date is not null
),

worked as (
    select
        periods.period_type,
        periods.period_start,
        opportunities.segment,
        count(*) as opportunities
    from opportunities
    inner join periods
        on opportunities.created_date <= periods.period_end_to_date
        and (not opportunities.is_closed or opportunities.close_date >= periods.period_start)
    group by periods.period_type, periods.period_start, opportunities.segment
),

closed as (
    select
        period_types.period_type,
        {{ period_start('period_types.period_type', 'opportunities.close_date') }} as period_start,
        opportunities.segment,
        {{ count_if('opportunities.is_won') }} as won_count,
        {{ count_if('not opportunities.is_won') }} as lost_count,
        {{ sum_if('opportunities.is_won', 'opportunities.amount') }} as won_amount,
        avg(case when opportunities.is_won then cast(opportunities.cycle_days as {{ type_double() }}) end)
            as average_cycle_days
    from opportunities
    cross join ({{ period_types() }}) as period_types
    where opportunities.is_closed and opportunities.close_date is not null
    group by 1, 2, 3
),

measures as (
    select
        periods.period_type,
        periods.period_start,
        periods.period_end,
        periods.period_label,
        periods.days_in_period,
        coalesce(worked.segment, closed.segment) as segment,
        coalesce(worked.opportunities, 0) as opportunities,
        coalesce(closed.won_count, 0) as won_count,
        coalesce(closed.lost_count, 0) as lost_count,
        coalesce(closed.won_amount, 0) as won_amount,
        closed.average_cycle_days
    from worked
    full outer join closed
        on worked.period_type = closed.period_type
        and worked.period_start = closed.period_start
        and worked.segment = closed.segment
    inner join periods
        on periods.period_type = coalesce(worked.period_type, closed.period_type)
        and periods.period_start = coalesce(worked.period_start, closed.period_start)
),

rates as (
    select
        measures.*,
        {{ safe_divide('won_count', 'won_count + lost_count') }} as win_rate,
        {{ safe_divide('won_amount', 'won_count') }} as average_deal_size
    from measures
)

select
    {{ key(['period_type', 'period_start', 'segment']) }} as velocity_key,
    cast(period_type as {{ dbt.type_string() }}) as period_type,
    cast(period_start as date) as period_start,
    cast(period_end as date) as period_end,
    cast(period_label as {{ dbt.type_string() }}) as period_label,
    cast(segment as {{ dbt.type_string() }}) as segment,
    cast(opportunities as bigint) as opportunities,
    cast(won_count as bigint) as won_count,
    cast(lost_count as bigint) as lost_count,
    cast(won_amount as {{ type_double() }}) as won_amount,
    cast(win_rate as {{ type_double() }}) as win_rate,
    cast(average_deal_size as {{ type_double() }}) as average_deal_size,
    cast(average_cycle_days as {{ type_double() }}) as average_cycle_days,
    cast(opportunities * win_rate * average_deal_size / nullif(average_cycle_days, 0) as {{ type_double() }})
        as sales_velocity_per_day,
    cast(opportunities * win_rate * average_deal_size / nullif(average_cycle_days, 0) * days_in_period
        as {{ type_double() }}) as sales_velocity_per_period
from rates
