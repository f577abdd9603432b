{#- A generic test: every row satisfies a SQL boolean expression (no package download needed).
    column_name: dbt passes it when the test sits under a column; the expression names its columns. -#}
{% test expression_is_true(model, expression, column_name=none) %}
select *
from {{ model }}
where not ({{ expression }})
{% endtest %}
