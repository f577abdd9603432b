{#- The forecast marts read ml.*, which the forecast job writes. Before its first night the
    tables are not there yet: a mart is then built empty, with its contract's columns and types. -#}

{#- The rows of an ml.* table (only the newest night's with newest_night), or no rows. -#}
{% macro ml_rows(relation, columns, newest_night=true) -%}
    {%- if execute and load_relation(relation) is not none -%}
    select * from {{ relation }}
    {%- if newest_night %} where as_of = (select max(as_of) from {{ relation }}){% endif %}
    {%- else -%}
    select {% for name, type in columns.items() %}cast(null as {{ type }}) as {{ name }}{{ ", " if not loop.last }}{% endfor %}
    where 1 = 0
    {%- endif -%}
{%- endmacro %}

{#- The select list that casts each column to its contract type. -#}
{% macro typed_columns(columns, trailing_comma=false) -%}
    {%- for name, type in columns.items() %}
    cast({{ name }} as {{ type }}) as {{ name }}{{ "," if (trailing_comma or not loop.last) }}
    {%- endfor %}
{%- endmacro %}
