-- Each owner's results per period against target: pipeline created, deals won and lost, win rate,
-- bookings (won amount), attainment of the target (when targets are given), open and
-- stage-weighted pipeline closing in the period, and its coverage of what is left of the target.
-- One row per owner x period (month, fiscal quarter, fiscal year) with activity or a target.
with measures as (
    select
        period_type,
        period_start,
        owner_id,
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
    from {{ ref('int_owner_periods_aggregated') }}
    group by period_type, period_start, owner_id
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
    {{ key(['targeted.owner_id', 'targeted.period_type', 'targeted.period_start']) }} as owner_performance_key,
    cast(targeted.owner_id as {{ dbt.type_string() }}) as owner_id,
    cast(owners.owner_name as {{ dbt.type_string() }}) as owner_name,
    cast(owners.manager_id as {{ dbt.type_string() }}) as manager_id,
    cast(owners.team as {{ dbt.type_string() }}) as team,
    cast(owners.region as {{ dbt.type_string() }}) as region,
    cast(targeted.period_type as {{ dbt.type_string() }}) as period_type,
    cast(targeted.period_start as date) as period_start,
    cast(periods.period_end as date) as period_end,
    cast(periods.period_label as {{ dbt.type_string() }}) as period_label,
    cast(targeted.created_count as bigint) as created_count,
    cast(targeted.created_amount as {{ type_double() }}) as created_amount,
    cast(targeted.won_count as bigint) as won_count,
    cast(targeted.won_amount as {{ type_double() }}) as won_amount,
    cast(targeted.lost_count as bigint) as lost_count,
    {{ safe_divide('targeted.won_count', 'targeted.won_count + targeted.lost_count') }} as win_rate,
    {{ safe_divide('targeted.won_cycle_days', 'targeted.won_count') }} as average_cycle_days,
    cast(targeted.open_count as bigint) as open_count,
    cast(targeted.open_amount as {{ type_double() }}) as open_amount,
    cast(targeted.weighted_open_amount as {{ type_double() }}) as weighted_open_amount,
    cast(targeted.open_amount_at_start as {{ type_double() }}) as open_amount_at_start,
    cast(targeted.target as {{ type_double() }}) as target_amount,
    {{ safe_divide('targeted.won_amount', 'targeted.target') }} as attainment,
    cast(targeted.remaining_target as {{ type_double() }}) as remaining_target,
    {{ safe_divide('targeted.open_amount', 'targeted.remaining_target') }} as pipeline_coverage,
    {{ safe_divide('targeted.weighted_open_amount', 'targeted.remaining_target') }} as weighted_pipeline_coverage
from targeted
inner join {{ ref('dim_periods') }} as periods
    on targeted.period_type = periods.period_type and targeted.period_start = periods.period_start
left join {{ ref('dim_owners') }} as owners on targeted.owner_id = owners.owner_id
