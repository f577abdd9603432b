{#- The rows a data test reads: dbt's own rule (config `where`), plus one sentinel.

    `where: __latest_build__` tests only the rows the model's newest build wrote: those whose
    built_export_date is the newest the table holds. For the incremental models that replace all
    rows of a key each night (delete+insert on opportunity_id, or on snapshot_date), a key or row
    test of tonight's rows covers what tonight changed: the rows left in place passed the same test
    the night they were written, and no new row can collide with an old one, since every row of
    the new rows' key was deleted first. A full refresh (and a first build) writes every row with
    one built_export_date, so it tests the whole table. Not for tests across keys (relationships,
    balances): those read the whole table. -#}
{% macro default__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where == '__latest_build__' -%}
        {%- set where = 'built_export_date = (select max(built_export_date) from ' ~ relation ~ ')' -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
