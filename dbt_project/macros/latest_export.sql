{#- Rows of the newest servable export of a raw table: raw keeps every nightly full snapshot.

    Servable: the export's lifecycle (audit.export_lifecycle, newest row per export, written by
    pipecast.ingest.lifecycle) is validated or published. An export loaded but not validated yet
    (a run stopped between load and validation) is never read. A warehouse whose raw tables were
    filled by something other than pipecast's ingest has no lifecycle table: every export serves.
-#}
{% macro latest_export(relation) -%}
    select * from {{ relation }}
    where _export_date = (
        select max(_export_date) from {{ relation }}
        {%- set lifecycle = servable_exports(relation) %}
        {%- if lifecycle %}
        where _export_date in ({{ lifecycle }})
        {%- endif %}
    )
{%- endmacro %}

{% macro servable_exports(relation) -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set table = adapter.get_relation(database=relation.database, schema='audit', identifier='export_lifecycle') -%}
    {%- if table is none -%}{{ return('') }}{%- endif -%}
    {{ return(
        "select export_date from (select export_date, state, row_number() over "
        ~ "(partition by export_date order by changed_at desc) as _n from " ~ table ~ ") as lifecycle "
        ~ "where _n = 1 and state in ('validated', 'published')"
    ) }}
{%- endmacro %}
