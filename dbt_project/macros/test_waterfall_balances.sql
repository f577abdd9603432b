{#- A generic test: every row of a pipeline waterfall balances, in amount (within an absolute tolerance
    for floating-point sums) and in deal count (exactly):
      open at start + created + pulled in - pushed out - won - lost + amount change = open at end -#}
{% test waterfall_balances(model, tolerance=0.01) %}
select *
from {{ model }}
where abs(
        open_amount_at_start + created_amount + pulled_in_amount - pushed_out_amount
        - won_amount - lost_amount + amount_change - open_amount_at_end
    ) > {{ tolerance }}
    or open_count_at_start + created_count + pulled_in_count - pushed_out_count
        - won_count - lost_count <> open_count_at_end
{% endtest %}
