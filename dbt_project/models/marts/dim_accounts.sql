-- Accounts (customers and prospects) with their firmographics and what they bought so far.
with accounts as (
    select * from {{ ref('stg_crm__accounts') }}
),

deals as (
    select
        account_id,
        count(*) as opportunities,
        sum(case when is_won then 1 else 0 end) as won_opportunities,
        sum(case when is_won then amount else 0 end) as won_amount,
        min(case when is_won then close_date end) as first_won_date
    from {{ ref('stg_crm__opportunities') }}
    where account_id is not null
    group by account_id
)

select
    cast(accounts.account_id as {{ dbt.type_string() }}) as account_id,
    cast(accounts.account_name as {{ dbt.type_string() }}) as account_name,
    cast(accounts.industry as {{ dbt.type_string() }}) as industry,
    cast(coalesce(accounts.segment, 'Unknown') as {{ dbt.type_string() }}) as segment,
    cast(accounts.country as {{ dbt.type_string() }}) as country,
    cast(accounts.employees as bigint) as employees,
    cast(accounts.annual_revenue as {{ type_double() }}) as annual_revenue,
    cast(accounts.created_at as date) as created_date,
    cast(coalesce(deals.opportunities, 0) as bigint) as opportunities,
    cast(coalesce(deals.won_opportunities, 0) as bigint) as won_opportunities,
    cast(coalesce(deals.won_amount, 0) as {{ type_double() }}) as won_amount,
    cast(deals.first_won_date as date) as first_won_date,
    coalesce(deals.won_opportunities, 0) > 0 as is_customer
from accounts
left join deals on accounts.account_id = deals.account_id
