{{
    config(
        materialized='incremental',
        incremental_strategy='replace_from',
        replace_from='exited_at',
        on_schema_change='append_new_columns'
    )
}}
-- Every exit from an open stage, forwards (a later open stage, or won: advanced) or out (lost);
-- moves back to an earlier stage are not exits. Each exit's surprise is advanced (1 or 0) less the
-- share of the exits from the same stage rank before it that advanced (0.5 for the first): the
-- owners' and accounts' records (int_*_exit_records_accumulated) add these up.
--
-- Incremental: an exit's surprise depends only on the exits before it, so a night finds the
-- earliest exit that differs from the rows here (among the deals whose visits were recomputed since
-- the last build, whose owner or account changed, or that are gone) and recomputes every exit from
-- that moment on (recomputed_from), continuing each stage rank's counts from the rows before it
-- (macros/incremental.sql, get_incremental_replace_from_sql). A night's new exits are recent, so
-- the rows before are nearly all. The shares are sums of ones and zeros over counts, exact in
-- floating point, so a full refresh gives the same numbers to the bit.
with exits as (
    select
        visits.opportunity_id,
        visits.stage_rank,
        visits.entered_at,
        visits.exited_at,
        visits.entry_amount,
        visits.next_won or (not visits.next_closed and visits.next_rank > visits.stage_rank) as advanced,
        deals.owner_id,
        deals.account_id
    from {{ ref('int_stage_visits_sequenced') }} as visits
    inner join {{ ref('int_opportunity_attributes_joined') }} as deals
        on visits.opportunity_id = deals.opportunity_id
    where not visits.is_closed and visits.stage_rank is not null and visits.exited_at is not null
        and (visits.next_closed or visits.next_rank > visits.stage_rank)
),

{% if is_incremental() %}
{#- a table built before this model was incremental has no visits_watermark: every deal is a candidate -#}
{%- set watermarked = 'visits_watermark' in (adapter.get_columns_in_relation(this) | map(attribute='name') | list) %}
-- deals whose exits may differ from the rows here: changed since the newest change the visits
-- held at this table's last build (less var('incremental_lookback_days'), as the visits
-- recompute them), reassigned to another owner or account, or gone
candidates as (
    select opportunity_id
    from {{ ref('int_stage_visits_sequenced') }}
    {% if watermarked -%}
    where opportunity_last_changed_at > {{ changed_since(this, 'visits_watermark') }}
    {%- endif %}
    union
    select here.opportunity_id
    from {{ this }} as here
    left join {{ ref('int_opportunity_attributes_joined') }} as deals
        on here.opportunity_id = deals.opportunity_id
    where deals.opportunity_id is null
        or here.owner_id is distinct from deals.owner_id
        or here.account_id is distinct from deals.account_id
),

fresh as (
    select opportunity_id, stage_rank, entered_at, exited_at, entry_amount, advanced, owner_id, account_id
    from exits
    where opportunity_id in (select opportunity_id from candidates)
),

kept as (
    select opportunity_id, stage_rank, entered_at, exited_at, entry_amount, advanced, owner_id, account_id
    from {{ this }}
    where opportunity_id in (select opportunity_id from candidates)
),

differing as (
    (select * from fresh except select * from kept)
    union all
    (select * from kept except select * from fresh)
),

-- the earliest differing exit; at the latest, the newest exit here, so that every build writes a
-- row: the table's visits_watermark and built_at mark its last build (candidates above, and the
-- records' bound)
bound as (
    select least(
        (select min(exited_at) from differing),
        (select max(exited_at) from {{ this }})
    ) as recomputed_from
),

-- each stage rank's exits before the bound, as the rows here count them
before as (
    select
        here.stage_rank,
        sum(case when here.advanced then 1.0 else 0.0 end) as advanced_before,
        count(*) as exits_before
    from {{ this }} as here
    cross join bound
    where here.exited_at < bound.recomputed_from
    group by here.stage_rank
),

recomputed as (
    select exits.*, bound.recomputed_from
    from exits
    cross join bound
    where exits.exited_at >= bound.recomputed_from
),
{% else %}
before as (
    select
        cast(null as {{ dbt.type_int() }}) as stage_rank,
        cast(0 as {{ type_double() }}) as advanced_before,
        cast(0 as bigint) as exits_before
    where false
),

recomputed as (
    select exits.*, cast(null as timestamp) as recomputed_from
    from exits
),
{% endif %}

scored as (
    select
        recomputed.*,
        cast(case when recomputed.advanced then 1 else 0 end as {{ type_double() }}) as advanced_value,
        coalesce(before.advanced_before, 0) as advanced_before,
        coalesce(before.exits_before, 0) as exits_before
    from recomputed
    left join before on recomputed.stage_rank = before.stage_rank
),

final as (
    select
        opportunity_id,
        stage_rank,
        entered_at,
        exited_at,
        entry_amount,
        advanced,
        owner_id,
        account_id,
        advanced_value - coalesce(
            (
                advanced_before + coalesce(sum(advanced_value) over earlier, 0)
            ) / nullif(exits_before + count(*) over earlier, 0),
            0.5
        ) as surprise,
        recomputed_from,
        {{ as_of_date() }} as built_export_date,
        (select max(opportunity_last_changed_at) from {{ ref('int_stage_visits_sequenced') }}) as visits_watermark,
        -- when the dbt run that wrote the row started: the records recompute from the exits written since theirs
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp) as built_at
    from scored
    window earlier as (
        partition by stage_rank order by exited_at, opportunity_id
        rows between unbounded preceding and 1 preceding
    )
)

{% if is_incremental() %}
-- with no exit left from the bound on, one row carrying the bound alone (no exited_at: not
-- inserted), so the old rows from it are still deleted
select final.*
from final
union all
select
    cast(null as {{ dbt.type_string() }}), cast(null as {{ dbt.type_int() }}), cast(null as timestamp),
    cast(null as timestamp), cast(null as {{ type_double() }}), cast(null as boolean),
    cast(null as {{ dbt.type_string() }}), cast(null as {{ dbt.type_string() }}),
    cast(null as {{ type_double() }}), bound.recomputed_from, cast(null as date), cast(null as timestamp),
    cast(null as timestamp)
from bound
where bound.recomputed_from is not null and not exists (select 1 from final)
{% else %}
select * from final
{% endif %}
