{#- Calendar arithmetic shared by the date dimension and every period mart, written with dbt's
    cross-database macros so DuckDB and PostgreSQL give the same answers. The fiscal year starts
    in var('fiscal_year_start_month'); a fiscal year is named by the calendar year it ends in. -#}

{% macro fiscal_start_month() -%}
    {%- set month = var('fiscal_year_start_month', 1) | int -%}
    {%- if month < 1 or month > 12 -%}
        {{ exceptions.raise_compiler_error("var fiscal_year_start_month must be 1-12, got " ~ month) }}
    {%- endif -%}
    {{ return(month) }}
{%- endmacro %}

{#- The first day of the calendar month of a date expression, as a date. -#}
{% macro month_start(date_expr) -%}
    cast({{ dbt.date_trunc('month', 'cast(' ~ date_expr ~ ' as timestamp)') }} as date)
{%- endmacro %}

{#- Months since the fiscal year began (0-11) for a date expression. -#}
{% macro fiscal_month_index(date_expr) -%}
    mod(cast(extract(month from {{ date_expr }}) as integer) - {{ fiscal_start_month() }} + 12, 12)
{%- endmacro %}

{#- The first day of the fiscal quarter of a date expression, as a date. -#}
{% macro fiscal_quarter_start(date_expr) -%}
    cast({{ dbt.dateadd('month', '-1 * mod(' ~ fiscal_month_index(date_expr) ~ ', 3)', month_start(date_expr)) }} as date)
{%- endmacro %}

{#- The first day of the fiscal year of a date expression, as a date. -#}
{% macro fiscal_year_start(date_expr) -%}
    cast({{ dbt.dateadd('month', '-1 * ' ~ fiscal_month_index(date_expr), month_start(date_expr)) }} as date)
{%- endmacro %}

{#- The start of the period of type period_type ('month', 'quarter' = fiscal quarter, 'year' =
    fiscal year, or a column holding one of those) that contains a date expression. -#}
{% macro period_start(period_type, date_expr) -%}
    case {{ period_type }}
        when 'month' then {{ month_start(date_expr) }}
        when 'quarter' then {{ fiscal_quarter_start(date_expr) }}
        when 'year' then {{ fiscal_year_start(date_expr) }}
    end
{%- endmacro %}

{#- The period types every period mart reports, as a one-column relation (cross join it to give
    each fact one row per period type). -#}
{% macro period_types() -%}
    select cast('month' as {{ dbt.type_string() }}) as period_type
    union all select cast('quarter' as {{ dbt.type_string() }})
    union all select cast('year' as {{ dbt.type_string() }})
{%- endmacro %}

{#- Whole days from one date expression to another (end - start), as a bigint. -#}
{% macro days_between(start_expr, end_expr) -%}
    cast({{ dbt.datediff('cast(' ~ start_expr ~ ' as date)', 'cast(' ~ end_expr ~ ' as date)', 'day') }} as bigint)
{%- endmacro %}

{#- A date expression moved by a number of days, as a date. -#}
{% macro add_days(date_expr, days) -%}
    cast({{ dbt.dateadd('day', days, date_expr) }} as date)
{%- endmacro %}

{#- Integers 0 .. n-1 as column n, from cross joined digits: no generate_series, so it ports. -#}
{% macro integer_series(n) -%}
    {%- set digits = (n | string | length) -%}
    with digit as (
        {% for d in range(10) %}select {{ d }} as d{% if not loop.last %} union all {% endif %}{% endfor %}
    ),
    numbers as (
        select
            {% for p in range(digits) %}d{{ p }}.d * {{ 10 ** p }}{% if not loop.last %} + {% endif %}{% endfor %} as n
        from {% for p in range(digits) %}digit as d{{ p }}{% if not loop.last %} cross join {% endif %}{% endfor %}
    )
    select n from numbers where n < {{ n }}
{%- endmacro %}
