-- Each account's record as it stood after each moment one of its deals left an open stage: the
-- running sum of the exits' surprises (s) and their count (n) up to and including that moment.
-- The forecast reads the row before a moment (an ASOF join) and shrinks s / n towards zero.
with moments as (
    select account_id, exited_at as t, sum(surprise) as s, count(*) as n
    from {{ ref('int_stage_exits_scored') }}
    where account_id is not null
    group by account_id, exited_at
)

select
    account_id,
    t,
    sum(s) over running as s,
    sum(n) over running as n
from moments
window running as (partition by account_id order by t rows between unbounded preceding and current row)
