-- Pipeline coverage per period and team: the team's target (when targets are given), what it has
-- won, and the pipeline closing in the period against what is left to win, both the open
-- pipeline now (as of the newest export) and the pipeline the period started with (from the
-- history). One row per period (month, fiscal quarter, fiscal year) x team with activity or a target.
with {{ rolled_up_against_target('team', [
    'won_count', 'won_amount', 'open_count', 'open_amount', 'weighted_open_amount', 'open_amount_at_start'
]) }}

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
