with source as (
    {{ latest_export(source('crm', 'accounts')) }}
)

select
    account_id,
    name as account_name,
    industry,
    segment,
    country,
    employees,
    annual_revenue,
    created_at
from source
