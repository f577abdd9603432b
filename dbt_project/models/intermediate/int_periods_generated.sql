-- The reporting periods of every period mart: calendar months, fiscal quarters and fiscal years
-- (var fiscal_year_start_month), one row per period type and start. Built from a month series
-- with dbt's cross-database date macros, so the period marts join on equal period starts (the
-- period_start macro) instead of date ranges. Kept to the span of the data: from the period of
-- the first opportunity, lead or target to one year after the newest export.
{%- set first = modules.datetime.date.fromisoformat(var('calendar_start_date')) -%}
{%- set last = modules.datetime.date.fromisoformat(var('calendar_end_date')) -%}
{%- set months = (last.year - first.year) * 12 + last.month - first.month + 1 %}

with month_numbers as (
    {{ integer_series(months) }}
),

months as (
    select cast({{ dbt.dateadd('month', 'n', "cast('" ~ var('calendar_start_date')[:7] ~ "-01' as date)") }} as date) as month_start
    from month_numbers
),

period_starts as (
    select distinct
        period_types.period_type,
        {{ period_start('period_types.period_type', 'months.month_start') }} as period_start
    from months
    cross join ({{ period_types() }}) as period_types
),

periods as (
    select
        period_type,
        period_start,
        cast({{ dbt.dateadd('day', -1, dbt.dateadd(
            'month',
            "case period_type when 'month' then 1 when 'quarter' then 3 else 12 end",
            'period_start'
        )) }} as date) as period_end,
        cast(extract(year from {{ fiscal_year_start('period_start') }}) as integer)
            + {{ 0 if fiscal_start_month() == 1 else 1 }} as fiscal_year,
        cast(({{ fiscal_month_index('period_start') }} - mod({{ fiscal_month_index('period_start') }}, 3)) / 3 as integer) + 1
            as fiscal_quarter
    from period_starts
),

as_of as (
    select {{ as_of_date() }} as as_of_date
),

span as (
    select min(first_day) as first_day
    from (
        select min(cast(created_at as date)) as first_day from {{ ref('stg_crm__opportunities') }}
        union all
        select min(cast(created_at as date)) from {{ ref('stg_crm__leads') }}
        union all
        select min(period_start) from {{ ref('stg_crm__targets') }}
    ) as firsts
)

select
    periods.period_type,
    periods.period_start,
    periods.period_end,
    case periods.period_type
        when 'month' then substr(cast(periods.period_start as {{ dbt.type_string() }}), 1, 7)
        when 'quarter' then {{ dbt.concat(["'FY'", "cast(periods.fiscal_year as " ~ dbt.type_string() ~ ")", "'-Q'", "cast(periods.fiscal_quarter as " ~ dbt.type_string() ~ ")"]) }}
        else {{ dbt.concat(["'FY'", "cast(periods.fiscal_year as " ~ dbt.type_string() ~ ")"]) }}
    end as period_label,
    periods.fiscal_year,
    case when periods.period_type = 'year' then null else periods.fiscal_quarter end as fiscal_quarter,
    {{ days_between('periods.period_start', 'periods.period_end') }} + 1 as days_in_period,
    as_of.as_of_date,
    case when periods.period_start <= as_of.as_of_date
        then least(periods.period_end, as_of.as_of_date)
    end as period_end_to_date,
    periods.period_start <= as_of.as_of_date and periods.period_end >= as_of.as_of_date as is_current,
    periods.period_end < as_of.as_of_date as is_complete
from periods
cross join as_of
cross join span
where periods.period_end >= span.first_day
    and periods.period_start <= {{ add_days('as_of.as_of_date', 366) }}
