{#-
    The running record of a group of deals (the owner's, the account's: ``key``) as it stood after
    each moment one of its deals left an open stage: the running sum of the exits' surprises (s)
    and their count (n) up to and including that moment (int_stage_exits_scored). The forecast
    reads the row before a moment (an ASOF join) and shrinks s / n towards zero.
-#}
{% macro exit_records_accumulated(key) %}
with moments as (
    select {{ key }}, exited_at as t, sum(surprise) as s, count(*) as n
    from {{ ref('int_stage_exits_scored') }}
    where {{ key }} is not null
    group by {{ key }}, exited_at
)

select
    {{ key }},
    t,
    sum(s) over running as s,
    sum(n) over running as n
from moments
window running as (partition by {{ key }} order by t rows between unbounded preceding and current row)
{% endmacro %}
