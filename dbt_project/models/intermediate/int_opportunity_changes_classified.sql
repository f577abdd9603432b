-- Each history row of an opportunity beside the row before it, classified: did the stage, the
-- amount or the close date change? The first row of an opportunity is its creation.
with history as (
    select * from {{ ref('stg_crm__opportunity_stage_history') }}
),

stages as (
    select * from {{ ref('stg_crm__stages') }}
),

ordered as (
    select
        history.*,
        row_number() over (partition by opportunity_id order by changed_at) as change_number,
        lag(stage) over (partition by opportunity_id order by changed_at) as previous_stage,
        lag(amount) over (partition by opportunity_id order by changed_at) as previous_amount,
        lag(close_date) over (partition by opportunity_id order by changed_at) as previous_close_date
    from history
)

select
    ordered.*,
    stages.sort_order as stage_sort_order,
    stages.is_closed as stage_is_closed,
    stages.is_won as stage_is_won,
    ordered.change_number = 1 or ordered.stage <> ordered.previous_stage as is_stage_entry,
    ordered.change_number > 1 and ordered.close_date > ordered.previous_close_date as is_close_date_push,
    ordered.change_number > 1 and ordered.close_date < ordered.previous_close_date as is_close_date_pull_in,
    ordered.change_number > 1 and ordered.amount <> ordered.previous_amount as is_amount_change
from ordered
left join stages on ordered.stage = stages.stage
