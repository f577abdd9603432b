-- Opportunity owners with their place in the sales organisation: manager, depth and the chain of
-- managers above them, resolved with a recursive CTE (both targets support WITH RECURSIVE). An
-- owner whose manager is not in the export is a root; owners in a management cycle get no level.
with recursive owners as (
    select * from {{ ref('stg_crm__owners') }}
),

hierarchy as (
    select
        owner_id,
        owner_id as top_manager_id,
        1 as hierarchy_level,
        cast(owner_name as {{ dbt.type_string() }}) as hierarchy_path
    from owners
    where manager_id is null or manager_id not in (select owner_id from owners)
    union all
    select
        owners.owner_id,
        hierarchy.top_manager_id,
        hierarchy.hierarchy_level + 1,
        cast({{ dbt.concat(['hierarchy.hierarchy_path', "' > '", 'owners.owner_name']) }} as {{ dbt.type_string() }})
    from owners
    inner join hierarchy on owners.manager_id = hierarchy.owner_id
    where hierarchy.hierarchy_level < 50
),

reports as (
    select manager_id, count(*) as direct_reports
    from owners
    where manager_id is not null
    group by manager_id
)

select
    cast(owners.owner_id as {{ dbt.type_string() }}) as owner_id,
    cast(owners.owner_name as {{ dbt.type_string() }}) as owner_name,
    cast(owners.manager_id as {{ dbt.type_string() }}) as manager_id,
    cast(managers.owner_name as {{ dbt.type_string() }}) as manager_name,
    cast(owners.team as {{ dbt.type_string() }}) as team,
    cast(owners.region as {{ dbt.type_string() }}) as region,
    cast(hierarchy.hierarchy_level as bigint) as hierarchy_level,
    cast(hierarchy.hierarchy_path as {{ dbt.type_string() }}) as hierarchy_path,
    cast(hierarchy.top_manager_id as {{ dbt.type_string() }}) as top_manager_id,
    cast(coalesce(reports.direct_reports, 0) as bigint) as direct_reports,
    coalesce(reports.direct_reports, 0) > 0 as is_manager
from owners
left join hierarchy on owners.owner_id = hierarchy.owner_id
left join owners as managers on owners.manager_id = managers.owner_id
left join reports on owners.owner_id = reports.manager_id
