{#- The body of int_opportunity_changes_unioned (see there), as a query: every opportunity's
    change history, or, given `only` (a query of opportunity ids), the history of those
    opportunities alone, filtered where each part reads its source (int_opportunity_changes_classified
    reads the few changed deals of a night so, not the whole union). -#}
{% macro opportunity_changes_unioned(only=none) -%}
with crm_history as (
    select
        opportunity_id,
        changed_at,
        stage,
        amount,
        close_date,
        crm_probability,
        forecast_category,
        cast('crm' as {{ dbt.type_string() }}) as history_source
    from {{ ref('stg_crm__opportunity_stage_history') }}
    {%- if only %}
    where opportunity_id in ({{ only }})
    {%- endif %}
),

versions as (
    select
        snapshots.*,
        snapshots.dbt_valid_from as first_seen_at,
        case
            when snapshots.is_closed and snapshots.close_date is not null
                then greatest(snapshots.created_at, cast(snapshots.close_date as timestamp))
            else snapshots.created_at
        end as state_since,
        row_number() over (
            partition by snapshots.opportunity_id order by snapshots.dbt_valid_from
        ) as version_number
    from {{ ref('snp_crm__opportunities') }} as snapshots
    where not exists (
        select 1 from crm_history where crm_history.opportunity_id = snapshots.opportunity_id
    )
    -- the snapshot keeps deals the CRM has since deleted; the history does not
    and exists (
        select 1 from {{ ref('stg_crm__opportunities') }} as current_deals
        where current_deals.opportunity_id = snapshots.opportunity_id
    )
    {%- if only %}
    and snapshots.opportunity_id in ({{ only }})
    {%- endif %}
),

derived_history as (
    select
        opportunity_id,
        case
            when version_number = 1 and state_since is not null and state_since <= first_seen_at
                then state_since
            else first_seen_at
        end as changed_at,
        stage,
        amount,
        close_date,
        crm_probability,
        forecast_category,
        cast('snapshot' as {{ dbt.type_string() }}) as history_source
    from versions
)

select * from crm_history
union all
select * from derived_history
{%- endmacro %}
