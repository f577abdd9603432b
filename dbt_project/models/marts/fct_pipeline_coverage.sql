-- Pipeline coverage per period and team: the team's target (when targets are given), what it has
-- won, and the pipeline closing in the period against what is left to win, both the open
-- pipeline now (as of the newest export) and the pipeline the period started with (from the
-- history). One row per period (month, fiscal quarter, fiscal year) x team with activity or a target.
with measures as (
    select
        period_type,
        period_start,
        team,
        sum(won_count) as won_count,
        sum(won_amount) as won_amount,
        sum(open_count) as open_count,
        sum(open_amount) as open_amount,
        sum(weighted_open_amount) as weighted_open_amount,
        sum(open_amount_at_start) as open_amount_at_start,
        sum(target_amount) as target_amount,
        sum(target_count) as target_count
    from {{ ref('int_owner_periods_aggregated') }}
    group by period_type, period_start, team
),

targeted as (
    select
        measures.*,
        case when target_count > 0 then target_amount end as target,
        case when target_count > 0
            then case when target_amount > won_amount then target_amount - won_amount else 0 end
        end as remaining_target
    from measures
)

select
    {{ key(['targeted.period_type', 'targeted.period_start', 'targeted.team']) }} as coverage_key,
    cast(targeted.period_type as {{ dbt.type_string() }}) as period_type,
    cast(targeted.period_start as date) as period_start,
    cast(periods.period_end as date) as period_end,
    cast(periods.period_label as {{ dbt.type_string() }}) as period_label,
    cast(periods.is_complete as boolean) as is_complete_period,
    cast(targeted.team as {{ dbt.type_string() }}) as team,
    cast(targeted.target as {{ type_double() }}) as target_amount,
    cast(targeted.won_count as bigint) as won_count,
    cast(targeted.won_amount as {{ type_double() }}) as won_amount,
    {{ safe_divide('targeted.won_amount', 'targeted.target') }} as attainment,
    cast(targeted.remaining_target as {{ type_double() }}) as remaining_target,
    cast(targeted.open_count as bigint) as open_count,
    cast(targeted.open_amount as {{ type_double() }}) as open_amount,
    cast(targeted.weighted_open_amount as {{ type_double() }}) as weighted_open_amount,
    cast(targeted.open_amount_at_start as {{ type_double() }}) as open_amount_at_start,
    {{ safe_divide('targeted.open_amount', 'targeted.remaining_target') }} as pipeline_coverage,
    {{ safe_divide('targeted.weighted_open_amount', 'targeted.remaining_target') }} as weighted_pipeline_coverage,
    {{ safe_divide('targeted.open_amount_at_start', 'targeted.target') }} as start_pipeline_coverage
from targeted
inner join {{ ref('dim_periods') }} as periods
    on targeted.period_type = periods.period_type and targeted.period_start = periods.period_start
