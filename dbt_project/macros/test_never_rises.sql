{#- A generic test: a funnel never rises. Within each group of `partition_by`, rows ordered by
    `order_by` (the stage's funnel rank), `column` (the deals that reached the stage) never
    counts more at a later stage than at the one before. -#}
{% test never_rises(model, column, partition_by, order_by) %}
select *
from (
    select
        {{ partition_by | join(', ') }}, {{ order_by }}, {{ column }},
        lag({{ column }}) over (partition by {{ partition_by | join(', ') }} order by {{ order_by }})
            as earlier_{{ column }}
    from {{ model }}
) ordered_stages
where {{ column }} > earlier_{{ column }}
{% endtest %}
