{#-
  One reporting currency for every amount the marts sum.

  reporting_currency(): the var reporting_currency (dbt --vars), else PIPECAST_REPORTING_CURRENCY
  (pipecast's setting, passed by its dbt runner), else USD.

  An amount in another currency is converted at the rate in effect on its conversion date (a deal's
  close date, else its creation date): stg_crm__exchange_rates holds, per currency, the periods
  each rate applies to; rate is units of the currency per unit of the reporting currency, so the
  amount in the reporting currency is amount / rate. An amount without a currency (a CRM with one
  currency exports none) or in the reporting currency is kept as it is. An amount whose currency
  has no rate on that date converts to null: the has_exchange_rate test fails on it (and raw
  validation, jobs/pipecast/validate/currency.py, rejects such an export before dbt runs).
-#}
{% macro reporting_currency() -%}
    {{- var('reporting_currency', env_var('PIPECAST_REPORTING_CURRENCY', 'USD')) | upper -}}
{%- endmacro %}

{#- True where the currency expression needs no conversion. -#}
{% macro is_reporting_currency(currency) -%}
    ({{ currency }} is null or upper({{ currency }}) = '{{ reporting_currency() }}')
{%- endmacro %}

{#- Left join of the rate in effect for (currency, on_date), as alias; null rate when none. -#}
{% macro join_exchange_rate(alias, currency, on_date) -%}
    left join {{ ref('stg_crm__exchange_rates') }} as {{ alias }}
        on not {{ is_reporting_currency(currency) }}
        and {{ alias }}.currency = upper({{ currency }})
        and {{ alias }}.valid_from <= {{ on_date }}
        and ({{ alias }}.valid_to is null or {{ on_date }} < {{ alias }}.valid_to)
{%- endmacro %}

{#- Units of the currency per unit of the reporting currency: 1 when none is needed. -#}
{% macro exchange_rate(alias, currency) -%}
    case when {{ is_reporting_currency(currency) }} then 1.0 else {{ alias }}.rate end
{%- endmacro %}
