-- Dated exchange rates of the newest export that has any: per currency, the period each rate
-- applies to (valid_from inclusive, valid_to exclusive, null while it is the newest). rate is
-- units of the currency per one unit of the reporting currency (macros/currency.sql).
with source as (
    {{ latest_export(source('crm', 'exchange_rates')) }}
)

select
    upper(currency) as currency,
    rate_date as valid_from,
    lead(rate_date) over (partition by upper(currency) order by rate_date) as valid_to,
    rate,
    upper(base_currency) as base_currency
from source
