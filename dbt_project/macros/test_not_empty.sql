{#- A generic test: the model has at least one row (an empty stage list or opportunity table means
    the night built on nothing). -#}
{% test not_empty(model) %}
select 'no rows' as failure
from (select count(*) as n from {{ model }}) counted
where n = 0
{% endtest %}
