-- Current state of every opportunity with its age, cycle, history counts and outcome.
with opportunities as (
    select * from {{ ref('stg_crm__opportunities') }}
),

histories as (
    select * from {{ ref('int_opportunity_histories_summarised') }}
),

stages as (
    select * from {{ ref('int_stages_ranked') }}
),

accounts as (
    select * from {{ ref('stg_crm__accounts') }}
),

owners as (
    select * from {{ ref('stg_crm__owners') }}
),

products as (
    select * from {{ ref('stg_crm__products') }}
),

-- the lead an opportunity came from: the first lead converted into it
leads as (
    select converted_opportunity_id, min(lead_id) as lead_id
    from {{ ref('stg_crm__leads') }}
    where converted_opportunity_id is not null
    group by converted_opportunity_id
)

select
    cast(opportunities.opportunity_id as {{ dbt.type_string() }}) as opportunity_id,
    cast(opportunities.account_id as {{ dbt.type_string() }}) as account_id,
    cast(opportunities.owner_id as {{ dbt.type_string() }}) as owner_id,
    cast(opportunities.opportunity_name as {{ dbt.type_string() }}) as opportunity_name,
    cast(opportunities.pipeline as {{ dbt.type_string() }}) as pipeline,
    cast(opportunities.stage as {{ dbt.type_string() }}) as stage,
    cast(stages.sort_order as bigint) as stage_sort_order,
    cast(opportunities.forecast_category as {{ dbt.type_string() }}) as forecast_category,
    cast(opportunities.opportunity_type as {{ dbt.type_string() }}) as opportunity_type,
    cast(opportunities.lead_source as {{ dbt.type_string() }}) as lead_source,
    cast(opportunities.product_id as {{ dbt.type_string() }}) as product_id,
    cast(accounts.segment as {{ dbt.type_string() }}) as segment,
    cast(accounts.industry as {{ dbt.type_string() }}) as industry,
    cast(owners.team as {{ dbt.type_string() }}) as team,
    cast(owners.region as {{ dbt.type_string() }}) as region,
    cast(opportunities.amount as {{ type_double() }}) as amount,
    cast(opportunities.currency as {{ dbt.type_string() }}) as currency,
    cast(opportunities.amount_original as {{ type_double() }}) as amount_original,
    cast(opportunities.crm_probability as {{ type_double() }}) as crm_probability,
    cast(opportunities.amount * opportunities.crm_probability as {{ type_double() }}) as stage_weighted_amount,
    cast(opportunities.created_at as date) as created_date,
    cast(opportunities.close_date as date) as close_date,
    cast(opportunities.is_closed as boolean) as is_closed,
    cast(opportunities.is_won as boolean) as is_won,
    cast(case
        when opportunities.is_won then 'won'
        when opportunities.is_closed then 'lost'
        else 'open'
    end as {{ dbt.type_string() }}) as outcome,
    {{ days_between('opportunities.created_at', 'opportunities.export_date') }} as age_days,
    case when opportunities.is_closed
        then {{ days_between('opportunities.created_at', 'opportunities.close_date') }}
    end as cycle_days,
    {{ days_between('histories.current_stage_entered_at', 'opportunities.export_date') }} as days_in_current_stage,
    cast(coalesce(histories.stage_changes, 0) as bigint) as stage_changes,
    cast(coalesce(histories.close_date_pushes, 0) as bigint) as close_date_pushes,
    cast(coalesce(histories.amount_changes, 0) as bigint) as amount_changes,
    cast(histories.first_amount as {{ type_double() }}) as first_amount,
    cast(opportunities.export_date as date) as as_of_date,
    cast(opportunities.created_at as timestamp) as created_at,
    cast(stages.funnel_rank as bigint) as stage_funnel_rank,
    cast(histories.max_open_funnel_rank as bigint) as furthest_open_funnel_rank,
    cast(histories.current_stage_entered_at as timestamp) as current_stage_entered_at,
    cast(coalesce(histories.close_date_pull_ins, 0) as bigint) as close_date_pull_ins,
    cast(histories.first_close_date as date) as first_close_date,
    {{ days_between('histories.first_close_date', 'opportunities.close_date') }} as close_date_slip_days,
    cast(opportunities.amount - histories.first_amount as {{ type_double() }}) as amount_change,
    cast(accounts.account_name as {{ dbt.type_string() }}) as account_name,
    cast(owners.owner_name as {{ dbt.type_string() }}) as owner_name,
    cast(owners.manager_id as {{ dbt.type_string() }}) as manager_id,
    cast(products.product_name as {{ dbt.type_string() }}) as product_name,
    cast(products.product_family as {{ dbt.type_string() }}) as product_family,
    cast(leads.lead_id as {{ dbt.type_string() }}) as lead_id
from opportunities
left join histories on opportunities.opportunity_id = histories.opportunity_id
left join stages
    on opportunities.pipeline = stages.pipeline and opportunities.stage = stages.stage
left join accounts on opportunities.account_id = accounts.account_id
left join owners on opportunities.owner_id = owners.owner_id
left join products on opportunities.product_id = products.product_id
left join leads on opportunities.opportunity_id = leads.converted_opportunity_id
