{{
    config(
        materialized='incremental',
        unique_key='opportunity_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook="{{ delete_vanished_opportunities(ref('int_opportunity_changes_classified')) }}"
    )
}}
-- Each opportunity's part in the pipeline of each period (month, fiscal quarter, fiscal year). A
-- period's pipeline is the open deals whose close date falls in it. Over the period (from its
-- first day to its last, or to the newest export for the current one) that pipeline moves:
--
--   open at start + created + pulled in - pushed out - won - lost + amount changes = open at end
--
-- Open at start and at end are read from the state each deal was in at that instant; the flows
-- from its changes during the period, each change classified by whether the state before it and
-- the state after it were in the period's pipeline:
--   created     the deal's first state, in the pipeline
--   pulled in   moved into it (close date moved into the period, or a closed deal reopened)
--   pushed out  moved out of it while open (close date moved out of the period, mostly later)
--   won, lost   closed from it (at the amount it had in the pipeline)
--   amount      amount changed while it stayed in
-- so the identity holds by construction, and fct_pipeline_waterfall's balance test checks it.
-- One row per opportunity x period it touched.
--
-- Incremental: a night rewrites every row of the opportunities that changed since the newest change
-- already here (less var('incremental_lookback_days')) and drops those of opportunities the CRM no
-- longer exports. An unchanged deal's rows stay as they are: its state at a current period's end
-- is the state it has been in since before the last build, so moving the as-of date changes none of
-- its numbers. Except in a period that started since the last build (built_export_date): a deal
-- whose current state is open and closes in it has a row there now (open at start), so the deals
-- of the new month (quarter, year) are recomputed on its first night. A build as of an older export
-- than the last one recomputes everything. A full refresh recomputes everything; so does the weekly
-- one after a change of the stage configuration or of the fiscal calendar.
with
{% if is_incremental() %}
previous as (
    select max(built_export_date) as built_export_date from {{ this }}
),

new_periods as (
    select generated.period_type, generated.period_start
    from {{ ref('int_periods_generated') }} as generated
    cross join previous
    where generated.period_end_to_date is not null
        and generated.period_start > previous.built_export_date
),

to_recompute as (
    select opportunity_id
    from {{ ref('int_opportunity_changes_classified') }}
    group by opportunity_id
    having max(changed_at) > {{ changed_since(this) }}
    union
    select current_states.opportunity_id
    from {{ ref('int_opportunity_changes_classified') }} as current_states
    cross join ({{ period_types() }}) as period_types
    inner join new_periods
        on new_periods.period_type = period_types.period_type
        and new_periods.period_start = {{ period_start('period_types.period_type', 'current_states.close_date') }}
    where current_states.valid_to is null
        and not coalesce(current_states.stage_is_closed, false)
        and current_states.close_date is not null
    union
    select distinct everything.opportunity_id
    from {{ ref('int_opportunity_changes_classified') }} as everything
    where (select built_export_date from previous) > (select max(as_of_date) from {{ ref('int_periods_generated') }})
),
{% endif %}

changes as (
    select changes.opportunity_id, changes.changed_at, changes.stage_is_closed, changes.stage_is_won,
        changes.amount, changes.close_date
    from {{ ref('int_opportunity_changes_classified') }} as changes
    {% if is_incremental() %}
    inner join to_recompute on changes.opportunity_id = to_recompute.opportunity_id
    {% endif %}
),

states as (
    select
        opportunity_id,
        changed_at,
        lead(changed_at) over w as valid_to,
        row_number() over w = 1 as is_creation,
        not coalesce(stage_is_closed, false) as is_open,
        coalesce(stage_is_closed and stage_is_won, false) as is_won,
        coalesce(amount, 0) as amount,
        close_date,
        lag(not coalesce(stage_is_closed, false)) over w as previous_is_open,
        lag(coalesce(amount, 0)) over w as previous_amount,
        lag(close_date) over w as previous_close_date
    from changes
    window w as (partition by opportunity_id order by changed_at)
),

periods as (
    select
        period_type,
        period_start,
        period_end,
        cast(period_start as timestamp) as starts_at,
        cast({{ add_days('period_end_to_date', 1) }} as timestamp) as ends_at
    from {{ ref('int_periods_generated') }}
    where period_end_to_date is not null
),

period_types as (
    {{ period_types() }}
),

-- open states in the periods holding their close date: the pipeline at the period's boundaries
boundary_states as (
    select
        states.opportunity_id,
        periods.period_type,
        periods.period_start,
        case when states.changed_at < periods.starts_at
            and (states.valid_to is null or states.valid_to >= periods.starts_at) then 1 else 0 end as open_at_start,
        case when states.changed_at < periods.ends_at
            and (states.valid_to is null or states.valid_to >= periods.ends_at) then 1 else 0 end as open_at_end,
        states.amount
    from states
    cross join period_types
    inner join periods
        on periods.period_type = period_types.period_type
        and periods.period_start = {{ period_start('period_types.period_type', 'states.close_date') }}
    where states.is_open and states.close_date is not null
),

boundaries as (
    select
        opportunity_id,
        period_type,
        period_start,
        sum(open_at_start * amount) as open_amount_at_start,
        sum(open_at_start) as open_count_at_start,
        sum(open_at_end * amount) as open_amount_at_end,
        sum(open_at_end) as open_count_at_end
    from boundary_states
    where open_at_start = 1 or open_at_end = 1
    group by opportunity_id, period_type, period_start
),

-- each change, in the periods of the state after it and of the state before it
change_periods as (
    select states.opportunity_id, states.changed_at, period_types.period_type,
        {{ period_start('period_types.period_type', 'states.close_date') }} as period_start
    from states
    cross join period_types
    where states.is_open and states.close_date is not null
    union
    select states.opportunity_id, states.changed_at, period_types.period_type,
        {{ period_start('period_types.period_type', 'states.previous_close_date') }} as period_start
    from states
    cross join period_types
    where not states.is_creation and states.previous_is_open and states.previous_close_date is not null
),

placed_changes as (
    select
        states.*,
        periods.period_type,
        periods.period_start,
        states.is_open and states.close_date between periods.period_start and periods.period_end as in_after,
        not states.is_creation and states.previous_is_open
            and states.previous_close_date between periods.period_start and periods.period_end as in_before
    from change_periods
    inner join states
        on states.opportunity_id = change_periods.opportunity_id and states.changed_at = change_periods.changed_at
    inner join periods
        on periods.period_type = change_periods.period_type and periods.period_start = change_periods.period_start
    where states.changed_at >= periods.starts_at and states.changed_at < periods.ends_at
),

flows as (
    select
        opportunity_id,
        period_type,
        period_start,
        {{ sum_if('is_creation and in_after', 'amount') }} as created_amount,
        {{ count_if('is_creation and in_after') }} as created_count,
        {{ sum_if('not is_creation and in_after and not in_before', 'amount') }} as pulled_in_amount,
        {{ count_if('not is_creation and in_after and not in_before') }} as pulled_in_count,
        {{ sum_if('in_before and is_open and not in_after', 'previous_amount') }} as pushed_out_amount,
        {{ count_if('in_before and is_open and not in_after') }} as pushed_out_count,
        {{ sum_if('in_before and not is_open and is_won', 'previous_amount') }} as won_amount,
        {{ count_if('in_before and not is_open and is_won') }} as won_count,
        {{ sum_if('in_before and not is_open and not is_won', 'previous_amount') }} as lost_amount,
        {{ count_if('in_before and not is_open and not is_won') }} as lost_count,
        {{ sum_if('in_before and in_after', 'amount - previous_amount') }} as amount_change
    from placed_changes
    group by opportunity_id, period_type, period_start
),

combined as (
    select
        opportunity_id, period_type, period_start,
        open_amount_at_start, open_count_at_start, open_amount_at_end, open_count_at_end,
        0 as created_amount, 0 as created_count, 0 as pulled_in_amount, 0 as pulled_in_count,
        0 as pushed_out_amount, 0 as pushed_out_count, 0 as won_amount, 0 as won_count,
        0 as lost_amount, 0 as lost_count, 0 as amount_change
    from boundaries
    union all
    select
        opportunity_id, period_type, period_start,
        0, 0, 0, 0,
        created_amount, created_count, pulled_in_amount, pulled_in_count,
        pushed_out_amount, pushed_out_count, won_amount, won_count,
        lost_amount, lost_count, amount_change
    from flows
),

-- the watermark of the next night: each opportunity's newest change, and the export built from
last_changes as (
    select opportunity_id, max(changed_at) as opportunity_last_changed_at
    from changes
    group by opportunity_id
),

as_of as (
    select max(as_of_date) as as_of_date from {{ ref('int_periods_generated') }}
)

select
    combined.opportunity_id,
    combined.period_type,
    combined.period_start,
    cast(sum(open_amount_at_start) as {{ type_double() }}) as open_amount_at_start,
    cast(sum(open_count_at_start) as bigint) as open_count_at_start,
    cast(sum(created_amount) as {{ type_double() }}) as created_amount,
    cast(sum(created_count) as bigint) as created_count,
    cast(sum(pulled_in_amount) as {{ type_double() }}) as pulled_in_amount,
    cast(sum(pulled_in_count) as bigint) as pulled_in_count,
    cast(sum(pushed_out_amount) as {{ type_double() }}) as pushed_out_amount,
    cast(sum(pushed_out_count) as bigint) as pushed_out_count,
    cast(sum(won_amount) as {{ type_double() }}) as won_amount,
    cast(sum(won_count) as bigint) as won_count,
    cast(sum(lost_amount) as {{ type_double() }}) as lost_amount,
    cast(sum(lost_count) as bigint) as lost_count,
    cast(sum(amount_change) as {{ type_double() }}) as amount_change,
    cast(sum(open_amount_at_end) as {{ type_double() }}) as open_amount_at_end,
    cast(sum(open_count_at_end) as bigint) as open_count_at_end,
    cast(max(last_changes.opportunity_last_changed_at) as timestamp) as opportunity_last_changed_at,
    cast(max(as_of.as_of_date) as date) as built_export_date
from combined
inner join last_changes on combined.opportunity_id = last_changes.opportunity_id
cross join as_of
group by combined.opportunity_id, combined.period_type, combined.period_start
