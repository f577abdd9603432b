{#- Helpers of the incremental models (int_opportunity_changes_classified, int_stage_exits_scored,
    fct_opportunity_stage_transitions, fct_pipeline_daily). -#}

{#- Incremental models recompute every opportunity with a change later than this: the newest
    change already processed, less var('incremental_lookback_days') for changes that arrive late. -#}
{% macro changed_since(relation, column='opportunity_last_changed_at') -%}
    (
        select coalesce(
            {{ dbt.dateadd('day', -1 * (var('incremental_lookback_days', 3) | int), 'max(' ~ column ~ ')') }},
            cast('1900-01-01' as timestamp)
        )
        from {{ relation }}
    )
{%- endmacro %}

{#- A post-hook for the incremental models: delete the rows of opportunities that are no longer in
    `source` (deleted or merged in the CRM), as a full refresh would not have them. NOT EXISTS, not
    NOT IN: PostgreSQL plans it as an anti-join at any size. -#}
{% macro delete_vanished_opportunities(source) -%}
    delete from {{ this }} as target
    where not exists (
        select 1 from {{ source }} as current_rows
        where current_rows.opportunity_id = target.opportunity_id
    )
{%- endmacro %}

{#- The post-hook of int_opportunity_changes_classified: delete the rows of opportunities that
    int_opportunity_changes_unioned no longer has: in neither the CRM's stage history nor the
    current deals (the snapshot, which derives the others' history, took tonight's export first).
    Two anti-joins on the sources' keys instead of one on the whole union: at L 0.3 s CPU instead
    of 1.8 s. -#}
{% macro delete_vanished_histories() -%}
    delete from {{ this }} as target
    where not exists (
        select 1 from {{ ref('stg_crm__opportunities') }} as current_deals
        where current_deals.opportunity_id = target.opportunity_id
    )
    and not exists (
        select 1 from {{ ref('stg_crm__opportunity_stage_history') }} as crm_history
        where crm_history.opportunity_id = target.opportunity_id
    )
{%- endmacro %}

{#- The incremental strategy 'replace_from' (int_stage_exits_scored): the model's rows are the ones
    from a moment on (its column `recomputed_from`, the same on every row), in time column
    config('replace_from'). Every row here from that moment on is deleted and the new rows
    inserted; a row without a time (the model's marker when no row is left from the moment on)
    only carries the moment. No rows: nothing changes. -#}
{% macro get_incremental_replace_from_sql(arg_dict) -%}
    {%- set column = config.require('replace_from') -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ arg_dict['target_relation'] }}
    where {{ column }} >= (select min(recomputed_from) from {{ arg_dict['temp_relation'] }});
    insert into {{ arg_dict['target_relation'] }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }}
    where {{ column }} is not null
{%- endmacro %}
