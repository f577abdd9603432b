-- Lead generation by creation cohort, source and campaign: how many leads it took to get to an
-- opportunity and to a won deal, and where they stall. One row per cohort month x lead source x
-- campaign. An opportunity converted from several leads is credited to the earliest of them (the
-- others still count as converted leads), so opportunities and revenue are never double counted.
with leads as (
    select
        lead_id,
        created_at,
        converted_at,
        converted_opportunity_id,
        {{ month_start('created_at') }} as cohort_month,
        coalesce(lead_source, 'Unknown') as lead_source,
        coalesce(campaign, 'Unknown') as campaign,
        converted_at is not null or converted_opportunity_id is not null as is_converted
    from {{ ref('stg_crm__leads') }}
),

credited as (
    select
        leads.*,
        case
            when leads.converted_opportunity_id is not null
                and row_number() over (
                    partition by leads.converted_opportunity_id order by leads.created_at, leads.lead_id
                ) = 1
            then leads.converted_opportunity_id
        end as credited_opportunity_id
    from leads
),

joined as (
    select
        credited.*,
        opportunities.opportunity_id,
        opportunities.outcome,
        opportunities.amount
    from credited
    left join {{ ref('fct_opportunities') }} as opportunities
        on credited.credited_opportunity_id = opportunities.opportunity_id
),

aggregated as (
    select
        cohort_month,
        lead_source,
        campaign,
        count(*) as leads,
        {{ count_if('is_converted') }} as converted_leads,
        {{ count_if('not is_converted') }} as unconverted_leads,
        {{ count_if('opportunity_id is not null') }} as opportunities,
        {{ count_if("outcome = 'open'") }} as open_deals,
        {{ count_if("outcome = 'won'") }} as won_deals,
        {{ count_if("outcome = 'lost'") }} as lost_deals,
        {{ sum_if("outcome = 'won'", 'amount') }} as revenue,
        avg(case when converted_at is not null
            then {{ days_between('created_at', 'converted_at') }} end) as average_days_to_convert
    from joined
    group by cohort_month, lead_source, campaign
)

select
    {{ key(['cohort_month', 'lead_source', 'campaign']) }} as lead_funnel_key,
    cast(cohort_month as date) as cohort_month,
    cast(lead_source as {{ dbt.type_string() }}) as lead_source,
    cast(campaign as {{ dbt.type_string() }}) as campaign,
    cast(leads as bigint) as leads,
    cast(converted_leads as bigint) as converted_leads,
    cast(unconverted_leads as bigint) as unconverted_leads,
    cast(opportunities as bigint) as opportunities,
    cast(open_deals as bigint) as open_deals,
    cast(won_deals as bigint) as won_deals,
    cast(lost_deals as bigint) as lost_deals,
    cast(revenue as {{ type_double() }}) as revenue,
    {{ safe_divide('converted_leads', 'leads') }} as lead_conversion_rate,
    {{ safe_divide('won_deals', 'won_deals + lost_deals') }} as opportunity_win_rate,
    {{ safe_divide('won_deals', 'leads') }} as lead_to_won_rate,
    {{ safe_divide('leads', 'won_deals') }} as leads_per_won_deal,
    cast(average_days_to_convert as {{ type_double() }}) as average_days_to_convert
from aggregated
