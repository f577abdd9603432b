{#- The median of an expression. PostgreSQL has no median(); both have percentile_cont. -#}
{% macro median(expr) -%}
    {{ return(adapter.dispatch('median')(expr)) }}
{%- endmacro %}

{% macro default__median(expr) -%}
    percentile_cont(0.5) within group (order by {{ expr }})
{%- endmacro %}

{% macro duckdb__median(expr) -%}
    median({{ expr }})
{%- endmacro %}

{#- numerator / denominator as a double, null when the denominator is 0 or null (integer division
    truncates on PostgreSQL and a zero denominator errors on both). -#}
{% macro safe_divide(numerator, denominator) -%}
    cast({{ numerator }} as {{ type_double() }}) / nullif(cast({{ denominator }} as {{ type_double() }}), 0)
{%- endmacro %}

{#- Count of rows where a condition holds (portable: no FILTER clause, no boolean sums). -#}
{% macro count_if(condition) -%}
    sum(case when {{ condition }} then 1 else 0 end)
{%- endmacro %}

{#- Sum of an expression over rows where a condition holds, 0 when none. -#}
{% macro sum_if(condition, expr) -%}
    sum(case when {{ condition }} then coalesce({{ expr }}, 0) else 0 end)
{%- endmacro %}

{#- A text key from several columns joined by '|': the primary key of a mart whose grain is a
    combination. Dates render as YYYY-MM-DD on both targets; a null part renders empty. -#}
{% macro key(columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- if not loop.first %}{% do parts.append("'|'") %}{% endif -%}
        {%- do parts.append("coalesce(cast(" ~ column ~ " as " ~ dbt.type_string() ~ "), '')") -%}
    {%- endfor -%}
    cast({{ dbt.concat(parts) }} as {{ dbt.type_string() }})
{%- endmacro %}
