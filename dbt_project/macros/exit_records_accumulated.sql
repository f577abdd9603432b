{#-
    The running record of a group of deals (the owner's, the account's: ``key``) as it stood after
    each moment one of its deals left an open stage: the running sum of the exits' surprises (s)
    and their count (n) up to and including that moment (int_stage_exits_scored). The forecast
    reads the row before a moment (an ASOF join) and shrinks s / n towards zero.

    Incremental (strategy replace_from on t, macros/incremental.sql): the stage exits written since
    the exits this table last saw (built_at after its exits_built_at) were recomputed from their
    recomputed_from on (every exit, when one of those builds was a full refresh); the records from
    the earliest of those moments on are recomputed, each group's sums continuing from its last row
    before it. A full refresh gives the same rows
    (the sums to the last bits of a double: they are added up in another order).
-#}
{% macro exit_records_accumulated(key) %}
{%- set exits = ref('int_stage_exits_scored') -%}
with
{% if is_incremental() %}
{%- set seen = 'exits_built_at' in (adapter.get_columns_in_relation(this) | map(attribute='name') | list) %}
bound as (
    select
        case
            when count(*) > count(recomputed_from) then cast('1900-01-01' as timestamp)
            else min(recomputed_from)
        end as recomputed_from
    from {{ exits }}
    {% if seen -%}
    where built_at > (select max(exits_built_at) from {{ this }})
    {%- endif %}
),

-- each group's record just before the bound
before as (
    select {{ key }}, s, n
    from (
        select
            here.{{ key }}, here.s, here.n,
            row_number() over (partition by here.{{ key }} order by here.t desc) as newest
        from {{ this }} as here
        cross join bound
        where here.t < bound.recomputed_from
    ) as records
    where newest = 1
),

moments as (
    select exits.{{ key }}, exits.exited_at as t, sum(exits.surprise) as s, count(*) as n
    from {{ exits }} as exits
    cross join bound
    where exits.{{ key }} is not null and exits.exited_at >= bound.recomputed_from
    group by exits.{{ key }}, exits.exited_at
),

recomputed as (
    select moments.*, bound.recomputed_from
    from moments
    cross join bound
),
{% else %}
before as (
    select
        cast(null as {{ dbt.type_string() }}) as {{ key }},
        cast(0 as {{ type_double() }}) as s,
        cast(0 as bigint) as n
    where false
),

recomputed as (
    select {{ key }}, exited_at as t, sum(surprise) as s, count(*) as n, cast(null as timestamp) as recomputed_from
    from {{ exits }}
    where {{ key }} is not null
    group by {{ key }}, exited_at
),
{% endif %}

final as (
    select
        recomputed.{{ key }},
        recomputed.t,
        coalesce(before.s, 0) + sum(recomputed.s) over running as s,
        coalesce(before.n, 0) + sum(recomputed.n) over running as n,
        recomputed.recomputed_from,
        {{ as_of_date() }} as built_export_date,
        (select max(built_at) from {{ exits }}) as exits_built_at
    from recomputed
    left join before on recomputed.{{ key }} = before.{{ key }}
    window running as (
        partition by recomputed.{{ key }} order by recomputed.t rows between unbounded preceding and current row
    )
)

{% if is_incremental() %}
-- with no moment left from the bound on, one row carrying the bound alone (no t: not inserted)
select final.*
from final
union all
select
    cast(null as {{ dbt.type_string() }}), cast(null as timestamp), cast(null as {{ type_double() }}),
    cast(null as {{ type_double() }}), bound.recomputed_from, cast(null as date), cast(null as timestamp)
from bound
where bound.recomputed_from is not null and not exists (select 1 from final)
{% else %}
select * from final
{% endif %}
{% endmacro %}
