-- Current state of every opportunity with its age, cycle and history counts.
with opportunities as (
    select * from {{ ref('stg_crm__opportunities') }}
),

histories as (
    select * from {{ ref('int_opportunity_histories_summarised') }}
),

stages as (
    select * from {{ ref('stg_crm__stages') }}
),

accounts as (
    select * from {{ ref('stg_crm__accounts') }}
),

owners as (
    select * from {{ ref('stg_crm__owners') }}
)

select
    opportunities.opportunity_id,
    opportunities.account_id,
    opportunities.owner_id,
    opportunities.opportunity_name,
    opportunities.pipeline,
    opportunities.stage,
    stages.sort_order as stage_sort_order,
    opportunities.forecast_category,
    opportunities.opportunity_type,
    opportunities.lead_source,
    opportunities.product_id,
    accounts.segment,
    accounts.industry,
    owners.team,
    owners.region,
    opportunities.amount,
    opportunities.currency,
    opportunities.crm_probability,
    opportunities.amount * opportunities.crm_probability as stage_weighted_amount,
    cast(opportunities.created_at as date) as created_date,
    opportunities.close_date,
    opportunities.is_closed,
    opportunities.is_won,
    case
        when opportunities.is_won then 'won'
        when opportunities.is_closed then 'lost'
        else 'open'
    end as outcome,
    {{ dbt.datediff("cast(opportunities.created_at as date)", "opportunities.export_date", "day") }} as age_days,
    case when opportunities.is_closed
        then {{ dbt.datediff("cast(opportunities.created_at as date)", "opportunities.close_date", "day") }}
    end as cycle_days,
    {{ dbt.datediff("cast(histories.current_stage_entered_at as date)", "opportunities.export_date", "day") }} as days_in_current_stage,
    coalesce(histories.stage_changes, 0) as stage_changes,
    coalesce(histories.close_date_pushes, 0) as close_date_pushes,
    coalesce(histories.amount_changes, 0) as amount_changes,
    histories.first_amount,
    opportunities.export_date as as_of_date
from opportunities
left join histories on opportunities.opportunity_id = histories.opportunity_id
left join stages
    on opportunities.pipeline = stages.pipeline and opportunities.stage = stages.stage
left join accounts on opportunities.account_id = accounts.account_id
left join owners on opportunities.owner_id = owners.owner_id
