{#- Owner-period measures (int_owner_periods_aggregated) rolled up to a grain (owner, team, ...)
    per period, with the period's target and what is left of it once bookings are counted:
    the CTEs `measures` and `targeted` (target and remaining_target are NULL without targets). -#}
{% macro rolled_up_against_target(grain, measures) -%}
measures as (
    select
        period_type,
        period_start,
        {{ grain }},
        {%- for measure in measures %}
        sum({{ measure }}) as {{ measure }},
        {%- endfor %}
        sum(target_amount) as target_amount,
        sum(target_count) as target_count
    from {{ ref('int_owner_periods_aggregated') }}
    group by period_type, period_start, {{ grain }}
),

targeted as (
    select
        measures.*,
        case when target_count > 0 then target_amount end as target,
        case when target_count > 0
            then case when target_amount > won_amount then target_amount - won_amount else 0 end
        end as remaining_target
    from measures
)
{%- endmacro %}
