-- The reporting periods the period marts use (calendar months, fiscal quarters, fiscal years),
-- with where each stands against the newest export: BI filters on is_current / is_complete.
select
    {{ key(['period_type', 'period_start']) }} as period_key,
    cast(period_type as {{ dbt.type_string() }}) as period_type,
    cast(period_start as date) as period_start,
    cast(period_end as date) as period_end,
    cast(period_label as {{ dbt.type_string() }}) as period_label,
    cast(fiscal_year as bigint) as fiscal_year,
    cast(fiscal_quarter as bigint) as fiscal_quarter,
    cast(days_in_period as bigint) as days_in_period,
    cast(period_end_to_date as date) as period_end_to_date,
    cast(is_current as boolean) as is_current,
    cast(is_complete as boolean) as is_complete,
    cast(as_of_date as date) as as_of_date
from {{ ref('int_periods_generated') }}
