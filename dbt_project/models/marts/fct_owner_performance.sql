-- Each owner's results per period against target: pipeline created, deals won and lost, win rate,
-- bookings (won amount), attainment of the target (when targets are given), open and
-- stage-weighted pipeline closing in the period, and its coverage of what is left of the target.
-- One row per owner x period (month, fiscal quarter, fiscal year) with activity or a target.
with {{ rolled_up_against_target('owner_id', [
    'created_count', 'created_amount', 'won_count', 'won_amount', 'lost_count', 'won_cycle_days',
    'open_count', 'open_amount', 'weighted_open_amount', 'open_amount_at_start'
]) }}

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
