-- The close date each export showed on the opportunity row (the opportunities snapshot), valid
-- from the start of the export's date to the start of the next version's (null for the current
-- one): the forecast's close date at a cut-off where the change history carries none.
select
    opportunity_id,
    close_date,
    dbt_valid_from as valid_from,
    dbt_valid_to as valid_to
from {{ ref('snp_crm__opportunities') }}
