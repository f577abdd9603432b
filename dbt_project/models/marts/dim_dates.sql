-- One row per calendar day from var('calendar_start_date') to var('calendar_end_date') with its
-- calendar and fiscal periods (the fiscal year starts in var('fiscal_year_start_month') and is
-- named by the calendar year it ends in). Generated in SQL from a digit series and dbt's
-- cross-database date macros: no generate_series, no seed file.
{%- set first = modules.datetime.date.fromisoformat(var('calendar_start_date')) -%}
{%- set last = modules.datetime.date.fromisoformat(var('calendar_end_date')) -%}
{%- set day_count = (last - first).days + 1 %}

with day_numbers as (
    {{ integer_series(day_count) }}
),

days as (
    select {{ add_days("cast('" ~ var('calendar_start_date') ~ "' as date)", 'n') }} as date_day
    from day_numbers
),

calendar as (
    select
        date_day,
        cast(extract(year from date_day) as integer) as calendar_year,
        cast(extract(month from date_day) as integer) as month_of_year,
        cast(extract(day from date_day) as integer) as day_of_month,
        cast(extract(isodow from date_day) as integer) as day_of_week,
        {{ month_start('date_day') }} as month_start,
        {{ fiscal_quarter_start('date_day') }} as fiscal_quarter_start,
        {{ fiscal_year_start('date_day') }} as fiscal_year_start,
        {{ fiscal_month_index('date_day') }} as fiscal_month_index
    from days
),

fiscal as (
    select
        calendar.*,
        cast(extract(year from fiscal_year_start) as integer) + {{ 0 if fiscal_start_month() == 1 else 1 }}
            as fiscal_year,
        cast((fiscal_month_index - mod(fiscal_month_index, 3)) / 3 as integer) + 1 as fiscal_quarter
    from calendar
)

select
    cast(date_day as date) as date_day,
    cast(calendar_year as bigint) as calendar_year,
    cast(cast((month_of_year - 1 - mod(month_of_year - 1, 3)) / 3 as integer) + 1 as bigint) as calendar_quarter,
    cast(month_of_year as bigint) as month_of_year,
    cast(case month_of_year
        when 1 then 'January' when 2 then 'February' when 3 then 'March' when 4 then 'April'
        when 5 then 'May' when 6 then 'June' when 7 then 'July' when 8 then 'August'
        when 9 then 'September' when 10 then 'October' when 11 then 'November' else 'December'
    end as {{ dbt.type_string() }}) as month_name,
    cast(day_of_month as bigint) as day_of_month,
    cast(day_of_week as bigint) as day_of_week,
    cast(case day_of_week
        when 1 then 'Monday' when 2 then 'Tuesday' when 3 then 'Wednesday' when 4 then 'Thursday'
        when 5 then 'Friday' when 6 then 'Saturday' else 'Sunday'
    end as {{ dbt.type_string() }}) as day_name,
    day_of_week >= 6 as is_weekend,
    {{ add_days('date_day', '1 - day_of_week') }} as week_start,
    cast(month_start as date) as month_start,
    {{ add_days(dbt.dateadd('month', 1, 'month_start'), -1) }} as month_end,
    cast(fiscal_year as bigint) as fiscal_year,
    cast(fiscal_quarter as bigint) as fiscal_quarter,
    cast(fiscal_month_index + 1 as bigint) as fiscal_month,
    cast(fiscal_quarter_start as date) as fiscal_quarter_start,
    {{ add_days(dbt.dateadd('month', 3, 'fiscal_quarter_start'), -1) }} as fiscal_quarter_end,
    cast(fiscal_year_start as date) as fiscal_year_start,
    {{ add_days(dbt.dateadd('month', 12, 'fiscal_year_start'), -1) }} as fiscal_year_end,
    cast({{ dbt.concat(["'FY'", "cast(fiscal_year as " ~ dbt.type_string() ~ ")", "'-Q'", "cast(fiscal_quarter as " ~ dbt.type_string() ~ ")"]) }}
        as {{ dbt.type_string() }}) as fiscal_quarter_label,
    cast({{ dbt.concat(["'FY'", "cast(fiscal_year as " ~ dbt.type_string() ~ ")"]) }} as {{ dbt.type_string() }})
        as fiscal_year_label
from fiscal
