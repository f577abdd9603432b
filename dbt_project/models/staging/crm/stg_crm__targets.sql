-- Sales targets (quotas) per owner and period, newest export. The team is the target's own or,
-- when the export leaves it empty, resolved later from the owner.
with source as (
    {{ latest_export(source('crm', 'targets')) }}
)

select
    period_start,
    period_end,
    owner_id,
    team,
    amount as target_amount
from source
