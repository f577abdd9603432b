{{
    config(
        materialized='incremental',
        unique_key='opportunity_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook="{{ delete_vanished_opportunities(ref('int_opportunity_attributes_joined')) }}"
    )
}}
-- Each history row of an opportunity with what had accumulated by then: close-date pushes and
-- amount changes so far, stage entries so far and when the current stage was entered, the first
-- amount and close date, and when the deal was created (its first change). A row is the deal's
-- state from changed_at until valid_to, so the state at a moment is the one row whose interval
-- contains it, and everything on it looks backwards only: the forecast's point-in-time features
-- filter these rows by a cut-off. stage_rank is the open stage's funnel rank (int_stages_ranked);
-- null for closed stages and stages the configuration lacks. Opportunities the newest export does
-- not show are left out.
--
-- Incremental as int_opportunity_changes_classified: a night recomputes the opportunities with a
-- change newer than the newest one here (less var('incremental_lookback_days')), replacing all
-- their rows, and deletes those of opportunities no longer exported.
with changes as (
    select * from {{ ref('int_opportunity_changes_classified') }}
),

{% if is_incremental() %}
changed_opportunities as (
    select opportunity_id
    from changes
    group by opportunity_id
    having max(changed_at) > {{ changed_since(this) }}
),
{% endif %}

to_process as (
    select changes.*
    from changes
    inner join {{ ref('int_opportunity_attributes_joined') }} as deals
        on changes.opportunity_id = deals.opportunity_id
    {% if is_incremental() %}
    inner join changed_opportunities on changes.opportunity_id = changed_opportunities.opportunity_id
    {% endif %}
)

select
    opportunity_id,
    changed_at,
    valid_to,
    stage,
    amount,
    close_date,
    crm_probability,
    forecast_category,
    case when not stage_is_closed then stage_funnel_rank end as stage_rank,
    coalesce(stage_is_closed, false) as is_closed,
    coalesce(stage_is_won, false) as is_won,
    coalesce(is_stage_entry, false) as is_stage_entry,
    sum(case when is_close_date_push then 1 else 0 end) over running as pushes,
    sum(case when is_amount_change then 1 else 0 end) over running as amount_changes,
    sum(case when is_stage_entry then 1 else 0 end) over running as stage_entries,
    max(case when is_stage_entry then changed_at end) over running as stage_entered_at,
    first_value(amount) over running as first_amount,
    first_value(close_date) over running as first_close_date,
    first_value(changed_at) over running as created_at,
    opportunity_last_changed_at,
    {{ as_of_date() }} as built_export_date
from to_process
window running as (
    partition by opportunity_id order by changed_at rows between unbounded preceding and current row
)
