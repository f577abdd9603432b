-- The stage configuration with each stage's place in the funnel: open stages ranked 1..n by sort
-- order within their pipeline, the won stage n + 1, lost stages none. Funnel and transition marts
-- compare ranks, not sort orders, so gaps in a CRM's sort order or the order it gives its closed
-- stages change nothing.
with stages as (
    select * from {{ ref('stg_crm__stages') }}
),

open_ranks as (
    select
        pipeline,
        stage,
        dense_rank() over (partition by pipeline order by sort_order) as funnel_rank
    from stages
    where not is_closed
),

open_counts as (
    select pipeline, max(funnel_rank) as open_stage_count
    from open_ranks
    group by pipeline
)

select
    stages.pipeline,
    stages.stage,
    stages.sort_order,
    stages.default_probability,
    stages.is_closed,
    stages.is_won,
    stages.forecast_category,
    case
        when not stages.is_closed then open_ranks.funnel_rank
        when stages.is_won then coalesce(open_counts.open_stage_count, 0) + 1
    end as funnel_rank,
    case
        when not stages.is_closed then 'open'
        when stages.is_won then 'won'
        else 'lost'
    end as stage_type
from stages
left join open_ranks on stages.pipeline = open_ranks.pipeline and stages.stage = open_ranks.stage
left join open_counts on stages.pipeline = open_counts.pipeline
