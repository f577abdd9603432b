{#- The forecast marts read ml.*, which the forecast job writes. Before its first night the
    tables are not there yet: a mart is then built empty, with its contract's columns and types. -#}

{#- The rows of an ml.* table (only the newest night's with newest_night), or no rows. A column of
    the contract the table does not have yet (it was written by an older forecast job; the next
    forecast adds it, pipecast.forecast.writeback.ensure_ml_tables) is null. -#}
{% macro ml_rows(relation, columns, newest_night=true) -%}
    {%- set table = load_relation(relation) if execute else none -%}
    {%- if table is not none -%}
    {%- set present = adapter.get_columns_in_relation(table) | map(attribute='name') | map('lower') | list -%}
    select *
    {%- for name, type in columns.items() if name | lower not in present %}, cast(null as {{ type }}) as {{ name }}
    {%- endfor %} from {{ relation }}
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

{#- A score's top three drivers, their log-odds effects and all of them as JSON: the columns
    ml.opportunity_scores and ml.lead_scores both carry (pipecast.forecast.writeback.DRIVER_COLUMNS),
    for the column maps of fct_opportunity_scores and fct_lead_scores. -#}
{% macro driver_columns() -%}
    {{ return({
        'driver_1': dbt.type_string(),
        'driver_1_effect': type_double(),
        'driver_2': dbt.type_string(),
        'driver_2_effect': type_double(),
        'driver_3': dbt.type_string(),
        'driver_3_effect': type_double(),
        'drivers': dbt.type_string(),
    }) }}
{%- endmacro %}
