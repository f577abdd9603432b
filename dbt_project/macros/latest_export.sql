{#- Rows of the newest export of a raw table: raw keeps every nightly full snapshot. -#}
{% macro latest_export(relation) -%}
    select * from {{ relation }}
    where _export_date = (select max(_export_date) from {{ relation }})
{%- endmacro %}
