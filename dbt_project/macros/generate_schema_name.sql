{#- Custom schemas are used as they are (staging, intermediate, marts), not prefixed with the
    target schema: BI tools read `marts.*` on every target.

    Publishing (pipecast.transform.publish): var publish_schemas maps a unit, the folder under
    models/ (marts, forecast), to the slot schema its marts are built in tonight (e.g. marts__b);
    `marts.*` are views that switch to that slot in one transaction once the build has passed.
    Without the var (dbt run by hand) the marts are built in `marts` itself. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set publish_schemas = var('publish_schemas', {}) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}
    {%- elif custom_schema_name | trim == 'marts' and node.fqn | length > 2 and node.fqn[1] in publish_schemas -%}{{ publish_schemas[node.fqn[1]] }}
    {%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
