{#- Column types of the marts' enforced contracts. Both targets must report the same type for a
    column as the yaml declares: strings are dbt.type_string() (text), integers bigint, dates and
    timestamps as named, and floating point is 'double precision' (dbt.type_float() is 'float',
    which DuckDB reads as a 4-byte REAL). -#}
{% macro type_double() -%}double precision{%- endmacro %}
