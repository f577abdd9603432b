-- The pipeline waterfall per period and segment: the open pipeline closing in the period (deals
-- whose close date falls in it) at its start, what moved it during the period, and what is left
-- at its end (the newest export for the current period):
--   open at start + created + pulled in - pushed out - won - lost + amount changes = open at end
-- Amounts and counts, one row per period (month, fiscal quarter, fiscal year) x segment; the flows
-- are classified in int_pipeline_moves_classified, and a test checks that every row balances.
with flows as (
    select
        flows.*,
        coalesce(opportunities.segment, 'Unknown') as segment
    from {{ ref('int_pipeline_moves_classified') }} as flows
    left join {{ ref('fct_opportunities') }} as opportunities
        on flows.opportunity_id = opportunities.opportunity_id
),

aggregated as (
    select
        period_type,
        period_start,
        segment,
        sum(open_amount_at_start) as open_amount_at_start,
        sum(open_count_at_start) as open_count_at_start,
        sum(created_amount) as created_amount,
        sum(created_count) as created_count,
        sum(pulled_in_amount) as pulled_in_amount,
        sum(pulled_in_count) as pulled_in_count,
        sum(pushed_out_amount) as pushed_out_amount,
        sum(pushed_out_count) as pushed_out_count,
        sum(won_amount) as won_amount,
        sum(won_count) as won_count,
        sum(lost_amount) as lost_amount,
        sum(lost_count) as lost_count,
        sum(amount_change) as amount_change,
        sum(open_amount_at_end) as open_amount_at_end,
        sum(open_count_at_end) as open_count_at_end
    from flows
    group by period_type, period_start, segment
)

select
    {{ key(['aggregated.period_type', 'aggregated.period_start', 'aggregated.segment']) }} as waterfall_key,
    cast(aggregated.period_type as {{ dbt.type_string() }}) as period_type,
    cast(aggregated.period_start as date) as period_start,
    cast(periods.period_end as date) as period_end,
    cast(periods.period_label as {{ dbt.type_string() }}) as period_label,
    cast(aggregated.segment as {{ dbt.type_string() }}) as segment,
    cast(aggregated.open_amount_at_start as {{ type_double() }}) as open_amount_at_start,
    cast(aggregated.created_amount as {{ type_double() }}) as created_amount,
    cast(aggregated.pulled_in_amount as {{ type_double() }}) as pulled_in_amount,
    cast(aggregated.pushed_out_amount as {{ type_double() }}) as pushed_out_amount,
    cast(aggregated.won_amount as {{ type_double() }}) as won_amount,
    cast(aggregated.lost_amount as {{ type_double() }}) as lost_amount,
    cast(aggregated.amount_change as {{ type_double() }}) as amount_change,
    cast(aggregated.open_amount_at_end as {{ type_double() }}) as open_amount_at_end,
    cast(aggregated.open_count_at_start as bigint) as open_count_at_start,
    cast(aggregated.created_count as bigint) as created_count,
    cast(aggregated.pulled_in_count as bigint) as pulled_in_count,
    cast(aggregated.pushed_out_count as bigint) as pushed_out_count,
    cast(aggregated.won_count as bigint) as won_count,
    cast(aggregated.lost_count as bigint) as lost_count,
    cast(aggregated.open_count_at_end as bigint) as open_count_at_end,
    cast(periods.is_complete as boolean) as is_complete_period
from aggregated
inner join {{ ref('dim_periods') }} as periods
    on aggregated.period_type = periods.period_type and aggregated.period_start = periods.period_start
