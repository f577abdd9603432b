-- Amounts in the reporting currency: the opportunity's currency at the rate of the row's close
-- date (else the day of the change); amount_original keeps the CRM's.
with source as (
    {{ latest_export(source('crm', 'opportunity_stage_history')) }}
),

currencies as (
    select opportunity_id, currency from {{ ref('stg_crm__opportunities') }}
),

dated as (
    select
        source.*,
        currencies.currency,
        coalesce(source.close_date, cast(source.changed_at as date)) as conversion_date
    from source
    left join currencies on currencies.opportunity_id = source.opportunity_id
)

select
    dated.opportunity_id,
    dated.changed_at,
    dated.stage,
    dated.amount / {{ exchange_rate('rates', 'dated.currency') }} as amount,
    dated.amount as amount_original,
    dated.currency,
    dated.close_date,
    dated.probability / 100.0 as crm_probability,
    dated.forecast_category
from dated
{{ join_exchange_rate('rates', 'dated.currency', 'dated.conversion_date') }}
