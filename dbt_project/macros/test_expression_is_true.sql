{#- A generic test: every row satisfies a SQL boolean expression (no package download needed). -#}
{% test expression_is_true(model, expression, column_name=none) %}
select *
from {{ model }}
where not ({{ expression }})
{% endtest %}
