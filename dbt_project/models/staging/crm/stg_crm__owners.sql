with source as (
    {{ latest_export(source('crm', 'owners')) }}
)

select
    owner_id,
    name as owner_name,
    manager_id,
    team,
    region
from source
