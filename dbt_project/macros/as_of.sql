{#- The warehouse's "today": the date of the newest export staging serves. Every "as of now"
    measure (open pipeline, current period, pipeline window) uses it, never the wall clock, so a
    rebuild of the same exports gives the same tables. -#}
{% macro as_of_date() -%}
    (select max(export_date) from {{ ref('stg_crm__opportunities') }})
{%- endmacro %}

{#- The first day fct_pipeline_daily keeps: var('pipeline_daily_start') if set, else
    var('pipeline_daily_lookback_days') before the as-of date. Incremental runs delete older days,
    so the table is a sliding window and a full refresh rebuilds exactly the same days. -#}
{% macro pipeline_daily_window_start() -%}
    {%- set start = var('pipeline_daily_start', none) -%}
    {%- if start -%}
        cast('{{ start }}' as date)
    {%- else -%}
        {{ add_days(as_of_date(), -1 * (var('pipeline_daily_lookback_days', 365) | int)) }}
    {%- endif -%}
{%- endmacro %}
