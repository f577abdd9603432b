-- Win rates of the deals closed in each period, by owner, team, product, lead source and segment
-- (and 'all'), by count and by amount. One row per period (month, fiscal quarter, fiscal year) x
-- dimension x value. Win rate by amount is won amount / closed amount, with each deal at the
-- amount it closed with (a CRM that zeroes lost deals' amounts makes it 1).
{%- set dimensions = [
    ('owner', 'opportunities.owner_id', 'coalesce(opportunities.owner_name, opportunities.owner_id)'),
    ('team', 'opportunities.team', 'opportunities.team'),
    ('product', 'opportunities.product_id', 'coalesce(opportunities.product_name, opportunities.product_id)'),
    ('lead_source', 'opportunities.lead_source', 'opportunities.lead_source'),
    ('segment', 'opportunities.segment', 'opportunities.segment'),
    ('all', "'All'", "'All'"),
] %}

with closed as (
    select *
    from {{ ref('fct_opportunities') }}
    where is_closed and close_date is not null
),

dimensioned as (
    {% for name, value, label in dimensions %}
    select
        cast('{{ name }}' as {{ dbt.type_string() }}) as dimension,
        coalesce(cast({{ value }} as {{ dbt.type_string() }}), 'Unknown') as dimension_value,
        coalesce(cast({{ label }} as {{ dbt.type_string() }}), 'Unknown') as dimension_label,
        opportunities.close_date,
        opportunities.is_won,
        coalesce(opportunities.amount, 0) as amount
    from closed as opportunities
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

aggregated as (
    select
        period_types.period_type,
        {{ period_start('period_types.period_type', 'dimensioned.close_date') }} as period_start,
        dimensioned.dimension,
        dimensioned.dimension_value,
        max(dimensioned.dimension_label) as dimension_label,
        count(*) as closed_count,
        {{ count_if('dimensioned.is_won') }} as won_count,
        {{ sum_if('dimensioned.is_won', 'dimensioned.amount') }} as won_amount,
        sum(dimensioned.amount) as closed_amount
    from dimensioned
    cross join ({{ period_types() }}) as period_types
    group by 1, 2, 3, 4
)

select
    {{ key(['aggregated.period_type', 'aggregated.period_start', 'aggregated.dimension', 'aggregated.dimension_value']) }}
        as win_rate_key,
    cast(aggregated.period_type as {{ dbt.type_string() }}) as period_type,
    cast(aggregated.period_start as date) as period_start,
    cast(periods.period_end as date) as period_end,
    cast(periods.period_label as {{ dbt.type_string() }}) as period_label,
    cast(aggregated.dimension as {{ dbt.type_string() }}) as dimension,
    cast(aggregated.dimension_value as {{ dbt.type_string() }}) as dimension_value,
    cast(aggregated.dimension_label as {{ dbt.type_string() }}) as dimension_label,
    cast(aggregated.closed_count as bigint) as closed_count,
    cast(aggregated.won_count as bigint) as won_count,
    cast(aggregated.closed_count - aggregated.won_count as bigint) as lost_count,
    cast(aggregated.won_amount as {{ type_double() }}) as won_amount,
    cast(aggregated.closed_amount - aggregated.won_amount as {{ type_double() }}) as lost_amount,
    {{ safe_divide('aggregated.won_count', 'aggregated.closed_count') }} as win_rate,
    {{ safe_divide('aggregated.won_amount', 'aggregated.closed_amount') }} as win_rate_by_amount
from aggregated
inner join {{ ref('dim_periods') }} as periods
    on aggregated.period_type = periods.period_type and aggregated.period_start = periods.period_start
