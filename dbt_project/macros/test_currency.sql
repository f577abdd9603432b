{#- Every amount with an original value was converted: one failing row per currency without a
    rate, with the dates that lack one (macros/currency.sql). -#}
{% test has_exchange_rate(model, column_name, original, currency, on_date) %}
select
    {{ currency }} as currency,
    min({{ on_date }}) as first_date_without_rate,
    max({{ on_date }}) as last_date_without_rate,
    count(*) as rows_without_rate
from {{ model }}
where {{ column_name }} is null and {{ original }} is not null
group by {{ currency }}
{% endtest %}

{#- Rates are quoted against the reporting currency (base_currency, when set, is it). -#}
{% test quoted_in_reporting_currency(model) %}
select base_currency, count(*) as rates
from {{ model }}
where base_currency is not null and base_currency <> '{{ reporting_currency() }}'
group by base_currency
{% endtest %}
