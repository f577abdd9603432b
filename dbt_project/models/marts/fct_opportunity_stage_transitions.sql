{{
    config(
        materialized='incremental',
        unique_key='opportunity_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook="{{ delete_vanished_opportunities(ref('int_opportunity_changes_classified')) }}"
    )
}}
-- Every stage an opportunity entered: when, for how long, where it went next and how many funnel
-- stages it skipped on the way. One row per opportunity x stage entry (a stage entered twice is
-- two rows). Durations are in whole days; the stage an opportunity is in now has no exit yet.
--
-- Incremental: a night rewrites the rows of opportunities with a change newer than the newest one
-- already here (less var('incremental_lookback_days')) and drops those of opportunities the CRM no
-- longer exports; everything else stays as it is.
with changes as (
    select * from {{ ref('int_opportunity_changes_classified') }}
    where is_stage_entry
    {% if is_incremental() %}
        and opportunity_last_changed_at > {{ changed_since(this) }}
    {% endif %}
),

sequenced as (
    select
        opportunity_id,
        pipeline,
        stage_entry_number,
        stage,
        stage_sort_order,
        stage_funnel_rank,
        stage_is_closed,
        stage_is_won,
        changed_at as entered_at,
        amount as amount_at_entry,
        close_date as close_date_at_entry,
        opportunity_last_changed_at,
        built_export_date,
        row_number() over (partition by opportunity_id, stage order by changed_at) = 1 as is_first_entry,
        lag(stage) over w as previous_stage,
        lead(changed_at) over w as exited_at,
        lead(stage) over w as next_stage,
        lead(stage_funnel_rank) over w as next_funnel_rank,
        lead(stage_is_closed) over w as next_is_closed,
        lead(stage_is_won) over w as next_is_won
    from changes
    window w as (partition by opportunity_id order by changed_at)
)

select
    {{ key(['opportunity_id', 'stage_entry_number']) }} as transition_key,
    cast(opportunity_id as {{ dbt.type_string() }}) as opportunity_id,
    cast(stage_entry_number as bigint) as stage_entry_number,
    cast(pipeline as {{ dbt.type_string() }}) as pipeline,
    cast(stage as {{ dbt.type_string() }}) as stage,
    cast(stage_sort_order as bigint) as stage_sort_order,
    cast(stage_funnel_rank as bigint) as stage_funnel_rank,
    cast(entered_at as timestamp) as entered_at,
    cast(exited_at as timestamp) as exited_at,
    {{ days_between('entered_at', 'exited_at') }} as duration_days,
    cast(previous_stage as {{ dbt.type_string() }}) as previous_stage,
    cast(next_stage as {{ dbt.type_string() }}) as next_stage,
    cast(case
        when exited_at is null then 'current'
        when stage_is_closed and next_is_closed then 'reclosed'
        when stage_is_closed then 'reopened'
        when next_is_won then 'won'
        when next_is_closed then 'lost'
        when next_funnel_rank > stage_funnel_rank then 'advanced'
        when next_funnel_rank < stage_funnel_rank then 'moved_back'
        else 'changed'
    end as {{ dbt.type_string() }}) as transition_type,
    cast(case
        when exited_at is null then null
        when not stage_is_closed and (not next_is_closed or next_is_won)
            and next_funnel_rank > stage_funnel_rank + 1
            then next_funnel_rank - stage_funnel_rank - 1
        else 0
    end as bigint) as skipped_stages,
    exited_at is null as is_current,
    cast(is_first_entry as boolean) as is_first_entry,
    cast(amount_at_entry as {{ type_double() }}) as amount_at_entry,
    cast(close_date_at_entry as date) as close_date_at_entry,
    cast(opportunity_last_changed_at as timestamp) as opportunity_last_changed_at,
    cast(built_export_date as date) as built_export_date
from sequenced
