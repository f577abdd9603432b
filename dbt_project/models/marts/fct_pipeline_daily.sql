{{
    config(
        materialized='incremental',
        unique_key='snapshot_date',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook=[
            "delete from {{ this }} where snapshot_date < {{ pipeline_daily_window_start() }}",
            "{{ delete_vanished_opportunities(ref('int_opportunity_changes_classified')) }}",
        ]
    )
}}
-- The open pipeline as it stood at the end of each day: every opportunity open that day with the
-- stage, amount, close date and forecast category it had then, read from the change history (the
-- state whose interval holds the end of the day). Any past day's pipeline is a filter on
-- snapshot_date. Attributes that the history does not date (owner, account, segment) are not
-- copied here: join fct_opportunities for them.
--
-- Incremental: a night builds the days from the newest day already here (rebuilt, so a re-run of a
-- night replaces its rows) to the newest export. The first build backfills the window from
-- pipeline_daily_window_start() (var pipeline_daily_start or pipeline_daily_lookback_days); the
-- post-hooks drop days that left the window and deals the CRM no longer exports (their history is
-- gone), so a full refresh gives the same table.
with bounds as (
    select
        {% if is_incremental() %}
        coalesce((select max(snapshot_date) from {{ this }}), {{ pipeline_daily_window_start() }})
        {% else %}
        {{ pipeline_daily_window_start() }}
        {% endif %} as first_day,
        {{ as_of_date() }} as last_day
),

days as (
    select dates.date_day
    from {{ ref('dim_dates') }} as dates
    cross join bounds
    where dates.date_day >= bounds.first_day
        and dates.date_day >= {{ pipeline_daily_window_start() }}
        and dates.date_day <= bounds.last_day
),

open_states as (
    select
        changes.*,
        cast(changes.changed_at as date) as from_day,
        cast(changes.valid_to as date) as next_change_day
    from {{ ref('int_opportunity_changes_classified') }} as changes
    cross join bounds
    where not changes.stage_is_closed
        and cast(changes.changed_at as date) <= bounds.last_day
        and (changes.valid_to is null or cast(changes.valid_to as date) > bounds.first_day)
)

select
    cast(days.date_day as date) as snapshot_date,
    cast(open_states.opportunity_id as {{ dbt.type_string() }}) as opportunity_id,
    cast(open_states.pipeline as {{ dbt.type_string() }}) as pipeline,
    cast(open_states.stage as {{ dbt.type_string() }}) as stage,
    cast(open_states.stage_sort_order as bigint) as stage_sort_order,
    cast(open_states.forecast_category as {{ dbt.type_string() }}) as forecast_category,
    cast(open_states.amount as {{ type_double() }}) as amount,
    cast(open_states.crm_probability as {{ type_double() }}) as crm_probability,
    cast(open_states.amount * open_states.crm_probability as {{ type_double() }}) as weighted_amount,
    cast(open_states.close_date as date) as close_date,
    {{ days_between('days.date_day', 'open_states.close_date') }} as days_to_close_date,
    {{ days_between('open_states.stage_entered_at', 'days.date_day') }} as days_in_stage,
    {{ days_between('open_states.from_day', 'days.date_day') }} as days_since_last_change,
    cast({{ as_of_date() }} as date) as built_export_date
from open_states
inner join days
    on days.date_day >= open_states.from_day
    and (open_states.next_change_day is null or days.date_day < open_states.next_change_day)
