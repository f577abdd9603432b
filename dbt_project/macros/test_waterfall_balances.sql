{#- A generic test: every row of a pipeline waterfall balances, in amount and in deal count (exactly):
      open at start + created + pulled in - pushed out - won - lost + amount change = open at end
    Amounts are sums of doubles: within `tolerance` (a cent) plus `relative_tolerance` of the
    period's open amount at end. -#}
{% test waterfall_balances(model, tolerance=0.01, relative_tolerance=1e-6) %}
select *
from {{ model }}
where abs(
        open_amount_at_start + created_amount + pulled_in_amount - pushed_out_amount
        - won_amount - lost_amount + amount_change - open_amount_at_end
    ) > {{ tolerance }} + {{ relative_tolerance }} * abs(open_amount_at_end)
    or open_count_at_start + created_count + pulled_in_count - pushed_out_count
        - won_count - lost_count <> open_count_at_end
{% endtest %}
