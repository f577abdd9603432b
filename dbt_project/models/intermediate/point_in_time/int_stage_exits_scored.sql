-- Every exit from an open stage, forwards (a later open stage, or won: advanced) or out (lost);
-- moves back to an earlier stage are not exits. Each exit's surprise is advanced (1 or 0) less the
-- share of the exits from the same stage rank before it that advanced (0.5 for the first): the
-- owners' and accounts' records (int_*_exit_records_accumulated) add these up.
with visits as (
    select * from {{ ref('int_stage_visits_sequenced') }}
),

exits as (
    select
        opportunity_id,
        stage_rank,
        entered_at,
        exited_at,
        entry_amount,
        next_won or (not next_closed and next_rank > stage_rank) as advanced
    from visits
    where not is_closed and stage_rank is not null and exited_at is not null
        and (next_closed or next_rank > stage_rank)
),

scored as (
    select
        exits.*,
        cast(case when exits.advanced then 1 else 0 end as {{ type_double() }}) as advanced_value
    from exits
)

select
    scored.opportunity_id,
    scored.stage_rank,
    scored.entered_at,
    scored.exited_at,
    scored.entry_amount,
    scored.advanced,
    deals.owner_id,
    deals.account_id,
    scored.advanced_value - coalesce(
        avg(scored.advanced_value) over (
            partition by scored.stage_rank order by scored.exited_at, scored.opportunity_id
            rows between unbounded preceding and 1 preceding
        ),
        0.5
    ) as surprise
from scored
inner join {{ ref('int_opportunity_attributes_joined') }} as deals
    on scored.opportunity_id = deals.opportunity_id
