{{
    config(
        materialized='incremental',
        unique_key='opportunity_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook="{{ delete_vanished_histories() }}"
    )
}}
-- depends_on: {{ ref('int_opportunity_changes_unioned') }}, {{ ref('stg_crm__opportunity_stage_history') }}, {{ ref('snp_crm__opportunities') }}, {{ ref('stg_crm__opportunities') }}
-- Each history row of an opportunity beside the row before it, classified: did the stage, the
-- amount or the close date change? The first row of an opportunity is its creation. Each row is the
-- opportunity's state from changed_at until valid_to (the next change; null for the current one).
--
-- Incremental: a night recomputes only the opportunities with a change newer than the newest one
-- already here (less var('incremental_lookback_days')), replacing all of their rows, and drops the
-- rows of opportunities the CRM no longer exports; the history of every other opportunity is left as
-- it is. It reads the history of those opportunities alone (macro opportunity_changes_unioned, the
-- union's own query, filtered at its sources). A full refresh recomputes everything.
with
{% if is_incremental() %}
-- The opportunities with a change newer than the watermark, found where changes are dated instead
-- of in the whole union (which costs a scan and anti-join of every history row, most of the build):
-- - a CRM history row newer than it (the filter reaches the raw table's scan);
-- - for a deal this table does not hold from the CRM's history, a snapshot version dated after it
--   as int_opportunity_changes_unioned dates it: a version replaced since (its successor is dated
--   by the export that showed it, the replaced one's dbt_valid_to), or a first version whose state
--   is dated later (from the deal's creation or close, never after the export that showed it);
-- - a deal first seen since that this table does not hold at all (its first version may be dated
--   back before the watermark).
-- (change_number = 1: one row per deal held, half the work of the set differences)
changed_opportunities as (
    select opportunity_id
    from {{ ref('stg_crm__opportunity_stage_history') }}
    where changed_at > {{ changed_since(this) }}
    union
    (
        select opportunity_id
        from {{ ref('snp_crm__opportunities') }}
        where dbt_valid_to > {{ changed_since(this) }}
            or (
                dbt_valid_from > {{ changed_since(this) }}
                and coalesce(
                    case
                        when is_closed and close_date is not null
                            then greatest(created_at, cast(close_date as timestamp))
                        else created_at
                    end,
                    dbt_valid_from
                ) > {{ changed_since(this) }}
            )
        except
        select opportunity_id from {{ this }} where change_number = 1 and history_source = 'crm'
    )
    union
    (
        select opportunity_id
        from {{ ref('snp_crm__opportunities') }}
        where dbt_valid_from > {{ changed_since(this) }}
        except
        select opportunity_id from {{ this }} where change_number = 1
    )
),

-- their whole history (int_opportunity_changes_unioned's query, read for these deals alone)
to_process as (
    {{ opportunity_changes_unioned(only='select opportunity_id from changed_opportunities') }}
),
{% else %}
to_process as (
    select * from {{ ref('int_opportunity_changes_unioned') }}
),
{% endif %}

opportunities as (
    select opportunity_id, pipeline from {{ ref('stg_crm__opportunities') }}
),

stages as (
    select * from {{ ref('int_stages_ranked') }}
),

ordered as (
    select
        to_process.*,
        coalesce(opportunities.pipeline, 'default') as pipeline,
        row_number() over w as change_number,
        lag(to_process.stage) over w as previous_stage,
        lag(to_process.amount) over w as previous_amount,
        lag(to_process.close_date) over w as previous_close_date,
        lead(to_process.changed_at) over w as valid_to,
        max(to_process.changed_at) over (partition by to_process.opportunity_id) as opportunity_last_changed_at
    from to_process
    left join opportunities on to_process.opportunity_id = opportunities.opportunity_id
    window w as (partition by to_process.opportunity_id order by to_process.changed_at)
),

classified as (
    select
        ordered.*,
        stages.sort_order as stage_sort_order,
        stages.funnel_rank as stage_funnel_rank,
        stages.is_closed as stage_is_closed,
        stages.is_won as stage_is_won,
        ordered.change_number = 1 or ordered.stage <> ordered.previous_stage as is_stage_entry,
        coalesce(ordered.change_number > 1 and ordered.close_date > ordered.previous_close_date, false)
            as is_close_date_push,
        coalesce(ordered.change_number > 1 and ordered.close_date < ordered.previous_close_date, false)
            as is_close_date_pull_in,
        coalesce(ordered.change_number > 1 and ordered.amount <> ordered.previous_amount, false)
            as is_amount_change
    from ordered
    left join stages on ordered.pipeline = stages.pipeline and ordered.stage = stages.stage
)

select
    classified.*,
    sum(case when is_stage_entry then 1 else 0 end) over running as stage_entry_number,
    max(case when is_stage_entry then changed_at end) over running as stage_entered_at,
    lag(stage_is_closed) over (partition by opportunity_id order by changed_at) as previous_stage_is_closed,
    lag(stage_is_won) over (partition by opportunity_id order by changed_at) as previous_stage_is_won,
    {{ as_of_date() }} as built_export_date
from classified
window running as (partition by opportunity_id order by changed_at rows between unbounded preceding and current row)
